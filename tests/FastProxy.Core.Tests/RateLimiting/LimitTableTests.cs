using static FastProxy.RateLimiting.Tests.LimitTestHelpers;

namespace FastProxy.RateLimiting.Tests;

/// <summary>Table capacity, recycling order and sizing. A one-bucket zone puts every key in the same 32 slots.</summary>
public class LimitTableTests
{
    private static LimitReqPolicy OneBucketPolicy(LimitClock clock, out LimitReqZone zone, int burst = 0, bool noDelay = true)
    {
        zone = LimitReqZone.CreateWithBuckets("tiny", 1, LimitRate.PerSecond(1), clock);
        return new LimitReqPolicy([noDelay ? LimitReqRule.WithNoDelay(zone, burst) : new LimitReqRule(zone, burst)]);
    }

    [Fact]
    public void Evaluate_TableFullInOneMillisecond_RejectsNewKeyWithZoneStatus()
    {
        var (_, clock) = NewClock();
        var policy = OneBucketPolicy(clock, out _);
        for (uint i = 0; i < LimitTable.SlotsPerBucket; i++)
        {
            Assert.Equal(LimitAction.Pass, policy.Evaluate(IPv4(i)).Action);
        }

        LimitReqDecision decision = policy.Evaluate(IPv4(1000));

        // Every state was written this millisecond, so none may be recycled yet: the new key finds no slot and is
        // rejected rather than let through unlimited.
        Assert.Equal(LimitAction.Reject, decision.Action);
        Assert.Equal(503, decision.StatusCode);
        Assert.True(decision.NoSlot);
    }

    [Fact]
    public void Evaluate_TableFull_KnownKeysAreStillExact()
    {
        var (_, clock) = NewClock();
        var policy = OneBucketPolicy(clock, out _);
        for (uint i = 0; i < LimitTable.SlotsPerBucket; i++)
        {
            policy.Evaluate(IPv4(i));
        }

        Assert.Equal(LimitAction.Reject, policy.Evaluate(IPv4(1000)).Action);
        Assert.Equal(LimitAction.Reject, policy.Evaluate(IPv4(5)).Action);
        Assert.False(policy.Evaluate(IPv4(5)).NoSlot);
    }

    [Fact]
    public void Evaluate_TableFull_RecyclesLeastRecentlyUsed()
    {
        var (time, clock) = NewClock();
        var policy = OneBucketPolicy(clock, out LimitReqZone zone);
        for (uint i = 0; i < LimitTable.SlotsPerBucket; i++)
        {
            time.AdvanceMs(1);
            policy.Evaluate(IPv4(i));        // key i touched at ms i + 1
        }

        time.AdvanceMs(10);
        Assert.Equal(LimitAction.Reject, policy.Evaluate(IPv4(0)).Action);   // a lookup (even rejected) counts as a use
        Assert.Equal(LimitAction.Pass, policy.Evaluate(IPv4(100)).Action);

        Assert.True(zone.TryGetState(IPv4(0), out _, out _));
        Assert.False(zone.TryGetState(IPv4(1), out _, out _));               // least recently used
        Assert.True(zone.TryGetState(IPv4(2), out _, out _));

        Assert.Equal(LimitAction.Pass, policy.Evaluate(IPv4(101)).Action);
        Assert.False(zone.TryGetState(IPv4(2), out _, out _));
        Assert.True(zone.TryGetState(IPv4(100), out _, out _));
    }

    [Fact]
    public void Evaluate_TableFull_RecyclesFullyLeakedStatesBeforeLeastRecentlyUsed()
    {
        var (time, clock) = NewClock();
        var policy = OneBucketPolicy(clock, out LimitReqZone zone, burst: 10);
        time.AdvanceMs(1);
        for (int i = 0; i < 5; i++)
        {
            policy.Evaluate(IPv4(0));        // key 0: excess 4000 at ms 1, the least recently used key
        }

        for (uint i = 1; i < LimitTable.SlotsPerBucket; i++)
        {
            time.AdvanceMs(1);
            policy.Evaluate(IPv4(i));        // keys 1..31: excess 0 at ms 2..32
        }

        time.AdvanceMs(1100);                // keys 1..31 have leaked completely; key 0 still owes 3 requests
        Assert.Equal(LimitAction.Pass, policy.Evaluate(IPv4(100)).Action);

        Assert.True(zone.TryGetState(IPv4(0), out _, out long excess));
        Assert.Equal(4000, excess);
        Assert.False(zone.TryGetState(IPv4(1), out _, out _));
    }

