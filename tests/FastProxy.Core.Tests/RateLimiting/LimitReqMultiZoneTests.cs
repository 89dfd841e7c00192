using static FastProxy.RateLimiting.Tests.LimitTestHelpers;

namespace FastProxy.RateLimiting.Tests;

/// <summary>Several limit_req in one context, as ngx_http_limit_req_handler / _account / _unlock handle them.</summary>
public class LimitReqMultiZoneTests
{
    private static readonly byte[] Client = IPv4(198, 51, 100, 7);
    private static readonly byte[] Server = "example.com"u8.ToArray();

    private readonly ref struct PerRuleKeys(ReadOnlySpan<byte> first, ReadOnlySpan<byte> second, ReadOnlySpan<byte> third) : ILimitKeySource
    {
        private readonly ReadOnlySpan<byte> _first = first;
        private readonly ReadOnlySpan<byte> _second = second;
        private readonly ReadOnlySpan<byte> _third = third;

        public ReadOnlySpan<byte> GetKey(int ruleIndex) => ruleIndex switch { 0 => _first, 1 => _second, _ => _third };
    }

    [Fact]
    public void Evaluate_LaterZoneRejects_EarlierZoneIsNotCharged()
    {
        var (_, clock) = NewClock();
        var perIp = ReqZone(clock, LimitRate.PerSecond(1), name: "perip");
        var perServer = ReqZone(clock, LimitRate.PerSecond(1), name: "perserver");
        var policy = new LimitReqPolicy([LimitReqRule.WithNoDelay(perIp, burst: 10), new LimitReqRule(perServer)]);
        Assert.Equal(LimitReqStatus.Passed, policy.Evaluate(new PerRuleKeys(Client, Server, default)).Status);

        LimitReqDecision decision = policy.Evaluate(new PerRuleKeys(Client, Server, default));

        Assert.Equal(LimitAction.Reject, decision.Action);
        Assert.Equal(1, decision.RuleIndex);
        Assert.True(perIp.TryGetState(Client, out _, out long excess));
        Assert.Equal(0, excess);    // only the first (passed) request was accounted in perip
    }

    [Fact]
    public void Evaluate_EarlierZoneRejects_LaterZoneIsNotLookedAt()
    {
        var (_, clock) = NewClock();
        var perIp = ReqZone(clock, LimitRate.PerSecond(1), name: "perip");
        var perServer = ReqZone(clock, LimitRate.PerSecond(1), name: "perserver");
        var first = new LimitReqPolicy([new LimitReqRule(perIp)]);
        first.Evaluate(Client);
        var policy = new LimitReqPolicy([new LimitReqRule(perIp), LimitReqRule.WithNoDelay(perServer, burst: 10)]);

        LimitReqDecision decision = policy.Evaluate(new PerRuleKeys(Client, Server, default));

        Assert.Equal(LimitAction.Reject, decision.Action);
        Assert.Equal(0, decision.RuleIndex);
        Assert.False(perServer.TryGetState(Server, out _, out _));
    }

    [Fact]
    public void Evaluate_AllZonesPass_EveryZoneIsAccounted()
    {
        var (_, clock) = NewClock();
        var a = ReqZone(clock, LimitRate.PerSecond(1), name: "a");
        var b = ReqZone(clock, LimitRate.PerSecond(1), name: "b");
        var c = ReqZone(clock, LimitRate.PerSecond(1), name: "c");
        var policy = new LimitReqPolicy([
            LimitReqRule.WithNoDelay(a, burst: 10), LimitReqRule.WithNoDelay(b, burst: 10), LimitReqRule.WithNoDelay(c, burst: 10)]);

        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(LimitReqStatus.Passed, policy.Evaluate(Client).Status);
        }

