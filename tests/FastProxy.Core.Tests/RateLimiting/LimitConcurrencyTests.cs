using System.Collections.Concurrent;
using static FastProxy.RateLimiting.Tests.LimitTestHelpers;

namespace FastProxy.RateLimiting.Tests;

/// <summary>
/// Many threads against one table. Time stands still unless a test moves it, so every count is exact: with no leak,
/// a key admits exactly burst + 1 requests, whatever the interleaving. Threads start together on a barrier; every
/// wait has a timeout; nothing sleeps.
/// </summary>
public class LimitConcurrencyTests
{
    private static readonly int ThreadCount = Environment.ProcessorCount * 4;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    private static void RunOnThreads(Action<int> body)
    {
        using var barrier = new Barrier(ThreadCount);
        var errors = new ConcurrentQueue<Exception>();
        var workers = new Thread[ThreadCount];
        for (int t = 0; t < ThreadCount; t++)
        {
            int id = t;
            workers[t] = new Thread(() =>
            {
                try
                {
                    if (!barrier.SignalAndWait(Timeout))
                    {
                        throw new TimeoutException("The threads did not all start.");
                    }

                    body(id);
                }
                catch (Exception e)
                {
                    errors.Enqueue(e);
                }
            })
            { IsBackground = true };
            workers[t].Start();
        }

        foreach (Thread worker in workers)
        {
            Assert.True(worker.Join(Timeout), "A worker did not finish in time.");
        }

        Assert.Empty(errors);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(100)]
    [InlineData(4_999)]
    [InlineData(60_000)]
    public void Evaluate_ManyThreadsOneKeyNoDelay_AdmitsExactlyBurstPlusOne(int burst)
    {
        const int PerThread = 2_000;
        var (_, clock) = NewClock();
        var policy = new LimitReqPolicy([LimitReqRule.WithNoDelay(ReqZone(clock, LimitRate.PerSecond(1)), burst)]);
        byte[] key = IPv4(10, 1, 2, 3);
        int admitted = 0;

        RunOnThreads(_ =>
        {
            for (int i = 0; i < PerThread; i++)
            {
                if (policy.Evaluate(key).Action == LimitAction.Pass)
                {
                    Interlocked.Increment(ref admitted);
                }
            }
        });

        Assert.Equal(Math.Min(ThreadCount * PerThread, burst + 1), admitted);
    }

    [Fact]
    public void Evaluate_ManyThreadsRaceToCreateEachKey_EachKeyAdmitsExactlyOnce()
    {
        const int Keys = 20_000;
        var (_, clock) = NewClock();
        var zone = ReqZone(clock, LimitRate.PerSecond(1), size: 4 * 1024 * 1024);
        var policy = new LimitReqPolicy([new LimitReqRule(zone)]);
        var admitted = new int[Keys];

        // Every thread walks the same keys in the same order, so threads keep arriving together at keys nobody has
        // seen yet: the "insert if absent" race. Two states for one key would admit it twice.
        RunOnThreads(_ =>
        {
            for (uint k = 0; k < Keys; k++)
            {
                if (policy.Evaluate(IPv4(0x0B000000 + k)).Action == LimitAction.Pass)
                {
                    Interlocked.Increment(ref admitted[k]);
                }
            }
        });

        Assert.All(admitted, count => Assert.Equal(1, count));
        Assert.Equal(Keys, zone.Table.DebugLiveSlots<LimitReqSlotPolicy>().Count);
    }

    [Fact]
    public void Evaluate_ThreadsReleasedTogetherOnANewKey_ExactlyOneAdmittedPerKey()
    {
        const int Rounds = 200;
        var (_, clock) = NewClock();
        var zone = ReqZone(clock, LimitRate.PerSecond(1));
        var policy = new LimitReqPolicy([new LimitReqRule(zone)]);
        var admitted = new int[Rounds];
        using var round = new Barrier(ThreadCount);

        // A barrier per round lines every thread up on a key nobody has seen: they all race to create its state.
        RunOnThreads(_ =>
        {
            for (uint r = 0; r < Rounds; r++)
            {
                if (!round.SignalAndWait(Timeout))
                {
                    throw new TimeoutException("round barrier");
                }

                if (policy.Evaluate(IPv4(0x0C000000 + r)).Action == LimitAction.Pass)
                {
                    Interlocked.Increment(ref admitted[r]);
                }
            }
        });

        Assert.All(admitted, count => Assert.Equal(1, count));
        Assert.Equal(Rounds, zone.Table.DebugLiveSlots<LimitReqSlotPolicy>().Count);
    }

