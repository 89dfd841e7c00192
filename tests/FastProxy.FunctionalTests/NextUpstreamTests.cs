using FastProxy.LoadBalancing.Tests;
using System.Text;
using FastProxy.Config;
using FastProxy.FunctionalTests.Infrastructure;
using FastProxy.LoadBalancing;

namespace FastProxy.FunctionalTests;

/// <summary>
/// proxy_next_upstream, _tries and _timeout through the proxy: which failures move a request on to the next server,
/// what the client and the backends see, $upstream_addr / $upstream_status. The group uses the test policy "first"
/// (the first eligible server in order) so that every test knows which server an attempt goes to; time is a manual
/// clock, advanced where a timeout must pass.
/// </summary>
public sealed class NextUpstreamTests
{
    private static async Task<Proxy> StartAsync(Action<UpstreamBuilder> upstream, Action<LocationBuilder>? location = null,
        ManualTimeProvider? time = null, string policy = "first")
    {
        var config = new ProxyConfigBuilder()
            .Upstream("svc", u =>
            {
                u.Policy(policy);
                upstream(u);
            })
            .Server(s => s.Listen("127.0.0.1:0").Location("/", l =>
            {
                l.ProxyPass("http://svc")
                    .AddHeader("X-Upstream-Addr", "$upstream_addr", always: true)
                    .AddHeader("X-Upstream-Status", "$upstream_status", always: true);
                location?.Invoke(l);
            }))
            .Build();
        return await Proxy.StartAsync(config, new ProxyServerOptions
        {
            TimeProvider = time ?? new ManualTimeProvider(),
            LoadBalancingPolicies = Backends.TestPolicies(),
        });
    }

    [Fact]
    public async Task ForwardAsync_ConnectRefused_NextServerAnswersAndAttemptsListed()
    {
        int dead = Backends.FreePort();
        await using var b = Backends.Named("b");
        await using var proxy = await StartAsync(u => u.Server($"127.0.0.1:{dead}").Server(b.Address));

        var response = await proxy.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");

        Assert.Equal(200, response.Status);
        Assert.Equal("b", response.BodyText);
        Assert.Equal($"127.0.0.1:{dead}, {b.Address}", response.Header("X-Upstream-Addr"));
        Assert.Equal("502, 200", response.Header("X-Upstream-Status"));
        // error counts as a failure: max_fails=1 takes the server out.
        Assert.Equal(DestinationHealth.Unavailable, proxy.Cluster("svc").State.Destinations[0].Health);
    }

    [Fact]
    public async Task ForwardAsync_BackendHangs_ReadTimeoutMovesToNextServer()
    {
        var time = new ManualTimeProvider();
        var release = new TaskCompletionSource();
        await using var a = new TestBackend(async (_, _) => await release.Task.WaitAsync(TimeSpan.FromSeconds(10)));
        await using var b = Backends.Named("b");
        await using var proxy = await StartAsync(u => u.Server(a.Address).Server(b.Address),
            l => l.ProxyReadTimeout(TimeSpan.FromSeconds(5)), time);

        var pending = proxy.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        await a.WaitForRequestsAsync(1);
        time.Advance(TimeSpan.FromSeconds(6));
        var response = await pending;
        release.SetResult();

        Assert.Equal(200, response.Status);
        Assert.Equal("b", response.BodyText);
        Assert.Equal("504, 200", response.Header("X-Upstream-Status"));
    }

