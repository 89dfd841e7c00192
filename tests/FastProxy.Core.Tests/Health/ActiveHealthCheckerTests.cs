using System.Net;
using System.Net.Sockets;
using FastProxy.Config;
using FastProxy.LoadBalancing;
using FastProxy.LoadBalancing.Tests;

namespace FastProxy.Health.Tests;

public class ActiveHealthCheckerTests
{
    /// <summary>Every wait on real time is bounded by this; nothing sleeps to synchronise.</summary>
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    private static readonly HealthCheckConfig Check = new()
    {
        Interval = TimeSpan.FromSeconds(5),
        Fails = 2,
        Passes = 2,
        Uri = "/health",
        Timeout = TimeSpan.FromSeconds(2),
    };

    private static ClusterState Cluster(ManualTimeProvider time, params IPEndPoint[] endPoints) =>
        TestClusters.Create(new UpstreamConfig
        {
            Name = "api",
            Servers = [.. endPoints.Select((e, i) => new UpstreamServerConfig { Address = e.ToString(), EndPoints = [e] })],
            HealthCheck = Check,
        }, time);

    private static async Task<HealthProbeResult> Probe(IPEndPoint endPoint, HealthCheckConfig? check = null)
    {
        check ??= Check;
        using var timeout = new CancellationTokenSource(Bound);
        return await HttpHealthProbe.ProbeAsync(endPoint, HttpHealthProbe.BuildRequest(check.Uri, "api"), check.MinStatus, check.MaxStatus, timeout.Token);
    }

    // ---- the probe -----------------------------------------------------------------------------------------

    [Fact]
    public async Task ProbeAsync_ServerAnswers200_PassesAndSendsAMinimalRequest()
    {
        await using var server = new TestHttpServer(TestHttpServer.Behaviour.Ok);

        HealthProbeResult result = await Probe(server.EndPoint);

        Assert.Equal(new HealthProbeResult(HealthProbeOutcome.Passed, 200), result);
        Assert.StartsWith("GET /health HTTP/1.1\r\nHost: api\r\n", server.LastRequest);
        Assert.Contains("\r\nConnection: close\r\n", server.LastRequest);
        Assert.EndsWith("\r\n\r\n", server.LastRequest);
    }

    [Fact]
    public async Task ProbeAsync_ServerAnswers500_BadStatus()
    {
        await using var server = new TestHttpServer(TestHttpServer.Behaviour.ServerError);

        Assert.Equal(new HealthProbeResult(HealthProbeOutcome.BadStatus, 500), await Probe(server.EndPoint));
        Assert.True((await Probe(server.EndPoint, Check with { MaxStatus = 599 })).Passed);
    }

    [Fact]
    public async Task ProbeAsync_ServerClosesWithoutAnswer_Closed()
    {
        await using var server = new TestHttpServer(TestHttpServer.Behaviour.CloseWithoutAnswer);

        Assert.Equal(HealthProbeOutcome.Closed, (await Probe(server.EndPoint)).Outcome);
    }

    [Fact]
    public async Task ProbeAsync_NotHttp_Malformed()
    {
        await using var server = new TestHttpServer(TestHttpServer.Behaviour.Garbage);

        Assert.Equal(HealthProbeOutcome.Malformed, (await Probe(server.EndPoint)).Outcome);
    }

    [Fact]
    public async Task ProbeAsync_NothingListening_ConnectFailed()
    {
        IPEndPoint unused;
        using (var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            unused = (IPEndPoint)socket.LocalEndPoint!;
        }

        Assert.Equal(HealthProbeOutcome.ConnectFailed, (await Probe(unused)).Outcome);
    }

