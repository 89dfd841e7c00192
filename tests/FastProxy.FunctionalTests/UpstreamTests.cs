using FastProxy.LoadBalancing.Tests;
using System.Net;
using FastProxy.Config;
using FastProxy.FunctionalTests.Infrastructure;
using FastProxy.LoadBalancing;

namespace FastProxy.FunctionalTests;

/// <summary>
/// Upstream groups through the proxy, with real backends on loopback: the reference configuration 03-upstreams.conf
/// (least_conn, a backup, keepalive 32) run unchanged apart from its ports, failover and recovery, the balancing
/// methods, keep-alive per group, active health checks and reloads. Time is a manual clock wherever it matters.
/// </summary>
public sealed class UpstreamTests
{
    private static ProxyConfig LoadReference03(TestBackend first, TestBackend second, TestBackend backup)
    {
        string path = Path.Combine(AppContext.BaseDirectory, "Fixtures", "03-upstreams.conf");
        string text = File.ReadAllText(path)
            .Replace("127.0.0.1:18081", first.Address)
            .Replace("127.0.0.1:18082", second.Address)
            .Replace("127.0.0.1:18083", backup.Address);
        var result = NginxConfigLoader.LoadText(text, path);
        Assert.True(result.Success, string.Join("\n", result.Diagnostics));
        // nginx refuses "listen ...:0", so the file keeps 18080 and the model gets a free port instead.
        var config = result.Config!;
        return config with
        {
            Servers = [.. config.Servers.Select(s => s with { Listens = [.. s.Listens.Select(l => l with { EndPoint = new IPEndPoint(l.EndPoint.Address, 0) })] })],
        };
    }

    private static async Task<RawResponse> GetAsync(RawClient client, string target)
    {
        await client.SendAsync($"GET {target} HTTP/1.1\r\nHost: users.example\r\n\r\n");
        return await client.ReadResponseAsync();
    }

    [Fact]
    public async Task ReferenceConfig03_LeastConn_SpreadsOverPrimariesBackupIdleConnectionsReused()
    {
        var gate = new TaskCompletionSource();
        Func<BackendRequest, BackendConnection, Task> Holding(string name) => async (request, c) =>
        {
            if (request.Target == "/hold")
            {
                await gate.Task.WaitAsync(TimeSpan.FromSeconds(10));
            }
            await c.RespondAsync(200, name);
        };
        await using var a = new TestBackend(Holding("a"));
        await using var b = new TestBackend(Holding("b"));
        await using var backup = Backends.Named("backup");
        await using var proxy = await Proxy.StartAsync(LoadReference03(a, b, backup), new ProxyServerOptions { TimeProvider = new ManualTimeProvider() });

        // Two requests in flight at once: least_conn gives the second to the server without one.
        var first = proxy.SendAsync("GET /api/users/hold HTTP/1.1\r\nHost: users.example\r\n\r\n");
        var second = proxy.SendAsync("GET /api/users/hold HTTP/1.1\r\nHost: users.example\r\n\r\n");
        await Waits.UntilAsync(() => a.Requests.Count + b.Requests.Count == 2, "both requests reached a backend");
        Assert.Single(a.Requests);
        Assert.Single(b.Requests);
        gate.SetResult();
        Assert.Equal(200, (await first).Status);
        Assert.Equal(200, (await second).Status);

        await using var client = await proxy.ConnectAsync();
        for (int i = 0; i < 20; i++)
        {
            var response = await GetAsync(client, "/api/users/42");
            Assert.Equal(200, response.Status);
            Assert.Contains(response.BodyText, new[] { "a", "b" });
        }

        Assert.Empty(backup.Requests);
        // proxy_pass http://user_service/ replaces the location prefix.
        Assert.Equal(20, a.Requests.Concat(b.Requests).Count(r => r.Target == "/42"));
        // keepalive 32: the two connections of the first requests carry every later one.
        Assert.Equal(2, a.Accepts + b.Accepts);
    }

