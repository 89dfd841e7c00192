using static FastProxy.RateLimiting.Tests.LimitTestHelpers;

namespace FastProxy.RateLimiting.Tests;

public class LimitConnTests
{
    private static readonly byte[] Client = IPv4(203, 0, 113, 9);

    [Fact]
    public void Acquire_UpToLimit_PassesThenRejects()
    {
        var (_, clock) = NewClock();
        var zone = LimitConnZone.Create("addr", 1024 * 1024, "$binary_remote_addr", clock);
        var policy = new LimitConnPolicy([new LimitConnRule(zone, 2)]);
        var leases = new LimitConnLease[3][];

        for (int i = 0; i < 2; i++)
        {
            leases[i] = new LimitConnLease[1];
            LimitConnDecision passed = policy.Acquire(Client, leases[i]);
            Assert.Equal(LimitConnStatus.Passed, passed.Status);
            Assert.True(leases[i][0].IsHeld);
        }

        leases[2] = new LimitConnLease[1];
        LimitConnDecision rejected = policy.Acquire(Client, leases[2]);

        Assert.Equal(LimitAction.Reject, rejected.Action);
        Assert.Equal(LimitConnStatus.Rejected, rejected.Status);
        Assert.Equal(503, rejected.StatusCode);
        Assert.False(leases[2][0].IsHeld);
        Assert.Equal(2, zone.CountOf(Client));
    }

    [Fact]
    public void Release_FreesThePlace_NextRequestPasses()
    {
        var (_, clock) = NewClock();
        var zone = LimitConnZone.Create("addr", 1024 * 1024, "$binary_remote_addr", clock);
        var policy = new LimitConnPolicy([new LimitConnRule(zone, 1)], statusCode: 429);
        var first = new LimitConnLease[1];
        var second = new LimitConnLease[1];
        policy.Acquire(Client, first);
        Assert.Equal(429, policy.Acquire(Client, second).StatusCode);

        LimitConnLease.ReleaseAll(first);

        Assert.Equal(0, zone.CountOf(Client));
        Assert.Equal(LimitConnStatus.Passed, policy.Acquire(Client, second).Status);
    }

    [Fact]
    public void Release_Twice_ReleasesOnce()
    {
        var (_, clock) = NewClock();
        var zone = LimitConnZone.Create("addr", 1024 * 1024, "$binary_remote_addr", clock);
        Assert.Equal(LimitConnResult.Acquired, zone.TryAcquire(Client, 5, 0, out LimitConnLease a));
        Assert.Equal(LimitConnResult.Acquired, zone.TryAcquire(Client, 5, 0, out LimitConnLease b));

        LimitConnLease.Release(ref a);
        LimitConnLease.Release(ref a);

        Assert.False(a.IsHeld);
        Assert.Equal(1, zone.CountOf(Client));
        LimitConnLease.Release(ref b);
        Assert.Equal(0, zone.CountOf(Client));
    }

    [Fact]
    public void Release_DefaultLease_IsHarmless()
    {
        LimitConnLease lease = default;

        LimitConnLease.Release(ref lease);
        LimitConnLease.ReleaseAll(new LimitConnLease[4]);

        Assert.False(lease.IsHeld);
    }

    [Fact]
    public void Release_InFinallyAfterException_FreesThePlace()
    {
        var (_, clock) = NewClock();
        var zone = LimitConnZone.Create("addr", 1024 * 1024, "$binary_remote_addr", clock);
        var policy = new LimitConnPolicy([new LimitConnRule(zone, 1)]);
        var leases = new LimitConnLease[1];

        void Request()
        {
            try
            {
                policy.Acquire(Client, leases);
                throw new InvalidOperationException("upstream failed");
            }
            finally
            {
                LimitConnLease.ReleaseAll(leases);
            }
        }

        Assert.Throws<InvalidOperationException>(Request);

        Assert.Equal(0, zone.CountOf(Client));
    }

    [Fact]
    public void Acquire_SecondRuleRejects_FirstPlaceIsGivenBack()
    {
        var (_, clock) = NewClock();
        var perIp = LimitConnZone.Create("perip", 1024 * 1024, "$binary_remote_addr", clock);
        var perServer = LimitConnZone.Create("perserver", 1024 * 1024, "$server_name", clock);
        var policy = new LimitConnPolicy([new LimitConnRule(perIp, 10), new LimitConnRule(perServer, 1)]);
        var held = new LimitConnLease[2];
        Assert.Equal(LimitConnStatus.Passed, policy.Acquire(Client, held).Status);

        var leases = new LimitConnLease[2];
        LimitConnDecision decision = policy.Acquire(Client, leases);

        Assert.Equal(LimitAction.Reject, decision.Action);
        Assert.Equal(1, decision.RuleIndex);
        Assert.False(leases[0].IsHeld);
        Assert.Equal(1, perIp.CountOf(Client));
    }