        foreach (LimitReqZone zone in new[] { a, b, c })
        {
            Assert.True(zone.TryGetState(Client, out _, out long excess));
            Assert.Equal(2000, excess);
        }
    }

    [Fact]
    public void Evaluate_SeveralZonesDelay_TheLongestDelayWins()
    {
        var (_, clock) = NewClock();
        var slow = ReqZone(clock, LimitRate.PerSecond(1), name: "slow");
        var fast = ReqZone(clock, LimitRate.PerSecond(10), name: "fast");
        var policy = new LimitReqPolicy([new LimitReqRule(slow, burst: 5), new LimitReqRule(fast, burst: 5)]);
        policy.Evaluate(Client);

        LimitReqDecision decision = policy.Evaluate(Client);

        Assert.Equal(LimitAction.Delay, decision.Action);
        Assert.Equal(1000, decision.DelayMs);       // slow: 1000 * 1000 / 1000; fast: 1000 * 1000 / 10000 = 100
        Assert.Equal(0, decision.RuleIndex);
    }

    [Fact]
    public void Evaluate_NoDelayZoneAndDelayingZone_OnlyTheDelayingZoneDelays()
    {
        var (_, clock) = NewClock();
        var a = ReqZone(clock, LimitRate.PerSecond(1), name: "a");
        var b = ReqZone(clock, LimitRate.PerSecond(10), name: "b");
        var policy = new LimitReqPolicy([LimitReqRule.WithNoDelay(a, burst: 5), new LimitReqRule(b, burst: 5)]);
        policy.Evaluate(Client);

        LimitReqDecision decision = policy.Evaluate(Client);

        Assert.Equal(100, decision.DelayMs);
        Assert.Equal(1, decision.RuleIndex);
    }

    [Fact]
    public void Evaluate_LastRuleKeyEmpty_EarlierZonesAreStillAccounted()
    {
        var (_, clock) = NewClock();
        var a = ReqZone(clock, LimitRate.PerSecond(1), name: "a");
        var b = ReqZone(clock, LimitRate.PerSecond(1), name: "b");
        var policy = new LimitReqPolicy([new LimitReqRule(a, burst: 5), new LimitReqRule(b)]);

        Assert.Equal(LimitReqStatus.Passed, policy.Evaluate(new PerRuleKeys(Client, default, default)).Status);
        LimitReqDecision decision = policy.Evaluate(new PerRuleKeys(Client, default, default));

        Assert.Equal(LimitAction.Delay, decision.Action);
        Assert.Equal(1000, decision.DelayMs);
        Assert.Equal(0, decision.RuleIndex);
        Assert.False(b.TryGetState(Client, out _, out _));
    }

    [Fact]
    public void Evaluate_AllKeysEmpty_IsNotLimited()
    {
        var (_, clock) = NewClock();
        var policy = new LimitReqPolicy([
            new LimitReqRule(ReqZone(clock, LimitRate.PerSecond(1), name: "a")),
            new LimitReqRule(ReqZone(clock, LimitRate.PerSecond(1), name: "b"))]);

        Assert.Equal(LimitReqStatus.None, policy.Evaluate(new PerRuleKeys(default, default, default)).Status);
    }

    [Fact]
    public void Evaluate_LaterZoneRejectsNewKey_EarlierNewStateIsRecyclableAndEmpty()
    {
        var (time, clock) = NewClock();
        var a = ReqZone(clock, LimitRate.PerSecond(1), name: "a");
        var b = ReqZone(clock, LimitRate.PerSecond(1), name: "b");
        new LimitReqPolicy([new LimitReqRule(b)]).Evaluate(Server);
        var policy = new LimitReqPolicy([new LimitReqRule(a), new LimitReqRule(b)]);

        Assert.Equal(LimitAction.Reject, policy.Evaluate(new PerRuleKeys(Client, Server, default)).Action);

        // The state created in 'a' for this request holds no excess (nginx leaves the node with excess 0)...
        Assert.True(a.TryGetState(Client, out _, out long excess));
        Assert.Equal(-1, excess);

        // ...so the next request from the client, alone, starts from an empty bucket.
        time.AdvanceMs(1);
        Assert.Equal(LimitReqStatus.Passed, new LimitReqPolicy([new LimitReqRule(a)]).Evaluate(Client).Status);
        Assert.True(a.TryGetState(Client, out _, out excess));
        Assert.Equal(0, excess);
    }

    [Fact]
    public void Evaluate_ThreeZonesMiddleRejects_FirstIsNotChargedAndThirdNotTouched()
    {
        var (_, clock) = NewClock();
        var a = ReqZone(clock, LimitRate.PerSecond(1), name: "a");
        var b = ReqZone(clock, LimitRate.PerSecond(1), name: "b");
        var c = ReqZone(clock, LimitRate.PerSecond(1), name: "c");
        new LimitReqPolicy([new LimitReqRule(b)]).Evaluate(Server);
        var policy = new LimitReqPolicy([LimitReqRule.WithNoDelay(a, 5), new LimitReqRule(b), LimitReqRule.WithNoDelay(c, 5)]);

        LimitReqDecision decision = policy.Evaluate(new PerRuleKeys(Client, Server, Client));

        Assert.Equal(LimitAction.Reject, decision.Action);
        Assert.Equal(1, decision.RuleIndex);
        Assert.False(c.TryGetState(Client, out _, out _));
        Assert.True(a.TryGetState(Client, out _, out long excess));
        Assert.Equal(-1, excess);
    }

    [Fact]
    public void Evaluate_DryRunWithSeveralZones_RejectionReportedNothingCharged()
    {
        var (_, clock) = NewClock();
        var a = ReqZone(clock, LimitRate.PerSecond(1), name: "a");
        var b = ReqZone(clock, LimitRate.PerSecond(1), name: "b");
        var policy = new LimitReqPolicy([LimitReqRule.WithNoDelay(a, 5), new LimitReqRule(b)], dryRun: true);
        policy.Evaluate(Client);

        LimitReqDecision decision = policy.Evaluate(Client);

        Assert.Equal(LimitAction.Pass, decision.Action);
        Assert.Equal(LimitReqStatus.RejectedDryRun, decision.Status);
        Assert.True(a.TryGetState(Client, out _, out long excess));
        Assert.Equal(0, excess);
    }

    [Fact]
    public void Evaluate_SeventeenZones_UsesPooledScratchAndAccountsAll()
    {
        var (_, clock) = NewClock();
        var rules = new List<LimitReqRule>();
        for (int i = 0; i < 17; i++)
        {
            rules.Add(LimitReqRule.WithNoDelay(ReqZone(clock, LimitRate.PerSecond(1), name: $"z{i}"), burst: 1));
        }

        var policy = new LimitReqPolicy(rules);

        Assert.Equal(LimitAction.Pass, policy.Evaluate(Client).Action);
        Assert.Equal(LimitAction.Pass, policy.Evaluate(Client).Action);
        Assert.Equal(LimitAction.Reject, policy.Evaluate(Client).Action);
        Assert.All(rules, r => Assert.True(r.Zone.TryGetState(Client, out _, out long e) && e == 1000));
    }

    [Fact]
    public void Constructor_ZonesFromDifferentClocks_Throws()
    {
        var (_, clock1) = NewClock();
        var (_, clock2) = NewClock();

        Assert.Throws<ArgumentException>(() => new LimitReqPolicy([
            new LimitReqRule(ReqZone(clock1, LimitRate.PerSecond(1), name: "a")),
            new LimitReqRule(ReqZone(clock2, LimitRate.PerSecond(1), name: "b"))]));
    }
}
