using FastProxy.FunctionalTests.Infrastructure;

namespace FastProxy.FunctionalTests;

public sealed class TimeoutTests
{
    private static readonly TimeSpan Short = TimeSpan.FromMilliseconds(300);

    [Fact]
    public async Task ClientHeaderTimeout_Slowloris_408AndClosedWithinTimeout()
    {
        await using var backend = TestBackend.Echo();
        await using var proxy = await Proxy.StartAsync(l => l.ProxyPass($"http://{backend.Address}"),
            server: s => s.ClientHeaderTimeout(Short));
        await using var client = await proxy.ConnectAsync();

        // A byte now and then keeps the socket busy but must not extend the header deadline.
        var started = DateTime.UtcNow;
        var drip = Task.Run(async () =>
        {
            try
            {
                foreach (var b in "GET / HTTP/1.1\r\nHost: a\r\nX-Slow: ")
                {
                    await client.SendAsync(b.ToString());
                    await Task.Delay(50);
                }
            }
            catch (IOException)
            {
            }
        });
        var response = await client.ReadResponseAsync();
        var elapsed = DateTime.UtcNow - started;

        Assert.Equal(408, response.Status);
        Assert.True(await client.IsClosedAsync());
        Assert.True(elapsed < TimeSpan.FromSeconds(3), $"took {elapsed}");
        Assert.Equal(0, backend.Accepts);
        await drip.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task ClientHeaderTimeout_NothingSent_ClosedWithoutResponse()
    {
        await using var backend = TestBackend.Echo();
        await using var proxy = await Proxy.StartAsync(l => l.ProxyPass($"http://{backend.Address}"),
            server: s => s.ClientHeaderTimeout(Short));
        await using var client = await proxy.ConnectAsync();

        var (data, _) = await client.ReadToEndAsync();

        Assert.Empty(data);
    }

    [Fact]
    public async Task KeepaliveTimeout_IdleAfterResponse_ClosedSilently()
    {
        await using var backend = TestBackend.Echo();
        await using var proxy = await Proxy.StartAsync(l => l.ProxyPass($"http://{backend.Address}"),
            server: s => s.KeepaliveTimeout(Short));
        await using var client = await proxy.ConnectAsync();

        await client.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        Assert.Equal(200, (await client.ReadResponseAsync()).Status);

        Assert.True(await client.IsClosedAsync());
        await Waits.UntilAsync(() => proxy.Server.ConnectionCount == 0, "the connection is gone");
    }

    [Fact]
    public async Task ClientBodyTimeout_BodyStalls_408AndBackendConnectionDropped()
    {
        await using var backend = TestBackend.Echo();
        await using var proxy = await Proxy.StartAsync(l => l.ProxyPass($"http://{backend.Address}").ClientBodyTimeout(Short));
        await using var client = await proxy.ConnectAsync();

        await client.SendAsync("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc");
        var response = await client.ReadResponseAsync();

        Assert.Equal(408, response.Status);
        Assert.Equal("close", response.Header("Connection"));
        Assert.True(await client.IsClosedAsync());
        // The backend never sees a complete request.
        Assert.Empty(backend.Requests);
    }

    [Fact]
    public async Task SendTimeout_ClientStopsReading_ConnectionsClosed()
    {
        var body = new byte[32 * 1024 * 1024];
        await using var backend = new TestBackend((_, c) => c.RespondAsync(200, body));
        await using var proxy = await Proxy.StartAsync(l => l.ProxyPass($"http://{backend.Address}").SendTimeout(Short));
        await using var client = await proxy.ConnectAsync();
        client.Socket.ReceiveBufferSize = 4096;

        await client.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");

        // The client reads nothing: the proxy's writes stall, send_timeout fires and the connection goes.
        await Waits.UntilAsync(() => proxy.Server.ConnectionCount == 0, "the stalled client connection is closed");
        await Waits.UntilAsync(() => backend.Closed == 1, "the backend connection, mid-body, is closed too");
    }

    [Fact]
    public async Task ProxyReadTimeout_WebSocketTunnelSilent_Closed()
    {
        await using var backend = new TestBackend(async (request, c) =>
        {
            await c.WriteAsync("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
            await c.Reader.ReadToEndAsync();
            c.CloseAfterResponse = true;
        });
        await using var proxy = await Proxy.StartAsync(l => l.ProxyPass($"http://{backend.Address}").ProxyReadTimeout(Short));
        await using var client = await proxy.ConnectAsync();

        await client.SendAsync("GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
        Assert.Equal(101, (await client.ReadHeadAsync()).Status);

        Assert.True(await client.IsClosedAsync());
    }
}
