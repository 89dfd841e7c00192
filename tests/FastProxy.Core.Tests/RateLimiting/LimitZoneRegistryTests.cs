using static FastProxy.RateLimiting.Tests.LimitTestHelpers;

namespace FastProxy.RateLimiting.Tests;

public class LimitZoneRegistryTests
{
    private static readonly byte[] Client = IPv4(192, 0, 2, 55);

    private static LimitZoneSet Apply(LimitZoneRegistry registry, LimitReqZoneSpec[] req, LimitConnZoneSpec[]? conn = null)
    {
        Assert.True(registry.TryApply(req, conn ?? [], out LimitZoneSet? zones, out string? error), error);
        return zones;
    }

    [Fact]
    public void TryApply_SameZoneAgain_ReturnsSameObjectAndKeepsState()
    {
        var time = new ManualTimeProvider();
        var registry = new LimitZoneRegistry(time);
        var spec = new LimitReqZoneSpec("one", 1024 * 1024, "$binary_remote_addr", LimitRate.PerSecond(1));
        LimitReqZone before = Apply(registry, [spec]).RequestZones["one"];
        new LimitReqPolicy([new LimitReqRule(before)]).Evaluate(Client);

        LimitReqZone after = Apply(registry, [spec with { }]).RequestZones["one"];

        Assert.Same(before, after);
        Assert.Equal(LimitAction.Reject, new LimitReqPolicy([new LimitReqRule(after)]).Evaluate(Client).Action);
    }

    [Fact]
    public void TryApply_RateChanged_KeepsStateAndAppliesNewRate()
    {
        var time = new ManualTimeProvider();
        var registry = new LimitZoneRegistry(time);
        LimitReqZone before = Apply(registry, [new("one", 1024 * 1024, "$binary_remote_addr", LimitRate.PerSecond(1))]).RequestZones["one"];
        new LimitReqPolicy([LimitReqRule.WithNoDelay(before, 5)]).Evaluate(Client);
        new LimitReqPolicy([LimitReqRule.WithNoDelay(before, 5)]).Evaluate(Client);     // excess 1000 at ms 0

        LimitReqZone after = Apply(registry, [new("one", 1024 * 1024, "$binary_remote_addr", LimitRate.PerSecond(10))]).RequestZones["one"];
        time.AdvanceMs(50);
        new LimitReqPolicy([LimitReqRule.WithNoDelay(after, 5)]).Evaluate(Client);

        Assert.NotSame(before, after);
        Assert.Same(before.Table, after.Table);
        Assert.Equal(LimitRate.PerSecond(10), after.Rate);
        Assert.True(after.TryGetState(Client, out _, out long excess));
        Assert.Equal(1500, excess);      // 1000 - 10000 * 50 / 1000 + 1000: the new rate on the kept state
    }

    [Fact]
    public void TryApply_SizeChanged_StartsEmpty()
    {
        var registry = new LimitZoneRegistry(new ManualTimeProvider());
        LimitReqZone before = Apply(registry, [new("one", 1024 * 1024, "$binary_remote_addr", LimitRate.PerSecond(1))]).RequestZones["one"];
        new LimitReqPolicy([new LimitReqRule(before)]).Evaluate(Client);

        LimitReqZone after = Apply(registry, [new("one", 2 * 1024 * 1024, "$binary_remote_addr", LimitRate.PerSecond(1))]).RequestZones["one"];

        Assert.NotSame(before.Table, after.Table);
        Assert.False(after.TryGetState(Client, out _, out _));
    }

    [Fact]
    public void TryApply_KeyChangedSameSize_FailsAndKeepsPreviousZones()
    {
        var registry = new LimitZoneRegistry(new ManualTimeProvider());
        LimitZoneSet first = Apply(registry, [new("one", 1024 * 1024, "$binary_remote_addr", LimitRate.PerSecond(1))]);

        bool ok = registry.TryApply(
            [new LimitReqZoneSpec("one", 1024 * 1024, "$server_name", LimitRate.PerSecond(1))], [], out _, out string? error);

        Assert.False(ok);
        Assert.Equal("limit_req \"one\" uses the \"$server_name\" key while previously it used the \"$binary_remote_addr\" key", error);
        Assert.Same(first, registry.Current);
    }

