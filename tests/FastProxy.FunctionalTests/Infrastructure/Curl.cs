using System.Diagnostics;

namespace FastProxy.FunctionalTests.Infrastructure;

/// <summary>curl as a real client (installed by .ci/run).</summary>
public static class Curl
{
    public static async Task<(int ExitCode, string Body)> GetAsync(string url, params string[] extra)
    {
        var (code, stdout, _) = await RunAsync([.. extra, "-s", "--max-time", "20", url]);
        return (code, stdout);
    }

    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(params string[] args)
    {
        var info = new ProcessStartInfo("curl") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await process.WaitForExitAsync(cts.Token);
        return (process.ExitCode, await stdout, await stderr);
    }
}
