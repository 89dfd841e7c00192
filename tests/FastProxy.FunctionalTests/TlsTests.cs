using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using FastProxy.Config;
using FastProxy.FunctionalTests.Infrastructure;
using FastProxy.Tls.Tests;
using Microsoft.Extensions.Logging;

namespace FastProxy.FunctionalTests;

/// <summary>Collects the proxy's log lines so tests can check what was logged at which level.</summary>
internal sealed class CapturingLoggerFactory : ILoggerFactory, ILogger
{
    public ConcurrentQueue<(LogLevel Level, string Message)> Entries { get; } = new();

    public void AddProvider(ILoggerProvider provider) { }
    public ILogger CreateLogger(string categoryName) => this;
    public void Dispose() { }
    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        Entries.Enqueue((logLevel, formatter(state, exception)));

    public bool Has(LogLevel level, string part)
    {
        foreach (var (l, m) in Entries)
        {
            if (l == level && m.Contains(part, StringComparison.Ordinal))
            {
                return true;
            }
        }
        return false;
    }

    public string All => string.Join("\n", Entries.Select(e => $"[{e.Level}] {e.Message}"));
}

internal static class TlsProxy
{
    public static ProxyConfig Load(string text)
    {
        var result = NginxConfigLoader.LoadText(text, "tls-test.conf");
        Assert.True(result.Success, string.Join("\n", result.Diagnostics));
        return result.Config!;
    }

    /// <summary>Starts a proxy from nginx text; "127.0.0.1:0" (which nginx refuses) stands for one free port.</summary>
    public static async Task<ProxyServer> StartAsync(string text, ILoggerFactory? logs = null)
    {
        text = text.Replace("127.0.0.1:0;", $"127.0.0.1:{FastProxyProcess.FreePort()};").Replace("127.0.0.1:0 ", $"127.0.0.1:{FastProxyProcess.FreePort()} ");
        var server = new ProxyServer(Load(text), logs ?? TestLoggerFactory.FromEnvironment());
        await server.StartAsync();
        return server;
    }

    public static string ReferenceConfig(string file) =>
        File.ReadAllText(Path.Combine(FastProxyProcess.RepositoryRoot, "tests", "FastProxy.Core.Tests", "Config", "Fixtures", "examples", file));

    /// <summary>A TLS client over a raw socket, for tests that hold a connection open (reload) or look at the certificate.</summary>
    public static async Task<(SslStream Stream, BufferedReader Reader)> ConnectAsync(int port, string serverName, string rootPath)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        using var cts = new CancellationTokenSource(RawClient.DefaultTimeout);
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), cts.Token);
        var roots = new X509Certificate2Collection();
        roots.ImportFromPemFile(rootPath);
        var ssl = new SslStream(new NetworkStream(socket, ownsSocket: true));
        await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = serverName,
            CertificateChainPolicy = new X509ChainPolicy
            {
                TrustMode = X509ChainTrustMode.CustomRootTrust,
                RevocationMode = X509RevocationMode.NoCheck,
                CustomTrustStore = { roots[0] },
            },
        }, cts.Token);
        return (ssl, new BufferedReader(ssl));
    }

    public static async Task<string> GetAsync(SslStream stream, BufferedReader reader, string host, string path)
    {
        using var cts = new CancellationTokenSource(RawClient.DefaultTimeout);
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n"), cts.Token);
        var head = await reader.ReadHeadAsync(cts.Token) ?? throw new IOException("closed");
        int length = int.Parse(head.Split("\r\n").First(l => l.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase))[15..].Trim());
        return head.Split("\r\n")[0] + "\n" + Encoding.ASCII.GetString(await reader.ReadExactlyAsync(length, cts.Token));
    }
}

/// <summary>The reference configuration 05-tls.conf, unchanged but for the certificate path and the ports.</summary>
public sealed class Tls05Fixture : IAsyncLifetime
{
    internal TestPki Pki { get; } = new();
    internal TestBackend Backend { get; } = TestBackend.Echo();
    internal CapturingLoggerFactory Logs { get; } = new();
    internal ProxyServer Server { get; private set; } = null!;
    public int PlainPort { get; } = FastProxyProcess.FreePort();
    public int TlsPort { get; } = FastProxyProcess.FreePort();