    [Theory]
    [InlineData("HTTP/1.1 200 OK\r\n", true, 200)]
    [InlineData("HTTP/1.0 404 Not Found\r\n", true, 404)]
    [InlineData("HTTP/1.1 204 \r\n", true, 204)]
    [InlineData("HTTP/1.1 200 Tab\there\r\n", true, 200)]
    [InlineData("HTTP/1.1 200\r\n", false, 0)]          // the SP after the code is required
    [InlineData("HTTP/1.1 200 OK\n", false, 0)]         // bare LF
    [InlineData("HTTP/2.0 200 OK\r\n", false, 0)]
    [InlineData("HTTP/1.2 200 OK\r\n", false, 0)]
    [InlineData("http/1.1 200 OK\r\n", false, 0)]
    [InlineData("HTTP/1.1 20 OK\r\n", false, 0)]
    [InlineData("HTTP/1.1 2000 OK\r\n", false, 0)]
    [InlineData("HTTP/1.1 099 Low\r\n", false, 0)]
    [InlineData("HTTP/1.1  200 OK\r\n", false, 0)]
    [InlineData("HTTP/1.1 200 O\u0001K\r\n", false, 0)]
    public void TryParseStatusLine_Lines_StrictRfc9112(string line, bool valid, int status)
    {
        Assert.Equal(valid, HttpHealthProbe.TryParseStatusLine(System.Text.Encoding.Latin1.GetBytes(line), out int parsed));
        Assert.Equal(status, valid ? parsed : 0);
    }

    // ---- the checker ---------------------------------------------------------------------------------------

    [Fact]
    public async Task Checker_ServerFailsThenRecovers_OutAfterFailsBackAfterPasses()
    {
        var time = new ManualTimeProvider();
        await using var bad = new TestHttpServer(TestHttpServer.Behaviour.ServerError);
        await using var good = new TestHttpServer(TestHttpServer.Behaviour.Ok);
        var cluster = Cluster(time, bad.EndPoint, good.EndPoint);
        await using var checker = new ActiveHealthChecker(cluster);
        DestinationState b = cluster.Destinations[0];

        checker.Start();                                  // round 1 at once
        await checker.CurrentRound.WaitAsync(Bound);
        Assert.Equal(DestinationHealth.Healthy, b.Health);    // 1 of fails=2

        time.Advance(Check.Interval);                     // round 2
        await checker.CurrentRound.WaitAsync(Bound);
        Assert.Equal(DestinationHealth.Unhealthy, b.Health);
        Assert.Equal(DestinationHealth.Healthy, cluster.Destinations[1].Health);
        Assert.Equal([0, 10], cluster.Distribution(10));

        bad.Mode = TestHttpServer.Behaviour.Ok;
        time.Advance(Check.Interval);                     // round 3: 1 of passes=2
        await checker.CurrentRound.WaitAsync(Bound);
        Assert.Equal(DestinationHealth.Unhealthy, b.Health);

        time.Advance(Check.Interval);                     // round 4
        await checker.CurrentRound.WaitAsync(Bound);
        Assert.Equal(DestinationHealth.Healthy, b.Health);
        Assert.Equal([5, 5], cluster.Distribution(10));
        Assert.Equal(4, bad.Requests);
        Assert.Equal(4, good.Requests);
    }

    [Fact]
    public async Task Checker_ServerHangs_ProbeTimesOutWhenTheInjectedClockPassesTheTimeout()
    {
        var time = new ManualTimeProvider();
        await using var hanging = new TestHttpServer(TestHttpServer.Behaviour.Hang);
        await using var good = new TestHttpServer(TestHttpServer.Behaviour.Ok);
        var cluster = Cluster(time, hanging.EndPoint, good.EndPoint);
        await using var checker = new ActiveHealthChecker(cluster);
        DestinationState h = cluster.Destinations[0];

        Task arrived = hanging.RequestArrived;
        checker.Start();
        await arrived.WaitAsync(Bound);                   // the probe is waiting for an answer
        Assert.False(checker.CurrentRound.IsCompleted);

        time.Advance(Check.Timeout);                      // its timeout fires
        await checker.CurrentRound.WaitAsync(Bound);
        Assert.Equal(1, h.ActiveConsecutiveFails);

        arrived = hanging.RequestArrived;
        time.Advance(Check.Interval - Check.Timeout);     // round 2
        await arrived.WaitAsync(Bound);
        time.Advance(Check.Timeout);
        await checker.CurrentRound.WaitAsync(Bound);
        Assert.Equal(DestinationHealth.Unhealthy, h.Health);
    }

