using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace FastProxy.FunctionalTests.Infrastructure;

/// <summary>
/// Runs the <c>fastproxy</c> executable: the one built next to the tests, or the one named by FASTPROXY_BINARY
/// (e.g. the Native AOT build, to run these tests against it).
/// </summary>
public sealed class FastProxyProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();

    private FastProxyProcess(Process process)
    {
        _process = process;
        process.OutputDataReceived += (_, e) => { lock (_stdout) { _stdout.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (_stderr) { _stderr.AppendLine(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public static string BinaryPath
    {
        get
        {
            var fromEnvironment = Environment.GetEnvironmentVariable("FASTPROXY_BINARY");
            if (!string.IsNullOrEmpty(fromEnvironment))
            {
                return fromEnvironment;
            }
            return Path.Combine(AppContext.BaseDirectory, "fastproxy");
        }
    }

    public int Id => _process.Id;

    public string StandardOutput { get { lock (_stdout) { return _stdout.ToString(); } } }

    public string StandardError { get { lock (_stderr) { return _stderr.ToString(); } } }

    public static FastProxyProcess Start(params string[] args)
    {
        var info = new ProcessStartInfo(BinaryPath)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }
        return new FastProxyProcess(Process.Start(info)!);
    }

    /// <summary>Runs to completion (with a timeout) and returns the exit code.</summary>
    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(params string[] args)
    {
        await using var process = Start(args);
        int code = await process.WaitForExitAsync(TimeSpan.FromSeconds(30));
        return (code, process.StandardOutput, process.StandardError);
    }

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cts.Token);
        _process.WaitForExit(); // drains the redirected streams
        return _process.ExitCode;
    }

    public bool HasExited => _process.HasExited;

    /// <summary>Waits until the process accepts connections on <paramref name="port"/>.</summary>
    public async Task WaitForListenAsync(int port, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(20));
        while (true)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"fastproxy exited with {_process.ExitCode}: {StandardError}");
            }
            try
            {
                using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                using var cts = new CancellationTokenSource(500);
                await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), cts.Token);
                return;
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException)
            {
                if (DateTime.UtcNow > deadline)
                {
                    throw new TimeoutException($"fastproxy never listened on {port}: {StandardError}");
                }
                await Task.Delay(50);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
    }

    public static int FreePort()
    {
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)s.LocalEndPoint!).Port;
    }

    /// <summary>The repository root (to find conf/ and the reference configurations).</summary>
    public static string RepositoryRoot
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "FastProxy.sln")))
            {
                dir = dir.Parent;
            }
            return dir?.FullName ?? throw new DirectoryNotFoundException("FastProxy.sln not found above " + AppContext.BaseDirectory);
        }
    }
}