    public async Task InitializeAsync()
    {
        var certificate = Pki.IssueEcdsa("api", ["api.example.com"]);
        var text = TlsProxy.ReferenceConfig("05-tls.conf")
            .Replace("/tmp/fastproxy-test-certs/fullchain.pem", certificate.CertificatePath)
            .Replace("/tmp/fastproxy-test-certs/privkey.pem", certificate.KeyPath)
            .Replace("127.0.0.1:18080", $"127.0.0.1:{PlainPort}")
            .Replace("127.0.0.1:18443", $"127.0.0.1:{TlsPort}")
            .Replace("127.0.0.1:18081", Backend.Address);
        Server = await TlsProxy.StartAsync(text, Logs);
    }

    public string[] Curl(params string[] extra) =>
        ["-sS", "--max-time", "20", "--cacert", Pki.RootPath, "--resolve", $"api.example.com:{TlsPort}:127.0.0.1", .. extra];

    public async Task DisposeAsync()
    {
        await Server.StopAsync(TimeSpan.FromSeconds(2));
        await Backend.DisposeAsync();
        Pki.Dispose();
    }
}

public sealed class Tls05Tests(Tls05Fixture fixture) : IClassFixture<Tls05Fixture>
{
    [Fact]
    public async Task Tls_ReferenceConfig_CurlGetsBackendWithForwardedProtoHttps()
    {
        var result = await Tools.CurlAsync(fixture.Curl("-i", $"https://api.example.com:{fixture.TlsPort}/v1/items?x=1"));

        Assert.True(result.ExitCode == 0, result.All);
        Assert.StartsWith("HTTP/1.1 200", result.StdOut);
        var request = fixture.Backend.Requests.Last(r => r.Target == "/v1/items?x=1");
        Assert.Equal("https", request.Header("X-Forwarded-Proto"));
        Assert.Equal("api.example.com", request.Header("Host"));
    }

    [Fact]
    public async Task Tls_PlainServerOfReferenceConfig_RedirectsToHttpsServerName()
    {
        var result = await Curl.RunAsync("-sS", "-i", "--max-time", "20", $"http://127.0.0.1:{fixture.PlainPort}/a/b?c=d");

        Assert.StartsWith("HTTP/1.1 301", result.Stdout);
        Assert.Contains("Location: https://api.example.com/a/b?c=d\r\n", result.Stdout);
    }

    [Fact]
    public async Task Tls_PlainHttpOnTlsPort_400PageAndClose()
    {
        await using var client = await RawClient.ConnectAsync(new IPEndPoint(IPAddress.Loopback, fixture.TlsPort));

        await client.SendAsync("GET / HTTP/1.1\r\nHost: api.example.com\r\n\r\n");
        var response = await client.ReadResponseAsync();
        var (rest, _) = await client.Reader.ReadToEndAsync();

        Assert.Equal(400, response.Status);
        Assert.Equal("close", response.Header("Connection"));
        Assert.Contains("The plain HTTP request was sent to HTTPS port", response.BodyText);
        Assert.Empty(rest);
        await Waits.UntilAsync(() => fixture.Logs.Has(LogLevel.Information, "PlainHttp"), "the plain request is logged at info");
    }

    [Fact]
    public async Task Tls_Tls11Client_RefusedAndLoggedAtInfo()
    {
        var refused = await Tools.CurlAsync(fixture.Curl("--tls-max", "1.1", $"https://api.example.com:{fixture.TlsPort}/"));
        var accepted = await Tools.CurlAsync(fixture.Curl("-o", "/dev/null", "-w", "%{http_code}", $"https://api.example.com:{fixture.TlsPort}/"));

        Assert.NotEqual(0, refused.ExitCode);
        Assert.Equal("200", accepted.StdOut);
        await Waits.UntilAsync(() => fixture.Logs.Has(LogLevel.Information, "ProtocolMismatch"), "the refused handshake is logged at info");
    }

    [Fact]
    public async Task Tls_AlpnH2OnHttp2Listen_NegotiatesHttp11()
    {
        var s = await Tools.OpenSslAsync("s_client", "-connect", $"127.0.0.1:{fixture.TlsPort}", "-servername", "api.example.com",
            "-CAfile", fixture.Pki.RootPath, "-alpn", "h2,http/1.1");

        Assert.True(s.StdOut.Contains("ALPN protocol: http/1.1"), s.All);
        Assert.Contains("Verify return code: 0 (ok)", s.StdOut);
        Assert.True(fixture.Logs.Has(LogLevel.Warning, "HTTP/2 is not served yet"), fixture.Logs.All);
    }
}