    [Fact]
    public void TryApply_KeyAndSizeChanged_StartsEmpty()
    {
        var registry = new LimitZoneRegistry(new ManualTimeProvider());
        Apply(registry, [new("one", 1024 * 1024, "$binary_remote_addr", LimitRate.PerSecond(1))]);

        LimitReqZone after = Apply(registry, [new("one", 2 * 1024 * 1024, "$server_name", LimitRate.PerSecond(1))]).RequestZones["one"];

        Assert.Equal("$server_name", after.Key);
    }

    [Fact]
    public void TryApply_ConnZoneKept_LeasesTakenBeforeReloadReleaseIntoIt()
    {
        var registry = new LimitZoneRegistry(new ManualTimeProvider());
        var spec = new LimitConnZoneSpec("addr", 1024 * 1024, "$binary_remote_addr");
        LimitConnZone before = Apply(registry, [], [spec]).ConnectionZones["addr"];
        var leases = new LimitConnLease[1];
        new LimitConnPolicy([new LimitConnRule(before, 1)]).Acquire(Client, leases);

        LimitConnZone after = Apply(registry, [], [spec]).ConnectionZones["addr"];
        var afterPolicy = new LimitConnPolicy([new LimitConnRule(after, 1)]);
        Assert.Equal(LimitConnStatus.Rejected, afterPolicy.Acquire(Client, new LimitConnLease[1]).Status);
        LimitConnLease.ReleaseAll(leases);

        Assert.Same(before, after);
        Assert.Equal(LimitConnStatus.Passed, afterPolicy.Acquire(Client, new LimitConnLease[1]).Status);
    }

    [Fact]
    public void TryApply_ZoneRemoved_IsDropped()
    {
        var registry = new LimitZoneRegistry(new ManualTimeProvider());
        Apply(registry, [new("one", 1024 * 1024, "$binary_remote_addr", LimitRate.PerSecond(1))]);

        LimitZoneSet zones = Apply(registry, [new("two", 1024 * 1024, "$binary_remote_addr", LimitRate.PerSecond(1))]);

        Assert.False(zones.RequestZones.ContainsKey("one"));
        Assert.True(zones.RequestZones.ContainsKey("two"));
    }

    [Fact]
    public void TryApply_KindChanged_StartsEmptyZoneOfNewKind()
    {
        var registry = new LimitZoneRegistry(new ManualTimeProvider());
        Apply(registry, [new("z", 1024 * 1024, "$binary_remote_addr", LimitRate.PerSecond(1))]);

        LimitZoneSet zones = Apply(registry, [], [new("z", 1024 * 1024, "$binary_remote_addr")]);

        Assert.Empty(zones.RequestZones);
        Assert.Equal(0, zones.ConnectionZones["z"].CountOf(Client));
    }

    [Fact]
    public void TryApply_DuplicateName_Fails()
    {
        var registry = new LimitZoneRegistry(new ManualTimeProvider());

        Assert.False(registry.TryApply(
            [new LimitReqZoneSpec("z", 1024 * 1024, "$binary_remote_addr", LimitRate.PerSecond(1))],
            [new LimitConnZoneSpec("z", 1024 * 1024, "$binary_remote_addr")],
            out _, out string? error));
        Assert.Contains("\"z\"", error, StringComparison.Ordinal);
    }

    [Fact]
    public void TryApply_TooSmall_Fails()
    {
        var registry = new LimitZoneRegistry(new ManualTimeProvider());

        Assert.False(registry.TryApply([], [new LimitConnZoneSpec("z", 32 * 1024 - 1, "$binary_remote_addr")], out _, out string? error));
        Assert.Equal("zone \"z\" is too small", error);
        Assert.Same(LimitZoneSet.Empty, registry.Current);
    }

    [Fact]
    public void TryApply_AllZones_ShareTheRegistryClock()
    {
        var registry = new LimitZoneRegistry(new ManualTimeProvider());

        LimitZoneSet zones = Apply(registry,
            [new("a", 1024 * 1024, "$binary_remote_addr", LimitRate.PerSecond(1)), new("b", 1024 * 1024, "$server_name", LimitRate.PerSecond(1))],
            [new("c", 1024 * 1024, "$binary_remote_addr")]);

        Assert.Same(registry.Clock, zones.RequestZones["a"].Clock);
        Assert.Same(registry.Clock, zones.RequestZones["b"].Clock);
        Assert.Same(registry.Clock, zones.ConnectionZones["c"].Clock);
    }
}
