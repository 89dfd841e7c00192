using FastProxy.Config;
using FastProxy.Infrastructure;
using FastProxy.RealIp;
using FastProxy.Runtime;
using FastProxy.Upstreams;
using Microsoft.Extensions.Logging;

namespace FastProxy.RateLimiting.Tests;

/// <summary>How a snapshot compiles limit_req, limit_conn and realip per context.</summary>
public class LimitRuntimeTests
{
    private static ProxyConfig Load(string http)
    {
        var result = NginxConfigLoader.LoadText("events { }\nhttp {\n" + http + "\n}\n", "test.conf");
        Assert.True(result.Success, string.Join("\n", result.Diagnostics));
        return result.Config!;
    }

    private static ProxySnapshot? Build(ProxyConfig config, List<string> errors, LimitZoneRegistry? registry = null)
    {
        using var heartbeat = new Heartbeat(TimeProvider.System, TimeSpan.FromSeconds(1));
        return ProxySnapshot.TryBuild(config, new UpstreamPoolRegistry(), heartbeat, [], errors, limitZones: registry);
    }

    private static LimitRuntime? LimitsOf(string http, string location = "/")
    {
        var errors = new List<string>();
        var config = Load(http);
        var snapshot = Build(config, errors);
        Assert.True(snapshot is not null, string.Join("; ", errors));
        var settings = config.Servers[0].Locations.First(l => l.Pattern == location).Settings;
        return snapshot.GetLocation(settings).Limits;
    }

    [Fact]
    public void Create_NoLimitsAnywhere_NullRuntime()
    {
        Assert.Null(LimitsOf("server { listen 127.0.0.1:1; location / { proxy_pass http://127.0.0.1:2; } }"));
    }

    [Fact]
    public void Create_ZonesDeclaredButUnusedHere_NullRuntime()
    {
        Assert.Null(LimitsOf("""
            limit_req_zone $binary_remote_addr zone=one:1m rate=1r/s;
            server { listen 127.0.0.1:1; location /a/ { limit_req zone=one; } location / { proxy_pass http://127.0.0.1:2; } }
            """));
    }

    [Fact]
    public void Create_RulesSharingBinaryRemoteAddr_OneKeyReadWithoutEvaluation()
    {
        var limits = LimitsOf("""
            limit_req_zone $binary_remote_addr zone=a:1m rate=1r/s;
            limit_req_zone $binary_remote_addr zone=b:1m rate=10r/s;
            limit_conn_zone $binary_remote_addr zone=c:1m;
            server { listen 127.0.0.1:1; location / { limit_req zone=a burst=5 nodelay; limit_req zone=b delay=2; limit_conn c 10; limit_req_status 429; } }
            """)!;

        Assert.True(limits.ReqKeys!.SingleBinaryRemoteAddr);
        Assert.True(limits.ConnKeys!.SingleBinaryRemoteAddr);
        Assert.Equal(2, limits.Req!.Rules.Count);
        Assert.True(limits.Req.Rules[0].IsNoDelay);
        Assert.Equal((5, 2), (limits.Req.Rules[0].Burst, limits.Req.Rules[1].Delay));
        Assert.Equal(429, limits.Req.StatusCode);
        Assert.Equal(503, limits.Conn!.StatusCode);
        Assert.Null(limits.RealIp);
    }

    [Fact]
    public void Create_DifferentKeys_EachDistinctExpressionOnce()
    {
        var limits = LimitsOf("""
            limit_req_zone $binary_remote_addr zone=a:1m rate=1r/s;
            limit_req_zone $server_name zone=b:1m rate=1r/s;
            limit_req_zone $binary_remote_addr zone=c:1m rate=1r/s;
            server { listen 127.0.0.1:1; location / { limit_req zone=a; limit_req zone=b; limit_req zone=c; } }
            """)!;

        var plan = limits.ReqKeys!;
        Assert.False(plan.SingleBinaryRemoteAddr);
        Assert.Equal(2, plan.Keys.Length);
        Assert.Equal(new[] { 0, 1, 0 }, plan.RuleKey);
        Assert.Equal(new[] { true, false }, plan.IsBinaryRemoteAddr);
    }

    [Theory]
    [InlineData("error", LogLevel.Error, LogLevel.Warning)]
    [InlineData("warn", LogLevel.Warning, LogLevel.Information)]
    [InlineData("notice", LogLevel.Information, LogLevel.Information)]
    [InlineData("info", LogLevel.Information, LogLevel.Information)]
    public void Create_LogLevel_RejectionsAtItDelaysOneBelow(string level, LogLevel reject, LogLevel delay)
    {
        var limits = LimitsOf($$"""
            limit_req_zone $binary_remote_addr zone=a:1m rate=1r/s;
            limit_conn_zone $binary_remote_addr zone=c:1m;
            server { listen 127.0.0.1:1; limit_req_log_level {{level}}; limit_conn_log_level {{level}}; location / { limit_req zone=a; limit_conn c 1; } }
            """)!;

        Assert.Equal((reject, delay, reject), (limits.ReqLogLevel, limits.ReqDelayLogLevel, limits.ConnLogLevel));
    }

