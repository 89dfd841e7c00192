using static FastProxy.LoadBalancing.Tests.TestClusters;

namespace FastProxy.LoadBalancing.Tests;

public class RoundRobinLoadBalancingPolicyTests
{
    [Fact]
    public void PickDestination_Weights511_ProducesNginxSmoothSequence()
    {
        var cluster = Create(LoadBalancingPolicies.RoundRobin, [Server(1, weight: 5), Server(2), Server(3)]);

        string sequence = string.Concat(Enumerable.Range(0, 14).Select(_ => "abc"[cluster.PickAndRelease()!.Index]));

        Assert.Equal("aabacaa" + "aabacaa", sequence);
    }

    [Theory]
    [InlineData(new long[] { 5, 1, 1 }, new[] { 0, 0, 1, 0, 2, 0, 0 })]
    [InlineData(new long[] { 4, 2, 1 }, new[] { 0, 1, 0, 2, 0, 1, 0 })]
    [InlineData(new long[] { 1, 1, 1 }, new[] { 0, 1, 2 })]
    [InlineData(new long[] { 2, 3 }, new[] { 1, 0, 1, 0, 1 })]
    public void ComputeSequence_KnownWeights_MatchesNginxRun(long[] weights, int[] expected)
    {
        Assert.Equal(expected, SmoothWeightedRoundRobin.ComputeSequence(weights));
    }

    [Fact]
    public void ComputeSequence_RandomWeights_EachServerGetsExactlyItsWeightPerPeriodAndIsSpreadOut()
    {
        var random = new Random(7);
        for (int round = 0; round < 200; round++)
        {
            long[] weights = Enumerable.Range(0, random.Next(1, 12)).Select(_ => (long)random.Next(1, 20)).ToArray();
            int[] sequence = SmoothWeightedRoundRobin.ComputeSequence(weights);

            Assert.Equal(weights.Sum(), sequence.Length);
            long total = weights.Sum();
            for (int i = 0; i < weights.Length; i++)
            {
                Assert.Equal(weights[i], sequence.Count(s => s == i));
                // Smoothness: in every prefix, a server is never more than one pick away from its exact share.
                int seen = 0;
                for (int t = 0; t < sequence.Length; t++)
                {
                    seen += sequence[t] == i ? 1 : 0;
                    double ideal = (t + 1) * (double)weights[i] / total;
                    Assert.InRange(seen, ideal - 1, ideal + 1);
                }
            }
        }
    }

    [Fact]
    public void PickDestination_ManyPeriods_DistributionEqualsWeightsExactly()
    {
        var cluster = Create(LoadBalancingPolicies.RoundRobin, [Server(1, weight: 3), Server(2, weight: 2), Server(3, weight: 1), Server(4, weight: 4)]);

        int[] counts = cluster.Distribution(10 * 1000);

        Assert.Equal([3000, 2000, 1000, 4000], counts);
    }

    [Fact]
    public void PickDestination_GcdOfWeights_IsDividedOut()
    {
        var cluster = Create(LoadBalancingPolicies.RoundRobin, [Server(1, weight: 10), Server(2, weight: 20)]);
        var policy = Assert.IsType<RoundRobinLoadBalancingPolicy>(cluster.Policy);

        Assert.Equal(3, policy.PrimarySchedule.CurrentSequence.Length);
    }

    [Fact]
    public void PickDestination_TriedDestination_IsSkippedForThisRequestOnly()
    {
        var cluster = Create(LoadBalancingPolicies.RoundRobin, [Server(1), Server(2), Server(3)]);
        var context = new LoadBalancingContext();
        DestinationState first = cluster.AcquireDestination(ref context)!;
        DestinationState second = cluster.AcquireDestination(ref context)!;
        DestinationState third = cluster.AcquireDestination(ref context)!;
        DestinationState? fourth = cluster.AcquireDestination(ref context);

        Assert.Equal(3, new[] { first, second, third }.Distinct().Count());
        Assert.Null(fourth);
        Assert.False(context.Saturated);
        Assert.Equal(0b111UL, context.Tried);
    }

    [Fact]
    public void PickDestination_DownServer_IsNeverPicked()
    {
        var cluster = Create(LoadBalancingPolicies.RoundRobin, [Server(1), Server(2, down: true), Server(3)]);

        int[] counts = cluster.Distribution(100);

        Assert.Equal([50, 0, 50], counts);
        Assert.Equal(DestinationHealth.Down, cluster.Destinations[1].Health);
    }

