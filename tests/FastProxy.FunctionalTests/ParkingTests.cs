using FastProxy.Config;
using FastProxy.FunctionalTests.Infrastructure;

namespace FastProxy.FunctionalTests;

/// <summary>
/// An idle keep-alive connection parks after a heartbeat tick (its HTTP state let go, one read pending): what it must
/// keep, and every way a parked connection ends.
/// </summary>
public sealed class ParkingTests
{
    private static Task<Proxy> StartEchoProxy(TestBackend backend, Action<ServerBuilder>? server = null) =>
        Proxy.StartAsync(l => l.ProxyPass($"http://{backend.Address}")
            .ProxySetHeader("X-Connection", "$connection")
            .ProxySetHeader("X-Requests", "$connection_requests"), server: server);

    private static Task UntilParked(Proxy proxy, int count) =>
        Waits.UntilAsync(() => proxy.Server.ParkedConnectionCount == count, $"{count} connection(s) parked");

    [Fact]
    public async Task Parking_IdleAfterResponse_NextRequestServedWithTheConnectionsState()
    {
        await using var backend = TestBackend.Echo();
        await using var proxy = await StartEchoProxy(backend);
        await using var client = await proxy.ConnectAsync();

        await client.SendAsync("GET /1 HTTP/1.1\r\nHost: a\r\n\r\n");
        var first = await client.ReadResponseAsync();
        await UntilParked(proxy, 1);
        // On the event loops the connection is parked in the transport itself: no reader, no writer, no read pending.
        bool onLoops = proxy.Server.Services.Transport is FastProxy.Transport.EpollTransportFactory;
        Assert.Equal(onLoops, proxy.Server.Services.Connections.Connections.Single().IsParkedOnTransport);
        await client.SendAsync("GET /2 HTTP/1.1\r\nHost: a\r\n\r\n");
        var second = await client.ReadResponseAsync();

        Assert.Equal(200, first.Status);
        Assert.Equal(200, second.Status);
        var requests = backend.Requests.ToArray();
        // $connection stays the connection's serial and $connection_requests keeps counting across the parking.
        Assert.Equal(requests[0].Header("X-Connection"), requests[1].Header("X-Connection"));
        Assert.Equal("1", requests[0].Header("X-Requests"));
        Assert.Equal("2", requests[1].Header("X-Requests"));
        Assert.Equal(0, proxy.Server.ParkedConnectionCount);
        Assert.Equal(1, backend.Accepts);
    }

    [Fact]
    public async Task Parking_ParkedTwiceThenPipelinedPair_BothAnsweredInOrder()
    {
        await using var backend = TestBackend.Echo();
        await using var proxy = await StartEchoProxy(backend);
        await using var client = await proxy.ConnectAsync();

        for (int i = 1; i <= 2; i++)
        {
            await client.SendAsync($"GET /{i} HTTP/1.1\r\nHost: a\r\n\r\n");
            Assert.Equal(200, (await client.ReadResponseAsync()).Status);
            await UntilParked(proxy, 1);
        }
        await client.SendAsync("GET /3 HTTP/1.1\r\nHost: a\r\n\r\nGET /4 HTTP/1.1\r\nHost: a\r\n\r\n");
        var third = await client.ReadResponseAsync();
        var fourth = await client.ReadResponseAsync();

        Assert.StartsWith("GET /3 ", third.BodyText);
        Assert.StartsWith("GET /4 ", fourth.BodyText);
        Assert.Contains("X-Requests: 4", fourth.BodyText);
    }

    [Fact]
    public async Task Parking_BeforeTheFirstRequest_HeadThatComesLaterServed()
    {
        await using var backend = TestBackend.Echo();
        await using var proxy = await StartEchoProxy(backend);
        await using var client = await proxy.ConnectAsync();

        await UntilParked(proxy, 1);
        await client.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");

        Assert.Equal(200, (await client.ReadResponseAsync()).Status);
    }

    [Fact]
    public async Task Parking_BeforeTheFirstRequest_ClientHeaderTimeoutStillClosesSilently()
    {
        await using var backend = TestBackend.Echo();
        // As in the keep-alive case below: the short keep-alive timeout (not in force before the first request) only
        // makes the heartbeat tick every 100 ms, so the connection parks long before the 2 s header deadline.
        await using var proxy = await StartEchoProxy(backend, s => s.ClientHeaderTimeout(TimeSpan.FromSeconds(2))
            .KeepaliveTimeout(TimeSpan.FromMilliseconds(400)));
        await using var client = await proxy.ConnectAsync();

        await UntilParked(proxy, 1);

        await ClosedSilentlyAsync(proxy, client);
    }

