using static FastProxy.LoadBalancing.Tests.TestClusters;

namespace FastProxy.LoadBalancing.Tests;

public class LeastConnectionsLoadBalancingPolicyTests
{
    private static DestinationState Hold(ClusterState cluster)
    {
        var context = new LoadBalancingContext();
        return cluster.AcquireDestination(ref context)!;
    }

    [Fact]
    public void PickDestination_HeldConnections_PicksTheLeastLoaded()
    {
        var cluster = Create(LoadBalancingPolicies.LeastConnections, [Server(1), Server(2), Server(3)]);
        cluster.Destinations[0].BeginRequest();
        cluster.Destinations[0].BeginRequest();
        cluster.Destinations[1].BeginRequest();

        DestinationState picked = Hold(cluster);

        Assert.Same(cluster.Destinations[2], picked);
    }

    [Fact]
    public void PickDestination_HeldConnections_SpreadsInProportionToWeights()
    {
        var cluster = Create(LoadBalancingPolicies.LeastConnections, [Server(1, weight: 3), Server(2, weight: 1), Server(3, weight: 2)]);

        for (int i = 0; i < 600; i++)
        {
            Hold(cluster);   // never released: each pick sees the connections the earlier ones hold
        }

        Assert.Equal([300L, 100L, 200L], cluster.Destinations.Select(d => d.InFlight));
    }

    [Fact]
    public void PickDestination_ComparesWithoutDivision_WeightedConnectionsDecide()
    {
        // a: 3 conns / weight 4 = 0.75; b: 1 conn / weight 1 = 1.0 → a, though it holds more connections.
        var cluster = Create(LoadBalancingPolicies.LeastConnections, [Server(1, weight: 4), Server(2, weight: 1)]);
        for (int i = 0; i < 3; i++)
        {
            cluster.Destinations[0].BeginRequest();
        }
        cluster.Destinations[1].BeginRequest();

        Assert.Same(cluster.Destinations[0], Hold(cluster));
    }

    [Fact]
    public void PickDestination_AllIdle_TiesFollowTheSmoothWeightedOrder()
    {
        var cluster = Create(LoadBalancingPolicies.LeastConnections, [Server(1, weight: 5), Server(2), Server(3)]);

        string sequence = string.Concat(Enumerable.Range(0, 14).Select(_ => "abc"[cluster.PickAndRelease()!.Index]));

        Assert.Equal("aabacaa" + "aabacaa", sequence);
    }

    [Fact]
    public void PickDestination_TriedAndDown_AreSkipped()
    {
        var cluster = Create(LoadBalancingPolicies.LeastConnections, [Server(1), Server(2, down: true), Server(3)]);
        var context = new LoadBalancingContext();

        DestinationState first = cluster.AcquireDestination(ref context)!;
        DestinationState second = cluster.AcquireDestination(ref context)!;
        DestinationState? third = cluster.AcquireDestination(ref context);

        Assert.NotSame(first, second);
        Assert.DoesNotContain(cluster.Destinations[1], new[] { first, second });
        Assert.Null(third);
    }

    [Fact]
    public void PickDestination_AtMaxConns_SkipsEvenWhenLeastLoadedByWeight()
    {
        var cluster = Create(LoadBalancingPolicies.LeastConnections, [Server(1, weight: 10, maxConns: 1), Server(2)]);
        cluster.Destinations[0].BeginRequest();
        cluster.Destinations[1].BeginRequest();
        cluster.Destinations[1].BeginRequest();

        Assert.Same(cluster.Destinations[1], Hold(cluster));
    }

    [Fact]
    public void PickDestination_PrimariesUnavailable_UsesBackupsByLeastConnections()
    {
        var cluster = Create(LoadBalancingPolicies.LeastConnections,
            [Server(1, down: true), Server(2, backup: true), Server(3, backup: true)]);
        cluster.Destinations[1].BeginRequest();

        Assert.Same(cluster.Destinations[2], Hold(cluster));
    }

    [Fact]
    public void PickDestination_ConcurrentHoldAndRelease_InFlightStaysConsistent()
    {
        var cluster = Create(LoadBalancingPolicies.LeastConnections, Enumerable.Range(1, 16).Select(n => Server(n, weight: 1 + (n % 3))), stripes: 0);

        Parallel.For(0, 8, _ =>
        {
            var held = new Queue<DestinationState>();
            for (int i = 0; i < 20_000; i++)
            {
                var context = new LoadBalancingContext();
                held.Enqueue(cluster.AcquireDestination(ref context)!);
                if (held.Count > 4)
                {
                    held.Dequeue().EndRequest();
                }
            }
            while (held.Count > 0)
            {
                held.Dequeue().EndRequest();
            }
        });

        Assert.All(cluster.Destinations, d => Assert.Equal(0, d.InFlight));
    }
}
