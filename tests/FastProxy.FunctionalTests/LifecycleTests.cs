using System.Net;
using FastProxy.FunctionalTests.Infrastructure;

namespace FastProxy.FunctionalTests;

public sealed class LifecycleTests
{
    [Fact]
    public async Task StopAsync_RequestInFlight_CompletesThenClosesAndIdleClosedAtOnce()
    {
        var release = new TaskCompletionSource();
        await using var backend = new TestBackend(async (request, c) =>
        {
            if (request.Target == "/slow")
            {
                await release.Task.WaitAsync(TimeSpan.FromSeconds(10));
            }
            await c.RespondAsync(200, request.Target);
        });
        var proxy = await Proxy.StartAsync(l => l.ProxyPass($"http://{backend.Address}"));
        await using var busy = await proxy.ConnectAsync();
        await using var idle = await proxy.ConnectAsync();
        await idle.SendAsync("GET /fast HTTP/1.1\r\nHost: a\r\n\r\n");
        Assert.Equal(200, (await idle.ReadResponseAsync()).Status);
        await busy.SendAsync("GET /slow HTTP/1.1\r\nHost: a\r\n\r\n");
        await backend.WaitForRequestsAsync(2);

        var stop = proxy.Server.StopAsync(TimeSpan.FromSeconds(10));

        Assert.True(await idle.IsClosedAsync());
        Assert.False(stop.IsCompleted);
        // New connections are refused while draining.
        await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            await using var late = await RawClient.ConnectAsync(proxy.EndPoint);
            await late.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
            await late.ReadResponseAsync();
        });
        release.SetResult();
        var response = await busy.ReadResponseAsync();
        Assert.Equal("/slow", response.BodyText);
        Assert.Equal("close", response.Header("Connection"));
        await stop.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(await busy.IsClosedAsync());
    }

    [Fact]
    public async Task StopAsync_DrainTimeoutExpires_RemainingConnectionsAborted()
    {
        await using var backend = new TestBackend(async (_, c) => await Task.Delay(TimeSpan.FromSeconds(5)));
        var proxy = await Proxy.StartAsync(l => l.ProxyPass($"http://{backend.Address}"));
        await using var client = await proxy.ConnectAsync();
        await client.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        await backend.WaitForRequestsAsync(1);

        await proxy.Server.StopAsync(TimeSpan.FromMilliseconds(200)).WaitAsync(TimeSpan.FromSeconds(5));

        Assert.True(await client.IsClosedAsync());
        Assert.Equal(0, proxy.Server.ConnectionCount);
    }

    [Fact]
    public async Task TryReload_NewRoutes_NewRequestsUseThemAndConnectionsSurvive()
    {
        await using var first = new TestBackend((_, c) => c.RespondAsync(200, "first"));
        await using var second = new TestBackend((_, c) => c.RespondAsync(200, "second"));
        var listen = new IPEndPoint(IPAddress.Loopback, 0);
        await using var proxy = await Proxy.StartAsync(ProxyConfigFor(first.Address));
        await using var client = await proxy.ConnectAsync();
        await client.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        Assert.Equal("first", (await client.ReadResponseAsync()).BodyText);

        Assert.True(proxy.Server.TryReload(ProxyConfigFor(second.Address), out var errors), string.Join(";", errors));

        await client.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        Assert.Equal("second", (await client.ReadResponseAsync()).BodyText);
        Assert.Equal("second", (await proxy.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n")).BodyText);

        Config.ProxyConfig ProxyConfigFor(string backend) => new ProxyConfigBuilder()
            .Server(s => s.Listen(listen).Location("/", l => l.ProxyPass($"http://{backend}")))
            .Build();
    }

    [Fact]
    public async Task TryReload_InvalidConfig_KeepsRunningOnOldConfig()
    {
        await using var backend = new TestBackend((_, c) => c.RespondAsync(200, "old"));
        await using var proxy = await Proxy.StartAsync(l => l.ProxyPass($"http://{backend.Address}"));
        var invalid = new ProxyConfigBuilder()
            .Server(s => s.Listen("127.0.0.1:0").Location("/", l => l.ProxyPass("http://no-such-upstream-name.invalid")))
            .Build();

        Assert.False(proxy.Server.TryReload(invalid, out var errors));

        Assert.NotEmpty(errors);
        Assert.Equal("old", (await proxy.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n")).BodyText);
    }

    [Fact]
    public async Task TryReload_ListenAddedAndRemoved_ListenersFollowAndOpenConnectionStays()
    {
        await using var backend = new TestBackend((_, c) => c.RespondAsync(200, "ok"));
        var a = new IPEndPoint(IPAddress.Loopback, 0);
        var b = new IPEndPoint(IPAddress.Parse("127.0.0.2"), 0);
        Config.ProxyConfig With(params IPEndPoint[] listens) => new ProxyConfigBuilder()
            .Server(s =>
            {
                foreach (var l in listens)
                {
                    s.Listen(l);
                }
                s.Location("/", l => l.ProxyPass($"http://{backend.Address}"));
            })
            .Build();
        await using var proxy = await Proxy.StartAsync(With(a));
        await using var onA = await proxy.ConnectAsync();
        // One exchange first, so that the connection is surely accepted before its listener goes.
        await onA.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        Assert.Equal(200, (await onA.ReadResponseAsync()).Status);

        Assert.True(proxy.Server.TryReload(With(b), out var errors), string.Join(";", errors));
        var boundB = proxy.Server.GetBoundEndPoint(b)!;

        Assert.Null(proxy.Server.GetBoundEndPoint(a));
        Assert.Equal("ok", (await SendOnce(boundB)).BodyText);
        await Assert.ThrowsAnyAsync<Exception>(() => SendOnce(proxy.EndPoint));
        // The connection accepted on the removed address is still served.
        await onA.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        Assert.Equal(200, (await onA.ReadResponseAsync()).Status);

        static async Task<RawResponse> SendOnce(IPEndPoint endPoint)
        {
            await using var client = await RawClient.ConnectAsync(endPoint);
            await client.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
            return await client.ReadResponseAsync();
        }
    }

    [Fact]
    public async Task BoundEndPoints_PortZero_RealPortReported()
    {
        await using var proxy = await Proxy.StartAsync(l => l.Return(200, "x"));

        Assert.NotEqual(0, proxy.Server.BoundEndPoints[0].Port);
        Assert.Equal(200, (await proxy.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n")).Status);
    }
}