    [Fact]
    public void Evaluate_ManyThreadsManyKeys_EachKeyAdmitsExactlyBurstPlusOne()
    {
        const int Keys = 100;
        const int Rounds = 50;
        const int Burst = 9;
        var (_, clock) = NewClock();
        var policy = new LimitReqPolicy([LimitReqRule.WithNoDelay(ReqZone(clock, LimitRate.PerMinute(1)), Burst)]);
        var admitted = new int[Keys];

        RunOnThreads(id =>
        {
            var order = Enumerable.Range(0, Keys).ToArray();
            new Random(id).Shuffle(order);
            for (int round = 0; round < Rounds; round++)
            {
                foreach (int k in order)
                {
                    if (policy.Evaluate(IPv6((ushort)k)).Action == LimitAction.Pass)
                    {
                        Interlocked.Increment(ref admitted[k]);
                    }
                }
            }
        });

        Assert.All(admitted, count => Assert.Equal(Burst + 1, count));
    }

    [Fact]
    public void Evaluate_ManyThreadsTwoZones_AdmitsExactlyBurstPlusOneAndAccountsBoth()
    {
        const int PerThread = 1_000;
        const int Burst = 500;
        var (_, clock) = NewClock();
        var a = ReqZone(clock, LimitRate.PerSecond(1), name: "a");
        var b = ReqZone(clock, LimitRate.PerSecond(1), name: "b");
        var policy = new LimitReqPolicy([LimitReqRule.WithNoDelay(a, Burst), LimitReqRule.WithNoDelay(b, Burst)]);
        byte[] key = IPv4(10, 9, 8, 7);
        int admitted = 0;

        RunOnThreads(_ =>
        {
            for (int i = 0; i < PerThread; i++)
            {
                if (policy.Evaluate(key).Action == LimitAction.Pass)
                {
                    Interlocked.Increment(ref admitted);
                }
            }
        });

        // The last zone checks and stores in one CAS, so it admits exactly burst + 1; the first zone only ever
        // accounts admitted requests, so it ends with the same excess.
        Assert.Equal(Burst + 1, admitted);
        Assert.True(a.TryGetState(key, out _, out long excessA));
        Assert.True(b.TryGetState(key, out _, out long excessB));
        Assert.Equal(Burst * 1000L, excessA);
        Assert.Equal(Burst * 1000L, excessB);
    }

    [Fact]
    public void Evaluate_ManyThreadsRecyclingOneBucket_NeverHoldsAKeyTwice()
    {
        const int Keys = 200;
        const int Rounds = 300;
        var (time, clock) = NewClock();
        var zone = LimitReqZone.CreateWithBuckets("tiny", 1, LimitRate.PerSecond(10), clock);
        var policy = new LimitReqPolicy([LimitReqRule.WithNoDelay(zone, 3)]);
        int decisions = 0;

        RunOnThreads(id =>
        {
            var random = new Random(id);
            for (int round = 0; round < Rounds; round++)
            {
                if (id == 0)
                {
                    time.AdvanceMs(1);   // states become recyclable as time moves
                }

                for (int i = 0; i < 20; i++)
                {
                    LimitReqDecision decision = policy.Evaluate(IPv4((uint)random.Next(Keys)));
                    Assert.True(decision.Action is LimitAction.Pass or LimitAction.Reject);
                    Interlocked.Increment(ref decisions);
                }
            }
        });

        var live = zone.Table.DebugLiveSlots<LimitReqSlotPolicy>();
        Assert.Equal(ThreadCount * Rounds * 20, decisions);
        Assert.InRange(live.Count, 1, LimitTable.SlotsPerBucket);
        Assert.Equal(live.Count, live.Select(s => (s.K0, s.K1, s.Info)).Distinct().Count());
        Assert.All(live, s => Assert.True(LimitReqState.IsEmpty(s.State) || LimitReqState.Excess(s.State) <= 3000));
    }

