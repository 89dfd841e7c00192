using System.Runtime.InteropServices;
using FastProxy.FunctionalTests.Infrastructure;

namespace FastProxy.FunctionalTests;

/// <summary>The fastproxy executable: command line, config test, running a file, signals. Needs the nginx-syntax loader.</summary>
public sealed class HostTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fastproxy-host-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string name, string text)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    private static string ProxyConfig(int listen, string backend, string extra = "") => $$"""
        events { worker_connections 64; }
        http {
            server {
                listen 127.0.0.1:{{listen}};
                location / {
                    proxy_pass http://{{backend}};
                    proxy_set_header X-Real-IP $remote_addr;
                    {{extra}}
                }
            }
        }
        """;

    [Fact]
    public async Task Version_PrintsVersion()
    {
        var (code, stdout, _) = await FastProxyProcess.RunAsync("-v");

        Assert.Equal(0, code);
        Assert.Contains("fastproxy/0.1.0", stdout);
    }

    [Fact]
    public async Task Test_GoodConfig_ExitZeroAndSuccessMessage()
    {
        var path = Write("good.conf", ProxyConfig(FastProxyProcess.FreePort(), "127.0.0.1:9"));

        var (code, _, stderr) = await FastProxyProcess.RunAsync("-t", "-c", path);

        Assert.Equal(0, code);
        Assert.Contains($"configuration file {path} test is successful", stderr);
    }

    [Fact]
    public async Task Test_BadConfig_ExitOneWithFileAndLine()
    {
        var path = Write("bad.conf", "events { }\nhttp {\n    server {\n        listen 127.0.0.1:8080;\n        no_such_directive on;\n    }\n}\n");

        var (code, _, stderr) = await FastProxyProcess.RunAsync("-t", "-c", path);

        Assert.Equal(1, code);
        Assert.Contains($"{path}:5: ", stderr);
        Assert.Contains("test failed", stderr);
    }

    [Fact]
    public async Task Test_DumpConfig_PrintsFile()
    {
        var path = Write("dump.conf", ProxyConfig(FastProxyProcess.FreePort(), "127.0.0.1:9"));

        var (code, stdout, _) = await FastProxyProcess.RunAsync("-T", "-c", path);

        Assert.Equal(0, code);
        Assert.Contains($"# configuration file {path}:", stdout);
        Assert.Contains("proxy_set_header X-Real-IP $remote_addr;", stdout);
    }

    [Fact]
    public async Task Test_ShippedDefaultConfig_IsValid()
    {
        var path = Path.Combine(FastProxyProcess.RepositoryRoot, "conf", "fastproxy.conf");

        var (code, _, stderr) = await FastProxyProcess.RunAsync("-t", "-c", path);

        Assert.True(code == 0, stderr);
    }

    /// <summary>The reference configurations, as the config tests keep them (a copy of /work/shared/nginx-examples).</summary>
    private static string ReferenceConfig(string file) =>
        File.ReadAllText(Path.Combine(FastProxyProcess.RepositoryRoot, "tests", "FastProxy.Core.Tests", "Config", "Fixtures", "examples", file));

    [Theory]
    [InlineData("01-basic.conf")]
    [InlineData("02-gateway.conf")]
    [InlineData("03-upstreams.conf")]
    [InlineData("04-rate-limit.conf")]
    [InlineData("06-websocket-cache.conf")]
    public async Task Test_ReferenceConfig_Accepted(string file)
    {
        var path = Write(file, ReferenceConfig(file));

        var (code, _, stderr) = await FastProxyProcess.RunAsync("-t", "-c", path);

        Assert.True(code == 0, stderr);
    }

    [Fact]
    public async Task Run_ReferenceConfigUpstreams_BalancedWithKeepAlive()
    {
        await using var a = new TestBackend((r, c) => c.RespondAsync(200, "a " + r.Target));
        await using var b = new TestBackend((r, c) => c.RespondAsync(200, "b " + r.Target));
        int front = FastProxyProcess.FreePort();
        var text = ReferenceConfig("03-upstreams.conf")
            .Replace("127.0.0.1:18080", $"127.0.0.1:{front}")
            .Replace("127.0.0.1:18081", a.Address)
            .Replace("127.0.0.1:18082", b.Address)
            .Replace("127.0.0.1:18083", $"127.0.0.1:{FastProxyProcess.FreePort()}");
        var path = Write("03.conf", text);
        await using var process = FastProxyProcess.Start("-c", path);
        await process.WaitForListenAsync(front);

        var bodies = new List<string>();
        for (int i = 0; i < 6; i++)
        {
            bodies.Add((await Curl.GetAsync($"http://127.0.0.1:{front}/api/users/{i}")).Body);
        }

        Assert.Contains(bodies, x => x.StartsWith("a /", StringComparison.Ordinal));
        Assert.Contains(bodies, x => x.StartsWith("b /", StringComparison.Ordinal));
        // The prefix /api/users/ is replaced by "/" (proxy_pass with a URI), and connections are kept alive
        // although the file does not set proxy_http_version 1.1 / Connection "".
        Assert.All(bodies, x => Assert.Matches(@"^[ab] /\d$", x));
        Assert.True(a.Accepts + b.Accepts <= 2, $"{a.Accepts} + {b.Accepts} connections for 6 requests");
    }

    [Fact]
    public async Task Run_DefaultConfigWithOwnPorts_ShowsForwardedHeaders()
    {
        int front = FastProxyProcess.FreePort();
        int back = FastProxyProcess.FreePort();
        var text = File.ReadAllText(Path.Combine(FastProxyProcess.RepositoryRoot, "conf", "fastproxy.conf"))
            .Replace("127.0.0.1:8080", $"127.0.0.1:{front}").Replace("127.0.0.1:8081", $"127.0.0.1:{back}");
        var path = Write("default.conf", text);
        await using var process = FastProxyProcess.Start("-c", path);
        await process.WaitForListenAsync(front);

        var (code, body) = await Curl.GetAsync($"http://127.0.0.1:{front}/anything?x=1");

        Assert.Equal(0, code);
        Assert.Contains("method: GET", body);
        Assert.Contains("uri: /anything?x=1", body);
        Assert.Contains($"host: 127.0.0.1", body);
        Assert.Contains("x-real-ip: 127.0.0.1", body);
        Assert.Contains("x-forwarded-for: 127.0.0.1", body);
        Assert.Contains("x-forwarded-proto: http", body);
    }

    [Fact]
    public async Task Run_SighupWithNewFile_ReloadsAndSigtermStopsWithExitZero()
    {
        await using var first = new TestBackend((_, c) => c.RespondAsync(200, "first"));
        await using var second = new TestBackend((_, c) => c.RespondAsync(200, "second"));
        int port = FastProxyProcess.FreePort();
        var path = Write("run.conf", ProxyConfig(port, first.Address));
        await using var process = FastProxyProcess.Start("-c", path);
        await process.WaitForListenAsync(port);
        Assert.Equal("first", (await Curl.GetAsync($"http://127.0.0.1:{port}/")).Body);

        File.WriteAllText(path, ProxyConfig(port, second.Address));
        var (reload, _, reloadErr) = await FastProxyProcess.RunAsync("-s", "reload", "-c", path);
        Assert.True(reload == 0, reloadErr);
        await Waits.UntilAsync(() => Curl.GetAsync($"http://127.0.0.1:{port}/").Result.Body == "second", "the reload applies");

        // An invalid file on reload keeps the running configuration.
        File.WriteAllText(path, "http { server { listen 127.0.0.1:1; bogus; } }");
        Assert.Equal(0, (await FastProxyProcess.RunAsync("-s", "reload", "-c", path)).ExitCode);
        await Waits.UntilAsync(() => process.StandardError.Contains("bogus") || process.StandardError.Contains("reload"), "the failed reload is logged");
        Assert.Equal("second", (await Curl.GetAsync($"http://127.0.0.1:{port}/")).Body);

        Assert.Equal(0, Signal(process.Id, 15));
        Assert.Equal(0, await process.WaitForExitAsync(TimeSpan.FromSeconds(20)));
        Assert.False(File.Exists(Path.ChangeExtension(path, ".pid")));
    }

    [Fact]
    public async Task Run_QuitSignalThroughPidFile_ExitZero()
    {
        await using var backend = TestBackend.Echo();
        int port = FastProxyProcess.FreePort();
        var path = Write("quit.conf", ProxyConfig(port, backend.Address));
        await using var process = FastProxyProcess.Start("-c", path);
        await process.WaitForListenAsync(port);

        // The pid file is written once the listeners are up, just after the port starts accepting.
        await Waits.UntilAsync(() => File.Exists(Path.ChangeExtension(path, ".pid")), "the pid file is written");
        Assert.Equal(process.Id.ToString(), File.ReadAllText(Path.ChangeExtension(path, ".pid")).Trim());
        Assert.Equal(0, (await FastProxyProcess.RunAsync("-s", "quit", "-c", path)).ExitCode);

        Assert.Equal(0, await process.WaitForExitAsync(TimeSpan.FromSeconds(20)));
    }

    [DllImport("libc", EntryPoint = "kill")]
    private static extern int Signal(int pid, int signal);
}