    [Fact]
    public void PickDestination_PrimariesAvailable_BackupGetsNothing()
    {
        var cluster = Create(LoadBalancingPolicies.RoundRobin, [Server(1), Server(2), Server(3, backup: true)]);

        int[] counts = cluster.Distribution(100);

        Assert.Equal(0, counts[2]);
    }

    [Fact]
    public void PickDestination_AllPrimariesDown_UsesBackupsByWeight()
    {
        var cluster = Create(LoadBalancingPolicies.RoundRobin,
            [Server(1, down: true), Server(2, down: true), Server(3, backup: true, weight: 2), Server(4, backup: true)]);

        int[] counts = cluster.Distribution(300);

        Assert.Equal([0, 0, 200, 100], counts);
    }

    [Fact]
    public void PickDestination_AllPrimariesTried_RetryGoesToBackup()
    {
        var cluster = Create(LoadBalancingPolicies.RoundRobin, [Server(1), Server(2), Server(3, backup: true)]);
        var context = new LoadBalancingContext();
        cluster.AcquireDestination(ref context)!.EndRequest();
        cluster.AcquireDestination(ref context)!.EndRequest();

        DestinationState? retry = cluster.AcquireDestination(ref context);

        Assert.Same(cluster.Destinations[2], retry);
    }

    [Fact]
    public void PickDestination_ServerAtMaxConns_IsSkippedUntilASlotFrees()
    {
        var cluster = Create(LoadBalancingPolicies.RoundRobin, [Server(1, maxConns: 2), Server(2)]);
        DestinationState a = cluster.Destinations[0];
        a.BeginRequest();
        a.BeginRequest();

        int[] counts = cluster.Distribution(10);
        a.EndRequest();
        int[] after = cluster.Distribution(10);

        Assert.Equal([0, 10], counts);
        Assert.Equal([5, 5], after);
    }

    [Fact]
    public void PickDestination_PrimariesAtMaxConns_UsesBackup()
    {
        var cluster = Create(LoadBalancingPolicies.RoundRobin, [Server(1, maxConns: 1), Server(2, maxConns: 1), Server(3, backup: true)]);
        var c1 = new LoadBalancingContext();
        var c2 = new LoadBalancingContext();
        var c3 = new LoadBalancingContext();

        DestinationState? first = cluster.AcquireDestination(ref c1);
        DestinationState? second = cluster.AcquireDestination(ref c2);
        DestinationState? third = cluster.AcquireDestination(ref c3);

        Assert.NotSame(first, second);
        Assert.False(first!.IsBackup || second!.IsBackup);
        Assert.Same(cluster.Destinations[2], third);
    }

    [Fact]
    public void AcquireDestination_AllAtMaxConns_ReturnsNullAndSaysSaturated()
    {
        var cluster = Create(LoadBalancingPolicies.RoundRobin, [Server(1, maxConns: 1), Server(2, maxConns: 1)]);
        var c1 = new LoadBalancingContext();
        var c2 = new LoadBalancingContext();
        var c3 = new LoadBalancingContext();
        DestinationState first = cluster.AcquireDestination(ref c1)!;
        cluster.AcquireDestination(ref c2);

        DestinationState? none = cluster.AcquireDestination(ref c3);

        Assert.Null(none);
        Assert.True(c3.Saturated);
        Task released = cluster.WhenCapacityReleased();
        Assert.False(released.IsCompleted);
        first.EndRequest();
        Assert.True(released.IsCompleted);
        var c4 = new LoadBalancingContext();
        Assert.Same(first, cluster.AcquireDestination(ref c4));
    }

    [Fact]
    public void AcquireDestination_ConcurrentPickers_NeverExceedMaxConnsAndInFlightReturnsToZero()
    {
        var cluster = Create(LoadBalancingPolicies.RoundRobin,
            [Server(1, maxConns: 3), Server(2, maxConns: 2, weight: 3), Server(3, maxConns: 1)], stripes: 0);
        var peaks = new long[3];
        int threads = Math.Max(4, Environment.ProcessorCount * 2);

        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, _ =>
        {
            for (int i = 0; i < 20_000; i++)
            {
                var context = new LoadBalancingContext();
                DestinationState? picked = cluster.AcquireDestination(ref context);
                if (picked is null)
                {
                    continue;
                }
                long inFlight = picked.InFlight;
                long peak;
                while (inFlight > (peak = Volatile.Read(ref peaks[picked.Index])) && Interlocked.CompareExchange(ref peaks[picked.Index], inFlight, peak) != peak)
                {
                }
                picked.EndRequest();
            }
        });

