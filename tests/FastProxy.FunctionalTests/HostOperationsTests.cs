using System.Net;
using System.Runtime.InteropServices;
using FastProxy.FunctionalTests.Infrastructure;

namespace FastProxy.FunctionalTests;

/// <summary>
/// Operating the <c>fastproxy</c> binary as nginx is operated: <c>-t</c>/<c>-T</c> on the reference configurations,
/// reload by SIGHUP (listeners added and removed, a broken file refused), <c>-s quit</c> (graceful) and <c>-s stop</c>
/// (fast), <c>-s reopen</c> for log rotation, error_log path and level, the access log under <c>-p</c>. Runs the
/// binary built next to the tests, or FASTPROXY_BINARY (the Native AOT build).
/// </summary>
public sealed class HostOperationsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fp-ops-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string name, string text)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    [DllImport("libc", EntryPoint = "kill")]
    private static extern int Kill(int pid, int signal);

    private static async Task<bool> RefusesAsync(int port)
    {
        try
        {
            using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), cts.Token);
            return false;
        }
        catch (System.Net.Sockets.SocketException)
        {
            return true;
        }
    }

    private static async Task<RawResponse> GetAsync(int port, string target = "/")
    {
        await using var client = await RawClient.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));
        await client.SendAsync($"GET {target} HTTP/1.1\r\nHost: h\r\n\r\n");
        return await client.ReadResponseAsync();
    }

    [Theory]
    [InlineData("01-basic.conf")]
    [InlineData("02-gateway.conf")]
    [InlineData("03-upstreams.conf")]
    [InlineData("04-rate-limit.conf")]
    [InlineData("05-tls.conf")]
    [InlineData("06-websocket-cache.conf")]
    public async Task Test_EveryReferenceConfig_ExitZero(string name)
    {
        ReferenceConfigs.WriteCertificates(_dir);
        var path = Write(name, ReferenceConfigs.Rewrite(ReferenceConfigs.Text(name), _dir));

        var (code, _, stderr) = await FastProxyProcess.RunAsync("-t", "-p", _dir, "-c", path);

        Assert.True(code == 0, stderr);
        Assert.Contains($"configuration file {path} test is successful", stderr);
    }

    [Fact]
    public async Task Test_DirectivesNotActedOn_WarningsWithFileAndLineExitZero()
    {
        var path = Write("06.conf", ReferenceConfigs.Rewrite(ReferenceConfigs.Text("06-websocket-cache.conf"), _dir));

        var (code, _, stderr) = await FastProxyProcess.RunAsync("-t", "-p", _dir, "-c", path);

        Assert.Equal(0, code);
        Assert.Contains($"{path}:11: \"proxy_cache_path\" directive is parsed but not acted on", stderr);
        Assert.Contains($"{path}:26: \"proxy_cache\" directive is parsed but not acted on", stderr);
    }

    [Fact]
    public async Task Test_ErrorInIncludedFile_FileAndLineOfTheIncludeExitOne()
    {
        Write("bad.inc", "server {\n    listen 127.0.0.1:1;\n    proxy_pas http://x;\n}\n");
        var path = Write("main.conf", "events { }\nhttp {\n    include bad.inc;\n}\n");

        var (code, _, stderr) = await FastProxyProcess.RunAsync("-t", "-p", _dir, "-c", path);

        Assert.Equal(1, code);
        Assert.Contains($"{Path.Combine(_dir, "bad.inc")}:3: unknown directive \"proxy_pas\"", stderr);
        Assert.Contains("test failed", stderr);
    }

    [Fact]
    public async Task Test_AccessLogCannotBeOpened_ExitOne()
    {
        Write("blocker", "");
        var path = Write("log.conf", $"events {{ }}\nhttp {{ server {{ listen 127.0.0.1:1; access_log {_dir}/blocker/x.log; location / {{ return 200; }} }} }}\n");

        var (code, _, stderr) = await FastProxyProcess.RunAsync("-t", "-p", _dir, "-c", path);

        Assert.Equal(1, code);
        Assert.Contains($"open() \"{_dir}/blocker/x.log\" failed", stderr);
    }

    [Fact]
    public async Task Dump_WithIncludes_EveryFileUnderItsName()
    {
        Write("upstreams.inc", "upstream app { server 127.0.0.1:9; }\n");
        var path = Write("dump.conf", "events { }\nhttp {\n    include upstreams.inc;\n    server { listen 127.0.0.1:1; location / { proxy_pass http://app; } }\n}\n");

        var (code, stdout, _) = await FastProxyProcess.RunAsync("-T", "-p", _dir, "-c", path);

        Assert.Equal(0, code);
        Assert.Contains($"# configuration file {path}:\nevents {{ }}", stdout);
        Assert.Contains($"# configuration file {Path.Combine(_dir, "upstreams.inc")}:\nupstream app {{ server 127.0.0.1:9; }}", stdout);
    }

    private static string Config(int[] ports, string backend, string extra = "") => $$"""
        events { }
        http {
            log_format short '$server_port $uri $status';
            access_log logs/access.log short;
            server {
                {{string.Join("\n        ", ports.Select(p => $"listen 127.0.0.1:{p};"))}}
                location / { proxy_pass http://{{backend}}; }
            }
            {{extra}}
        }
        """;

    [Fact]
    public async Task Sighup_ListenAddedThenRemovedThenBrokenFile_FollowsAndKeepsOld()
    {
        await using var backend = new TestBackend((r, c) => c.RespondAsync(200, "ok"));
        int a = FastProxyProcess.FreePort(), b = FastProxyProcess.FreePort();
        var path = Write("reload.conf", Config([a], backend.Address));
        await using var process = FastProxyProcess.Start("-p", _dir, "-c", path);
        await process.WaitForListenAsync(a);
        await using var kept = await RawClient.ConnectAsync(new IPEndPoint(IPAddress.Loopback, a));
        await kept.SendAsync("GET /kept HTTP/1.1\r\nHost: h\r\n\r\n");
        Assert.Equal(200, (await kept.ReadResponseAsync()).Status);

        File.WriteAllText(path, Config([a, b], backend.Address));
        Assert.Equal(0, Kill(process.Id, 1));
        await process.WaitForListenAsync(b);

        File.WriteAllText(path, Config([b], backend.Address));
        Assert.Equal(0, Kill(process.Id, 1));
        await Waits.UntilAsync(() => RefusesAsync(a).Result, "the removed listen address is closed");
        Assert.Equal(200, (await GetAsync(b)).Status);
        // A connection accepted on the removed address is still served (as nginx's old workers serve theirs).
        await kept.SendAsync("GET /kept HTTP/1.1\r\nHost: h\r\n\r\n");
        Assert.Equal(200, (await kept.ReadResponseAsync()).Status);

        File.WriteAllText(path, Config([b], backend.Address, extra: "server { listen 127.0.0.1:1; bogus_directive on; }"));
        Assert.Equal(0, Kill(process.Id, 1));
        await Waits.UntilAsync(() => process.StandardError.Contains("unknown directive \"bogus_directive\""), "the refused reload is logged");
        Assert.Equal(200, (await GetAsync(b)).Status);
        Assert.True(await RefusesAsync(a));
    }

    /// <summary>A backend that holds its answer until the test releases it.</summary>
    private static TestBackend HeldBackend(TaskCompletionSource arrived, TaskCompletionSource release) => new(async (r, c) =>
    {
        arrived.TrySetResult();
        await release.Task.WaitAsync(TimeSpan.FromSeconds(30));
        await c.RespondAsync(200, "finished");
    });

    [Fact]
    public async Task Quit_RequestInFlight_FinishesThenExitZero()
    {
        var arrived = new TaskCompletionSource();
        var release = new TaskCompletionSource();
        await using var backend = HeldBackend(arrived, release);
        int port = FastProxyProcess.FreePort();
        var path = Write("quit.conf", Config([port], backend.Address));
        await using var process = FastProxyProcess.Start("-p", _dir, "-c", path);
        await process.WaitForListenAsync(port);
        await Waits.UntilAsync(() => File.Exists(Path.ChangeExtension(path, ".pid")), "the pid file is written");
        await using var client = await RawClient.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));
        await client.SendAsync("GET /slow HTTP/1.1\r\nHost: h\r\n\r\n");
        await arrived.Task.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(0, (await FastProxyProcess.RunAsync("-s", "quit", "-p", _dir, "-c", path)).ExitCode);
        await Waits.UntilAsync(() => RefusesAsync(port).Result, "the listener is closed");
        release.SetResult();

        var response = await client.ReadResponseAsync();
        Assert.Equal("finished", response.BodyText);
        Assert.Equal("close", response.Header("Connection"));
        Assert.Equal(0, await process.WaitForExitAsync(TimeSpan.FromSeconds(20)));
        Assert.Contains($"{port} /slow 200", File.ReadAllText(Path.Combine(_dir, "logs", "access.log")));
    }

    [Fact]
    public async Task Stop_RequestInFlight_ClosedAtOnceExitZero()
    {
        var arrived = new TaskCompletionSource();
        var release = new TaskCompletionSource();
        await using var backend = HeldBackend(arrived, release);
        int port = FastProxyProcess.FreePort();
        var path = Write("stop.conf", Config([port], backend.Address));
        await using var process = FastProxyProcess.Start("-p", _dir, "-c", path);
        await process.WaitForListenAsync(port);
        await Waits.UntilAsync(() => File.Exists(Path.ChangeExtension(path, ".pid")), "the pid file is written");
        await using var client = await RawClient.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));
        await client.SendAsync("GET /slow HTTP/1.1\r\nHost: h\r\n\r\n");
        await arrived.Task.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(0, (await FastProxyProcess.RunAsync("-s", "stop", "-p", _dir, "-c", path)).ExitCode);

        // nginx's fast shutdown: the request in flight is not waited for.
        Assert.Equal(0, await process.WaitForExitAsync(TimeSpan.FromSeconds(20)));
        Assert.True(await client.IsClosedAsync());
        release.SetResult();
    }

    [Fact]
    public async Task Reopen_AfterRotation_AccessAndErrorLogsWrittenToNewFiles()
    {
        await using var backend = new TestBackend((r, c) => c.RespondAsync(200, "ok"));
        int port = FastProxyProcess.FreePort();
        string accessLog = Path.Combine(_dir, "logs", "access.log");
        string errorLog = Path.Combine(_dir, "logs", "error.log");
        var path = Write("rotate.conf", "error_log logs/error.log notice;\n" + Config([port], backend.Address));
        await using var process = FastProxyProcess.Start("-p", _dir, "-c", path);
        await process.WaitForListenAsync(port);
        await Waits.UntilAsync(() => File.Exists(Path.ChangeExtension(path, ".pid")), "the pid file is written");
        Assert.Equal(200, (await GetAsync(port, "/before")).Status);
        await Waits.UntilAsync(() => File.Exists(accessLog) && File.ReadAllText(accessLog).Contains("/before"), "the first line");
        File.Move(accessLog, accessLog + ".1");
        File.Move(errorLog, errorLog + ".1");

        Assert.Equal(0, (await FastProxyProcess.RunAsync("-s", "reopen", "-p", _dir, "-c", path)).ExitCode);
        await Waits.UntilAsync(() => File.Exists(errorLog) && File.ReadAllText(errorLog).Contains("reopening logs"), "the error log is reopened");
        Assert.Equal(200, (await GetAsync(port, "/after")).Status);

        await Waits.UntilAsync(() => File.Exists(accessLog) && File.ReadAllText(accessLog).Contains("/after"), "a line in the new access log");
        Assert.Equal($"{port} /after 200\n", File.ReadAllText(accessLog));
        Assert.Equal($"{port} /before 200\n", File.ReadAllText(accessLog + ".1"));
        // error_log at notice: the start ("listening on") went to the first file.
        Assert.Contains("[notice]", File.ReadAllText(errorLog + ".1"));
    }

    [Fact]
    public async Task ErrorLog_LevelError_NoticesNotWrittenErrorsAre()
    {
        int port = FastProxyProcess.FreePort();
        int dead = FastProxyProcess.FreePort();
        string errorLog = Path.Combine(_dir, "logs", "error.log");
        var path = Write("level.conf", "error_log logs/error.log error;\n" + Config([port], $"127.0.0.1:{dead}"));
        await using var process = FastProxyProcess.Start("-p", _dir, "-c", path);
        await process.WaitForListenAsync(port);

        Assert.Equal(502, (await GetAsync(port)).Status);

        await Waits.UntilAsync(() => File.Exists(errorLog) && File.ReadAllText(errorLog).Contains("[error]"), "the upstream error is logged");
        var text = File.ReadAllText(errorLog);
        Assert.Contains($"connect() to 127.0.0.1:{dead} failed", text);
        Assert.DoesNotContain("[notice]", text);
    }
}