public sealed class TlsTests : IDisposable
{
    private readonly TestPki _pki = new();

    public void Dispose() => _pki.Dispose();

    private static string Server(CertFiles certificate, string names, string body, string extra = "", string listen = "127.0.0.1:0 ssl") => $$"""
        server {
            listen {{listen}};
            server_name {{names}};
            ssl_certificate {{certificate.CertificatePath}};
            ssl_certificate_key {{certificate.KeyPath}};
            {{extra}}
            location / { return 200 "{{body}}"; }
        }
        """;

    /// <summary>A TLS server on <paramref name="port"/> proxying everything to <paramref name="backend"/>.</summary>
    private static string ProxyOverTls(CertFiles certificate, int port, string backend, string extra = "") => $$"""
        server {
            listen 127.0.0.1:{{port}} ssl;
            ssl_certificate {{certificate.CertificatePath}};
            ssl_certificate_key {{certificate.KeyPath}};
            {{extra}}
            location / { proxy_pass http://{{backend}}; }
        }
        """;

    private static string Http(params string[] servers) => "events {}\nhttp {\n" + string.Join("\n", servers) + "\n}\n";

    private string[] SClient(int port, params string[] extra) =>
        ["s_client", "-connect", $"127.0.0.1:{port}", "-CAfile", _pki.RootPath, .. extra];

    [Fact]
    public async Task Tls_SniWithTwoServers_CertificateBySniServerByHost()
    {
        var a = _pki.IssueEcdsa("a", ["a.example.test"]);
        var b = _pki.IssueRsa("b", ["b.example.test"]);
        int port = FastProxyProcess.FreePort();
        var listen = $"127.0.0.1:{port} ssl";
        await using var server = await TlsProxy.StartAsync(Http(
            Server(a, "a.example.test", "server a $scheme $https", listen: listen),
            Server(b, "b.example.test", "server b", listen: listen)));

        var toB = await Tools.OpenSslAsync(SClient(port, "-servername", "b.example.test"));
        var unknown = await Tools.OpenSslAsync(SClient(port, "-servername", "nobody.example.test"));
        var (stream, reader) = await TlsProxy.ConnectAsync(port, "a.example.test", _pki.RootPath);
        string sameHost, otherHost;
        await using (stream)
        {
            sameHost = await TlsProxy.GetAsync(stream, reader, "a.example.test", "/");
            // nginx: SNI picks the certificate, Host picks the server block (421 only with ssl_verify_client).
            otherHost = await TlsProxy.GetAsync(stream, reader, "b.example.test", "/");
        }

        Assert.Contains("subject=CN = b.example.test", toB.StdOut);
        Assert.Contains("Verify return code: 0 (ok)", toB.StdOut);
        Assert.Contains("subject=CN = a.example.test", unknown.StdOut); // the default server's certificate
        Assert.Equal("HTTP/1.1 200 OK\nserver a https on", sameHost);
        Assert.Equal("HTTP/1.1 200 OK\nserver b", otherHost);
    }

    [Fact]
    public async Task Tls_SessionSavedAndOffered_ResumedThroughTheProxy()
    {
        var a = _pki.IssueEcdsa("a", ["a.example.test"]);
        await using var server = await TlsProxy.StartAsync(Http(Server(a, "a.example.test", "ok", "ssl_session_cache shared:SSL:1m;")));
        int port = server.BoundEndPoints[0].Port;
        var session = Path.Combine(_pki.Directory, "session.pem");
        const string request = "GET / HTTP/1.1\r\nHost: a.example.test\r\nConnection: close\r\n\r\n";

        var first = await Tools.RunAsync("openssl", SClient(port, "-servername", "a.example.test", "-tls1_3", "-ign_eof", "-sess_out", session), request);
        var second = await Tools.RunAsync("openssl", SClient(port, "-servername", "a.example.test", "-tls1_3", "-ign_eof", "-sess_in", session), request);
        var reconnect = await Tools.OpenSslAsync(SClient(port, "-servername", "a.example.test", "-tls1_2", "-reconnect"));

        Assert.True(first.StdOut.Contains("New, TLSv1.3"), first.All);
        Assert.True(second.StdOut.Contains("Reused, TLSv1.3"), second.All);
        Assert.Contains("HTTP/1.1 200 OK", second.StdOut);
        Assert.True(reconnect.StdOut.Contains("Reused, TLSv1.2"), reconnect.All);
    }