        Assert.All(cluster.Destinations, d => Assert.Equal(0, d.InFlight));
        Assert.InRange(peaks[0], 1, 3);
        Assert.InRange(peaks[1], 1, 2);
        Assert.InRange(peaks[2], 1, 1);
    }

    [Fact]
    public void PickDestination_ConcurrentPickersOnStripedCounters_DistributionWithinOnePercentOfWeights()
    {
        var cluster = Create(LoadBalancingPolicies.RoundRobin, [Server(1, weight: 5), Server(2, weight: 3), Server(3, weight: 2)], stripes: 0);
        var counts = new long[3];
        int threads = Math.Max(4, Environment.ProcessorCount * 2);
        const int PicksPerThread = 50_000;

        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, _ =>
        {
            var local = new long[3];
            for (int i = 0; i < PicksPerThread; i++)
            {
                var context = new LoadBalancingContext();
                DestinationState picked = cluster.AcquireDestination(ref context)!;
                local[picked.Index]++;
                picked.EndRequest();
            }
            for (int i = 0; i < 3; i++)
            {
                Interlocked.Add(ref counts[i], local[i]);
            }
        });

        double total = threads * (double)PicksPerThread;
        Assert.InRange(counts[0] / total, 0.49, 0.51);
        Assert.InRange(counts[1] / total, 0.29, 0.31);
        Assert.InRange(counts[2] / total, 0.19, 0.21);
        Assert.All(cluster.Destinations, d => Assert.Equal(0, d.InFlight));
    }

    [Fact]
    public void PickDestination_300Destinations_TriedOverflowCoversEveryIndex()
    {
        var cluster = Create(LoadBalancingPolicies.RoundRobin, Enumerable.Range(1, 300).Select(n => Server(n)));
        Assert.Equal(4, cluster.TriedOverflowLength);
        Span<ulong> overflow = stackalloc ulong[cluster.TriedOverflowLength];
        var context = new LoadBalancingContext(default, default, 0, overflow);
        var seen = new HashSet<int>();

        for (int i = 0; i < 300; i++)
        {
            DestinationState picked = cluster.AcquireDestination(ref context)!;
            Assert.True(seen.Add(picked.Index));
            picked.EndRequest();
        }

        Assert.Null(cluster.AcquireDestination(ref context));
        Assert.Equal(300, seen.Count);
    }

    [Fact]
    public void PickDestination_300DestinationsWithoutOverflow_FoldsBitsAndNeverRepeats()
    {
        var cluster = Create(LoadBalancingPolicies.RoundRobin, Enumerable.Range(1, 300).Select(n => Server(n)));
        var context = new LoadBalancingContext();
        var seen = new HashSet<int>();

        while (cluster.AcquireDestination(ref context) is { } picked)
        {
            Assert.True(seen.Add(picked.Index));
            picked.EndRequest();
        }

        Assert.Equal(64, seen.Count);   // one per folded bit: never a repeat, at worst fewer retries
        Assert.Equal(ulong.MaxValue, context.Tried);
    }

    [Fact]
    public void PickDestination_ServerWithSeveralAddresses_EachAddressIsADestinationWithTheServersWeight()
    {
        var cluster = Create(LoadBalancingPolicies.RoundRobin, [Server(1, weight: 2, addresses: 3), Server(2)]);

        int[] counts = cluster.Distribution(700);

        Assert.Equal(4, cluster.Destinations.Count);
        Assert.Equal([200, 200, 200, 100], counts);
        Assert.All(cluster.Destinations.Take(3), d => Assert.Equal(0, d.ServerIndex));
    }

    [Fact]
    public void PickDestination_NoDestinations_ReturnsNull()
    {
        var cluster = Create(LoadBalancingPolicies.RoundRobin, []);

        Assert.Null(cluster.PickAndRelease());
    }
}