    [Fact]
    public void Acquire_ManyThreadsOneKey_NeverMoreThanLimitInFlight()
    {
        const int Limit = 3;
        const int PerThread = 5_000;
        var (_, clock) = NewClock();
        var zone = LimitConnZone.Create("addr", 1024 * 1024, "$binary_remote_addr", clock);
        var policy = new LimitConnPolicy([new LimitConnRule(zone, Limit)]);
        byte[] key = IPv4(10, 0, 0, 42);
        int inFlight = 0;
        int maxInFlight = 0;
        int acquired = 0;

        RunOnThreads(_ =>
        {
            var leases = new LimitConnLease[1];
            for (int i = 0; i < PerThread; i++)
            {
                if (policy.Acquire(key, leases).Action != LimitAction.Pass)
                {
                    continue;
                }

                try
                {
                    int now = Interlocked.Increment(ref inFlight);
                    int seen;
                    while (now > (seen = Volatile.Read(ref maxInFlight)) && Interlocked.CompareExchange(ref maxInFlight, now, seen) != seen)
                    {
                    }

                    Interlocked.Increment(ref acquired);
                    Interlocked.Decrement(ref inFlight);
                }
                finally
                {
                    LimitConnLease.ReleaseAll(leases);
                }
            }
        });

        Assert.InRange(maxInFlight, 1, Limit);
        Assert.True(acquired > 0);
        Assert.Equal(0, zone.CountOf(key));
    }

    [Fact]
    public void Acquire_ManyThreadsManyKeysSmallTable_CountsReturnToZero()
    {
        const int Keys = 64;
        const int PerThread = 3_000;
        var (_, clock) = NewClock();
        var zone = LimitConnZone.CreateWithBuckets("tiny", 1, clock);
        var policy = new LimitConnPolicy([new LimitConnRule(zone, 1)]);
        var inFlight = new int[Keys];

        RunOnThreads(id =>
        {
            var random = new Random(id);
            var leases = new LimitConnLease[1];
            for (int i = 0; i < PerThread; i++)
            {
                int k = random.Next(Keys);
                if (policy.Acquire(IPv4((uint)k), leases).Action != LimitAction.Pass)
                {
                    continue;
                }

                try
                {
                    Assert.Equal(1, Interlocked.Increment(ref inFlight[k]));   // limit 1: nobody else holds k
                    Interlocked.Decrement(ref inFlight[k]);
                }
                finally
                {
                    LimitConnLease.ReleaseAll(leases);
                }
            }
        });

        for (uint k = 0; k < Keys; k++)
        {
            Assert.Equal(0, zone.CountOf(IPv4(k)));
        }
    }

    [Fact]
    public void Release_SameLeasesFromTwoThreadsAtOnce_EachReleasedOnce()
    {
        const int Held = 1_000;
        var (_, clock) = NewClock();
        var zone = LimitConnZone.Create("addr", 1024 * 1024, "$binary_remote_addr", clock);
        byte[] key = IPv4(10, 0, 0, 43);
        var raced = new LimitConnLease[Held];
        var kept = new LimitConnLease[Held];
        for (int i = 0; i < Held; i++)
        {
            Assert.Equal(LimitConnResult.Acquired, zone.TryAcquire(key, 2 * Held, 0, out raced[i]));
            Assert.Equal(LimitConnResult.Acquired, zone.TryAcquire(key, 2 * Held, 0, out kept[i]));
        }

        // Every thread releases every lease of 'raced' (a finally racing an abort callback, many times over).
        RunOnThreads(_ => LimitConnLease.ReleaseAll(raced));

        Assert.Equal(Held, zone.CountOf(key));
        LimitConnLease.ReleaseAll(kept);
        Assert.Equal(0, zone.CountOf(key));
    }
}