    [Fact]
    public async Task ReferenceConfig03_PrimaryKilledMidRun_NoClientErrorTrafficMovesAndComesBackAfterFailTimeout()
    {
        var time = new ManualTimeProvider();
        var a = Backends.Named("a");
        await using var b = Backends.Named("b");
        await using var backup = Backends.Named("backup");
        await using var proxy = await Proxy.StartAsync(LoadReference03(a, b, backup), new ProxyServerOptions { TimeProvider = time });
        var first = proxy.Cluster("user_service").State.Destinations[0];
        int port = a.Port;
        await using var client = await proxy.ConnectAsync();

        for (int i = 0; i < 10; i++)
        {
            Assert.Equal(200, (await GetAsync(client, "/api/users/1")).Status);
        }
        Assert.NotEmpty(a.Requests);
        await a.DisposeAsync();   // listener and connections closed

        // Idempotent requests: the proxy moves each on to the other primary; the client sees no error.
        for (int i = 0; i < 40 && first.Health == DestinationHealth.Healthy; i++)
        {
            var response = await GetAsync(client, "/api/users/2");
            Assert.Equal(200, response.Status);
            Assert.Equal("b", response.BodyText);
        }
        Assert.Equal(DestinationHealth.Unavailable, first.Health);

        // Back on its port, but still out until fail_timeout (10s) has passed.
        await using var revived = Backends.Named("a", port);
        for (int i = 0; i < 5; i++)
        {
            Assert.Equal("b", (await GetAsync(client, "/api/users/3")).BodyText);
        }
        Assert.Empty(revived.Requests);

        time.Advance(TimeSpan.FromSeconds(11));
        var bodies = new List<string>();
        for (int i = 0; i < 6; i++)
        {
            var response = await GetAsync(client, "/api/users/4");
            Assert.Equal(200, response.Status);
            bodies.Add(response.BodyText);
        }

        Assert.Contains("a", bodies);
        Assert.Equal(DestinationHealth.Healthy, first.Health);
        Assert.Empty(backup.Requests);
    }

    [Fact]
    public async Task ReferenceConfig03_BothPrimariesDown_BackupAnswers()
    {
        var a = Backends.Named("a");
        var b = Backends.Named("b");
        await using var backup = Backends.Named("backup");
        await using var proxy = await Proxy.StartAsync(LoadReference03(a, b, backup), new ProxyServerOptions { TimeProvider = new ManualTimeProvider() });
        await a.DisposeAsync();
        await b.DisposeAsync();
        await using var client = await proxy.ConnectAsync();

        for (int i = 0; i < 3; i++)
        {
            var response = await GetAsync(client, "/api/users/1");
            Assert.Equal(200, response.Status);
            Assert.Equal("backup", response.BodyText);
        }
    }

    [Fact]
    public async Task Backup_EveryPrimaryAtMaxConns_BackupTakesTheRequest()
    {
        var release = new TaskCompletionSource();
        Func<BackendRequest, BackendConnection, Task> Holding(string name) => async (_, c) =>
        {
            await release.Task.WaitAsync(TimeSpan.FromSeconds(10));
            await c.RespondAsync(200, name);
        };
        await using var a = new TestBackend(Holding("a"));
        await using var b = new TestBackend(Holding("b"));
        await using var backup = Backends.Named("backup");
        var config = new ProxyConfigBuilder()
            .Upstream("svc", u => u.LeastConn().Server(a.Address, maxConns: 1).Server(b.Address, maxConns: 1).Server(backup.Address, backup: true))
            .Server(s => s.Listen("127.0.0.1:0").Location("/", l => l.ProxyPass("http://svc")))
            .Build();
        await using var proxy = await Proxy.StartAsync(config);

        var first = proxy.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        var second = proxy.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        await Waits.UntilAsync(() => a.Requests.Count + b.Requests.Count == 2, "both primaries hold a request");
        var third = await proxy.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        release.SetResult();

        Assert.Equal("backup", third.BodyText);
        Assert.Equal(200, (await first).Status);
        Assert.Equal(200, (await second).Status);
    }

