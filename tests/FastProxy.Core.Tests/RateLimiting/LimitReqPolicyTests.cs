using static FastProxy.RateLimiting.Tests.LimitTestHelpers;

namespace FastProxy.RateLimiting.Tests;

public class LimitReqPolicyTests
{
    private static readonly byte[] Client = IPv4(192, 0, 2, 1);

    [Fact]
    public void Evaluate_OneRequestPerSecondNoBurst_AdmitsOnePerSecond()
    {
        var (time, clock) = NewClock();
        var policy = new LimitReqPolicy([new LimitReqRule(ReqZone(clock, LimitRate.PerSecond(1)))]);

        Assert.Equal(LimitReqStatus.Passed, policy.Evaluate(Client).Status);
        Assert.Equal(LimitAction.Reject, policy.Evaluate(Client).Action);
        time.AdvanceMs(999);
        Assert.Equal(LimitAction.Reject, policy.Evaluate(Client).Action);   // excess 1000 - 999 + 1000 > 0
        time.AdvanceMs(1);
        Assert.Equal(LimitReqStatus.Passed, policy.Evaluate(Client).Status);
    }

    [Fact]
    public void Evaluate_Rejected_UsesStatus503ByDefault()
    {
        var (_, clock) = NewClock();
        var policy = new LimitReqPolicy([new LimitReqRule(ReqZone(clock, LimitRate.PerSecond(1)))]);
        policy.Evaluate(Client);

        LimitReqDecision decision = policy.Evaluate(Client);

        Assert.Equal(LimitReqStatus.Rejected, decision.Status);
        Assert.Equal(503, decision.StatusCode);
        Assert.Equal(0, decision.RuleIndex);
        Assert.Equal(1000, decision.ExcessMilli);
        Assert.False(decision.NoSlot);
    }

    [Fact]
    public void Evaluate_LimitReqStatusSet_RejectsWithThatStatus()
    {
        var (_, clock) = NewClock();
        var policy = new LimitReqPolicy([new LimitReqRule(ReqZone(clock, LimitRate.PerSecond(1)))], statusCode: 429);
        policy.Evaluate(Client);

        Assert.Equal(429, policy.Evaluate(Client).StatusCode);
    }

    [Fact]
    public void Evaluate_RatePerMinute_LeaksAtNginxTruncatedRate()
    {
        // nginx stores 1r/m as 1 * 1000 / 60 = 16 milli-requests per second: one request every 62.5 s.
        var (time, clock) = NewClock();
        var policy = new LimitReqPolicy([new LimitReqRule(ReqZone(clock, LimitRate.PerMinute(1)))]);

        Assert.Equal(LimitAction.Pass, policy.Evaluate(Client).Action);
        time.AdvanceMs(62_499);
        Assert.Equal(LimitAction.Reject, policy.Evaluate(Client).Action);   // 16 * 62499 / 1000 = 999 leaked
        time.AdvanceMs(1);
        Assert.Equal(LimitAction.Pass, policy.Evaluate(Client).Action);     // 1000 leaked
    }

    [Fact]
    public void Evaluate_ThirtyPerMinute_AdmitsEveryTwoSeconds()
    {
        var (time, clock) = NewClock();
        var policy = new LimitReqPolicy([new LimitReqRule(ReqZone(clock, LimitRate.PerMinute(30)))]);

        Assert.Equal(LimitAction.Pass, policy.Evaluate(Client).Action);
        time.AdvanceMs(1999);
        Assert.Equal(LimitAction.Reject, policy.Evaluate(Client).Action);
        time.AdvanceMs(1);
        Assert.Equal(LimitAction.Pass, policy.Evaluate(Client).Action);
    }