    [Fact]
    public async Task Parking_KeepaliveTimeoutPassesWhileParked_ClosedSilently()
    {
        await using var backend = TestBackend.Echo();
        // The connection parks at the second heartbeat tick of its idle time and must still be parked when the
        // keep-alive deadline fires. The short header timeout only makes the ticks 100 ms apart (a quarter of the
        // shortest timeout): parked by ~200 ms, the deadline at 2 s, so a loaded machine that delays the parking by a
        // few hundred milliseconds does not close the connection before it parked (ticks of 250 ms against a 1 s
        // deadline failed once in CI on .NET's sockets transport).
        await using var proxy = await StartEchoProxy(backend, s => s.KeepaliveTimeout(TimeSpan.FromSeconds(2))
            .ClientHeaderTimeout(TimeSpan.FromMilliseconds(400)));
        await using var client = await proxy.ConnectAsync();
        await client.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        Assert.Equal(200, (await client.ReadResponseAsync()).Status);

        await UntilParked(proxy, 1);

        await ClosedSilentlyAsync(proxy, client);
    }

    /// <summary>The proxy closes the parked connection without a byte, and it is gone from both counts.</summary>
    private static async Task ClosedSilentlyAsync(Proxy proxy, RawClient client)
    {
        var (data, _) = await client.ReadToEndAsync();
        Assert.Empty(data);
        await Waits.UntilAsync(() => proxy.Server.ConnectionCount == 0, "the connection is gone");
        Assert.Equal(0, proxy.Server.ParkedConnectionCount);
    }

    [Fact]
    public async Task Parking_ClientClosesWhileParked_ConnectionGone()
    {
        await using var backend = TestBackend.Echo();
        await using var proxy = await StartEchoProxy(backend);
        var client = await proxy.ConnectAsync();
        await client.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        Assert.Equal(200, (await client.ReadResponseAsync()).Status);
        await UntilParked(proxy, 1);

        await client.DisposeAsync();

        await Waits.UntilAsync(() => proxy.Server.ConnectionCount == 0, "the connection is gone");
        Assert.Equal(0, proxy.Server.ParkedConnectionCount);
    }

    [Fact]
    public async Task Parking_GracefulStopWithParkedConnections_ClosedAndStopReturns()
    {
        await using var backend = TestBackend.Echo();
        var proxy = await StartEchoProxy(backend);
        var clients = new List<RawClient>();
        try
        {
            for (int i = 0; i < 3; i++)
            {
                var client = await proxy.ConnectAsync();
                clients.Add(client);
                await client.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
                Assert.Equal(200, (await client.ReadResponseAsync()).Status);
            }
            await UntilParked(proxy, 3);

            await proxy.Server.StopAsync(TimeSpan.FromSeconds(10)).WaitAsync(TimeSpan.FromSeconds(10));

            Assert.Equal(0, proxy.Server.ConnectionCount);
            foreach (var client in clients)
            {
                Assert.True(await client.IsClosedAsync());
            }
        }
        finally
        {
            foreach (var client in clients)
            {
                await client.DisposeAsync();
            }
            await proxy.DisposeAsync();
        }
    }

