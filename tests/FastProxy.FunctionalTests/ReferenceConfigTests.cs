using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using FastProxy.FunctionalTests.Infrastructure;

namespace FastProxy.FunctionalTests;

/// <summary>
/// The reference configurations run unchanged (ports and /tmp paths aside) through NginxConfigLoader + ProxyServer,
/// checked by what the backends receive. 03 (load balancing), 04 (rate limits) and 05 (TLS) have their own tests with
/// their features.
/// </summary>
public sealed class ReferenceConfigTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("fp-reference-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private NginxTestConfig Load(string name, params (int Port, string Address)[] ports) =>
        NginxTestConfig.Load(ReferenceConfigs.Rewrite(ReferenceConfigs.Text(name), _dir, ports), Path.Combine(_dir, name), _dir);

    [Fact]
    public async Task Basic_ForwardingHeaders_AsBackendNeedsThem()
    {
        await using var backend = TestBackend.Echo();
        var file = Load("01-basic.conf", (18081, backend.Address));
        await using var proxy = await Proxy.StartAsync(file.Config);
        var endPoint = file.EndPoint(proxy.Server, 18080);

        for (int i = 0; i < 2; i++)
        {
            // A new client connection each time: the upstream connection is kept alive between them.
            await using var client = await RawClient.ConnectAsync(endPoint);
            await client.SendAsync($"GET /orders/{i}?page=2 HTTP/1.1\r\nHost: API.example.com:18080\r\nX-Forwarded-For: 203.0.113.9\r\n\r\n");
            Assert.Equal(200, (await client.ReadResponseAsync()).Status);
        }

        var requests = backend.Requests.ToArray();
        Assert.Equal(2, requests.Length);
        var request = requests[0];
        Assert.Equal(("GET", "/orders/0?page=2", "HTTP/1.1"), (request.Method, request.Target, request.Version));
        Assert.Equal("api.example.com", request.Header("Host"));            // $host: lower case, without the port
        Assert.Equal("127.0.0.1", request.Header("X-Real-IP"));
        Assert.Equal("203.0.113.9, 127.0.0.1", request.Header("X-Forwarded-For"));
        Assert.Equal("http", request.Header("X-Forwarded-Proto"));
        Assert.Equal(1, request.HeaderCount("Host"));
        Assert.Equal(1, request.HeaderCount("X-Forwarded-For"));
        Assert.Null(request.Header("Connection"));                          // HTTP/1.1 upstream, persistent
        Assert.Equal(1, backend.Accepts);
        Assert.Equal("/orders/1?page=2", requests[1].Target);
    }

    [Fact]
    public async Task Gateway_PrefixReplaced_EachServiceGetsItsPath()
    {
        await using var users = TestBackend.Echo();
        await using var orders = TestBackend.Echo();
        await using var payments = TestBackend.Echo();
        var file = Load("02-gateway.conf", (18081, users.Address), (18082, orders.Address), (18083, payments.Address));
        await using var proxy = await Proxy.StartAsync(file.Config);
        await using var client = await RawClient.ConnectAsync(file.EndPoint(proxy.Server, 18080));

        async Task<int> GetAsync(string target)
        {
            await client.SendAsync($"GET {target} HTTP/1.1\r\nHost: gateway.example.com\r\n\r\n");
            return (await client.ReadResponseAsync()).Status;
        }

        Assert.Equal(200, await GetAsync("/api/users/42?x=1"));
        Assert.Equal(200, await GetAsync("/api/orders/7/items"));
        Assert.Equal(200, await GetAsync("/api/payments/"));
        Assert.Equal(200, await GetAsync("/api/users/a%20b/../c"));

        Assert.Equal(["/42?x=1", "/c"], users.Requests.Select(r => r.Target));
        Assert.Equal(["/7/items"], orders.Requests.Select(r => r.Target));
        Assert.Equal(["/"], payments.Requests.Select(r => r.Target));
        Assert.All(users.Requests.Concat(orders.Requests).Concat(payments.Requests), r => Assert.Equal("gateway.example.com", r.Header("Host")));
        // proxy_cache_valid is parsed and reported as not acted on.
        Assert.Contains(file.Result.Diagnostics, d => !d.IsError && d.Message.Contains("\"proxy_cache_valid\"", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Gateway_ApiUsersWithoutSlash_RedirectedToLocation()
    {
        await using var users = TestBackend.Echo();
        var file = Load("02-gateway.conf", (18081, users.Address));
        await using var proxy = await Proxy.StartAsync(file.Config);
        var endPoint = file.EndPoint(proxy.Server, 18080);
        await using var client = await RawClient.ConnectAsync(endPoint);

        await client.SendAsync("GET /api/users HTTP/1.1\r\nHost: gateway.example.com\r\n\r\n");
        var response = await client.ReadResponseAsync();

        // nginx: a proxying location "/api/users/" answers "/api/users" with a 301 to the slash form (absolute, with
        // the server's port as port_in_redirect does).
        Assert.Equal(301, response.Status);
        Assert.Equal($"http://gateway.example.com:{endPoint.Port}/api/users/", response.Header("Location"));
        Assert.Empty(users.Requests);
    }

    /// <summary>/assets/ goes to an HTTPS origin (a CDN in production), its prefix replaced too.</summary>
    [Fact]
    public async Task Gateway_Assets_FromHttpsOrigin()
    {
        var certificate = ReferenceConfigs.WriteCertificates(_dir);
        await using var origin = new TlsOrigin(certificate);
        var file = Load("02-gateway.conf", (18444, $"127.0.0.1:{origin.Port}"));
        await using var proxy = await Proxy.StartAsync(file.Config);
        await using var client = await RawClient.ConnectAsync(file.EndPoint(proxy.Server, 18080));

        await client.SendAsync("GET /assets/app.js?v=3 HTTP/1.1\r\nHost: gateway.example.com\r\n\r\n");
        var response = await client.ReadResponseAsync();

        Assert.Equal(200, response.Status);
        Assert.Equal("asset /app.js?v=3", response.BodyText);
    }

    [Fact]
    public async Task WebSocketCache_UpgradeThroughMapAndCatalogProxiedWithoutCache()
    {
        await using var ws = WebSocketFrames.EchoBackend();
        await using var catalog = new TestBackend((r, c) => c.RespondAsync(200, "catalog " + r.Target));
        var file = Load("06-websocket-cache.conf", (18084, ws.Address), (18085, catalog.Address));
        await using var proxy = await Proxy.StartAsync(file.Config);
        var endPoint = file.EndPoint(proxy.Server, 18080);

        // WebSocket: Upgrade and Connection from the map ($http_upgrade "websocket" → "upgrade").
        await using (var client = await RawClient.ConnectAsync(endPoint))
        {
            await client.SendAsync("GET /ws/chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
            var head = await client.ReadHeadAsync();
            Assert.Equal(101, head.Status);
            Assert.Equal("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", head.Header("Sec-WebSocket-Accept"));
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await client.SendAsync(WebSocketFrames.Text("ping", masked: true));
            Assert.Equal("echo: ping", (await WebSocketFrames.ReadAsync(client.Reader, cts.Token)).Text);
        }
        var upgrade = Assert.Single(ws.Requests);
        Assert.Equal(("/ws/chat", "websocket", "upgrade"), (upgrade.Target, upgrade.Header("Upgrade"), upgrade.Header("Connection")));

        // The cached API: proxied as is (no URI on proxy_pass), the cache is not acted on yet, so
        // $upstream_cache_status is empty and add_header, as nginx does with an empty value, adds nothing.
        await using (var client = await RawClient.ConnectAsync(endPoint))
        {
            await client.SendAsync("GET /api/catalog/items?page=1 HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer t\r\n\r\n");
            var response = await client.ReadResponseAsync();
            Assert.Equal("catalog /api/catalog/items?page=1", response.BodyText);
            Assert.True(string.IsNullOrEmpty(response.Header("X-Cache-Status")), response.RawHead);
        }
        Assert.Equal("Bearer t", Assert.Single(catalog.Requests).Header("Authorization"));
        Assert.Contains(file.Result.Diagnostics, d => !d.IsError && d.Message.Contains("\"proxy_cache\" directive is parsed but not acted on", StringComparison.Ordinal));
    }

    [Fact]
    public async Task WebSocketCache_PlainRequestToWs_ConnectionCloseFromMap()
    {
        await using var ws = TestBackend.Echo();
        var file = Load("06-websocket-cache.conf", (18084, ws.Address));
        await using var proxy = await Proxy.StartAsync(file.Config);
        await using var client = await RawClient.ConnectAsync(file.EndPoint(proxy.Server, 18080));

        await client.SendAsync("GET /ws/status HTTP/1.1\r\nHost: a\r\n\r\n");
        Assert.Equal(200, (await client.ReadResponseAsync()).Status);

        // map: $http_upgrade "" → "close"; proxy_set_header Upgrade "" sends no Upgrade at all.
        var request = Assert.Single(ws.Requests);
        Assert.Equal("close", request.Header("Connection"));
        Assert.Null(request.Header("Upgrade"));
    }

    /// <summary>A minimal HTTPS origin: answers every request with "asset TARGET".</summary>
    private sealed class TlsOrigin : IAsyncDisposable
    {
        private readonly Socket _listener = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        private readonly X509Certificate2 _certificate;
        private readonly Task _loop;

        public TlsOrigin(X509Certificate2 certificate)
        {
            _certificate = certificate;
            _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            _listener.Listen(16);
            Port = ((IPEndPoint)_listener.LocalEndPoint!).Port;
            _loop = AcceptAsync();
        }

        public int Port { get; }

        private async Task AcceptAsync()
        {
            try
            {
                while (true)
                {
                    var socket = await _listener.AcceptAsync();
                    _ = ServeAsync(socket);
                }
            }
            catch (SocketException)
            {
            }
            catch (ObjectDisposedException)
            {
            }
        }

        private async Task ServeAsync(Socket socket)
        {
            try
            {
                await using var tls = new SslStream(new NetworkStream(socket, ownsSocket: true));
                await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = _certificate });
                var reader = new BufferedReader(tls);
                while (await reader.ReadHeadAsync(CancellationToken.None) is { } head)
                {
                    string target = head.Split(' ')[1];
                    var body = Encoding.ASCII.GetBytes("asset " + target);
                    await tls.WriteAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Length: {body.Length}\r\n\r\n"));
                    await tls.WriteAsync(body);
                }
            }
            catch (Exception e) when (e is IOException or System.Security.Authentication.AuthenticationException)
            {
            }
        }

        public async ValueTask DisposeAsync()
        {
            _listener.Dispose();
            await _loop;
        }
    }
}