    [Fact]
    public void LoadText_BadLogLevel_Error()
    {
        var result = NginxConfigLoader.LoadText("events { }\nhttp { limit_req_log_level debug; }\n", "test.conf");
        Assert.Contains(result.Diagnostics, d => d.IsError && d.Message == "invalid value \"debug\"");
        Assert.DoesNotContain(NginxConfigLoader.LoadText("events { }\nhttp { limit_conn_log_level warn; }\n", "test.conf").Diagnostics, d => !d.IsError);
    }

    [Theory]
    [InlineData("X-Forwarded-For", nameof(RealIpSource.XForwardedFor), "x-forwarded-for")]
    [InlineData("x-real-ip", nameof(RealIpSource.XRealIp), "x-real-ip")]
    [InlineData("CF-Connecting-IP", nameof(RealIpSource.Header), "cf-connecting-ip")]
    public void Create_RealIpHeader_SourceAndLowerCaseName(string header, string source, string lower)
    {
        var limits = LimitsOf($$"""
            server { listen 127.0.0.1:1; set_real_ip_from 10.0.0.0/8; set_real_ip_from ::1; real_ip_header {{header}}; location / { } }
            """)!;

        Assert.Equal(Enum.Parse<RealIpSource>(source), limits.RealIp!.Source);
        Assert.Equal(lower, System.Text.Encoding.ASCII.GetString(limits.RealIpHeader));
        Assert.Equal(2, limits.RealIp.Trusted.Networks.Count);
        Assert.Null(limits.Req);
    }

    [Fact]
    public void TryBuild_BurstBeyondTheTable_ConfigurationError()
    {
        var errors = new List<string>();
        Assert.Null(Build(Load("""
            limit_req_zone $binary_remote_addr zone=a:1m rate=1r/s;
            server { listen 127.0.0.1:1; location / { limit_req zone=a burst=100000; } }
            """), errors));
        Assert.Contains(errors, e => e.Contains("burst=100000 is out of range", StringComparison.Ordinal));
    }

    [Fact]
    public void TryBuild_SameZoneTwiceInOneContext_ConfigurationError()
    {
        var errors = new List<string>();
        Assert.Null(Build(Load("""
            limit_req_zone $binary_remote_addr zone=a:1m rate=1r/s;
            limit_conn_zone $binary_remote_addr zone=c:1m;
            server { listen 127.0.0.1:1; location / { limit_req zone=a; limit_req zone=a burst=2; limit_conn c 1; limit_conn c 2; } }
            """), errors));
        Assert.Contains(errors, e => e.StartsWith("limit_req: ", StringComparison.Ordinal) && e.Contains("used twice", StringComparison.Ordinal));
        Assert.Contains("limit_conn \"c\" is duplicate", errors);
    }

    [Fact]
    public void TryBuild_ChangedKeyAgainstTheRegistry_RefusedAndRegistryUnchanged()
    {
        var registry = new LimitZoneRegistry(TimeProvider.System);
        var errors = new List<string>();
        var first = Build(Load("limit_req_zone $binary_remote_addr zone=a:1m rate=1r/s; server { listen 127.0.0.1:1; location / { limit_req zone=a; } }"), errors, registry)!;
        registry.Commit(first.LimitZones);

        Assert.Null(Build(Load("limit_req_zone $remote_addr zone=a:1m rate=1r/s; server { listen 127.0.0.1:1; location / { limit_req zone=a; } }"), errors, registry));
        Assert.Equal("limit_req \"a\" uses the \"$remote_addr\" key while previously it used the \"$binary_remote_addr\" key", Assert.Single(errors));
        Assert.Same(first.LimitZones, registry.Current);

        // Prepared but not committed: the registry still compares with the committed set.
        errors.Clear();
        var resized = Build(Load("limit_req_zone $binary_remote_addr zone=a:2m rate=1r/s; server { listen 127.0.0.1:1; location / { limit_req zone=a; } }"), errors, registry)!;
        Assert.NotSame(first.LimitZones.RequestZones["a"].Table, resized.LimitZones.RequestZones["a"].Table);
        var again = Build(Load("limit_req_zone $binary_remote_addr zone=a:1m rate=1r/s; server { listen 127.0.0.1:1; location / { limit_req zone=a; } }"), errors, registry)!;
        Assert.Same(first.LimitZones.RequestZones["a"], again.LimitZones.RequestZones["a"]);
    }
}
