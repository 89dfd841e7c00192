using FastProxy.LoadBalancing;
using FastProxy.LoadBalancing.Tests;
using static FastProxy.LoadBalancing.Tests.TestClusters;

namespace FastProxy.Health.Tests;

public class PassiveHealthTests
{
    private static readonly TimeSpan FailTimeout = TimeSpan.FromSeconds(10);

    [Theory]
    [InlineData(LoadBalancingPolicies.RoundRobin)]
    [InlineData(LoadBalancingPolicies.LeastConnections)]
    [InlineData(LoadBalancingPolicies.IpHash)]
    [InlineData(LoadBalancingPolicies.Hash)]
    [InlineData(LoadBalancingPolicies.Random)]
    [InlineData(LoadBalancingPolicies.RandomTwo)]
    public void ReportFailure_MaxFailsWithinFailTimeout_MarksUnavailableAndPicksAvoidIt(string policy)
    {
        var time = new ManualTimeProvider();
        var cluster = Create(policy, [Server(1, maxFails: 3), Server(2, maxFails: 3), Server(3, maxFails: 3)], time);
        DestinationState a = cluster.Destinations[0];

        a.ReportFailure(cluster.Now());
        time.Advance(TimeSpan.FromSeconds(4));
        a.ReportFailure(cluster.Now());
        Assert.Equal(DestinationHealth.Healthy, a.Health);
        time.Advance(TimeSpan.FromSeconds(4));
        a.ReportFailure(cluster.Now());

        Assert.Equal(DestinationHealth.Unavailable, a.Health);
        for (int i = 0; i < 200; i++)
        {
            Assert.NotSame(a, cluster.PickAndRelease("key"u8, [192, 168, (byte)i, 1]));
        }
    }

    [Fact]
    public void ReportFailure_FailuresSpreadWiderThanFailTimeout_DoNotAddUp()
    {
        var time = new ManualTimeProvider();
        var cluster = Create(LoadBalancingPolicies.RoundRobin, [Server(1, maxFails: 2), Server(2, maxFails: 2)], time);
        DestinationState a = cluster.Destinations[0];

        a.ReportFailure(cluster.Now());
        time.Advance(FailTimeout + TimeSpan.FromSeconds(1));
        a.ReportFailure(cluster.Now());

        Assert.Equal(DestinationHealth.Healthy, a.Health);
        Assert.Equal(1, a.Failures);
    }

    [Fact]
    public void PickDestination_AfterFailTimeout_SendsExactlyOneProbeUntilItAnswers()
    {
        var time = new ManualTimeProvider();
        var cluster = Create(LoadBalancingPolicies.RoundRobin, [Server(1), Server(2), Server(3)], time);
        DestinationState a = cluster.Destinations[0];
        a.ReportFailure(cluster.Now());
        Assert.Equal(0, cluster.Distribution(30)[0]);

        time.Advance(FailTimeout + TimeSpan.FromTicks(1));
        var probeContext = new LoadBalancingContext();
        DestinationState? probe = cluster.AcquireDestination(ref probeContext);
        int[] whileProbing = cluster.Distribution(30);

        Assert.Same(a, probe);
        Assert.Equal(0, whileProbing[0]);
        Assert.Equal(DestinationHealth.Unavailable, a.Health);

        probe!.EndRequest();
        probe.ReportSuccess(cluster.Now());

        Assert.Equal(DestinationHealth.Healthy, a.Health);
        Assert.Equal(0, a.Failures);
        Assert.Equal([10, 10, 10], cluster.Distribution(30));
    }

    [Fact]
    public void ReportFailure_ProbeFails_ServerStaysOutForAnotherFailTimeout()
    {
        var time = new ManualTimeProvider();
        var cluster = Create(LoadBalancingPolicies.RoundRobin, [Server(1), Server(2)], time);
        DestinationState a = cluster.Destinations[0];
        a.ReportFailure(cluster.Now());
        time.Advance(FailTimeout + TimeSpan.FromSeconds(1));
        DestinationState probe = cluster.PickAndRelease()!;
        Assert.Same(a, probe);

        probe.ReportFailure(cluster.Now());
        time.Advance(FailTimeout);   // not yet more than fail_timeout since the failed probe

        Assert.Equal(0, cluster.Distribution(20)[0]);
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Same(a, cluster.PickAndRelease());
    }