    [Fact]
    public async Task Tls_ClientThatNeverHandshakes_ClosedAfterHandshakeTimeoutOthersServed()
    {
        var a = _pki.IssueEcdsa("a", ["a.example.test"]);
        var logs = new CapturingLoggerFactory();
        await using var server = await TlsProxy.StartAsync(Http(Server(a, "a.example.test", "ok", "ssl_handshake_timeout 300ms;")), logs);
        int port = server.BoundEndPoints[0].Port;

        await using var silent = await RawClient.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));
        var (stream, reader) = await TlsProxy.ConnectAsync(port, "a.example.test", _pki.RootPath);
        string served;
        await using (stream)
        {
            served = await TlsProxy.GetAsync(stream, reader, "a.example.test", "/");
        }
        var (data, _) = await silent.Reader.ReadToEndAsync();

        Assert.Equal("HTTP/1.1 200 OK\nok", served);
        Assert.Empty(data);
        await Waits.UntilAsync(() => logs.Has(LogLevel.Information, "Timeout"), "the timed-out handshake is logged at info");
        await Waits.UntilAsync(() => server.ConnectionCount == 0, "both connections are gone");
    }

    [Fact]
    public async Task Tls_IdleConnectionParks_NextRequestServedOnTheSameSession()
    {
        var certificate = _pki.IssueEcdsa("site", ["a.example.test"]);
        int port = FastProxyProcess.FreePort();
        await using var server = await TlsProxy.StartAsync(Http(Server(certificate, "a.example.test", "ok", listen: $"127.0.0.1:{port} ssl")));
        var (tls, reader) = await TlsProxy.ConnectAsync(port, "a.example.test", _pki.RootPath);
        await using var _ = tls;

        var before = await TlsProxy.GetAsync(tls, reader, "a.example.test", "/");
        await Waits.UntilAsync(() => server.ParkedConnectionCount == 1, "the idle TLS connection is parked");
        var after = await TlsProxy.GetAsync(tls, reader, "a.example.test", "/");

        Assert.Equal("HTTP/1.1 200 OK\nok", before);
        Assert.Equal("HTTP/1.1 200 OK\nok", after);
        Assert.Equal(1, server.ConnectionCount);
    }

    [Fact]
    public async Task Tls_ReloadWithNewCertificate_OpenConnectionKeepsWorkingNewOnesGetNewCertificate()
    {
        var first = _pki.IssueEcdsa("site", ["a.example.test"]);
        int port = FastProxyProcess.FreePort();
        var text = Http(Server(first, "a.example.test", "ok", listen: $"127.0.0.1:{port} ssl"));
        await using var server = await TlsProxy.StartAsync(text);
        var (old, oldReader) = await TlsProxy.ConnectAsync(port, "a.example.test", _pki.RootPath);
        await using var _ = old;
        var before = await TlsProxy.GetAsync(old, oldReader, "a.example.test", "/");
        var oldThumbprint = ((X509Certificate2)old.RemoteCertificate!).Thumbprint;

        // New files at the same paths (as certbot renews), then the reload SIGHUP would do.
        var renewed = _pki.IssueEcdsa("renewed", ["a.example.test"]);
        File.Copy(renewed.CertificatePath, first.CertificatePath, overwrite: true);
        File.Copy(renewed.KeyPath, first.KeyPath, overwrite: true);
        File.SetLastWriteTimeUtc(first.CertificatePath, DateTime.UtcNow.AddSeconds(5));
        Assert.True(server.TryReload(TlsProxy.Load(text), out var errors), string.Join("; ", errors));

        var after = await TlsProxy.GetAsync(old, oldReader, "a.example.test", "/");
        var (fresh, freshReader) = await TlsProxy.ConnectAsync(port, "a.example.test", _pki.RootPath);
        await using var __ = fresh;
        var onFresh = await TlsProxy.GetAsync(fresh, freshReader, "a.example.test", "/");

        Assert.Equal("HTTP/1.1 200 OK\nok", before);
        Assert.Equal("HTTP/1.1 200 OK\nok", after);
        Assert.Equal("HTTP/1.1 200 OK\nok", onFresh);
        Assert.Equal(first.Certificate.Thumbprint, oldThumbprint);
        Assert.Equal(renewed.Certificate.Thumbprint, ((X509Certificate2)fresh.RemoteCertificate!).Thumbprint);
    }

    [Fact]
    public async Task Tls_WebSocketUpgrade_FramesTunnelledThroughTls()
    {
        var a = _pki.IssueEcdsa("a", ["a.example.test"]);
        await using var backend = WebSocketFrames.EchoBackend();
        int port = FastProxyProcess.FreePort();
        await using var server = await TlsProxy.StartAsync(Http(ProxyOverTls(a, port, backend.Address)));
        var (stream, reader) = await TlsProxy.ConnectAsync(port, "a.example.test", _pki.RootPath);
        await using var _ = stream;
        using var cts = new CancellationTokenSource(RawClient.DefaultTimeout);

        await stream.WriteAsync(Encoding.ASCII.GetBytes("GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"), cts.Token);
        var head = await reader.ReadHeadAsync(cts.Token);
        await stream.WriteAsync(WebSocketFrames.Text("over tls", masked: true), cts.Token);
        var (opcode, text) = await WebSocketFrames.ReadAsync(reader, cts.Token);

        Assert.StartsWith("HTTP/1.1 101", head);
        Assert.Equal((1, "echo: over tls"), (opcode, text));
    }

    [Fact]
    public async Task Tls_TenMiBEachWay_StreamedWholeAndInOrder()
    {
        // Large bodies over TLS: the upload is decrypted record by record on demand, the download is encrypted into the
        // transport in several-block flushes that wait for the socket's backpressure (TlsPipeWriter's synchronous path).
        const int size = 10 * 1024 * 1024;
        var payload = RandomNumberGenerator.GetBytes(size);
        var a = _pki.IssueEcdsa("a", ["a.example.test"]);
        await using var backend = new TestBackend((request, c) =>
            c.RespondAsync(200, SHA256.HashData(request.Body).Concat(payload).ToArray()));
        int port = FastProxyProcess.FreePort();
        await using var server = await TlsProxy.StartAsync(Http(ProxyOverTls(a, port, backend.Address, "client_max_body_size 0;")));
        var (stream, reader) = await TlsProxy.ConnectAsync(port, "a.example.test", _pki.RootPath);
        await using var _ = stream;
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));

        var send = Task.Run(async () =>
        {
            await stream.WriteAsync(Encoding.ASCII.GetBytes($"POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: {size}\r\n\r\n"), cts.Token);
            await stream.WriteAsync(payload, cts.Token);
        });
        var head = await reader.ReadHeadAsync(cts.Token);
        await send;
        var body = await reader.ReadExactlyAsync(32 + size, cts.Token);

        Assert.StartsWith("HTTP/1.1 200", head);
        Assert.Equal(SHA256.HashData(payload), body.AsSpan(0, 32).ToArray());
        Assert.True(body.AsSpan(32).SequenceEqual(payload));
    }

    [Fact]
    public async Task Tls_PlainListen_SchemeHttpAndHttpsEmpty()
    {
        await using var server = await TlsProxy.StartAsync(Http("server { listen 127.0.0.1:0; location / { return 200 \"[$scheme] [$https]\"; } }"));

        var (code, body) = await Curl.GetAsync($"http://127.0.0.1:{server.BoundEndPoints[0].Port}/");

        Assert.Equal(0, code);
        Assert.Equal("[http] []", body);
    }

    [Fact]
    public async Task Tls_ConnectionClosedThenPlainOne_PlainOneIsNotHttps()
    {
        var certificate = _pki.IssueEcdsa("site", ["a.example.test"]);
        int tlsPort = FastProxyProcess.FreePort();
        int plainPort = FastProxyProcess.FreePort();
        await using var server = await TlsProxy.StartAsync(Http(Server(certificate, "a.example.test", "[$scheme] [$https]",
            extra: $"listen 127.0.0.1:{plainPort};", listen: $"127.0.0.1:{tlsPort} ssl")));
        var (tls, reader) = await TlsProxy.ConnectAsync(tlsPort, "a.example.test", _pki.RootPath);
        var overTls = await TlsProxy.GetAsync(tls, reader, "a.example.test", "/");
        await tls.DisposeAsync();
        await Waits.UntilAsync(() => server.ConnectionCount == 0, "the TLS connection is gone");

        // The TLS connection's HTTP state went back to the pool; the plain connection reuses it.
        var (code, plain) = await Curl.GetAsync($"http://127.0.0.1:{plainPort}/");

        Assert.Equal("HTTP/1.1 200 OK\n[https] [on]", overTls);
        Assert.Equal(0, code);
        Assert.Equal("[http] []", plain);
    }

    // ---- HTTPS upstreams ----------------------------------------------------------------------------------

    private static string UpstreamProxy(int backendPort, string directives) => Http($$"""
        server {
            listen 127.0.0.1:0;
            location / {
                proxy_pass https://127.0.0.1:{{backendPort}};
                {{directives}}
            }
        }
        """);

    [Fact]
    public async Task HttpsUpstream_VerifyWithTheRightCa_200()
    {
        await using var backend = new TlsBackend(_pki.IssueEcdsa("backend", ["backend.test"]));
        await using var server = await TlsProxy.StartAsync(UpstreamProxy(backend.Port,
            $"proxy_ssl_verify on; proxy_ssl_trusted_certificate {_pki.RootPath}; proxy_ssl_name backend.test;"));

        var (code, body) = await Curl.GetAsync($"http://127.0.0.1:{server.BoundEndPoints[0].Port}/x");

        Assert.Equal(0, code);
        Assert.Equal("tls backend /x", body);
    }

    [Fact]
    public async Task HttpsUpstream_VerifyAgainstUntrustedCertificate_502AndLogged()
    {
        using var otherPki = new TestPki();
        await using var backend = new TlsBackend(otherPki.IssueEcdsa("backend", ["backend.test"]));
        var logs = new CapturingLoggerFactory();
        await using var server = await TlsProxy.StartAsync(UpstreamProxy(backend.Port,
            $"proxy_ssl_verify on; proxy_ssl_trusted_certificate {_pki.RootPath}; proxy_ssl_name backend.test;"), logs);

        var result = await Curl.RunAsync("-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "20", $"http://127.0.0.1:{server.BoundEndPoints[0].Port}/x");

        Assert.Equal("502", result.Stdout);
        Assert.Empty(backend.Requests);
        Assert.True(logs.Has(LogLevel.Error, "CertificateUntrusted"), logs.All);
    }

    [Fact]
    public async Task HttpsUpstream_ServerName_SentOnlyWhenConfigured()
    {
        await using var backend = new TlsBackend(_pki.IssueEcdsa("backend", ["backend.test"]));
        await using var withoutSni = await TlsProxy.StartAsync(UpstreamProxy(backend.Port, "proxy_ssl_name backend.test;"));
        await using var withSni = await TlsProxy.StartAsync(UpstreamProxy(backend.Port, "proxy_ssl_name backend.test; proxy_ssl_server_name on;"));

        var off = await Curl.GetAsync($"http://127.0.0.1:{withoutSni.BoundEndPoints[0].Port}/off");
        var on = await Curl.GetAsync($"http://127.0.0.1:{withSni.BoundEndPoints[0].Port}/on");

        Assert.Equal((0, "tls backend /off"), off);
        Assert.Equal((0, "tls backend /on"), on);
        Assert.Equal(["", "backend.test"], backend.ServerNames.ToArray());
    }

    [Fact]
    public async Task HttpsUpstream_KeepaliveUpstream_OneTlsConnectionForSeveralRequests()
    {
        await using var backend = new TlsBackend(_pki.IssueEcdsa("backend", ["backend.test"]));
        await using var server = await TlsProxy.StartAsync(Http($$"""
            upstream secure { server 127.0.0.1:{{backend.Port}}; keepalive 4; }
            server {
                listen 127.0.0.1:0;
                location / { proxy_pass https://secure; proxy_http_version 1.1; proxy_set_header Connection ""; }
                location /other/ { proxy_pass https://secure; proxy_ssl_server_name on; proxy_ssl_name other.test;
                                   proxy_http_version 1.1; proxy_set_header Connection ""; }
            }
            """));
        var url = $"http://127.0.0.1:{server.BoundEndPoints[0].Port}";

        for (int i = 0; i < 3; i++)
        {
            Assert.Equal((0, $"tls backend /{i}"), await Curl.GetAsync($"{url}/{i}"));
        }
        // Different proxy_ssl_* settings: another pool, so another connection (with its own SNI).
        Assert.Equal((0, "tls backend /other/x"), await Curl.GetAsync($"{url}/other/x"));

        Assert.Equal(2, backend.Handshakes);
        Assert.Equal(["", "other.test"], backend.ServerNames.ToArray());
    }

    [Fact]
    public async Task HttpsUpstream_ClientCertificateWithEncryptedKey_PresentedToTheBackend()
    {
        await using var backend = new TlsBackend(_pki.IssueEcdsa("backend", ["backend.test"]), requireClientCertificate: true);
        var client = _pki.IssueEcdsa("client", ["proxy.client.test"], KeyFormat.EncryptedPkcs8, "s3cret");
        var passwords = _pki.Write("client.pass", "wrong\ns3cret\n");
        await using var server = await TlsProxy.StartAsync(UpstreamProxy(backend.Port,
            $"proxy_ssl_certificate {client.CertificatePath}; proxy_ssl_certificate_key {client.KeyPath}; proxy_ssl_password_file {passwords};"));

        var (code, body) = await Curl.GetAsync($"http://127.0.0.1:{server.BoundEndPoints[0].Port}/mtls");

        Assert.Equal((0, "tls backend /mtls"), (code, body));
        Assert.Equal(["CN=proxy.client.test"], backend.ClientCertificates.ToArray());
    }

    [Fact]
    public async Task HttpsUpstream_ServerNameFromVariable_SniIsTheRequestHost()
    {
        await using var backend = new TlsBackend(_pki.IssueEcdsa("backend", ["backend.test"]));
        await using var server = await TlsProxy.StartAsync(UpstreamProxy(backend.Port, "proxy_ssl_server_name on; proxy_ssl_name $host;"));
        var url = $"http://127.0.0.1:{server.BoundEndPoints[0].Port}/";

        var one = await Curl.GetAsync(url, "-H", "Host: one.test");
        var two = await Curl.GetAsync(url, "-H", "Host: two.test");

        Assert.Equal((0, "tls backend /"), one);
        Assert.Equal((0, "tls backend /"), two);
        Assert.Equal(["one.test", "two.test"], backend.ServerNames.ToArray());
    }

    [Fact]
    public async Task HttpsUpstream_NewConnectionWithSni_TlsSessionResumed()
    {
        var certificate = _pki.IssueEcdsa("backend", ["backend.test"]);
        int backendPort = FastProxyProcess.FreePort();
        // openssl s_server -www answers each request with a page that says whether the session was "New" or "Reused".
        var info = new System.Diagnostics.ProcessStartInfo("openssl")
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (var argument in new[] { "s_server", "-accept", $"127.0.0.1:{backendPort}", "-cert", certificate.CertificatePath,
                     "-key", certificate.KeyPath, "-www", "-quiet" })
        {
            info.ArgumentList.Add(argument);
        }
        using var backend = System.Diagnostics.Process.Start(info)!;
        try
        {
            _ = backend.StandardOutput.ReadToEndAsync();
            _ = backend.StandardError.ReadToEndAsync();
            await Waits.UntilAsync(() => CanConnect(backendPort), "openssl s_server listens");
            await using var server = await TlsProxy.StartAsync(UpstreamProxy(backendPort, "proxy_ssl_server_name on; proxy_ssl_name backend.test;"));
            var url = $"http://127.0.0.1:{server.BoundEndPoints[0].Port}/";

            var first = await Curl.GetAsync(url);
            var second = await Curl.GetAsync(url);

            Assert.Contains("New, TLSv1.3", first.Body);
            Assert.True(second.Body.Contains("Reused, TLSv1.3"), second.Body);
        }
        finally
        {
            backend.Kill();
            await backend.WaitForExitAsync();
        }

        static bool CanConnect(int port)
        {
            try
            {
                using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                socket.Connect(new IPEndPoint(IPAddress.Loopback, port));
                return true;
            }
            catch (SocketException)
            {
                return false;
            }
        }
    }

    [Fact]
    public async Task HttpsUpstream_ReferenceConfig02Assets_ServedOverTls()
    {
        await using var backend = new TlsBackend(_pki.IssueEcdsa("cdn", ["cdn.test"]));
        int port = FastProxyProcess.FreePort();
        var text = TlsProxy.ReferenceConfig("02-gateway.conf")
            .Replace("127.0.0.1:18080", $"127.0.0.1:{port}")
            .Replace("127.0.0.1:18444", $"127.0.0.1:{backend.Port}");
        await using var server = await TlsProxy.StartAsync(text);

        var (code, body) = await Curl.GetAsync($"http://127.0.0.1:{port}/assets/app.js");

        Assert.Equal(0, code);
        Assert.Equal("tls backend /app.js", body);
    }
}