    [Fact]
    public async Task ForwardAsync_NextUpstreamTimeoutSpent_504WithoutNextServer()
    {
        var time = new ManualTimeProvider();
        var release = new TaskCompletionSource();
        await using var a = new TestBackend(async (_, _) => await release.Task.WaitAsync(TimeSpan.FromSeconds(10)));
        await using var b = Backends.Named("b");
        await using var proxy = await StartAsync(u => u.Server(a.Address).Server(b.Address),
            l => l.ProxyReadTimeout(TimeSpan.FromSeconds(5))
                .ProxyNextUpstream(NextUpstreamConditions.Error | NextUpstreamConditions.Timeout, timeout: TimeSpan.FromSeconds(3)), time);

        var pending = proxy.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        await a.WaitForRequestsAsync(1);
        time.Advance(TimeSpan.FromSeconds(6));
        var response = await pending;
        release.SetResult();

        Assert.Equal(504, response.Status);
        Assert.Empty(b.Requests);
    }

    [Fact]
    public async Task ForwardAsync_Backend502ListedInNextUpstream_NextServerAnswersAndFailureCounted()
    {
        await using var a = new TestBackend((_, c) => c.RespondAsync(502, "a-bad"));
        await using var b = Backends.Named("b");
        await using var proxy = await StartAsync(u => u.Server(a.Address).Server(b.Address),
            l => l.ProxyNextUpstream(NextUpstreamConditions.Error | NextUpstreamConditions.Http502));

        var response = await proxy.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");

        Assert.Equal(200, response.Status);
        Assert.Equal("b", response.BodyText);
        Assert.Equal("502, 200", response.Header("X-Upstream-Status"));
        Assert.Equal(DestinationHealth.Unavailable, proxy.Cluster("svc").State.Destinations[0].Health);
    }

    [Fact]
    public async Task ForwardAsync_Backend502NotListed_PassedThroughAndNotAFailure()
    {
        await using var a = new TestBackend((_, c) => c.RespondAsync(502, "a-bad"));
        await using var b = Backends.Named("b");
        await using var proxy = await StartAsync(u => u.Server(a.Address).Server(b.Address));

        var response = await proxy.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");

        Assert.Equal(502, response.Status);
        Assert.Equal("a-bad", response.BodyText);
        Assert.Empty(b.Requests);
        Assert.Equal(DestinationHealth.Healthy, proxy.Cluster("svc").State.Destinations[0].Health);
    }

    [Fact]
    public async Task ForwardAsync_EveryServerAnswers503_LastAnswerPassedThroughAsIs()
    {
        await using var a = new TestBackend((_, c) => c.RespondAsync(503, "a-busy"));
        await using var b = new TestBackend((_, c) => c.RespondAsync(503, "b-busy", "Retry-After: 7\r\n"));
        await using var proxy = await StartAsync(u => u.Server(a.Address, maxFails: 0).Server(b.Address, maxFails: 0),
            l => l.ProxyNextUpstream(NextUpstreamConditions.Error | NextUpstreamConditions.Http503));
        await using var client = await proxy.ConnectAsync();

        for (int i = 0; i < 2; i++)
        {
            await client.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
            var response = await client.ReadResponseAsync();

            // The discarded answer of a never reaches the client; b's goes through whole, on a kept-alive connection.
            Assert.Equal(503, response.Status);
            Assert.Equal("b-busy", response.BodyText);
            Assert.Equal("7", response.Header("Retry-After"));
            Assert.Equal($"{a.Address}, {b.Address}", response.Header("X-Upstream-Addr"));
            Assert.Equal("503, 503", response.Header("X-Upstream-Status"));
        }
    }

    [Fact]
    public async Task ForwardAsync_RetryableStatusAndNoOtherServerLeft_HeldAnswerPassedThrough()
    {
        await using var a = new TestBackend((_, c) => c.RespondAsync(503, "a-busy"));
        await using var b = Backends.Named("b");
        await using var proxy = await StartAsync(u => u.Server(a.Address, maxFails: 0).Server(b.Address, down: true),
            l => l.ProxyNextUpstream(NextUpstreamConditions.Error | NextUpstreamConditions.Http503));

        var response = await proxy.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");

        Assert.Equal(503, response.Status);
        Assert.Equal("a-busy", response.BodyText);
        Assert.Equal(a.Address, response.Header("X-Upstream-Addr"));
        Assert.Equal("503", response.Header("X-Upstream-Status"));
    }