    [Fact]
    public void ReportSuccess_FromARequestOlderThanTheFailure_DoesNotRecover()
    {
        var time = new ManualTimeProvider();
        var cluster = Create(LoadBalancingPolicies.RoundRobin, [Server(1), Server(2)], time);
        DestinationState a = cluster.Destinations[0];

        a.ReportFailure(cluster.Now());
        time.Advance(TimeSpan.FromSeconds(1));
        a.ReportSuccess(cluster.Now());   // a request that started before the failure, ending now

        Assert.Equal(DestinationHealth.Unavailable, a.Health);
    }

    [Fact]
    public void ReportFailure_MaxFailsZero_NeverMarksUnavailable()
    {
        var cluster = Create(LoadBalancingPolicies.RoundRobin, [Server(1, maxFails: 0), Server(2)]);
        DestinationState a = cluster.Destinations[0];

        for (int i = 0; i < 100; i++)
        {
            a.ReportFailure(cluster.Now());
        }

        Assert.Equal(DestinationHealth.Healthy, a.Health);
        Assert.Equal(50, cluster.Distribution(100)[0]);
    }

    [Fact]
    public void ReportFailure_SingleServerGroup_IsNeverMarkedUnavailable()
    {
        var cluster = Create(LoadBalancingPolicies.RoundRobin, [Server(1)]);
        DestinationState only = cluster.Destinations[0];

        only.ReportFailure(cluster.Now());
        only.ReportFailure(cluster.Now());

        Assert.Equal(DestinationHealth.Healthy, only.Health);
        Assert.Same(only, cluster.PickAndRelease());
    }

    [Fact]
    public void PickDestination_AllPrimariesAndBackupsUnavailable_ReturnsNullOnceThenEveryServerIsTriedAgain()
    {
        var time = new ManualTimeProvider();
        var cluster = Create(LoadBalancingPolicies.RoundRobin, [Server(1), Server(2), Server(3, backup: true)], time);
        foreach (DestinationState d in cluster.Destinations)
        {
            d.ReportFailure(cluster.Now());
        }
        Assert.All(cluster.Destinations, d => Assert.Equal(DestinationHealth.Unavailable, d.Health));

        DestinationState? first = cluster.PickAndRelease();   // nginx: "no live upstreams", 502, failures reset
        int[] next = cluster.Distribution(10);

        Assert.Null(first);
        Assert.All(cluster.Destinations, d => Assert.Equal(DestinationHealth.Healthy, d.Health));
        Assert.Equal([5, 5, 0], next);
    }

    [Fact]
    public void PickDestination_AllPrimariesUnavailable_UsesBackupWithoutReset()
    {
        var cluster = Create(LoadBalancingPolicies.LeastConnections, [Server(1), Server(2), Server(3, backup: true)]);
        cluster.Destinations[0].ReportFailure(cluster.Now());
        cluster.Destinations[1].ReportFailure(cluster.Now());

        int[] counts = cluster.Distribution(10);

        Assert.Equal([0, 0, 10], counts);
        Assert.Equal(DestinationHealth.Unavailable, cluster.Destinations[0].Health);
    }

    [Fact]
    public void PickDestination_ConcurrentPickersAfterFailTimeout_ExactlyOneGetsTheProbe()
    {
        var time = new ManualTimeProvider();
        var cluster = Create(LoadBalancingPolicies.LeastConnections, Enumerable.Range(1, 8).Select(n => Server(n)), time, stripes: 0);
        DestinationState a = cluster.Destinations[0];
        a.ReportFailure(cluster.Now());
        time.Advance(FailTimeout + TimeSpan.FromSeconds(1));
        int probes = 0;

        Parallel.For(0, 16, _ =>
        {
            for (int i = 0; i < 2000; i++)
            {
                var context = new LoadBalancingContext();
                DestinationState picked = cluster.AcquireDestination(ref context)!;
                if (ReferenceEquals(picked, a))
                {
                    Interlocked.Increment(ref probes);   // held: the probe never answers during the test
                    continue;
                }
                picked.EndRequest();
            }
        });

        Assert.Equal(1, probes);
    }