    [Fact]
    public async Task IpHash_SameClient_AlwaysSameServer()
    {
        await using var a = Backends.Named("a");
        await using var b = Backends.Named("b");
        await using var c = Backends.Named("c");
        var config = new ProxyConfigBuilder()
            .Upstream("svc", u => u.IpHash().Server(a.Address).Server(b.Address).Server(c.Address))
            .Server(s => s.Listen("127.0.0.1:0").Location("/", l => l.ProxyPass("http://svc")))
            .Build();
        await using var proxy = await Proxy.StartAsync(config);

        var bodies = new HashSet<string>();
        for (int i = 0; i < 12; i++)
        {
            bodies.Add((await proxy.SendAsync($"GET /{i} HTTP/1.1\r\nHost: a\r\n\r\n")).BodyText);
        }

        Assert.Single(bodies);
    }

    [Fact]
    public async Task IpHash_RealIpClients_EachSticksToOneServerAndClientsSpread()
    {
        await using var a = Backends.Named("a");
        await using var b = Backends.Named("b");
        await using var c = Backends.Named("c");
        var config = new ProxyConfigBuilder()
            .Upstream("svc", u => u.IpHash().Server(a.Address).Server(b.Address).Server(c.Address))
            .Server(s => s.Listen("127.0.0.1:0").Location("/", l => l.ProxyPass("http://svc").RealIp(["127.0.0.1"])))
            .Build();
        await using var proxy = await Proxy.StartAsync(config);
        await using var client = await proxy.ConnectAsync();

        // ip_hash sees the address realip took from X-Real-IP (nginx's realip changes the connection's address).
        var serverOf = new Dictionary<string, string>();
        for (int round = 0; round < 2; round++)
        {
            for (int i = 0; i < 12; i++)
            {
                string address = $"10.{i}.{i * 3}.7";
                await client.SendAsync($"GET / HTTP/1.1\r\nHost: a\r\nX-Real-IP: {address}\r\n\r\n");
                var body = (await client.ReadResponseAsync()).BodyText;
                if (serverOf.TryGetValue(address, out var previous))
                {
                    Assert.Equal(previous, body);
                }
                serverOf[address] = body;
            }
        }

        Assert.True(serverOf.Values.Distinct().Count() > 1);
    }

    [Fact]
    public async Task HashRequestUriConsistent_EachUriSticksToOneServerAndUrisSpread()
    {
        await using var a = Backends.Named("a");
        await using var b = Backends.Named("b");
        await using var c = Backends.Named("c");
        var config = new ProxyConfigBuilder()
            .Upstream("svc", u => u.Hash("$request_uri", consistent: true).Server(a.Address).Server(b.Address).Server(c.Address))
            .Server(s => s.Listen("127.0.0.1:0").Location("/", l => l.ProxyPass("http://svc")))
            .Build();
        await using var proxy = await Proxy.StartAsync(config);
        await using var client = await proxy.ConnectAsync();

        var serverOf = new Dictionary<string, string>();
        for (int round = 0; round < 3; round++)
        {
            for (int i = 0; i < 12; i++)
            {
                string uri = $"/item/{i}?v={i * 7}";
                var body = (await GetAsync(client, uri)).BodyText;
                if (serverOf.TryGetValue(uri, out var previous))
                {
                    Assert.Equal(previous, body);
                }
                serverOf[uri] = body;
            }
        }

        Assert.True(serverOf.Values.Distinct().Count() > 1);
    }