    [Fact]
    public async Task ForwardAsync_PostResetAfterBytesSent_NotReplayed()
    {
        await using var a = Backends.Resetting();
        await using var b = Backends.Named("b");
        await using var proxy = await StartAsync(u => u.Server(a.Address, maxFails: 0).Server(b.Address, maxFails: 0));

        var response = await proxy.SendAsync("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello");

        Assert.Equal(502, response.Status);
        Assert.Single(a.Requests);
        Assert.Empty(b.Requests);
    }

    [Fact]
    public async Task ForwardAsync_PostWithNonIdempotent_BodyReplayedOnNextServer()
    {
        await using var a = Backends.Resetting();
        await using var b = Backends.Named("b");
        await using var proxy = await StartAsync(u => u.Server(a.Address, maxFails: 0).Server(b.Address, maxFails: 0),
            l => l.ProxyNextUpstream(NextUpstreamConditions.Error | NextUpstreamConditions.Timeout | NextUpstreamConditions.NonIdempotent));

        var response = await proxy.SendAsync("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello");

        Assert.Equal(200, response.Status);
        Assert.Equal("hello", Encoding.ASCII.GetString(Assert.Single(a.Requests).Body));
        Assert.Equal("hello", Encoding.ASCII.GetString(Assert.Single(b.Requests).Body));
    }

    [Fact]
    public async Task ForwardAsync_ChunkedPutReset_ReplayedChunkedOnNextServer()
    {
        await using var a = Backends.Resetting();
        await using var b = Backends.Named("b");
        await using var proxy = await StartAsync(u => u.Server(a.Address, maxFails: 0).Server(b.Address, maxFails: 0));

        var response = await proxy.SendAsync("PUT / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");

        Assert.Equal(200, response.Status);
        var replayed = Assert.Single(b.Requests);
        Assert.True(replayed.WasChunked);
        Assert.Equal("hello world", Encoding.ASCII.GetString(replayed.Body));
    }

    [Fact]
    public async Task ForwardAsync_PutBodyOverReplayBound_NotReplayed()
    {
        await using var a = Backends.Resetting();
        await using var b = Backends.Named("b");
        await using var proxy = await StartAsync(u => u.Server(a.Address, maxFails: 0).Server(b.Address, maxFails: 0));
        int size = Http.RequestBodyReplay.MaxLength + 1;

        var response = await proxy.SendAsync($"PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: {size}\r\n\r\n{new string('x', size)}");

        Assert.Equal(502, response.Status);
        Assert.Equal(size, Assert.Single(a.Requests).Body.Length);
        Assert.Empty(b.Requests);
    }

    [Theory]
    [InlineData(0, 3)]
    [InlineData(2, 2)]
    public async Task ForwardAsync_EveryServerFails_TriesBoundTheAttempts(int tries, int expectedAttempts)
    {
        await using var a = Backends.Resetting();
        await using var b = Backends.Resetting();
        await using var c = Backends.Resetting();
        await using var proxy = await StartAsync(u => u.Server(a.Address, maxFails: 0).Server(b.Address, maxFails: 0).Server(c.Address, maxFails: 0),
            l => l.ProxyNextUpstream(NextUpstreamConditions.Error | NextUpstreamConditions.Timeout, tries));

        var response = await proxy.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");

        Assert.Equal(502, response.Status);
        Assert.Equal(expectedAttempts, a.Requests.Count + b.Requests.Count + c.Requests.Count);
    }

    [Fact]
    public async Task ForwardAsync_MaxConnsReachedByHeldRequest_NextRequestGoesToOtherServer()
    {
        var release = new TaskCompletionSource();
        await using var a = new TestBackend(async (_, c) =>
        {
            await release.Task.WaitAsync(TimeSpan.FromSeconds(10));
            await c.RespondAsync(200, "a");
        });
        await using var b = Backends.Named("b");
        await using var proxy = await StartAsync(u => u.Server(a.Address, maxConns: 1).Server(b.Address, maxConns: 1));

        var held = proxy.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        await a.WaitForRequestsAsync(1);
        var second = await proxy.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        release.SetResult();

        Assert.Equal("b", second.BodyText);
        Assert.Equal("a", (await held).BodyText);
    }

