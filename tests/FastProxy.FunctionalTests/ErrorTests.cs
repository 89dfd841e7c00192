using System.Net;
using System.Net.Sockets;
using FastProxy.Config;
using FastProxy.FunctionalTests.Infrastructure;

namespace FastProxy.FunctionalTests;

public sealed class ErrorTests
{
    [Theory]
    [InlineData("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400)]
    [InlineData("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400)]
    [InlineData("GET / HTTP/1.1\r\n\r\n", 400)]
    [InlineData("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400)]
    [InlineData("GET / HTTP/1.1\r\nHost: a\r\n Folded: x\r\n\r\n", 400)]
    [InlineData("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505)]
    [InlineData("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501)]
    public async Task MalformedRequest_ParserStatus_AnsweredAndClosedWithoutBackend(string request, int status)
    {
        await using var backend = TestBackend.Echo();
        await using var proxy = await Proxy.StartAsync(l => l.ProxyPass($"http://{backend.Address}"));
        await using var client = await proxy.ConnectAsync();

        // A valid request pipelined behind the bad one must not reach the backend either.
        await client.SendAsync(request + "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n");
        var response = await client.ReadResponseAsync();

        Assert.Equal(status, response.Status);
        Assert.Equal("close", response.Header("Connection"));
        Assert.Equal("fastproxy", response.Header("Server"));
        Assert.True(await client.IsClosedAsync());
        Assert.Equal(0, backend.Accepts);
    }

    [Fact]
    public async Task MalformedRequest_TargetTooLong_414()
    {
        await using var backend = TestBackend.Echo();
        await using var proxy = await Proxy.StartAsync(l => l.ProxyPass($"http://{backend.Address}"));

        var response = await proxy.SendAsync($"GET /{new string('a', 9000)} HTTP/1.1\r\nHost: a\r\n\r\n");

        Assert.Equal(414, response.Status);
        Assert.Equal(0, backend.Accepts);
    }

    [Fact]
    public async Task MalformedRequest_HeadTooLarge_431()
    {
        await using var backend = TestBackend.Echo();
        await using var proxy = await Proxy.StartAsync(l => l.ProxyPass($"http://{backend.Address}"));

        var response = await proxy.SendAsync($"GET / HTTP/1.1\r\nHost: a\r\nX-Big: {new string('a', 40_000)}\r\n\r\n");

        Assert.Equal(431, response.Status);
        Assert.Equal(0, backend.Accepts);
    }

    [Fact]
    public async Task Upstream_ConnectionRefused_502()
    {
        int deadPort = FreePort();
        await using var proxy = await Proxy.StartAsync(l => l.ProxyPass($"http://127.0.0.1:{deadPort}"));
        await using var client = await proxy.ConnectAsync();

        await client.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        var response = await client.ReadResponseAsync();

        Assert.Equal(502, response.Status);
        // nginx keeps the client connection after a 502.
        Assert.Equal("keep-alive", response.Header("Connection"));
        await client.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        Assert.Equal(502, (await client.ReadResponseAsync()).Status);
    }

    [Fact]
    public async Task Upstream_FirstDestinationRefused_NextUpstreamAnswers()
    {
        await using var backend = TestBackend.Echo();
        int deadPort = FreePort();
        var config = new ProxyConfigBuilder()
            .Upstream("svc", u => u.Server($"127.0.0.1:{deadPort}").Server(backend.Address))
            .Server(s => s.Listen("127.0.0.1:0").Location("/", l => l.ProxyPass("http://svc")))
            .Build();
        await using var proxy = await Proxy.StartAsync(config);

        for (int i = 0; i < 4; i++)
        {
            // Non-idempotent and with a body: a connect error is before any byte was sent, so it is retried.
            var response = await proxy.SendAsync("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi");
            Assert.Equal(200, response.Status);
        }
    }

    [Fact]
    public async Task Upstream_NextUpstreamOff_502()
    {
        await using var backend = TestBackend.Echo();
        int deadPort = FreePort();
        var config = new ProxyConfigBuilder()
            .Upstream("svc", u => u.Server($"127.0.0.1:{deadPort}").Server(backend.Address))
            .Server(s => s.Listen("127.0.0.1:0").Location("/", l => l.ProxyPass("http://svc").ProxyNextUpstream(NextUpstreamConditions.Off)))
            .Build();
        await using var proxy = await Proxy.StartAsync(config);

        var statuses = new List<int>();
        for (int i = 0; i < 4; i++)
        {
            statuses.Add((await proxy.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n")).Status);
        }

        Assert.Contains(502, statuses);
        Assert.Contains(200, statuses);
    }

    [Fact]
    public async Task Upstream_ResetBeforeResponse_502()
    {
        await using var backend = new TestBackend((_, c) =>
        {
            c.Abort();
            return Task.CompletedTask;
        });
        await using var proxy = await Proxy.StartAsync(l => l.ProxyPass($"http://{backend.Address}"));

        var response = await proxy.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");

        Assert.Equal(502, response.Status);
    }

    [Fact]
    public async Task Upstream_IdempotentRequestResetAfterSend_RetriedOnNextDestination()
    {
        await using var good = TestBackend.Echo();
        await using var bad = new TestBackend((_, c) =>
        {
            c.Abort();
            return Task.CompletedTask;
        });
        var config = new ProxyConfigBuilder()
            // max_fails=0: passive health never takes the bad server out, so every request keeps meeting it.
            .Upstream("svc", u => u.Server(bad.Address, maxFails: 0).Server(good.Address, maxFails: 0))
            .Server(s => s.Listen("127.0.0.1:0").Location("/", l => l.ProxyPass("http://svc")))
            .Build();
        await using var proxy = await Proxy.StartAsync(config);

        for (int i = 0; i < 4; i++)
        {
            Assert.Equal(200, (await proxy.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n")).Status);
        }
        // A POST is not retried once it may have reached a backend.
        var statuses = new List<int>();
        for (int i = 0; i < 4; i++)
        {
            statuses.Add((await proxy.SendAsync("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n")).Status);
        }
        Assert.Contains(502, statuses);
    }

    [Theory]
    [InlineData("HTTP/1.1 2000 OK\r\n\r\n")]
    [InlineData("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab")]
    [InlineData("garbage\r\n\r\n")]
    [InlineData("HTTP/1.1 200 OK\r\nBad Header: x\r\n\r\n")]
    public async Task Upstream_MalformedResponseHead_502AndConnectionDiscarded(string answer)
    {
        await using var backend = new TestBackend((_, c) => c.WriteAsync(answer));
        await using var proxy = await Proxy.StartAsync(l => l.ProxyPass($"http://{backend.Address}"));
        await using var client = await proxy.ConnectAsync();

        for (int i = 0; i < 2; i++)
        {
            await client.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
            Assert.Equal(502, (await client.ReadResponseAsync()).Status);
        }
        Assert.Equal(2, backend.Accepts);
    }

    [Fact]
    public async Task Upstream_CutMidBody_ClientConnectionClosedBeforeWholeBody()
    {
        await using var backend = new TestBackend(async (_, c) =>
        {
            await c.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part");
            c.Abort();
        });
        await using var proxy = await Proxy.StartAsync(l => l.ProxyPass($"http://{backend.Address}"));
        await using var client = await proxy.ConnectAsync();

        await client.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        var head = await client.ReadHeadAsync();
        var (rest, _) = await client.ReadToEndAsync();

        Assert.Equal(200, head.Status);
        Assert.Equal("100", head.Header("Content-Length"));
        Assert.True(rest.Length < 100);
    }

    [Fact]
    public async Task Upstream_ChunkedCutMidBody_ClientGetsNoLastChunk()
    {
        await using var backend = new TestBackend(async (_, c) =>
        {
            await c.WriteAsync("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
            c.Abort();
        });
        await using var proxy = await Proxy.StartAsync(l => l.ProxyPass($"http://{backend.Address}"));
        await using var client = await proxy.ConnectAsync();

        await client.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        await client.ReadHeadAsync();
        var (rest, _) = await client.ReadToEndAsync();

        Assert.DoesNotContain("0\r\n\r\n", System.Text.Encoding.ASCII.GetString(rest));
    }

    [Fact]
    public async Task Upstream_ReadTimeout_504()
    {
        var release = new TaskCompletionSource();
        await using var backend = new TestBackend(async (_, c) => await release.Task.WaitAsync(TimeSpan.FromSeconds(10)));
        await using var proxy = await Proxy.StartAsync(l => l.ProxyPass($"http://{backend.Address}").ProxyReadTimeout(TimeSpan.FromMilliseconds(300)));

        var response = await proxy.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        release.SetResult();

        Assert.Equal(504, response.Status);
    }

    [Fact]
    public async Task Upstream_ReadTimeoutMidBody_ClientClosed()
    {
        var release = new TaskCompletionSource();
        await using var backend = new TestBackend(async (_, c) =>
        {
            await c.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
            await release.Task.WaitAsync(TimeSpan.FromSeconds(10));
        });
        await using var proxy = await Proxy.StartAsync(l => l.ProxyPass($"http://{backend.Address}").ProxyReadTimeout(TimeSpan.FromMilliseconds(300)));
        await using var client = await proxy.ConnectAsync();

        await client.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        await client.ReadHeadAsync();
        var (rest, _) = await client.ReadToEndAsync();
        release.SetResult();

        Assert.Equal("abc", System.Text.Encoding.ASCII.GetString(rest));
    }

    [Fact]
    public async Task Upstream_SendTimeoutBackendNeitherReadsNorAnswers_504AndClosed()
    {
        var release = new TaskCompletionSource();
        await using var backend = new TestBackend(async (_, c) => await release.Task.WaitAsync(TimeSpan.FromSeconds(10)), readBodies: false);
        await using var proxy = await Proxy.StartAsync(l => l.ProxyPass($"http://{backend.Address}").ClientMaxBodySize(0)
            .ProxySendTimeout(TimeSpan.FromMilliseconds(300)));
        await using var client = await proxy.ConnectAsync();
        const int size = 32 * 1024 * 1024;

        var send = Task.Run(async () =>
        {
            try
            {
                await client.SendAsync($"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: {size}\r\n\r\n");
                for (int i = 0; i < 128; i++)
                {
                    await client.SendAsync(new byte[size / 128]);
                }
            }
            catch (Exception e) when (e is IOException or OperationCanceledException)
            {
            }
        });
        var response = await client.ReadResponseAsync(timeout: TimeSpan.FromSeconds(20));
        release.SetResult();

        Assert.Equal(504, response.Status);
        // The body was half sent: the client connection cannot continue.
        Assert.Equal("close", response.Header("Connection"));
        await send.WaitAsync(TimeSpan.FromSeconds(20));
    }

    [Fact]
    public async Task Upstream_ConnectTimeout_504()
    {
        // A listener whose accept queue is full: Linux drops further SYNs, so connect() hangs.
        using var blackhole = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        blackhole.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        blackhole.Listen(0);
        var port = ((IPEndPoint)blackhole.LocalEndPoint!).Port;
        var fillers = new List<Socket>();
        try
        {
            for (int i = 0; i < 8; i++)
            {
                var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                fillers.Add(s);
                try
                {
                    using var cts = new CancellationTokenSource(200);
                    await s.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), cts.Token);
                }
                catch (OperationCanceledException)
                {
                    break; // the queue is full now
                }
            }
            await using var proxy = await Proxy.StartAsync(l => l.ProxyPass($"http://127.0.0.1:{port}").ProxyConnectTimeout(TimeSpan.FromMilliseconds(300)));

            var response = await proxy.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");

            Assert.Equal(504, response.Status);
        }
        finally
        {
            foreach (var s in fillers)
            {
                s.Dispose();
            }
        }
    }

    [Fact]
    public async Task Upstream_UnsolicitedSwitchingProtocols_502()
    {
        await using var backend = new TestBackend((_, c) => c.WriteAsync("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n"));
        await using var proxy = await Proxy.StartAsync(l => l.ProxyPass($"http://{backend.Address}"));

        var response = await proxy.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");

        Assert.Equal(502, response.Status);
    }

    [Fact]
    public async Task Upstream_InterimResponses_DroppedFinalRelayed()
    {
        await using var backend = new TestBackend((_, c) => c.WriteAsync("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
        await using var proxy = await Proxy.StartAsync(l => l.ProxyPass($"http://{backend.Address}"));

        var response = await proxy.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");

        Assert.Equal(200, response.Status);
        Assert.Equal("ok", response.BodyText);
    }

    [Fact]
    public async Task Upstream_NextUpstreamHttp503_RetriedOnOtherDestination()
    {
        await using var good = TestBackend.Echo();
        await using var busy = new TestBackend((_, c) => c.RespondAsync(503, "busy"));
        var config = new ProxyConfigBuilder()
            .Upstream("svc", u => u.Server(busy.Address).Server(good.Address))
            .Server(s => s.Listen("127.0.0.1:0").Location("/", l => l.ProxyPass("http://svc")
                .ProxyNextUpstream(NextUpstreamConditions.Error | NextUpstreamConditions.Http503)))
            .Build();
        await using var proxy = await Proxy.StartAsync(config);

        for (int i = 0; i < 4; i++)
        {
            Assert.Equal(200, (await proxy.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n")).Status);
        }
    }

    private static int FreePort()
    {
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)s.LocalEndPoint!).Port;
    }
}