    [Fact]
    public void SlowStart_AfterRecovery_WeightRampsLinearlyOverTheSlowStartTime()
    {
        var time = new ManualTimeProvider();
        var cluster = Create(LoadBalancingPolicies.RoundRobin, [Server(1, slowStartSeconds: 160), Server(2, slowStartSeconds: 160)], time);
        DestinationState a = cluster.Destinations[0];
        a.ReportFailure(cluster.Now());
        time.Advance(FailTimeout + TimeSpan.FromSeconds(1));
        DestinationState probe = cluster.PickAndRelease()!;
        probe.ReportSuccess(cluster.Now());
        Assert.Equal(DestinationHealth.Healthy, a.Health);

        var shares = new List<double>();
        for (int step = 0; step < 16; step++)
        {
            int[] counts = cluster.Distribution(16 * 17 * 10);
            shares.Add(counts[0] / (double)(counts[0] + counts[1]));
            time.Advance(TimeSpan.FromSeconds(10));   // slow_start / 16
        }
        int[] after = cluster.Distribution(1000);

        // Step k gives a a weight of k/16 of b's (1/16 at first: "about 0"): share k/(k+16).
        for (int k = 0; k < 16; k++)
        {
            double expected = Math.Max(1, k) / (double)(Math.Max(1, k) + 16);
            Assert.InRange(shares[k], expected - 0.01, expected + 0.01);
        }
        Assert.Equal([500, 500], after);
    }

    [Fact]
    public void SlowStart_LeastConn_UsesTheRampedWeight()
    {
        var time = new ManualTimeProvider();
        var cluster = Create(LoadBalancingPolicies.LeastConnections, [Server(1, slowStartSeconds: 160), Server(2, slowStartSeconds: 160)], time);
        DestinationState a = cluster.Destinations[0];
        DestinationState b = cluster.Destinations[1];
        a.ReportFailure(cluster.Now());
        time.Advance(FailTimeout + TimeSpan.FromSeconds(1));
        cluster.PickAndRelease()!.ReportSuccess(cluster.Now());
        time.Advance(TimeSpan.FromSeconds(40));   // a at 4/16 of its weight

        // Hold connections: a gets about one for every four of b's.
        var held = new List<DestinationState>();
        for (int i = 0; i < 50; i++)
        {
            var context = new LoadBalancingContext();
            held.Add(cluster.AcquireDestination(ref context)!);
        }

        Assert.InRange(a.InFlight, 9, 11);
        Assert.InRange(b.InFlight, 39, 41);
    }

    [Fact]
    public void SlowStart_SingleServer_IsIgnored()
    {
        var cluster = Create(LoadBalancingPolicies.RoundRobin, [Server(1, slowStartSeconds: 100)]);

        Assert.Equal(16, cluster.Destinations[0].GetScaledWeight(cluster.Now()));
    }

    [Fact]
    public void CopyHealthFrom_Reload_KeepsUnavailableServersOutAndTheirProbeTime()
    {
        var time = new ManualTimeProvider();
        var servers = new[] { Server(1), Server(2), Server(3) };
        var old = Create(LoadBalancingPolicies.RoundRobin, servers, time);
        old.Destinations[1].ReportFailure(old.Now());

        var reloaded = Create(LoadBalancingPolicies.RoundRobin, servers.Append(Server(4)), time);
        reloaded.CopyHealthFrom(old);

        Assert.Equal(DestinationHealth.Unavailable, reloaded.Destinations[1].Health);
        Assert.Equal(0, reloaded.Distribution(30)[1]);
        time.Advance(FailTimeout + TimeSpan.FromSeconds(1));
        Assert.Same(reloaded.Destinations[1], reloaded.PickAndRelease());   // its probe, as in the old snapshot
    }
}
