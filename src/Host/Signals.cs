using System.Runtime.InteropServices;

namespace FastProxy.Host;

/// <summary>Sends a signal to a process (for <c>fastproxy -s</c>): libc's kill(2) through a source-generated import (AOT-safe).</summary>
internal static partial class Signals
{
    // Linux signal numbers.
    public const int SIGHUP = 1;
    public const int SIGQUIT = 3;
    public const int SIGUSR1 = 10;
    public const int SIGTERM = 15;

    public const int SIGINT = 2;

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);

    [LibraryImport("libc", EntryPoint = "signal")]
    private static partial nint SetDisposition(int signal, nint handler);

    /// <summary>
    /// A shell starts background jobs with SIGINT and SIGQUIT ignored, and .NET leaves an ignored SIGINT/SIGQUIT
    /// ignored even when a handler is registered, so <c>fastproxy -s quit</c> would do nothing to an instance started
    /// with <c>&amp;</c> or nohup. nginx installs its handlers whatever it inherited; so does fastproxy, by restoring
    /// the default disposition before registering.
    /// </summary>
    public static void RestoreDefaultDisposition(int signal) => SetDisposition(signal, 0 /* SIG_DFL */);

    /// <summary>Returns 0 on success, else the errno.</summary>
    public static int Send(int pid, int signal) => Kill(pid, signal) == 0 ? 0 : Marshal.GetLastPInvokeError();
}
