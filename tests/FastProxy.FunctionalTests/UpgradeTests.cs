using FastProxy.FunctionalTests.Infrastructure;

namespace FastProxy.FunctionalTests;

public sealed class UpgradeTests
{
    private const string Handshake =
        "GET /ws/chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

    private static async Task EchoThroughAsync(Proxy proxy)
    {
        await using var client = await proxy.ConnectAsync();
        await client.SendAsync(Handshake);
        var response = await client.ReadHeadAsync();

        Assert.Equal(101, response.Status);
        Assert.Equal("upgrade", response.Header("Connection"));
        Assert.Equal("websocket", response.Header("Upgrade"));
        Assert.Equal("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", response.Header("Sec-WebSocket-Accept"));

        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        for (int i = 0; i < 3; i++)
        {
            await client.SendAsync(WebSocketFrames.Text($"hello {i}", masked: true));
            var (opcode, text) = await WebSocketFrames.ReadAsync(client.Reader, cts.Token);
            Assert.Equal(1, opcode);
            Assert.Equal($"echo: hello {i}", text);
        }
    }

    [Fact]
    public async Task WebSocket_DefaultPassThrough_EchoesFrames()
    {
        await using var backend = WebSocketFrames.EchoBackend();
        await using var proxy = await Proxy.StartAsync(l => l.ProxyPass($"http://{backend.Address}"));

        await EchoThroughAsync(proxy);

        var request = Assert.Single(backend.Requests);
        Assert.Equal("upgrade", request.Header("Connection"));
        Assert.Equal("websocket", request.Header("Upgrade"));
        Assert.Equal("dGhlIHNhbXBsZSBub25jZQ==", request.Header("Sec-WebSocket-Key"));
    }

    [Fact]
    public async Task WebSocket_NginxExplicitForm_EchoesFramesAndPlainRequestsClose()
    {
        await using var backend = WebSocketFrames.EchoBackend();
        await using var proxy = await Proxy.StartAsync(
            l => l.ProxyPass($"http://{backend.Address}")
                .ProxyHttpVersion("1.1")
                .ProxySetHeader("Upgrade", "$http_upgrade")
                .ProxySetHeader("Connection", "$connection_upgrade"),
            more: b => b.Map("$http_upgrade", "connection_upgrade", "upgrade", ("", "close")));

        await EchoThroughAsync(proxy);

        var request = Assert.Single(backend.Requests);
        Assert.Equal("upgrade", request.Header("Connection"));
        Assert.Equal(1, request.HeaderCount("Upgrade"));
        Assert.Equal(1, request.HeaderCount("Connection"));
    }

    [Fact]
    public async Task WebSocket_NginxExplicitFormPlainRequest_ConnectionCloseSentAndNotPooled()
    {
        await using var backend = TestBackend.Echo();
        await using var proxy = await Proxy.StartAsync(
            l => l.ProxyPass($"http://{backend.Address}")
                .ProxySetHeader("Upgrade", "$http_upgrade")
                .ProxySetHeader("Connection", "$connection_upgrade"),
            more: b => b.Map("$http_upgrade", "connection_upgrade", "upgrade", ("", "close")));

        await proxy.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        await proxy.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");

        Assert.All(backend.Requests, r => Assert.Equal("close", r.Header("Connection")));
        Assert.All(backend.Requests, r => Assert.Null(r.Header("Upgrade")));
        Assert.Equal(2, backend.Accepts);
    }

    [Fact]
    public async Task WebSocket_ClientCloses_TunnelAndBackendConnectionEnd()
    {
        var backendDone = new TaskCompletionSource();
        await using var backend = new TestBackend(async (request, c) =>
        {
            await c.WriteAsync("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
            c.CloseAfterResponse = true;
            await c.Reader.ReadToEndAsync();
            backendDone.TrySetResult();
        });
        await using var proxy = await Proxy.StartAsync(l => l.ProxyPass($"http://{backend.Address}"));
        var client = await proxy.ConnectAsync();
        await client.SendAsync(Handshake);
        Assert.Equal(101, (await client.ReadHeadAsync()).Status);

        await client.DisposeAsync();

        await backendDone.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await Waits.UntilAsync(() => proxy.Server.ConnectionCount == 0, "the client connection is closed");
    }
}