    [Fact]
    public void Evaluate_BurstWithoutNoDelay_DelaysEachExcessRequestByItsExcess()
    {
        var (_, clock) = NewClock();
        var policy = new LimitReqPolicy([new LimitReqRule(ReqZone(clock, LimitRate.PerSecond(1)), burst: 5)]);

        Assert.Equal(LimitReqStatus.Passed, policy.Evaluate(Client).Status);
        for (int i = 1; i <= 5; i++)
        {
            LimitReqDecision decision = policy.Evaluate(Client);
            Assert.Equal(LimitAction.Delay, decision.Action);
            Assert.Equal(LimitReqStatus.Delayed, decision.Status);
            Assert.Equal(i * 1000L, decision.DelayMs);      // excess * 1000 / rate
            Assert.Equal(i * 1000L, decision.ExcessMilli);
        }

        Assert.Equal(LimitAction.Reject, policy.Evaluate(Client).Action);
    }

    [Fact]
    public void Evaluate_BurstAndRateTenPerSecond_DelayIsExcessOverRate()
    {
        var (_, clock) = NewClock();
        var policy = new LimitReqPolicy([new LimitReqRule(ReqZone(clock, LimitRate.PerSecond(10)), burst: 3)]);
        policy.Evaluate(Client);

        Assert.Equal(100, policy.Evaluate(Client).DelayMs);
        Assert.Equal(200, policy.Evaluate(Client).DelayMs);
        Assert.Equal(300, policy.Evaluate(Client).DelayMs);
        Assert.Equal(LimitAction.Reject, policy.Evaluate(Client).Action);
    }

    [Fact]
    public void Evaluate_NoDelay_AnswersBurstAtOnceThenRejects()
    {
        var (_, clock) = NewClock();
        var policy = new LimitReqPolicy([LimitReqRule.WithNoDelay(ReqZone(clock, LimitRate.PerSecond(1)), burst: 5)]);

        for (int i = 0; i < 6; i++)
        {
            LimitReqDecision decision = policy.Evaluate(Client);
            Assert.Equal(LimitAction.Pass, decision.Action);
            Assert.Equal(LimitReqStatus.Passed, decision.Status);
            Assert.Equal(0, decision.DelayMs);
        }

        Assert.Equal(LimitAction.Reject, policy.Evaluate(Client).Action);
    }

    [Fact]
    public void Evaluate_DelayParameter_DelaysOnlyExcessBeyondIt()
    {
        var (_, clock) = NewClock();
        var policy = new LimitReqPolicy([new LimitReqRule(ReqZone(clock, LimitRate.PerSecond(1)), burst: 5, delay: 2)]);

        long[] expected = [0, 0, 0, 1000, 2000, 3000];   // excess 0..5000, delayed beyond 2000
        foreach (long delay in expected)
        {
            LimitReqDecision decision = policy.Evaluate(Client);
            Assert.Equal(delay, decision.DelayMs);
            Assert.Equal(delay == 0 ? LimitAction.Pass : LimitAction.Delay, decision.Action);
        }

        Assert.Equal(LimitAction.Reject, policy.Evaluate(Client).Action);
    }

    [Fact]
    public void Evaluate_BucketLeaks_AdmitsAgainAsExcessDrains()
    {
        var (time, clock) = NewClock();
        var zone = ReqZone(clock, LimitRate.PerSecond(2));
        var policy = new LimitReqPolicy([LimitReqRule.WithNoDelay(zone, burst: 2)]);
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(LimitAction.Pass, policy.Evaluate(Client).Action);
        }

        Assert.Equal(LimitAction.Reject, policy.Evaluate(Client).Action);
        Assert.True(zone.TryGetState(Client, out _, out long excess));
        Assert.Equal(2000, excess);

