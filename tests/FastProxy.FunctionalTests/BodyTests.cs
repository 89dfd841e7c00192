using System.Security.Cryptography;
using System.Text;
using FastProxy.FunctionalTests.Infrastructure;

namespace FastProxy.FunctionalTests;

public sealed class BodyTests
{
    private static TestBackend BodyEcho() => new((request, c) =>
        c.RespondAsync(200, request.Body, $"X-Chunked: {request.WasChunked}\r\n"));

    [Fact]
    public async Task Post_ContentLengthBody_ForwardedWithFreshContentLength()
    {
        await using var backend = BodyEcho();
        await using var proxy = await Proxy.StartAsync(l => l.ProxyPass($"http://{backend.Address}"));

        var response = await proxy.SendAsync("POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello");

        Assert.Equal("hello", response.BodyText);
        var request = Assert.Single(backend.Requests);
        Assert.Equal("5", request.Header("Content-Length"));
        Assert.Equal(1, request.HeaderCount("Content-Length"));
    }

    [Fact]
    public async Task Post_EmptyContentLength_ContentLengthZeroForwarded()
    {
        await using var backend = BodyEcho();
        await using var proxy = await Proxy.StartAsync(l => l.ProxyPass($"http://{backend.Address}"));

        var response = await proxy.SendAsync("POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
        await proxy.SendAsync("GET /u HTTP/1.1\r\nHost: a\r\n\r\n");

        Assert.Equal(200, response.Status);
        var requests = backend.Requests.ToArray();
        Assert.Equal("0", requests[0].Header("Content-Length"));
        Assert.Null(requests[1].Header("Content-Length"));
    }

    [Fact]
    public async Task Post_ChunkedBody_ReframedAsChunked()
    {
        await using var backend = BodyEcho();
        await using var proxy = await Proxy.StartAsync(l => l.ProxyPass($"http://{backend.Address}"));

        var response = await proxy.SendAsync(
            "POST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n4\r\ndefg\r\n0\r\nX-Trailer: t\r\n\r\n");

        Assert.Equal("abcdefg", response.BodyText);
        Assert.Equal("True", response.Header("X-Chunked"));
        var request = Assert.Single(backend.Requests);
        Assert.Equal("chunked", request.Header("Transfer-Encoding"));
        Assert.DoesNotContain("ext=1", request.RawHead);
    }

    [Fact]
    public async Task Response_Chunked_RechunkedForHttp11Client()
    {
        await using var backend = new TestBackend((_, c) => c.WriteAsync(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"));
        await using var proxy = await Proxy.StartAsync(l => l.ProxyPass($"http://{backend.Address}"));
        await using var client = await proxy.ConnectAsync();

        await client.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        var response = await client.ReadResponseAsync();

        Assert.Equal("chunked", response.Header("Transfer-Encoding"));
        Assert.Equal("hello world", response.BodyText);
        Assert.Equal("keep-alive", response.Header("Connection"));
        // The connection stays usable.
        await client.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        Assert.Equal("hello world", (await client.ReadResponseAsync()).BodyText);
    }

    [Fact]
    public async Task Response_ChunkedToHttp10Client_DecodedAndClosed()
    {
        await using var backend = new TestBackend((_, c) => c.WriteAsync(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"));
        await using var proxy = await Proxy.StartAsync(l => l.ProxyPass($"http://{backend.Address}"));
        await using var client = await proxy.ConnectAsync();

        await client.SendAsync("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        var response = await client.ReadResponseAsync();

        Assert.Null(response.Header("Transfer-Encoding"));
        Assert.Equal("close", response.Header("Connection"));
        Assert.Equal("hello", response.BodyText);
    }

    [Fact]
    public async Task Response_UntilClose_RelayedThenClientClosed()
    {
        await using var backend = new TestBackend(async (_, c) =>
        {
            await c.WriteAsync("HTTP/1.1 200 OK\r\n\r\nall of it");
            c.CloseAfterResponse = true;
        });
        await using var proxy = await Proxy.StartAsync(l => l.ProxyPass($"http://{backend.Address}"));
        await using var client = await proxy.ConnectAsync();

        await client.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        var response = await client.ReadResponseAsync();

        Assert.Equal("close", response.Header("Connection"));
        Assert.Equal("all of it", response.BodyText);
    }

    [Theory]
    [InlineData("HEAD", 200, "Content-Length: 100\r\n")]
    [InlineData("GET", 204, "")]
    [InlineData("GET", 304, "Content-Length: 100\r\n")]
    public async Task Response_WithoutBody_NoBodyRelayedAndConnectionReused(string method, int status, string fields)
    {
        await using var backend = new TestBackend((_, c) => c.WriteAsync($"HTTP/1.1 {status} X\r\n{fields}\r\n"));
        await using var proxy = await Proxy.StartAsync(l => l.ProxyPass($"http://{backend.Address}"));
        await using var client = await proxy.ConnectAsync();

        for (int i = 0; i < 2; i++)
        {
            await client.SendAsync($"{method} / HTTP/1.1\r\nHost: a\r\n\r\n");
            var response = await client.ReadResponseAsync(headRequest: true);
            Assert.Equal(status, response.Status);
        }
        Assert.Equal(1, backend.Accepts);
    }

    [Fact]
    public async Task Post_TenMiBEachWay_StreamedWithBackpressure()
    {
        const int size = 10 * 1024 * 1024;
        var payload = RandomNumberGenerator.GetBytes(size);
        await using var backend = new TestBackend((request, c) =>
            c.RespondAsync(200, SHA256.HashData(request.Body).Concat(payload).ToArray()));
        await using var proxy = await Proxy.StartAsync(l => l.ProxyPass($"http://{backend.Address}").ClientMaxBodySize(0));
        await using var client = await proxy.ConnectAsync();

        var send = Task.Run(async () =>
        {
            await client.SendAsync($"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: {size}\r\n\r\n");
            await client.SendAsync(payload);
        });
        var response = await client.ReadResponseAsync(timeout: TimeSpan.FromSeconds(30));
        await send;

        Assert.Equal(32 + size, response.Body.Length);
        Assert.Equal(SHA256.HashData(payload), response.Body.AsSpan(0, 32).ToArray());
        Assert.True(response.Body.AsSpan(32).SequenceEqual(payload));
    }

    [Fact]
    public async Task Post_ChunkedTenMiB_Reframed()
    {
        const int size = 10 * 1024 * 1024;
        var payload = RandomNumberGenerator.GetBytes(size);
        await using var backend = new TestBackend((request, c) => c.RespondAsync(200, SHA256.HashData(request.Body)));
        await using var proxy = await Proxy.StartAsync(l => l.ProxyPass($"http://{backend.Address}").ClientMaxBodySize(0));
        await using var client = await proxy.ConnectAsync();

        var send = Task.Run(async () =>
        {
            await client.SendAsync("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
            for (int offset = 0; offset < size; offset += 100_000)
            {
                int n = Math.Min(100_000, size - offset);
                await client.SendAsync(Encoding.ASCII.GetBytes($"{n:x}\r\n"));
                await client.SendAsync(payload.AsSpan(offset, n).ToArray());
                await client.SendAsync("\r\n");
            }
            await client.SendAsync("0\r\n\r\n");
        });
        var response = await client.ReadResponseAsync(timeout: TimeSpan.FromSeconds(30));
        await send;

        Assert.Equal(SHA256.HashData(payload), response.Body);
    }

    [Fact]
    public async Task Post_ExpectContinue_100SentAndExpectNotForwarded()
    {
        await using var backend = BodyEcho();
        await using var proxy = await Proxy.StartAsync(l => l.ProxyPass($"http://{backend.Address}"));
        await using var client = await proxy.ConnectAsync();

        await client.SendAsync("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
        var interim = await client.ReadHeadAsync();
        Assert.Equal(100, interim.Status);
        await client.SendAsync("body");
        var response = await client.ReadResponseAsync();

        Assert.Equal("body", response.BodyText);
        Assert.Null(Assert.Single(backend.Requests).Header("Expect"));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Post_BackendAnswersBeforeReadingBody_AnswerRelayedAndClientClosed(bool backendCloses)
    {
        var release = new TaskCompletionSource();
        await using var backend = new TestBackend(async (_, c) =>
        {
            await c.RespondAsync(413, "too big for me", "Connection: close\r\n");
            c.CloseAfterResponse = true;
            if (backendCloses)
            {
                // A lingering close, as real servers do (an abrupt close with unread input would send RST, which
                // can destroy the answer in transit): FIN, then read and drop until the proxy goes. The draining
                // waits until the client has its answer: a backend that drained at once could take the whole body
                // before the proxy saw the answer, and then the exchange is complete and the client rightly kept.
                c.Socket.Shutdown(System.Net.Sockets.SocketShutdown.Send);
                await release.Task.WaitAsync(TimeSpan.FromSeconds(10));
                await c.Reader.ReadToEndAsync();
            }
            else
            {
                // Neither read nor close: the proxy's send stalls until proxy_send_timeout.
                await release.Task.WaitAsync(TimeSpan.FromSeconds(10));
            }
        }, readBodies: false);
        await using var proxy = await Proxy.StartAsync(l => l.ProxyPass($"http://{backend.Address}").ClientMaxBodySize(0)
            .ProxySendTimeout(TimeSpan.FromMilliseconds(300)));
        await using var client = await proxy.ConnectAsync();
        const int size = 16 * 1024 * 1024;

        var send = Task.Run(async () =>
        {
            try
            {
                await client.SendAsync($"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: {size}\r\n\r\n");
                for (int i = 0; i < 64; i++)
                {
                    await client.SendAsync(new byte[size / 64]);
                }
            }
            catch (Exception e) when (e is IOException or OperationCanceledException)
            {
            }
        });
        var response = await client.ReadResponseAsync(timeout: TimeSpan.FromSeconds(20));
        release.TrySetResult();

        Assert.Equal(413, response.Status);
        Assert.Equal("too big for me", response.BodyText);
        Assert.Equal("close", response.Header("Connection"));
        await send.WaitAsync(TimeSpan.FromSeconds(20));
    }

    [Fact]
    public async Task Post_ContentLengthOverMax_413WithoutContactingBackend()
    {
        await using var backend = BodyEcho();
        await using var proxy = await Proxy.StartAsync(l => l.ProxyPass($"http://{backend.Address}").ClientMaxBodySize(10));
        await using var client = await proxy.ConnectAsync();

        await client.SendAsync("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n01234567890");
        var response = await client.ReadResponseAsync();

        Assert.Equal(413, response.Status);
        Assert.Equal("close", response.Header("Connection"));
        Assert.Equal(0, backend.Accepts);
    }

    [Fact]
    public async Task Post_ChunkedOverMax_413AndClosed()
    {
        await using var backend = BodyEcho();
        await using var proxy = await Proxy.StartAsync(l => l.ProxyPass($"http://{backend.Address}").ClientMaxBodySize(10));
        await using var client = await proxy.ConnectAsync();

        await client.SendAsync("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n6\r\n012345\r\n6\r\n678901\r\n0\r\n\r\n");
        var response = await client.ReadResponseAsync();

        Assert.Equal(413, response.Status);
        Assert.True(await client.IsClosedAsync());
        Assert.Empty(backend.Requests);
    }

    [Fact]
    public async Task Post_DefaultMaxBodySize_OneMiBAllowedOneMoreRefused()
    {
        await using var backend = new TestBackend((request, c) => c.RespondAsync(200, request.Body.Length.ToString()));
        await using var proxy = await Proxy.StartAsync(l => l.ProxyPass($"http://{backend.Address}"));

        var ok = await proxy.SendAsync($"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: {1 << 20}\r\n\r\n" + new string('a', 1 << 20));
        var refused = await proxy.SendAsync($"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: {(1 << 20) + 1}\r\n\r\n");

        Assert.Equal("1048576", ok.BodyText);
        Assert.Equal(413, refused.Status);
    }
}