    [Fact]
    public async Task Checker_PreviousRoundStillRunning_TickIsSkipped()
    {
        var time = new ManualTimeProvider();
        await using var hanging = new TestHttpServer(TestHttpServer.Behaviour.Hang);
        var cluster = Cluster(time, hanging.EndPoint, hanging.EndPoint);
        var slow = Check with { Timeout = TimeSpan.FromSeconds(30) };
        await using var checker = new ActiveHealthChecker(cluster, slow, logger: null, probe: null);

        Task arrived = hanging.RequestArrived;
        checker.Start();
        await arrived.WaitAsync(Bound);
        Task first = checker.CurrentRound;

        time.Advance(slow.Interval);

        Assert.Same(first, checker.CurrentRound);
        Assert.False(first.IsCompleted);
    }

    [Fact]
    public async Task StopAsync_ProbeInFlight_CancelsItLeavesHealthAloneAndStopsTheTimer()
    {
        var time = new ManualTimeProvider();
        await using var hanging = new TestHttpServer(TestHttpServer.Behaviour.Hang);
        var cluster = Cluster(time, hanging.EndPoint, hanging.EndPoint);
        var checker = new ActiveHealthChecker(cluster, Check with { Fails = 1 }, logger: null, probe: null);

        Task arrived = hanging.RequestArrived;
        checker.Start();
        await arrived.WaitAsync(Bound);
        await checker.StopAsync().WaitAsync(Bound);
        int requests = hanging.Requests;
        time.Advance(TimeSpan.FromMinutes(1));

        Assert.True(checker.CurrentRound.IsCompleted);
        Assert.All(cluster.Destinations, d => Assert.Equal(DestinationHealth.Healthy, d.Health));
        Assert.Equal(0, time.ActiveTimers);
        Assert.Equal(requests, hanging.Requests);
        Assert.Throws<ObjectDisposedException>(checker.Start);
    }

    [Fact]
    public async Task RunRoundAsync_TestHook_RunsOneRoundAndAppliesResults()
    {
        var time = new ManualTimeProvider();
        var cluster = Cluster(time, new IPEndPoint(IPAddress.Loopback, 1), new IPEndPoint(IPAddress.Loopback, 2));
        await using var checker = new ActiveHealthChecker(cluster, Check with { Fails = 1, Passes = 1 }, logger: null,
            probe: (d, _) => Task.FromResult(new HealthProbeResult(d.Index == 0 ? HealthProbeOutcome.TimedOut : HealthProbeOutcome.Passed)));

        await checker.RunRoundAsync().WaitAsync(Bound);

        Assert.Equal(DestinationHealth.Unhealthy, cluster.Destinations[0].Health);
        Assert.Equal(DestinationHealth.Healthy, cluster.Destinations[1].Health);
    }

    [Fact]
    public async Task Checker_Recovery_StartsSlowStart()
    {
        var time = new ManualTimeProvider();
        var cluster = TestClusters.Create(new UpstreamConfig
        {
            Name = "api",
            Servers =
            [
                new UpstreamServerConfig { Address = "a:80", EndPoints = [new IPEndPoint(IPAddress.Loopback, 1)], SlowStart = TimeSpan.FromSeconds(160) },
                new UpstreamServerConfig { Address = "b:80", EndPoints = [new IPEndPoint(IPAddress.Loopback, 2)] },
            ],
        }, time);
        bool healthy = false;
        await using var checker = new ActiveHealthChecker(cluster, Check with { Fails = 1, Passes = 1 }, logger: null,
            probe: (d, _) => Task.FromResult(new HealthProbeResult(d.Index == 0 && !healthy ? HealthProbeOutcome.BadStatus : HealthProbeOutcome.Passed)));
        await checker.RunRoundAsync();
        Assert.Equal(DestinationHealth.Unhealthy, cluster.Destinations[0].Health);

        healthy = true;
        await checker.RunRoundAsync();

        Assert.Equal(DestinationHealth.Healthy, cluster.Destinations[0].Health);
        Assert.Equal(1, cluster.Destinations[0].GetScaledWeight(cluster.Now()));
        time.Advance(TimeSpan.FromSeconds(80));
        Assert.Equal(8, cluster.Destinations[0].GetScaledWeight(cluster.Now()));
    }
}