        time.AdvanceMs(500);   // 2000 * 500 / 1000 = 1000 leaked: exactly one more fits
        Assert.Equal(LimitAction.Pass, policy.Evaluate(Client).Action);
        Assert.Equal(LimitAction.Reject, policy.Evaluate(Client).Action);
    }

    [Fact]
    public void Evaluate_Rejected_LeavesStateUnchanged()
    {
        var (time, clock) = NewClock();
        var zone = ReqZone(clock, LimitRate.PerSecond(1));
        var policy = new LimitReqPolicy([new LimitReqRule(zone)]);
        policy.Evaluate(Client);
        Assert.True(zone.TryGetState(Client, out long last, out long excess));

        time.AdvanceMs(400);
        Assert.Equal(LimitAction.Reject, policy.Evaluate(Client).Action);

        Assert.True(zone.TryGetState(Client, out long lastAfter, out long excessAfter));
        Assert.Equal((last, excess), (lastAfter, excessAfter));
    }

    [Fact]
    public void Evaluate_SameMillisecondAccounting_KeepsLastTime()
    {
        // nginx stores 'last = now' only when ms != 0.
        var (time, clock) = NewClock();
        var zone = ReqZone(clock, LimitRate.PerSecond(1));
        var policy = new LimitReqPolicy([LimitReqRule.WithNoDelay(zone, burst: 5)]);
        time.AdvanceMs(10);
        policy.Evaluate(Client);
        policy.Evaluate(Client);

        Assert.True(zone.TryGetState(Client, out long last, out long excess));
        Assert.Equal(10, last);
        Assert.Equal(1000, excess);
    }

    [Fact]
    public void Evaluate_DryRunReject_PassesAndReportsWithoutAccounting()
    {
        var (_, clock) = NewClock();
        var zone = ReqZone(clock, LimitRate.PerSecond(1));
        var policy = new LimitReqPolicy([new LimitReqRule(zone)], dryRun: true);
        Assert.Equal(LimitReqStatus.Passed, policy.Evaluate(Client).Status);

        LimitReqDecision decision = policy.Evaluate(Client);

        Assert.Equal(LimitAction.Pass, decision.Action);
        Assert.Equal(LimitReqStatus.RejectedDryRun, decision.Status);
        Assert.Equal(0, decision.StatusCode);
        Assert.True(zone.TryGetState(Client, out _, out long excess));
        Assert.Equal(0, excess);   // a rejected request is not accounted, dry run or not
    }

    [Fact]
    public void Evaluate_DryRunDelay_PassesReportsDelayAndAccounts()
    {
        var (_, clock) = NewClock();
        var zone = ReqZone(clock, LimitRate.PerSecond(1));
        var policy = new LimitReqPolicy([new LimitReqRule(zone, burst: 3)], dryRun: true);
        policy.Evaluate(Client);

        LimitReqDecision decision = policy.Evaluate(Client);

        Assert.Equal(LimitAction.Pass, decision.Action);
        Assert.Equal(LimitReqStatus.DelayedDryRun, decision.Status);
        Assert.Equal(1000, decision.DelayMs);
        Assert.True(zone.TryGetState(Client, out _, out long excess));
        Assert.Equal(1000, excess);
    }

    [Fact]
    public void Evaluate_EmptyKey_IsNotLimited()
    {
        var (_, clock) = NewClock();
        var zone = ReqZone(clock, LimitRate.PerSecond(1));
        var policy = new LimitReqPolicy([new LimitReqRule(zone)]);

        for (int i = 0; i < 5; i++)
        {
            LimitReqDecision decision = policy.Evaluate(ReadOnlySpan<byte>.Empty);
            Assert.Equal(LimitAction.Pass, decision.Action);
            Assert.Equal(LimitReqStatus.None, decision.Status);
        }
    }

    [Fact]
    public void Evaluate_KeyLongerThan65535_IsNotLimited()
    {
        var (_, clock) = NewClock();
        var policy = new LimitReqPolicy([new LimitReqRule(ReqZone(clock, LimitRate.PerSecond(1)))]);
        var key = new byte[65536];

        policy.Evaluate(key);
        Assert.Equal(LimitReqStatus.None, policy.Evaluate(key).Status);
    }

    [Fact]
    public void Evaluate_IPv4AndIPv6Keys_AreLimitedSeparately()
    {
        var (_, clock) = NewClock();
        var policy = new LimitReqPolicy([new LimitReqRule(ReqZone(clock, LimitRate.PerSecond(1)))]);
        byte[][] keys = [IPv4(10, 0, 0, 1), IPv4(10, 0, 0, 2), IPv6(1), IPv6(2), [10, 0, 0, 1, 0]];

        foreach (byte[] key in keys)
        {
            Assert.Equal(LimitAction.Pass, policy.Evaluate(key).Action);
        }

        foreach (byte[] key in keys)
        {
            Assert.Equal(LimitAction.Reject, policy.Evaluate(key).Action);
        }
    }

    [Fact]
    public void Evaluate_KeysDifferingOnlyInLength_AreDistinct()
    {
        var (_, clock) = NewClock();
        var policy = new LimitReqPolicy([new LimitReqRule(ReqZone(clock, LimitRate.PerSecond(1)))]);

        // Inline keys are zero-padded to 16 bytes: the length must be part of the identity.
        Assert.Equal(LimitAction.Pass, policy.Evaluate([1, 2, 0]).Action);
        Assert.Equal(LimitAction.Pass, policy.Evaluate([1, 2]).Action);
        Assert.Equal(LimitAction.Pass, policy.Evaluate(new byte[16]).Action);
        Assert.Equal(LimitAction.Pass, policy.Evaluate(new byte[17]).Action);
        Assert.Equal(LimitAction.Reject, policy.Evaluate([1, 2]).Action);
    }

    [Theory]
    [InlineData(17)]
    [InlineData(64)]
    [InlineData(1000)]
    [InlineData(65535)]
    public void Evaluate_LongKeys_SameBytesShareStateOtherBytesDoNot(int length)
    {
        var (_, clock) = NewClock();
        var policy = new LimitReqPolicy([new LimitReqRule(ReqZone(clock, LimitRate.PerSecond(1)))]);
        byte[] a = new byte[length];
        Random.Shared.NextBytes(a);
        byte[] sameAsA = (byte[])a.Clone();
        byte[] b = (byte[])a.Clone();
        b[^1] ^= 1;

        Assert.Equal(LimitAction.Pass, policy.Evaluate(a).Action);
        Assert.Equal(LimitAction.Pass, policy.Evaluate(b).Action);
        Assert.Equal(LimitAction.Reject, policy.Evaluate(sameAsA).Action);
    }

    [Fact]
    public void Evaluate_RejectedOneRequestPerSecond_RetryAfterIsSecondsUntilAdmitted()
    {
        var (time, clock) = NewClock();
        var policy = new LimitReqPolicy([new LimitReqRule(ReqZone(clock, LimitRate.PerSecond(1)))]);
        policy.Evaluate(Client);

        Assert.Equal(1, policy.Evaluate(Client).RetryAfterSeconds);    // 1000 ms to go
        time.AdvanceMs(998);
        Assert.Equal(1, policy.Evaluate(Client).RetryAfterSeconds);    // 2 ms to go: rounded up to 1 s
    }

    [Fact]
    public void Evaluate_RejectedOnePerMinute_RetryAfterFollowsTruncatedRate()
    {
        var (time, clock) = NewClock();
        var policy = new LimitReqPolicy([new LimitReqRule(ReqZone(clock, LimitRate.PerMinute(1)))]);
        policy.Evaluate(Client);

        Assert.Equal(63, policy.Evaluate(Client).RetryAfterSeconds);   // 62.5 s to go
        time.AdvanceMs(60_000);
        Assert.Equal(3, policy.Evaluate(Client).RetryAfterSeconds);    // 2.5 s to go
        time.AdvanceMs(2_500);
        Assert.Equal(LimitAction.Pass, policy.Evaluate(Client).Action);
    }

    [Fact]
    public void Evaluate_RejectedBeyondBurst_RetryAfterWaitsForOneRequestToLeak()
    {
        var (time, clock) = NewClock();
        var policy = new LimitReqPolicy([LimitReqRule.WithNoDelay(ReqZone(clock, LimitRate.PerSecond(2)), burst: 4)]);
        for (int i = 0; i < 5; i++)
        {
            policy.Evaluate(Client);
        }

        time.AdvanceMs(100);
        LimitReqDecision decision = policy.Evaluate(Client);
        Assert.Equal(LimitAction.Reject, decision.Action);
        Assert.Equal(1, decision.RetryAfterSeconds);                   // 500 ms per request at 2r/s, 400 left

        time.AdvanceMs(399);
        Assert.Equal(LimitAction.Reject, policy.Evaluate(Client).Action);
        time.AdvanceMs(1);
        Assert.Equal(LimitAction.Pass, policy.Evaluate(Client).Action);
    }

    [Fact]
    public void Evaluate_ClockJumpsBackLessThanAMinute_TreatsElapsedAsZero()
    {
        var time = new ManualTimeProvider(startTicks: 100_000);
        var clock = new LimitClock(time);
        var zone = ReqZone(clock, LimitRate.PerSecond(1));
        var policy = new LimitReqPolicy([LimitReqRule.WithNoDelay(zone, burst: 5)]);
        time.AdvanceMs(10_000);
        policy.Evaluate(Client);

        time.AdvanceMs(-5_000);
        policy.Evaluate(Client);

        Assert.True(zone.TryGetState(Client, out long last, out long excess));
        Assert.Equal(10_000, last);     // ms < 0 -> 0: 'last' is kept
        Assert.Equal(1000, excess);
    }

    [Fact]
    public void Evaluate_ClockJumpsBackMoreThanAMinute_TreatsElapsedAsOneMillisecondKeepsLast()
    {
        var time = new ManualTimeProvider();
        var clock = new LimitClock(time);
        var zone = ReqZone(clock, LimitRate.PerSecond(1));
        var policy = new LimitReqPolicy([LimitReqRule.WithNoDelay(zone, burst: 5)]);
        time.AdvanceMs(100_000);
        policy.Evaluate(Client);

        time.AdvanceMs(-70_000);
        policy.Evaluate(Client);

        Assert.True(zone.TryGetState(Client, out long last, out long excess));
        Assert.Equal(100_000, last);    // nginx would move 'last' back to now; ours never moves backwards
        Assert.Equal(999, excess);      // ms < -60000 -> 1, as nginx: 0 - 1000 * 1 / 1000 + 1000
    }

    [Fact]
    public void Constructor_SameZoneTwice_Throws()
    {
        var (_, clock) = NewClock();
        var zone = ReqZone(clock, LimitRate.PerSecond(1));

        Assert.Throws<ArgumentException>(() => new LimitReqPolicy([new LimitReqRule(zone), new LimitReqRule(zone, 3)]));
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(LimitReqState.MaxBurst + 1)]
    public void RuleConstructor_BurstOutOfRange_Throws(int burst)
    {
        var (_, clock) = NewClock();
        Assert.Throws<ArgumentOutOfRangeException>(() => new LimitReqRule(ReqZone(clock, LimitRate.PerSecond(1)), burst));
    }

    [Fact]
    public void Evaluate_MaximumBurst_StoresFullExcess()
    {
        var (_, clock) = NewClock();
        var zone = ReqZone(clock, LimitRate.PerSecond(1));
        var policy = new LimitReqPolicy([LimitReqRule.WithNoDelay(zone, LimitReqState.MaxBurst)]);

        int admitted = 0;
        while (policy.Evaluate(Client).Action == LimitAction.Pass)
        {
            admitted++;
        }

        Assert.Equal(LimitReqState.MaxBurst + 1, admitted);
        Assert.True(zone.TryGetState(Client, out _, out long excess));
        Assert.Equal(LimitReqState.MaxBurst * 1000L, excess);
    }
}