    [Fact]
    public async Task Reuse_ConnectionClosedThenAnotherFromElsewhere_NothingOfTheFirstCarriedOver()
    {
        await using var backend = TestBackend.Echo();
        await using var proxy = await Proxy.StartAsync(l => l.ProxyPass($"http://{backend.Address}")
            .ProxySetHeader("X-Real-IP", "$remote_addr")
            .ProxySetHeader("X-Port", "$remote_port")
            .ProxySetHeader("X-Connection", "$connection")
            .ProxySetHeader("X-Requests", "$connection_requests"));

        // The first connection's state goes back to the pool when it closes; the next connection takes it.
        await using (var first = await RawClient.ConnectAsync(proxy.EndPoint, System.Net.IPAddress.Parse("127.0.0.2")))
        {
            await first.SendAsync("GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
            Assert.Equal(200, (await first.ReadResponseAsync()).Status);
            Assert.Equal(200, (await first.ReadResponseAsync()).Status);
        }
        await Waits.UntilAsync(() => proxy.Server.ConnectionCount == 0, "the first connection is gone");
        await using var second = await RawClient.ConnectAsync(proxy.EndPoint, System.Net.IPAddress.Parse("127.0.0.3"));
        await second.SendAsync("GET /3 HTTP/1.1\r\nHost: a\r\n\r\n");
        Assert.Equal(200, (await second.ReadResponseAsync()).Status);

        var requests = backend.Requests.ToArray();
        Assert.Equal("127.0.0.2", requests[0].Header("X-Real-IP"));
        Assert.Equal("127.0.0.3", requests[2].Header("X-Real-IP"));
        Assert.Equal(((System.Net.IPEndPoint)second.Socket.LocalEndPoint!).Port.ToString(System.Globalization.CultureInfo.InvariantCulture), requests[2].Header("X-Port"));
        Assert.NotEqual(requests[0].Header("X-Connection"), requests[2].Header("X-Connection"));
        Assert.Equal("2", requests[1].Header("X-Requests"));
        Assert.Equal("1", requests[2].Header("X-Requests"));
    }

    [Fact]
    public async Task Parking_NotCrowded_HeartbeatTicksParkTheIdleConnection()
    {
        var clock = new ManualClock();
        await using var backend = TestBackend.Echo();
        await using var proxy = await Proxy.StartAsync(EchoConfig(backend), new ProxyServerOptions { TimeProvider = clock });
        await using var client = await proxy.ConnectAsync();
        await client.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        Assert.Equal(200, (await client.ReadResponseAsync()).Status);

        // A tick that sees the connection idle, then one that sees the same idle wait, park it (a tick may come
        // before the connection is back to waiting, hence ticks until it parks).
        await Waits.UntilAsync(() =>
        {
            clock.Advance(TimeSpan.FromMilliseconds(250));
            return proxy.Server.ParkedConnectionCount == 1;
        }, "ticks park the idle connection");
        await client.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        Assert.Equal(200, (await client.ReadResponseAsync()).Status);
    }

    [Fact]
    public async Task Parking_Crowded_IdleConnectionParksWithoutATick()
    {
        var clock = new ManualClock();
        await using var backend = TestBackend.Echo();
        await using var proxy = await Proxy.StartAsync(EchoConfig(backend), new ProxyServerOptions { TimeProvider = clock });
        proxy.Server.Services.Connections.CrowdedAbove = 0;
        await using var client = await proxy.ConnectAsync();

        // No tick ever comes (the clock stands still): only crowding parks, before the first request and after each.
        await UntilParked(proxy, 1);
        for (int i = 1; i <= 3; i++)
        {
            await client.SendAsync($"GET /{i} HTTP/1.1\r\nHost: a\r\n\r\n");
            var response = await client.ReadResponseAsync();
            Assert.Equal(200, response.Status);
            Assert.Contains($"X-Requests: {i}", response.BodyText);
            await UntilParked(proxy, 1);
        }
    }

    [Fact]
    public async Task Parking_CrowdedManyClients_EveryAnswerOnItsOwnConnectionInOrder()
    {
        // Crowded: every connection parks (giving its reader and writer back) after each response and resumes with
        // the next request, while others do the same on the same loop: nothing may cross between connections.
        await using var backend = TestBackend.Echo();
        await using var proxy = await Proxy.StartAsync(EchoConfig(backend));
        proxy.Server.Services.Connections.CrowdedAbove = 0;

        var clients = Enumerable.Range(0, 40).Select(async c =>
        {
            await using var client = await proxy.ConnectAsync();
            for (int r = 1; r <= 25; r++)
            {
                await client.SendAsync($"GET /c{c}/r{r} HTTP/1.1\r\nHost: a\r\n\r\n");
                var response = await client.ReadResponseAsync();
                Assert.Equal(200, response.Status);
                Assert.StartsWith($"GET /c{c}/r{r} HTTP/1.1", response.BodyText);
                Assert.Contains($"X-Requests: {r}\r\n", response.BodyText);
            }
        });
        await Task.WhenAll(clients).WaitAsync(TimeSpan.FromSeconds(60));
    }

    private static ProxyConfig EchoConfig(TestBackend backend) => new ProxyConfigBuilder()
        .Server(s => s.Listen("127.0.0.1:0").Location("/", l => l.ProxyPass($"http://{backend.Address}")
            .ProxySetHeader("X-Requests", "$connection_requests")))
        .Build();

    [Fact]
    public async Task ConnectionSet_ManyOpenedSomeClosed_CountSetAndServingAgree()
    {
        // The set is a table of slots that grows (from 64) and reuses the slots of closed connections.
        await using var backend = TestBackend.Echo();
        await using var proxy = await StartEchoProxy(backend);
        var clients = new List<RawClient>();
        async Task OpenAsync(int count)
        {
            for (int i = 0; i < count; i++)
            {
                var client = await proxy.ConnectAsync();
                await client.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
                Assert.Equal(200, (await client.ReadResponseAsync()).Status);
                clients.Add(client);
            }
        }
        try
        {
            await OpenAsync(150);
            await Waits.UntilAsync(() => proxy.Server.ConnectionCount == 150, "150 connections open");
            for (int i = clients.Count - 1; i >= 0; i -= 2)
            {
                await clients[i].DisposeAsync();
                clients.RemoveAt(i);
            }
            await Waits.UntilAsync(() => proxy.Server.ConnectionCount == 75, "75 connections left");
            await OpenAsync(30);

            var open = proxy.Server.Services.Connections.Connections;
            Assert.Equal(105, proxy.Server.ConnectionCount);
            Assert.Equal(105, open.Count);
            Assert.Equal(105, open.Select(c => c.Slot).Distinct().Count());
            Assert.Equal(105, open.Select(c => c.Id).Distinct().Count());
            // Every connection left in the set still serves, on its own connection ($connection differs per client).
            var ids = new HashSet<string>();
            foreach (var client in clients)
            {
                await client.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
                var response = await client.ReadResponseAsync();
                Assert.Equal(200, response.Status);
                Assert.True(ids.Add(response.BodyText.Split("X-Connection: ")[1].Split("\r\n")[0]));
            }
        }
        finally
        {
            foreach (var client in clients)
            {
                await client.DisposeAsync();
            }
        }
        await Waits.UntilAsync(() => proxy.Server.ConnectionCount == 0 && proxy.Server.Services.Connections.Connections.Count == 0,
            "every connection gone from the set");
    }
}
