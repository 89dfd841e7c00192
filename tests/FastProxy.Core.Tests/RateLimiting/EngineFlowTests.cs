using System.Net;
using FastProxy.RealIp;

namespace FastProxy.RateLimiting.Tests;

/// <summary>The call sequence docs/rate-limiting.md gives the engine: realip, limit_req (two zones), limit_conn.</summary>
public class EngineFlowTests
{
    private readonly ref struct RequestKeys(ReadOnlySpan<byte> address, ReadOnlySpan<byte> server) : ILimitKeySource
    {
        private readonly ReadOnlySpan<byte> _address = address;
        private readonly ReadOnlySpan<byte> _server = server;

        public ReadOnlySpan<byte> GetKey(int ruleIndex) => ruleIndex == 0 ? _address : _server;
    }

    private sealed class Connection
    {
        public byte[] AddressKey { get; } = new byte[16];

        public LimitConnLease[] LimitConnLeases { get; } = new LimitConnLease[1];
    }

    [Fact]
    public void Request_ThroughRealIpLimitReqAndLimitConn_FollowsTheDecisions()
    {
        var time = new ManualTimeProvider();
        var registry = new LimitZoneRegistry(time);
        Assert.True(registry.TryApply(
            [new LimitReqZoneSpec("perip", 1 << 20, "$binary_remote_addr", LimitRate.PerSecond(1)),
             new LimitReqZoneSpec("perserver", 1 << 20, "$server_name", LimitRate.PerSecond(100))],
            [new LimitConnZoneSpec("addr", 1 << 20, "$binary_remote_addr")],
            out LimitZoneSet? zones, out string? error), error);
        var limitReq = new LimitReqPolicy(
            [LimitReqRule.WithNoDelay(zones.RequestZones["perip"], burst: 1), new LimitReqRule(zones.RequestZones["perserver"], burst: 10)],
            statusCode: 429);
        var limitConn = new LimitConnPolicy([new LimitConnRule(zones.ConnectionZones["addr"], 1)]);
        Assert.True(TrustedProxies.TryParse(["10.0.0.0/8"], out TrustedProxies? trusted, out error), error);
        var realIp = new RealIpResolver(trusted, RealIpSource.XForwardedFor, recursive: true);
        var peer = ClientAddress.FromIPAddress(IPAddress.Parse("10.0.0.1"), 50000);
        byte[] serverName = "example.com"u8.ToArray();

        string Handle(Connection connection, ReadOnlySpan<byte> forwardedFor, bool holdConnection)
        {
            ClientAddress client = realIp.TryResolve(peer, forwardedFor, out ClientAddress c) ? c : peer;
            int n = client.WriteBinary(connection.AddressKey);
            LimitReqDecision req = limitReq.Evaluate(new RequestKeys(connection.AddressKey.AsSpan(0, n), serverName));
            if (req.Action == LimitAction.Reject)
            {
                return $"{req.StatusCode} retry-after={req.RetryAfterSeconds}";
            }

            LimitConnDecision conn = limitConn.Acquire(connection.AddressKey.AsSpan(0, n), connection.LimitConnLeases);
            if (conn.Action == LimitAction.Reject)
            {
                return conn.StatusCode.ToString(System.Globalization.CultureInfo.InvariantCulture);
            }

            if (!holdConnection)
            {
                LimitConnLease.ReleaseAll(connection.LimitConnLeases);
            }

            return req.Action == LimitAction.Delay ? $"200 after {req.DelayMs}ms" : "200";
        }

        var first = new Connection();
        var second = new Connection();
        Assert.Equal("200", Handle(first, "198.51.100.7, 10.0.0.2"u8, holdConnection: true));
        Assert.Equal("503", Handle(second, "198.51.100.7"u8, holdConnection: false));           // limit_conn 1 per client
        LimitConnLease.ReleaseAll(first.LimitConnLeases);
        Assert.Equal("429 retry-after=1", Handle(first, "198.51.100.7"u8, holdConnection: false)); // perip: 1r/s burst 1 used up
        // Another client: perserver already holds two requests (limit_req runs before limit_conn, as in nginx, so the
        // request limit_conn rejected was counted): excess 2000 at 100r/s delays by 20 ms.
        Assert.Equal("200 after 20ms", Handle(first, "198.51.100.8"u8, holdConnection: false));
        time.AdvanceMs(1000);
        Assert.Equal("200", Handle(first, "198.51.100.7"u8, holdConnection: false));
    }
}