    [Fact]
    public void Evaluate_RecycledKeyReturns_StartsFromEmptyBucket()
    {
        var (time, clock) = NewClock();
        var policy = OneBucketPolicy(clock, out LimitReqZone zone);
        for (uint i = 0; i < LimitTable.SlotsPerBucket; i++)
        {
            policy.Evaluate(IPv4(i));
        }

        time.AdvanceMs(1);
        Assert.Equal(LimitAction.Pass, policy.Evaluate(IPv4(100)).Action);   // recycles one of 0..31
        uint evicted = Enumerable.Range(0, LimitTable.SlotsPerBucket).Select(i => (uint)i)
            .Single(i => !zone.TryGetState(IPv4(i), out _, out _));

        // Its state (excess 0 one millisecond ago) would have rejected it; the recycled key starts afresh, as a
        // key whose node nginx expired.
        Assert.Equal(LimitAction.Pass, policy.Evaluate(IPv4(evicted)).Action);
        Assert.Equal(LimitAction.Reject, policy.Evaluate(IPv4(evicted)).Action);
    }

    [Fact]
    public void Evaluate_ManyKeysWithinNominalCapacity_NoStateIsLost()
    {
        var (time, clock) = NewClock();
        var zone = LimitReqZone.Create("one", LimitReqZone.MinSizeBytes, "$binary_remote_addr", LimitRate.PerSecond(1), clock);
        var policy = new LimitReqPolicy([new LimitReqRule(zone)]);
        time.AdvanceMs(1);

        // 32k zone: 512 nominal states in 1024 slots. Fill it with as many keys as nginx holds in 32k on a 64-bit
        // platform (128-byte states: half the nominal count), where a 32-slot bucket overflows with probability
        // ~3e-11 (Poisson(8) > 32), each key in its own millisecond so that every state is recyclable.
        long keys = zone.NominalStates / 2;
        for (uint i = 0; i < keys; i++)
        {
            Assert.Equal(LimitAction.Pass, policy.Evaluate(IPv4(0x0A000000 + i)).Action);
            time.AdvanceMs(1);
        }

        for (uint i = 0; i < keys; i++)
        {
            Assert.True(zone.TryGetState(IPv4(0x0A000000 + i), out _, out _), $"key {i} was recycled");
        }
    }

    [Theory]
    [InlineData(32 * 1024, 32, 512)]
    [InlineData(1024 * 1024, 1024, 16384)]
    [InlineData(10 * 1024 * 1024, 10240, 163840)]
    public void Create_LimitReqSize_SizedAsNginxDocuments(long size, int buckets, long nominal)
    {
        var (_, clock) = NewClock();
        var zone = LimitReqZone.Create("z", size, "$binary_remote_addr", LimitRate.PerSecond(1), clock);

        Assert.Equal(buckets, zone.Table.BucketCount);
        Assert.Equal(nominal, zone.NominalStates);              // 16 thousand 64-byte states per megabyte
        Assert.Equal(2 * nominal, zone.Table.SlotCount);
    }

    [Theory]
    [InlineData(32 * 1024, 64, 1024)]
    [InlineData(1024 * 1024, 2048, 32768)]
    public void Create_LimitConnSize_SizedAsNginxDocuments(long size, int buckets, long nominal)
    {
        var (_, clock) = NewClock();
        var zone = LimitConnZone.Create("z", size, "$binary_remote_addr", clock);

        Assert.Equal(buckets, zone.Table.BucketCount);
        Assert.Equal(nominal, zone.NominalStates);              // 32 thousand 32-byte states per megabyte
    }

    [Fact]
    public void Create_SizeBelowEightPages_Throws()
    {
        var (_, clock) = NewClock();
        Assert.Throws<ArgumentOutOfRangeException>(
            () => LimitReqZone.Create("z", 32 * 1024 - 1, "$binary_remote_addr", LimitRate.PerSecond(1), clock));
        Assert.Throws<ArgumentOutOfRangeException>(() => LimitConnZone.Create("z", 4096, "$binary_remote_addr", clock));
    }

    [Fact]
    public void CreateKey_InlineKey_IsStoredExactly()
    {
        var table = new LimitTable(1);
        LimitKey a = table.CreateKey([1, 2, 3, 4]);
        LimitKey b = table.CreateKey([1, 2, 3, 4]);
        LimitKey c = table.CreateKey([1, 2, 3, 5]);

        Assert.Equal((a.K0, a.K1, a.Info, a.Hash, a.Fingerprint), (b.K0, b.K1, b.Info, b.Hash, b.Fingerprint));
        Assert.Equal(0x04030201UL, a.K0);
        Assert.Equal(4, a.Info);
        Assert.NotEqual(a.K0, c.K0);
    }

