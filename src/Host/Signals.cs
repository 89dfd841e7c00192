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

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);

    /// <summary>Returns 0 on success, else the errno.</summary>
    public static int Send(int pid, int signal) => Kill(pid, signal) == 0 ? 0 : Marshal.GetLastPInvokeError();
}
