using static FastProxy.LoadBalancing.Tests.TestClusters;

namespace FastProxy.LoadBalancing.Tests;

public class RandomLoadBalancingPolicyTests
{
    [Fact]
    public void Random_ManyPicks_DistributionWithinTwoPercentOfWeights()
    {
        var cluster = Create(LoadBalancingPolicies.Random, [Server(1, weight: 5), Server(2, weight: 3), Server(3, weight: 2)], random: new TestRandom(99));

        int[] counts = cluster.Distribution(50_000);

        Assert.InRange(counts[0] / 50_000.0, 0.48, 0.52);
        Assert.InRange(counts[1] / 50_000.0, 0.28, 0.32);
        Assert.InRange(counts[2] / 50_000.0, 0.18, 0.22);
    }

    [Fact]
    public void Random_ScriptedDraws_MapThroughWeightRanges()
    {
        // weights 2,1,3 → ranges [0,2) [2,3) [3,6)
        var cluster = Create(LoadBalancingPolicies.Random, [Server(1, weight: 2), Server(2), Server(3, weight: 3)], random: new TestRandom(0, 1, 2, 3, 5));

        int[] picks = Enumerable.Range(0, 5).Select(_ => cluster.PickAndRelease()!.Index).ToArray();

        Assert.Equal([0, 0, 1, 2, 2], picks);
    }

    [Fact]
    public void Random_DrawnServerDown_DrawsAgain()
    {
        var cluster = Create(LoadBalancingPolicies.Random, [Server(1, down: true), Server(2)], random: new TestRandom(0, 0, 0, 1));

        Assert.Same(cluster.Destinations[1], cluster.PickAndRelease());
    }

    [Fact]
    public void RandomTwo_HeldConnections_TheLessLoadedOfTheTwoWins()
    {
        var cluster = Create(LoadBalancingPolicies.RandomTwo, [Server(1), Server(2), Server(3)], random: new TestRandom(0, 2, 2, 0));
        cluster.Destinations[0].BeginRequest();
        cluster.Destinations[0].BeginRequest();
        cluster.Destinations[2].BeginRequest();

        DestinationState first = cluster.PickAndRelease()!;   // draws a (2 conns) then c (1 conn) → c
        DestinationState second = cluster.PickAndRelease()!;  // draws c then a → c

        Assert.Same(cluster.Destinations[2], first);
        Assert.Same(cluster.Destinations[2], second);
    }

    [Fact]
    public void RandomTwo_SameServerDrawnTwice_DrawsAgainForADifferentOne()
    {
        var cluster = Create(LoadBalancingPolicies.RandomTwo, [Server(1), Server(2)], random: new TestRandom(1, 1, 1, 0));
        cluster.Destinations[0].BeginRequest();

        Assert.Same(cluster.Destinations[1], cluster.PickAndRelease());
    }

    [Fact]
    public void RandomTwo_UnderLoad_BalancesHeldConnections()
    {
        var cluster = Create(LoadBalancingPolicies.RandomTwo, Enumerable.Range(1, 10).Select(n => Server(n)), random: new TestRandom(5));

        for (int i = 0; i < 1000; i++)
        {
            var context = new LoadBalancingContext();
            cluster.AcquireDestination(ref context);   // held
        }

        // Power of two choices keeps the maximum load close to the mean (100): plain random would spread ±30.
        Assert.All(cluster.Destinations, d => Assert.InRange(d.InFlight, 90, 110));
    }

    [Fact]
    public void Random_EveryDrawUnusable_FallsBackToRoundRobin()
    {
        // The scripted draws alternate between the two saturated servers; after 20 redraws round-robin finds c.
        var random = new TestRandom(Enumerable.Repeat(new[] { 0, 1 }, 30).SelectMany(x => x).ToArray());
        var cluster = Create(LoadBalancingPolicies.Random, [Server(1, maxConns: 1), Server(2, maxConns: 1), Server(3)], random: random);
        cluster.Destinations[0].BeginRequest();
        cluster.Destinations[1].BeginRequest();

        Assert.Same(cluster.Destinations[2], cluster.PickAndRelease());
    }
}