    [Fact]
    public void Acquire_DryRunRejection_PassesHoldingNothing()
    {
        var (_, clock) = NewClock();
        var zone = LimitConnZone.Create("addr", 1024 * 1024, "$binary_remote_addr", clock);
        var policy = new LimitConnPolicy([new LimitConnRule(zone, 1)], dryRun: true);
        policy.Acquire(Client, new LimitConnLease[1]);
        var leases = new LimitConnLease[1];

        LimitConnDecision decision = policy.Acquire(Client, leases);

        Assert.Equal(LimitAction.Pass, decision.Action);
        Assert.Equal(LimitConnStatus.RejectedDryRun, decision.Status);
        Assert.False(leases[0].IsHeld);
        Assert.Equal(1, zone.CountOf(Client));
    }

    [Fact]
    public void Acquire_EmptyOrTooLongKey_IsNotCounted()
    {
        var (_, clock) = NewClock();
        var zone = LimitConnZone.Create("addr", 1024 * 1024, "$binary_remote_addr", clock);
        var policy = new LimitConnPolicy([new LimitConnRule(zone, 1)]);

        Assert.Equal(LimitConnStatus.None, policy.Acquire(ReadOnlySpan<byte>.Empty, new LimitConnLease[1]).Status);
        Assert.Equal(LimitConnStatus.None, policy.Acquire(new byte[256], new LimitConnLease[1]).Status);
        Assert.Equal(LimitConnStatus.None, policy.Acquire(new byte[256], new LimitConnLease[1]).Status);
        Assert.Equal(LimitConnStatus.Passed, policy.Acquire(new byte[255], new LimitConnLease[1]).Status);
    }

    [Fact]
    public void Acquire_LeaseStorageStillHeld_Throws()
    {
        var (_, clock) = NewClock();
        var zone = LimitConnZone.Create("addr", 1024 * 1024, "$binary_remote_addr", clock);
        var policy = new LimitConnPolicy([new LimitConnRule(zone, 5)]);
        var leases = new LimitConnLease[1];
        policy.Acquire(Client, leases);

        Assert.Throws<InvalidOperationException>(() => policy.Acquire(Client, leases));
    }

    [Fact]
    public void Acquire_BucketFullOfHeldKeys_RejectsNewKeyNeverRecyclesHeldOnes()
    {
        var (time, clock) = NewClock();
        var zone = LimitConnZone.CreateWithBuckets("tiny", 1, clock);
        var held = new LimitConnLease[LimitTable.SlotsPerBucket];
        for (uint i = 0; i < held.Length; i++)
        {
            Assert.Equal(LimitConnResult.Acquired, zone.TryAcquire(IPv4(i), 1, 0, out held[i]));
        }

        time.AdvanceMs(60_000);
        Assert.Equal(LimitConnResult.NoSlot, zone.TryAcquire(IPv4(1000), 1, 60_000, out LimitConnLease none));
        Assert.False(none.IsHeld);
        for (uint i = 0; i < held.Length; i++)
        {
            Assert.Equal(1, zone.CountOf(IPv4(i)));
        }

        LimitConnLease.Release(ref held[7]);
        Assert.Equal(LimitConnResult.Acquired, zone.TryAcquire(IPv4(1000), 1, 60_001, out LimitConnLease fresh));
        Assert.Equal(0, zone.CountOf(IPv4(7)));
        LimitConnLease.Release(ref fresh);
        LimitConnLease.ReleaseAll(held);
    }

    [Fact]
    public void Acquire_IdleKeysFillBucket_RecycledForNewKeys()
    {
        var (_, clock) = NewClock();
        var zone = LimitConnZone.CreateWithBuckets("tiny", 1, clock);
        for (uint i = 0; i < 100; i++)
        {
            Assert.Equal(LimitConnResult.Acquired, zone.TryAcquire(IPv4(i), 1, i, out LimitConnLease lease));
            LimitConnLease.Release(ref lease);
        }

        Assert.Equal(LimitConnResult.Acquired, zone.TryAcquire(IPv4(99), 1, 100, out LimitConnLease again));
        Assert.Equal(LimitConnResult.Rejected, zone.TryAcquire(IPv4(99), 1, 100, out _));
        LimitConnLease.Release(ref again);
    }

    [Fact]
    public void Release_AfterSlotCountedAgainByOthers_OnlyItsOwnPlace()
    {
        var (_, clock) = NewClock();
        var zone = LimitConnZone.Create("addr", 1024 * 1024, "$binary_remote_addr", clock);
        zone.TryAcquire(Client, 3, 0, out LimitConnLease a);
        zone.TryAcquire(Client, 3, 0, out LimitConnLease b);
        LimitConnLease.Release(ref a);
        zone.TryAcquire(Client, 3, 0, out LimitConnLease c);

        LimitConnLease.Release(ref b);
        LimitConnLease.Release(ref b);

        Assert.Equal(1, zone.CountOf(Client));
        LimitConnLease.Release(ref c);
        Assert.Equal(0, zone.CountOf(Client));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(65536)]
    public void RuleConstructor_LimitOutOfRange_Throws(int limit)
    {
        var (_, clock) = NewClock();
        var zone = LimitConnZone.Create("addr", 1024 * 1024, "$binary_remote_addr", clock);

        Assert.Throws<ArgumentOutOfRangeException>(() => new LimitConnRule(zone, limit));
    }
}