    [Fact]
    public async Task ForwardAsync_SingleServerAtMaxConns_WaitsThen502AfterConnectTimeout()
    {
        var time = new ManualTimeProvider();
        var release = new TaskCompletionSource();
        await using var a = new TestBackend(async (_, c) =>
        {
            await release.Task.WaitAsync(TimeSpan.FromSeconds(10));
            await c.RespondAsync(200, "a");
        });
        await using var proxy = await StartAsync(u => u.Server(a.Address, maxConns: 1),
            l => l.ProxyConnectTimeout(TimeSpan.FromSeconds(5)), time, policy: LoadBalancingPolicies.RoundRobin);
        var cluster = proxy.Cluster("svc").State;

        var held = proxy.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        await a.WaitForRequestsAsync(1);
        var waiting = proxy.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        await Waits.UntilAsync(() => cluster.HasCapacityWaiters, "the second request waits for a slot");
        time.Advance(TimeSpan.FromSeconds(6));
        var response = await waiting;
        release.SetResult();

        Assert.Equal(502, response.Status);
        Assert.Equal(200, (await held).Status);
        Assert.Single(a.Requests);
    }

    [Fact]
    public async Task StopAsync_RequestWaitingForMaxConnsSlot_AbortedWhenTheDrainEnds()
    {
        var release = new TaskCompletionSource();
        await using var a = new TestBackend(async (_, c) =>
        {
            await release.Task.WaitAsync(TimeSpan.FromSeconds(10));
            await c.RespondAsync(200, "a");
        });
        // The manual clock never reaches proxy_connect_timeout: only the stop can end the wait.
        await using var proxy = await StartAsync(u => u.Server(a.Address, maxConns: 1), policy: LoadBalancingPolicies.RoundRobin);
        var cluster = proxy.Cluster("svc").State;
        var held = proxy.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        await a.WaitForRequestsAsync(1);
        var waiting = proxy.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        await Waits.UntilAsync(() => cluster.HasCapacityWaiters, "the second request waits for a slot");

        await proxy.Server.StopAsync(TimeSpan.FromMilliseconds(100)).WaitAsync(TimeSpan.FromSeconds(10));
        release.SetResult();

        await Assert.ThrowsAnyAsync<Exception>(() => waiting);   // closed without an answer
        await Assert.ThrowsAnyAsync<Exception>(() => held);
    }

    [Fact]
    public async Task ForwardAsync_SingleServerAtMaxConns_WaitingRequestServedWhenSlotFrees()
    {
        var release = new TaskCompletionSource();
        await using var a = new TestBackend(async (request, c) =>
        {
            if (request.Target == "/slow")
            {
                await release.Task.WaitAsync(TimeSpan.FromSeconds(10));
            }
            await c.RespondAsync(200, request.Target);
        });
        await using var proxy = await StartAsync(u => u.Server(a.Address, maxConns: 1), policy: LoadBalancingPolicies.RoundRobin);
        var cluster = proxy.Cluster("svc").State;

        var held = proxy.SendAsync("GET /slow HTTP/1.1\r\nHost: a\r\n\r\n");
        await a.WaitForRequestsAsync(1);
        var waiting = proxy.SendAsync("GET /next HTTP/1.1\r\nHost: a\r\n\r\n");
        await Waits.UntilAsync(() => cluster.HasCapacityWaiters, "the second request waits for a slot");
        release.SetResult();

        Assert.Equal("/slow", (await held).BodyText);
        Assert.Equal("/next", (await waiting).BodyText);
    }
}
