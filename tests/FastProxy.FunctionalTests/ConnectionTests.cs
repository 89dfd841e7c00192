using FastProxy.FunctionalTests.Infrastructure;

namespace FastProxy.FunctionalTests;

public sealed class ConnectionTests
{
    [Fact]
    public async Task Pipelining_ThreeRequestsInOnePacket_ResponsesInOrder()
    {
        await using var backend = new TestBackend(async (request, c) =>
        {
            // The first answer is the slowest: order must still hold.
            if (request.Target == "/1")
            {
                await Task.Delay(50);
            }
            await c.RespondAsync(200, request.Target);
        });
        await using var proxy = await Proxy.StartAsync(l => l.ProxyPass($"http://{backend.Address}"));
        await using var client = await proxy.ConnectAsync();

        await client.SendAsync("GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\nPOST /3 HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx");

        Assert.Equal("/1", (await client.ReadResponseAsync()).BodyText);
        Assert.Equal("/2", (await client.ReadResponseAsync()).BodyText);
        Assert.Equal("/3", (await client.ReadResponseAsync()).BodyText);
    }

    [Fact]
    public async Task ConnectionClose_NothingMoreSent_ClosedWithoutLingering()
    {
        await using var backend = TestBackend.Echo();
        await using var proxy = await Proxy.StartAsync(l => l.ProxyPass($"http://{backend.Address}"));
        await using var client = await proxy.ConnectAsync();

        await client.SendAsync("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
        Assert.Equal(200, (await client.ReadResponseAsync()).Status);

        // The client keeps its side open and sends nothing: as nginx's lingering_close on, nothing can follow, so the
        // connection ends at once instead of reading for the 5 s lingering timeout.
        await Waits.UntilAsync(() => proxy.Server.ConnectionCount == 0, "the connection is closed", TimeSpan.FromSeconds(3));
    }

    [Fact]
    public async Task KeepAlive_ManyRequestsImplicitUpstream_OneBackendConnection()
    {
        await using var backend = TestBackend.Echo();
        await using var proxy = await Proxy.StartAsync(l => l.ProxyPass($"http://{backend.Address}"));

        for (int i = 0; i < 20; i++)
        {
            // A new client connection each time: the upstream connection is pooled independently of clients.
            var response = await proxy.SendAsync($"GET /{i} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
            Assert.Equal(200, response.Status);
            Assert.Equal("close", response.Header("Connection"));
        }

        Assert.Equal(1, backend.Accepts);
        Assert.All(backend.Requests, r => Assert.Null(r.Header("Connection")));
    }

    [Fact]
    public async Task KeepAlive_NamedUpstreamWithoutHttp11Directives_ConnectionsReused()
    {
        await using var backend = TestBackend.Echo();
        var config = new ProxyConfigBuilder()
            .Upstream("svc", u => u.Server(backend.Address).Keepalive(32))
            .Server(s => s.Listen("127.0.0.1:0").Location("/", l => l.ProxyPass("http://svc")))
            .Build();
        await using var proxy = await Proxy.StartAsync(config);
        await using var client = await proxy.ConnectAsync();

        for (int i = 0; i < 10; i++)
        {
            await client.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
            Assert.Equal(200, (await client.ReadResponseAsync()).Status);
        }

        Assert.Equal(1, backend.Accepts);
        Assert.Equal("svc", backend.Requests.First().Header("Host"));
    }

    [Fact]
    public async Task KeepAlive_KeepaliveZero_ConnectionCloseSentUpstream()
    {
        await using var backend = TestBackend.Echo();
        var config = new ProxyConfigBuilder()
            .Upstream("svc", u => u.Server(backend.Address).Keepalive(0))
            .Server(s => s.Listen("127.0.0.1:0").Location("/", l => l.ProxyPass("http://svc")))
            .Build();
        await using var proxy = await Proxy.StartAsync(config);

        await proxy.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        await proxy.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");

        Assert.Equal(2, backend.Accepts);
        Assert.All(backend.Requests, r => Assert.Equal("close", r.Header("Connection")));
    }

    [Fact]
    public async Task KeepAlive_KeepaliveRequestsReached_NewUpstreamConnection()
    {
        await using var backend = TestBackend.Echo();
        var config = new ProxyConfigBuilder()
            .Upstream("svc", u => u.Server(backend.Address).KeepaliveRequests(2))
            .Server(s => s.Listen("127.0.0.1:0").Location("/", l => l.ProxyPass("http://svc")))
            .Build();
        await using var proxy = await Proxy.StartAsync(config);
        await using var client = await proxy.ConnectAsync();

        for (int i = 0; i < 4; i++)
        {
            await client.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
            Assert.Equal(200, (await client.ReadResponseAsync()).Status);
        }

        Assert.Equal(2, backend.Accepts);
    }

    [Fact]
    public async Task KeepAlive_UpstreamIdleTimeout_PooledConnectionClosedThenReplaced()
    {
        await using var backend = TestBackend.Echo();
        var config = new ProxyConfigBuilder()
            .Upstream("svc", u => u.Server(backend.Address).KeepaliveTimeout(TimeSpan.FromMilliseconds(200)))
            .Server(s => s.Listen("127.0.0.1:0").Location("/", l => l.ProxyPass("http://svc")))
            .Build();
        await using var proxy = await Proxy.StartAsync(config);

        Assert.Equal(200, (await proxy.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n")).Status);
        await Waits.UntilAsync(() => backend.Closed == 1, "the idle upstream connection is closed by the proxy");
        Assert.Equal(200, (await proxy.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n")).Status);

        Assert.Equal(2, backend.Accepts);
    }

    [Fact]
    public async Task KeepAlive_BackendClosesIdleConnection_RetriedOnFreshConnection()
    {
        await using var backend = new TestBackend(async (request, c) =>
        {
            await c.RespondAsync(200, "ok");
            // Close the idle connection right after answering, without saying so (a backend's idle timeout).
            c.CloseAfterResponse = true;
        });
        await using var proxy = await Proxy.StartAsync(l => l.ProxyPass($"http://{backend.Address}"));
        await using var client = await proxy.ConnectAsync();

        for (int i = 0; i < 5; i++)
        {
            await client.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
            Assert.Equal(200, (await client.ReadResponseAsync()).Status);
        }
        Assert.Equal(5, backend.Accepts);
    }

    [Fact]
    public async Task KeepAlive_BackendClosesReusedConnectionWithoutAnswer_RetriedOnceOnFreshConnection()
    {
        var perConnection = new System.Collections.Concurrent.ConcurrentDictionary<int, int>();
        await using var backend = new TestBackend(async (request, c) =>
        {
            if (perConnection.AddOrUpdate(c.Index, 1, (_, n) => n + 1) > 1)
            {
                // The race of a backend's idle timeout: the request arrives as the backend closes.
                c.CloseAfterResponse = true;
                c.Socket.Shutdown(System.Net.Sockets.SocketShutdown.Both);
                return;
            }
            await c.RespondAsync(200, "fresh");
        });
        await using var proxy = await Proxy.StartAsync(l => l.ProxyPass($"http://{backend.Address}"));

        for (int i = 0; i < 3; i++)
        {
            // A new client each time, which also closes: the retry must not depend on the client connection.
            var response = await proxy.SendAsync("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
            Assert.Equal(200, response.Status);
            Assert.Equal("fresh", response.BodyText);
        }
        Assert.Equal(3, backend.Accepts);
        Assert.Equal(5, backend.Requests.Count);
    }

    [Fact]
    public async Task ConnectionClose_Requested_ResponseSaysCloseAndConnectionEnds()
    {
        await using var backend = TestBackend.Echo();
        await using var proxy = await Proxy.StartAsync(l => l.ProxyPass($"http://{backend.Address}"));
        await using var client = await proxy.ConnectAsync();

        await client.SendAsync("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
        var response = await client.ReadResponseAsync();

        Assert.Equal("close", response.Header("Connection"));
        Assert.True(await client.IsClosedAsync());
    }

    [Fact]
    public async Task Http10_WithoutKeepAlive_Closed_WithKeepAlive_Kept()
    {
        await using var backend = TestBackend.Echo();
        await using var proxy = await Proxy.StartAsync(l => l.ProxyPass($"http://{backend.Address}"));

        await using (var client = await proxy.ConnectAsync())
        {
            await client.SendAsync("GET / HTTP/1.0\r\n\r\n");
            var response = await client.ReadResponseAsync();
            Assert.Equal("close", response.Header("Connection"));
            Assert.StartsWith("HTTP/1.1 200", response.RawHead);
            Assert.True(await client.IsClosedAsync());
        }
        await using (var client = await proxy.ConnectAsync())
        {
            await client.SendAsync("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
            Assert.Equal("keep-alive", (await client.ReadResponseAsync()).Header("Connection"));
            await client.SendAsync("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
            Assert.Equal(200, (await client.ReadResponseAsync()).Status);
        }
        // Upstream requests are HTTP/1.1 whatever the client spoke.
        Assert.All(backend.Requests, r => Assert.Equal("HTTP/1.1", r.Version));
    }

    [Fact]
    public async Task Listen_Ipv6Loopback_ServedWithIpv6RemoteAddr()
    {
        await using var backend = TestBackend.Echo();
        var config = new ProxyConfigBuilder()
            .Server(s => s.Listen("[::1]:0").Location("/", l => l.ProxyPass($"http://{backend.Address}").ProxySetHeader("X-Real-IP", "$remote_addr")))
            .Build();
        await using var proxy = await Proxy.StartAsync(config);

        var response = await proxy.SendAsync("GET / HTTP/1.1\r\nHost: [::1]\r\n\r\n");

        Assert.Equal(200, response.Status);
        Assert.Equal(System.Net.Sockets.AddressFamily.InterNetworkV6, proxy.EndPoint.AddressFamily);
        Assert.Equal("::1", Assert.Single(backend.Requests).Header("X-Real-IP"));
    }

    [Fact]
    public async Task WorkerConnections_CapReached_NewConnectionClosedAtOnce()
    {
        await using var backend = TestBackend.Echo();
        var config = new ProxyConfigBuilder()
            .WorkerConnections(2)
            .Server(s => s.Listen("127.0.0.1:0").Location("/", l => l.ProxyPass($"http://{backend.Address}")))
            .Build();
        await using var proxy = await Proxy.StartAsync(config);
        await using var first = await proxy.ConnectAsync();
        await using var second = await proxy.ConnectAsync();
        await Waits.UntilAsync(() => proxy.Server.ConnectionCount == 2, "both connections are accepted");

        await using var third = await proxy.ConnectAsync();

        Assert.True(await third.IsClosedAsync());
        await first.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        Assert.Equal(200, (await first.ReadResponseAsync()).Status);
    }
}
