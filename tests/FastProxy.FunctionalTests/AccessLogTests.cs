using System.Net;
using FastProxy.Config;
using FastProxy.FunctionalTests.Infrastructure;

namespace FastProxy.FunctionalTests;

/// <summary>
/// access_log / log_format through real sockets: one line per request whatever ended it, the location's log,
/// files shared and kept across reloads, reopen for rotation.
/// </summary>
public sealed class AccessLogTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fp-access-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string LogPath(string name = "access.log") => Path.Combine(_dir, name);

    /// <summary>Loads an nginx-syntax http block (relative log paths under the test's folder), listening on free ports.</summary>
    private NginxTestConfig LoadFile(string http) =>
        NginxTestConfig.Load($"events {{ }}\nhttp {{\n{http}\n}}\n", Path.Combine(_dir, "test.conf"), _dir);

    private ProxyConfig Load(string http) => LoadFile(http).Config;

    private Task<Proxy> StartAsync(string http) => Proxy.StartAsync(Load(http));

    /// <summary>Waits (bounded) until the file has <paramref name="count"/> lines; the writer thread writes within about a millisecond.</summary>
    private static async Task<string[]> LinesAsync(string path, int count)
    {
        string[] lines = [];
        await Waits.UntilAsync(() =>
        {
            lines = File.Exists(path) ? File.ReadAllLines(path) : [];
            return lines.Length >= count;
        }, $"{count} lines in {path}");
        return lines;
    }

    [Fact]
    public async Task AccessLog_ProxiedAndOwnAnswers_OneCombinedLineEach()
    {
        await using var backend = new TestBackend((r, c) => c.RespondAsync(200, "hello"));
        int dead = FastProxyProcess.FreePort();
        await using var proxy = await StartAsync($$"""
            server {
                listen 127.0.0.1:8001;
                access_log access.log;
                location /ok/ { proxy_pass http://{{backend.Address}}; }
                location /dead/ { proxy_pass http://127.0.0.1:{{dead}}; }
                location /limited { return 429; }
                location /small/ { client_max_body_size 10; proxy_pass http://{{backend.Address}}; }
                location /nothing/ { }
            }
            """);

        Assert.Equal(200, (await proxy.SendAsync("GET /ok/a?x=1 HTTP/1.1\r\nHost: h\r\nUser-Agent: ua/1\r\nReferer: http://r/\r\n\r\n")).Status);
        Assert.Equal(502, (await proxy.SendAsync("GET /dead/b HTTP/1.1\r\nHost: h\r\n\r\n")).Status);
        Assert.Equal(429, (await proxy.SendAsync("GET /limited HTTP/1.1\r\nHost: h\r\n\r\n")).Status);
        Assert.Equal(413, (await proxy.SendAsync("POST /small/c HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n")).Status);
        Assert.Equal(404, (await proxy.SendAsync("GET /nothing/d HTTP/1.1\r\nHost: h\r\n\r\n")).Status);
        Assert.Equal(400, (await proxy.SendAsync("GET /nohost HTTP/1.1\r\n\r\n")).Status);
        Assert.Equal(400, (await proxy.SendAsync("GARBAGE\r\n\r\n")).Status);

        var lines = await LinesAsync(LogPath(), 7);

        Assert.Equal(7, lines.Length);
        Assert.Single(lines, l => l.Contains("\"GET /ok/a?x=1 HTTP/1.1\" 200 5 \"http://r/\" \"ua/1\"", StringComparison.Ordinal));
        Assert.Single(lines, l => l.Contains("\"GET /dead/b HTTP/1.1\" 502 ", StringComparison.Ordinal));
        Assert.Single(lines, l => l.Contains("\"GET /limited HTTP/1.1\" 429 ", StringComparison.Ordinal));
        Assert.Single(lines, l => l.Contains("\"POST /small/c HTTP/1.1\" 413 ", StringComparison.Ordinal));
        Assert.Single(lines, l => l.Contains("\"GET /nothing/d HTTP/1.1\" 404 ", StringComparison.Ordinal));
        Assert.Single(lines, l => l.Contains("\"GET /nohost HTTP/1.1\" 400 ", StringComparison.Ordinal));
        Assert.Single(lines, l => l.Contains("\"GARBAGE\" 400 ", StringComparison.Ordinal));
        Assert.All(lines, l => Assert.Matches(@"^127\.0\.0\.1 - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] "".*"" \d{3} \d+ "".*"" "".*""$", l));
    }

    [Fact]
    public async Task AccessLog_CustomFormat_RequestAndUpstreamVariables()
    {
        await using var backend = new TestBackend((r, c) => c.RespondAsync(201, "abc"));
        await using var proxy = await StartAsync($$"""
            log_format ops '$request_method $uri $args $host $status $body_bytes_sent $bytes_sent $request_length '
                           '$upstream_addr $upstream_status $connection_requests $request_time $upstream_response_time';
            server {
                listen 127.0.0.1:8001;
                access_log access.log ops;
                location / { proxy_pass http://{{backend.Address}}; }
            }
            """);
        await using var client = await proxy.ConnectAsync();
        const string Request = "GET /a/../b?k=v HTTP/1.1\r\nHost: Example.COM\r\n\r\n";
        await client.SendAsync(Request);
        var first = await client.ReadResponseAsync();
        await client.SendAsync(Request);
        await client.ReadResponseAsync();

        var lines = await LinesAsync(LogPath(), 2);

        int headBytes = first.RawHead.Length;
        var fields = lines[0].Split(' ');
        Assert.Equal(["GET", "/b", "k=v", "example.com", "201", "3", (headBytes + 3).ToString(), Request.Length.ToString(), backend.Address, "201"],
            fields[..10]);
        Assert.Equal(["1", "2"], lines.Select(l => l.Split(' ')[10]).Order());
        Assert.Matches(@"^\d+\.\d{3}$", fields[11]);
        Assert.Matches(@"^\d+\.\d{3}$", fields[12]);
    }

    [Fact]
    public async Task AccessLog_ClientClosesMidBody_Logged400WithNothingSent()
    {
        await using var backend = new TestBackend((r, c) => c.RespondAsync(200, "x"));
        await using var proxy = await StartAsync($$"""
            server { listen 127.0.0.1:8001; access_log access.log; location / { proxy_pass http://{{backend.Address}}; } }
            """);
        await using (var client = await proxy.ConnectAsync())
        {
            await client.SendAsync("POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n0123456789");
        }

        var line = Assert.Single(await LinesAsync(LogPath(), 1));

        Assert.Contains("\"POST /upload HTTP/1.1\" 400 0 ", line);
    }

    [Fact]
    public async Task AccessLog_ExpectContinue_InterimHeadNotCountedAsBody()
    {
        await using var backend = new TestBackend((r, c) => c.RespondAsync(200, "stored"));
        await using var proxy = await StartAsync($$"""
            log_format sizes '$status $body_bytes_sent $request_length';
            server { listen 127.0.0.1:8001; access_log access.log sizes; location / { proxy_pass http://{{backend.Address}}; } }
            """);
        await using var client = await proxy.ConnectAsync();
        const string Head = "PUT /doc HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n";
        await client.SendAsync(Head);
        Assert.Equal(100, (await client.ReadHeadAsync()).Status);
        await client.SendAsync("hello");
        Assert.Equal("stored", (await client.ReadResponseAsync()).BodyText);

        Assert.Equal([$"200 6 {Head.Length + 5}"], await LinesAsync(LogPath(), 1));
    }

    [Fact]
    public async Task AccessLog_ClientClosesMidHead_Logged400()
    {
        await using var proxy = await StartAsync("server { listen 127.0.0.1:8001; access_log access.log; location / { return 200; } }");
        await using (var client = await proxy.ConnectAsync())
        {
            await client.SendAsync("GET /half HTTP/1.1\r\nHost: h\r\n");
        }

        var line = Assert.Single(await LinesAsync(LogPath(), 1));

        Assert.Contains("\"GET /half HTTP/1.1\" 400 0 ", line);
    }

    [Fact]
    public async Task AccessLog_IdleKeepAliveConnectionCloses_NothingLogged()
    {
        await using var proxy = await StartAsync("server { listen 127.0.0.1:8001; access_log access.log; location / { return 204; } }");
        await using (var client = await proxy.ConnectAsync())
        {
            await client.SendAsync("GET /one HTTP/1.1\r\nHost: h\r\n\r\n");
            await client.ReadResponseAsync();
        }
        await Waits.UntilAsync(() => proxy.Server.ConnectionCount == 0, "the connection is closed");
        // A request after the close is logged after anything the closed connection could have logged.
        Assert.Equal(204, (await proxy.SendAsync("GET /two HTTP/1.1\r\nHost: h\r\n\r\n")).Status);

        var lines = await LinesAsync(LogPath(), 2);

        Assert.Equal(2, lines.Length);
    }

    [Fact]
    public async Task AccessLog_WebSocketTunnel_OneLineWith101WhenItCloses()
    {
        await using var backend = WebSocketFrames.EchoBackend();
        await using var proxy = await StartAsync($$"""
            log_format t '$status $request $bytes_sent';
            server { listen 127.0.0.1:8001; access_log access.log t; location / { proxy_pass http://{{backend.Address}}; } }
            """);
        var client = await proxy.ConnectAsync();
        await client.SendAsync("GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
        Assert.Equal(101, (await client.ReadHeadAsync()).Status);
        await client.SendAsync(WebSocketFrames.Text("hello", masked: true));
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        Assert.Equal("echo: hello", (await WebSocketFrames.ReadAsync(client.Reader, cts.Token)).Text);

        await client.DisposeAsync();
        await Waits.UntilAsync(() => proxy.Server.ConnectionCount == 0, "the tunnel is closed");

        var line = Assert.Single(await LinesAsync(LogPath(), 1));
        var fields = line.Split(' ');
        Assert.Equal(["101", "GET", "/ws", "HTTP/1.1"], fields[..4]);
        Assert.True(long.Parse(fields[4]) > 100, line); // the 101 head and the echoed frame
    }

    [Fact]
    public async Task AccessLog_NextUpstream_EveryAttemptListed()
    {
        await using var live = new TestBackend((r, c) => c.RespondAsync(200, "ok"));
        int dead = FastProxyProcess.FreePort();
        await using var proxy = await StartAsync($$"""
            log_format up '$status "$upstream_addr" "$upstream_status"';
            upstream pair { server 127.0.0.1:{{dead}}; server {{live.Address}}; }
            server { listen 127.0.0.1:8001; access_log access.log up; location / { proxy_pass http://pair; } }
            """);

        // Round robin starts with the first server, which refuses: the request moves on to the second.
        Assert.Equal(200, (await proxy.SendAsync("GET / HTTP/1.1\r\nHost: h\r\n\r\n")).Status);
        Assert.Equal(200, (await proxy.SendAsync("GET / HTTP/1.1\r\nHost: h\r\n\r\n")).Status);

        var lines = await LinesAsync(LogPath(), 2);

        Assert.Contains($"200 \"127.0.0.1:{dead}, {live.Address}\" \"502, 200\"", lines);
    }

    [Fact]
    public async Task AccessLog_LocationLevels_OffOverrideAndSharedFile()
    {
        var file = LoadFile("""
            log_format short '$uri $status';
            access_log main.log short;
            server {
                listen 127.0.0.1:8001;
                location /quiet/ { access_log off; return 200; }
                location /other/ { access_log other.log short; access_log main.log short; return 200; }
                location / { return 200; }
            }
            server {
                listen 127.0.0.1:8002;
                server_name second;
                location / { return 202; }
            }
            """);
        await using var proxy = await Proxy.StartAsync(file.Config);
        foreach (var path in new[] { "/a", "/quiet/b", "/other/c" })
        {
            await using var client = await RawClient.ConnectAsync(file.EndPoint(proxy.Server, 8001));
            await client.SendAsync($"GET {path} HTTP/1.1\r\nHost: h\r\n\r\n");
            Assert.Equal(200, (await client.ReadResponseAsync()).Status);
        }
        await using (var client = await RawClient.ConnectAsync(file.EndPoint(proxy.Server, 8002)))
        {
            await client.SendAsync("GET /d HTTP/1.1\r\nHost: second\r\n\r\n");
            Assert.Equal(202, (await client.ReadResponseAsync()).Status);
        }

        var main = await LinesAsync(LogPath("main.log"), 3);
        var other = await LinesAsync(LogPath("other.log"), 1);

        Assert.Equal(["/a 200", "/d 202", "/other/c 200"], main.Order());
        Assert.Equal(["/other/c 200"], other);
        // One writer per file, whatever number of directives and servers write there.
        Assert.Equal(2, proxy.Server.Services.AccessLogs.Writers.Count);
    }

    [Fact]
    public async Task AccessLog_Reload_SameFileKeepsWriterNewFileOpened()
    {
        string Config(string extra) => $$"""
            log_format short '$uri';
            server { listen 127.0.0.1:8001; access_log a.log short; {{extra}} location / { return 200; } }
            """;
        await using var proxy = await StartAsync(Config(""));
        Assert.Equal(200, (await proxy.SendAsync("GET /before HTTP/1.1\r\nHost: h\r\n\r\n")).Status);
        var writer = Assert.Single(proxy.Server.Services.AccessLogs.Writers);

        Assert.True(proxy.Server.TryReload(Load(Config("access_log b.log short;")), out var errors), string.Join("; ", errors));
        Assert.Equal(200, (await proxy.SendAsync("GET /after HTTP/1.1\r\nHost: h\r\n\r\n")).Status);

        Assert.Contains(writer, proxy.Server.Services.AccessLogs.Writers);
        Assert.Equal(2, proxy.Server.Services.AccessLogs.Writers.Count);
        Assert.Equal(["/before", "/after"], await LinesAsync(LogPath("a.log"), 2));
        Assert.Equal(["/after"], await LinesAsync(LogPath("b.log"), 1));
    }

    [Fact]
    public async Task AccessLog_FileCannotBeOpened_StartAndReloadRefused()
    {
        string blocker = LogPath("not-a-folder");
        File.WriteAllText(blocker, "");
        string bad = $"server {{ listen 127.0.0.1:8001; access_log {blocker}/x.log; location / {{ return 200; }} }}";

        var e = Assert.Throws<ArgumentException>(() => new ProxyServer(Load(bad)));
        Assert.Contains($"open() \"{blocker}/x.log\" failed", e.Message);

        await using var proxy = await StartAsync("server { listen 127.0.0.1:8001; access_log off; location / { return 200; } }");
        Assert.False(proxy.Server.TryReload(Load(bad), out var errors));
        Assert.Contains(errors, x => x.Contains("open()", StringComparison.Ordinal));
        Assert.Equal(200, (await proxy.SendAsync("GET / HTTP/1.1\r\nHost: h\r\n\r\n")).Status);
    }

    [Fact]
    public async Task ReopenLogs_AfterRotation_NewLinesInNewFile()
    {
        await using var proxy = await StartAsync("""
            log_format short '$uri';
            server { listen 127.0.0.1:8001; access_log access.log short; location / { return 200; } }
            """);
        Assert.Equal(200, (await proxy.SendAsync("GET /old HTTP/1.1\r\nHost: h\r\n\r\n")).Status);
        await LinesAsync(LogPath(), 1);
        File.Move(LogPath(), LogPath("access.log.1"));

        proxy.Server.ReopenLogs();
        Assert.Equal(200, (await proxy.SendAsync("GET /new HTTP/1.1\r\nHost: h\r\n\r\n")).Status);

        Assert.Equal(["/new"], await LinesAsync(LogPath(), 1));
        Assert.Equal(["/old"], File.ReadAllLines(LogPath("access.log.1")));
    }

    [Fact]
    public async Task AccessLog_JsonFormat_ValidJsonPerLine()
    {
        await using var proxy = await StartAsync("""
            log_format json escape=json '{"uri":"$request_uri","ua":"$http_user_agent","status":$status,"ref":"$http_referer"}';
            server { listen 127.0.0.1:8001; access_log access.log json; location / { return 200; } }
            """);
        Assert.Equal(200, (await proxy.SendAsync("GET /q?a=\"b\\ HTTP/1.1\r\nHost: h\r\nUser-Agent: x\"y\\z\r\n\r\n")).Status);

        var line = Assert.Single(await LinesAsync(LogPath(), 1));
        using var json = System.Text.Json.JsonDocument.Parse(line);

        Assert.Equal("/q?a=\"b\\", json.RootElement.GetProperty("uri").GetString());
        Assert.Equal("x\"y\\z", json.RootElement.GetProperty("ua").GetString());
        Assert.Equal(200, json.RootElement.GetProperty("status").GetInt32());
        Assert.Equal("", json.RootElement.GetProperty("ref").GetString());
    }

    [Fact]
    public async Task AccessLog_RateLimitRejection_Logged429WithItsPage()
    {
        // (return would answer before limit_req, in nginx's rewrite phase: the limit guards a proxied location.)
        await using var backend = new TestBackend((r, c) => c.RespondAsync(200, "ok"));
        await using var proxy = await StartAsync($$"""
            log_format short '$uri $status $body_bytes_sent';
            limit_req_zone $binary_remote_addr zone=one:1m rate=1r/m;
            server {
                listen 127.0.0.1:8001;
                access_log access.log short;
                location / { limit_req zone=one; limit_req_status 429; proxy_pass http://{{backend.Address}}; }
            }
            """);
        await using var client = await proxy.ConnectAsync();
        await client.SendAsync("GET /first HTTP/1.1\r\nHost: h\r\n\r\n");
        Assert.Equal(200, (await client.ReadResponseAsync()).Status);
        await client.SendAsync("GET /second HTTP/1.1\r\nHost: h\r\n\r\n");
        var rejected = await client.ReadResponseAsync();
        Assert.Equal(429, rejected.Status);

        var lines = await LinesAsync(LogPath(), 2);

        Assert.Contains($"/second 429 {rejected.Body.Length}", lines);
    }

    [Fact]
    public async Task AccessLog_PlainHttpToTlsPort_Logged400()
    {
        ReferenceConfigs.WriteCertificates(_dir);
        await using var proxy = await StartAsync($$"""
            server {
                listen 127.0.0.1:8443 ssl;
                ssl_certificate {{_dir}}/certs/fullchain.pem;
                ssl_certificate_key {{_dir}}/certs/privkey.pem;
                access_log access.log;
                location / { return 200; }
            }
            """);

        var response = await proxy.SendAsync("GET /plain HTTP/1.1\r\nHost: h\r\n\r\n");

        Assert.Equal(400, response.Status);
        var line = Assert.Single(await LinesAsync(LogPath(), 1));
        Assert.Contains($"\"-\" 400 {response.Body.Length} ", line);
    }

    [Fact]
    public async Task AccessLog_RewriteRedirectAndDeny_LoggedInTheFinalLocation()
    {
        await using var backend = new TestBackend((r, c) => c.RespondAsync(200, "v2 " + r.Target));
        await using var proxy = await StartAsync($$"""
            log_format short '$request_uri $uri $status';
            server {
                listen 127.0.0.1:8001;
                access_log server.log short;
                location /old/ { rewrite ^/old/(.*)$ /v2/$1 last; }
                location /v2/ { access_log v2.log short; proxy_pass http://{{backend.Address}}; }
                location /moved { rewrite ^ /v2/ permanent; }
                location /private/ { deny all; }
            }
            """);

        Assert.Equal("v2 /v2/a", (await proxy.SendAsync("GET /old/a HTTP/1.1\r\nHost: h\r\n\r\n")).BodyText);
        Assert.Equal(301, (await proxy.SendAsync("GET /moved HTTP/1.1\r\nHost: h\r\n\r\n")).Status);
        Assert.Equal(403, (await proxy.SendAsync("GET /private/x HTTP/1.1\r\nHost: h\r\n\r\n")).Status);

        // nginx logs with the location the request ended in: the rewritten one's log, its $uri.
        Assert.Equal(["/old/a /v2/a 200"], await LinesAsync(LogPath("v2.log"), 1));
        Assert.Equal(["/moved /moved 301", "/private/x /private/x 403"], (await LinesAsync(LogPath("server.log"), 2)).Order());
    }

    [Fact]
    public async Task AccessLog_BuilderConfig_LoggedWithOwnFormat()
    {
        var config = new ProxyConfigBuilder()
            .Http(l => l.Configure(s => s with { AccessLogs = [new AccessLogConfig("api.log", "api", 0, TimeSpan.Zero)] }))
            .Server(s => s.Listen("127.0.0.1:0").Location("/", l => l.Return(200, "hi")))
            .Build();
        config = config with
        {
            Prefix = _dir,
            LogFormats = new Dictionary<string, ValueTemplate> { ["api"] = ValueTemplate.Parse("{\"uri\":\"$uri\",\"status\":$status}") },
            LogFormatEscapes = new Dictionary<string, LogEscape> { ["api"] = LogEscape.Json },
        };
        await using var proxy = await Proxy.StartAsync(config);

        Assert.Equal(200, (await proxy.SendAsync("GET /x\"y HTTP/1.1\r\nHost: h\r\n\r\n")).Status);

        Assert.Equal(["{\"uri\":\"/x\\\"y\",\"status\":200}"], await LinesAsync(LogPath("api.log"), 1));
    }

    [Fact]
    public async Task AccessLog_NoDirectiveAnywhere_CombinedToLogsAccessLogUnderPrefix()
    {
        await using var proxy = await StartAsync("server { listen 127.0.0.1:8001; location / { return 200; } }");

        Assert.Equal(200, (await proxy.SendAsync("GET /default HTTP/1.1\r\nHost: h\r\n\r\n")).Status);

        var line = Assert.Single(await LinesAsync(Path.Combine(_dir, "logs", "access.log"), 1));
        Assert.Contains("\"GET /default HTTP/1.1\" 200 0 \"-\" \"-\"", line);
    }
}