    [Fact]
    public void FindOrInsert_HomeSlotFreeOrTaken_KeyFoundEitherWay()
    {
        // The first key of a home takes it (so a lookup's prefetch of that line is right); a second key with the same
        // home takes another slot, and both stay exact.
        var (_, clock) = NewClock();
        var policy = OneBucketPolicy(clock, out LimitReqZone zone);
        LimitTable table = zone.Table;
        byte[] first = IPv4(0);
        byte home = table.CreateKey(first).Home;
        byte[] second = Enumerable.Range(1, 10_000).Select(i => IPv4((uint)i)).First(k => table.CreateKey(k).Home == home);

        Assert.Equal(LimitAction.Pass, policy.Evaluate(first).Action);
        Assert.Equal(LimitAction.Pass, policy.Evaluate(second).Action);

        LimitKey firstKey = table.CreateKey(first);
        LimitKey secondKey = table.CreateKey(second);
        Assert.True(table.TryFind<LimitReqSlotPolicy>(in firstKey, out SlotSnapshot a));
        Assert.True(table.TryFind<LimitReqSlotPolicy>(in secondKey, out SlotSnapshot b));
        Assert.Equal(home, a.Slot);
        Assert.NotEqual(home, b.Slot);
        Assert.Equal(LimitAction.Reject, policy.Evaluate(first).Action);     // burst 0, same millisecond
        Assert.Equal(LimitAction.Reject, policy.Evaluate(second).Action);
        Assert.Equal(2, table.DebugLiveSlots<LimitReqSlotPolicy>().Count);
    }

    [Fact]
    public void CreateKey_SameKeyInTwoTables_HashesDiffer()
    {
        // Each table draws its own SipHash key: bucket positions cannot be predicted from outside.
        LimitKey a = new LimitTable(1).CreateKey([1, 2, 3, 4]);
        LimitKey b = new LimitTable(1).CreateKey([1, 2, 3, 4]);

        Assert.NotEqual(((ulong)a.Hash << 8) | a.Fingerprint, ((ulong)b.Hash << 8) | b.Fingerprint);
    }

    [Fact]
    public void LimitReqState_StaleNow_NeverMovesStoredTimeBackwards()
    {
        long fresh = LimitReqSlotPolicy.Fresh(0, 100);
        long real = LimitReqState.Pack(100, 3000);

        Assert.Equal(0, LimitReqState.NextExcess(fresh, 90, 1000, out long last));
        Assert.Equal(100, last);
        Assert.Equal(4000, LimitReqState.NextExcess(real, 90, 1000, out last));
        Assert.Equal(100, last);
        Assert.Equal(3000 - 1 + 1000, LimitReqState.NextExcess(real, 100 - 60_001, 1000, out last));
        Assert.Equal(100, last);
        Assert.Equal(3000 - 10 + 1000, LimitReqState.NextExcess(real, 110, 1000, out last));
        Assert.Equal(110, last);
    }

    [Fact]
    public void LimitReqSlotPolicy_FreshAfterLaterState_StartsNoEarlier()
    {
        long previous = LimitReqSlotPolicy.Tombstone(LimitReqState.Pack(500, 0));

        Assert.Equal(500, LimitReqSlotPolicy.Fresh(previous, 400) >> LimitReqState.ExcessBits);
        Assert.Equal(600, LimitReqSlotPolicy.Fresh(previous, 600) >> LimitReqState.ExcessBits);
    }

    [Fact]
    public void LimitReqSlotPolicy_VictimScore_NeverStatesOfThisMillisecondOrInFlight()
    {
        var policy = new LimitReqSlotPolicy(1000);

        Assert.True(policy.VictimScore(LimitReqState.Pack(10, 0), 10, 10) < 0);              // written this ms
        Assert.True(policy.VictimScore(LimitReqSlotPolicy.Fresh(0, 5), 5, 10) < 0);          // request in flight
        Assert.True(policy.VictimScore(LimitReqSlotPolicy.Tombstone(LimitReqState.Pack(5, 0)), 5, 10) < 0);
        Assert.True(policy.VictimScore(LimitReqState.Pack(5, 0), 5, 10) >= 0);
        Assert.True(policy.VictimScore(LimitReqState.Pack(5, LimitReqState.DrainedMarker), 5, 10)
            > policy.VictimScore(LimitReqState.Pack(5, 0), 0, 10));                              // lossless first
    }

    [Fact]
    public void LimitReqState_ElapsedAcrossStoredTimeWrap_IsSmallPositive()
    {
        long before = (1L << 38) - 5;               // the stored time wraps modulo 2^38 ms
        long state = LimitReqState.Pack(before, 1234);

        Assert.Equal(15, LimitReqState.Elapsed(before + 15, state));
        Assert.Equal(-5, LimitReqState.Elapsed(before - 5, state));
        Assert.Equal(1234, LimitReqState.Excess(state));
    }
}