    [Fact]
    public async Task CustomPolicy_RegisteredInOptions_UsedForEveryRequest()
    {
        await using var a = Backends.Named("a");
        await using var b = Backends.Named("b");
        await using var c = Backends.Named("c");
        var config = new ProxyConfigBuilder()
            .Upstream("svc", u => u.Policy("last").Server(a.Address).Server(b.Address).Server(c.Address))
            .Server(s => s.Listen("127.0.0.1:0").Location("/", l => l.ProxyPass("http://svc")))
            .Build();
        await using var proxy = await Proxy.StartAsync(config, new ProxyServerOptions { LoadBalancingPolicies = Backends.TestPolicies() });

        for (int i = 0; i < 5; i++)
        {
            Assert.Equal("c", (await proxy.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n")).BodyText);
        }
        Assert.IsType<LastAvailablePolicy>(proxy.Cluster("svc").State.Policy);
    }

    [Fact]
    public void CustomPolicy_NotRegistered_ServerRefusesNamingGroupAndOption()
    {
        var config = new ProxyConfigBuilder()
            .Upstream("svc", u => u.Policy("fastest").Server("127.0.0.1:1"))
            .Server(s => s.Listen("127.0.0.1:0").Location("/", l => l.ProxyPass("http://svc")))
            .Build();

        var error = Assert.Throws<ArgumentException>(() => new ProxyServer(config));

        Assert.Contains("unknown load balancing method \"fastest\" in upstream \"svc\"", error.Message);
        Assert.Contains("ProxyServerOptions.LoadBalancingPolicies", error.Message);
        Assert.Contains(ProxyServer.Validate(config), e => e.Contains("\"fastest\""));
        Assert.Empty(ProxyServer.Validate(config, new ProxyServerOptions { LoadBalancingPolicies = RegistryWith("fastest") }));
    }

    private static LoadBalancingPolicyRegistry RegistryWith(string name)
    {
        var registry = new LoadBalancingPolicyRegistry();
        registry.Register(name, _ => new FirstAvailablePolicy());
        return registry;
    }

    [Fact]
    public async Task Keepalive_IdleConnectionsOfTheWholeGroupBoundedByN()
    {
        const int requests = 6;
        int arrived = 0;
        var all = new TaskCompletionSource();
        Func<BackendRequest, BackendConnection, Task> Barrier(string name) => async (_, c) =>
        {
            if (Interlocked.Increment(ref arrived) == requests)
            {
                all.SetResult();
            }
            await all.Task.WaitAsync(TimeSpan.FromSeconds(10));
            await c.RespondAsync(200, name);
        };
        await using var a = new TestBackend(Barrier("a"));
        await using var b = new TestBackend(Barrier("b"));
        await using var c = new TestBackend(Barrier("c"));
        var config = new ProxyConfigBuilder()
            .Upstream("svc", u => u.Keepalive(2).Server(a.Address).Server(b.Address).Server(c.Address))
            .Server(s => s.Listen("127.0.0.1:0").Location("/", l => l.ProxyPass("http://svc")))
            .Build();
        await using var proxy = await Proxy.StartAsync(config);
        var cluster = proxy.Cluster("svc");

        var pending = Enumerable.Range(0, requests).Select(_ => proxy.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n")).ToArray();
        foreach (var response in await Task.WhenAll(pending))
        {
            Assert.Equal(200, response.Status);
        }
        await Waits.UntilAsync(() => cluster.State.Destinations.All(d => d.InFlight == 0), "every attempt ended");

        Assert.Equal(requests, a.Accepts + b.Accepts + c.Accepts);
        Assert.Equal(2, cluster.Pools.Sum(p => p.IdleCount));
        Assert.Equal(2, proxy.Server.Pools.GetBudget("svc")!.Idle);
    }

    [Fact]
    public async Task Keepalive_RequestsAndTimeoutPerGroup_ConnectionsRetired()
    {
        var time = new ManualTimeProvider();
        await using var a = Backends.Named("a");
        var config = new ProxyConfigBuilder()
            .Upstream("svc", u => u.KeepaliveRequests(2).KeepaliveTimeout(TimeSpan.FromSeconds(30)).Server(a.Address))
            .Server(s => s.Listen("127.0.0.1:0").Location("/", l => l.ProxyPass("http://svc")))
            .Build();
        await using var proxy = await Proxy.StartAsync(config, new ProxyServerOptions { TimeProvider = time });
        await using var client = await proxy.ConnectAsync();

        for (int i = 0; i < 4; i++)
        {
            Assert.Equal(200, (await GetAsync(client, "/")).Status);
        }
        Assert.Equal(2, a.Accepts);   // keepalive_requests 2: each connection carries two

        Assert.Equal(200, (await GetAsync(client, "/")).Status);
        time.Advance(TimeSpan.FromSeconds(31));   // keepalive_timeout 30s: the idle one is closed by the sweep
        Assert.Equal(200, (await GetAsync(client, "/")).Status);
        Assert.Equal(4, a.Accepts);
    }

    [Fact]
    public async Task ActiveHealthCheck_FailingThenPassing_ServerTakenOutAndBack()
    {
        var time = new ManualTimeProvider();
        int aHealth = 500;
        await using var a = Backends.Named("a", health: () => Volatile.Read(ref aHealth));
        await using var b = Backends.Named("b", health: () => 200);
        var config = new ProxyConfigBuilder()
            .Upstream("svc", u => u.Policy("first").Server(a.Address).Server(b.Address)
                .HealthCheck(new HealthCheckConfig { Interval = TimeSpan.FromSeconds(5), Uri = "/health" }))
            .Server(s => s.Listen("127.0.0.1:0").Location("/", l => l.ProxyPass("http://svc")))
            .Build();
        await using var proxy = await Proxy.StartAsync(config, new ProxyServerOptions { TimeProvider = time, LoadBalancingPolicies = Backends.TestPolicies() });
        var cluster = proxy.Cluster("svc");
        var checker = cluster.HealthChecker!;

        await checker.CurrentRound.WaitAsync(TimeSpan.FromSeconds(10));   // the first round runs when the server starts
        Assert.Equal(DestinationHealth.Unhealthy, cluster.State.Destinations[0].Health);
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal("b", (await proxy.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n")).BodyText);
        }

        Volatile.Write(ref aHealth, 200);
        time.Advance(TimeSpan.FromSeconds(5));
        await checker.CurrentRound.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(DestinationHealth.Healthy, cluster.State.Destinations[0].Health);
        Assert.Equal("a", (await proxy.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n")).BodyText);
        Assert.Single(a.Requests, r => r.Target == "/");   // nothing reached it while it was out
    }

    [Fact]
    public async Task Reload_ServerThatStays_KeepsPassiveHealthAndGetsNewChecker()
    {
        var time = new ManualTimeProvider();
        int dead = Backends.FreePort();
        await using var b = Backends.Named("b", health: () => 200);
        ProxyConfig Config() => new ProxyConfigBuilder()
            .Upstream("svc", u => u.Policy("first").Server($"127.0.0.1:{dead}", maxFails: 1, failTimeout: TimeSpan.FromSeconds(30)).Server(b.Address)
                .HealthCheck(new HealthCheckConfig { Interval = TimeSpan.FromSeconds(5), Uri = "/health", Fails = 3 }))
            .Server(s => s.Listen("127.0.0.1:0").Location("/", l => l.ProxyPass("http://svc")
                .AddHeader("X-Upstream-Addr", "$upstream_addr")))
            .Build();
        await using var proxy = await Proxy.StartAsync(Config(), new ProxyServerOptions { TimeProvider = time, LoadBalancingPolicies = Backends.TestPolicies() });
        var before = proxy.Cluster("svc");
        await before.HealthChecker!.CurrentRound.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal($"127.0.0.1:{dead}, {b.Address}", (await proxy.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n")).Header("X-Upstream-Addr"));
        int timers = time.ActiveTimers;

        Assert.True(proxy.Server.TryReload(Config(), out var errors), string.Join("; ", errors));
        var after = proxy.Cluster("svc");
        await after.HealthChecker!.CurrentRound.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.NotSame(before, after);
        Assert.Equal(DestinationHealth.Unavailable, after.State.Destinations[0].Health);
        Assert.Equal(b.Address, (await proxy.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n")).Header("X-Upstream-Addr"));
        // The old group's checker stopped when the new one started: one health timer, as before.
        await Waits.UntilAsync(() => time.ActiveTimers == timers, "the old checker's timer is disposed");
    }

    [Fact]
    public async Task Server_HostName_ResolvedWhenTheProxyStarts()
    {
        await using var a = Backends.Named("a");
        var config = new ProxyConfigBuilder()
            .Upstream("svc", u => u.Server($"localhost:{a.Port}"))
            .Server(s => s.Listen("127.0.0.1:0").Location("/", l => l.ProxyPass("http://svc")))
            .Build();
        await using var proxy = await Proxy.StartAsync(config);

        Assert.Contains(proxy.Cluster("svc").State.Destinations, d => d.EndPoint.Equals(new IPEndPoint(IPAddress.Loopback, a.Port)));
        // localhost may also be ::1, where nothing listens: that attempt fails over to 127.0.0.1.
        Assert.Equal("a", (await proxy.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n")).BodyText);
    }
}
