using System.Net;
using FastProxy.RateLimiting;
using FastProxy.RealIp;

namespace FastProxy.Core.Tests.Forwarding;

/// <summary>What realip and the limit handlers change in the request's variables.</summary>
public sealed class LimitVariablesTests
{
    private static ForwardingFixture Request(string fields = "") =>
        ForwardingFixture.Create($"GET / HTTP/1.1\r\nHost: a\r\n{fields}\r\n", l => l.ProxyPass("http://backend"));

    [Fact]
    public void SetRealIp_ClientAddress_ReplacesRemoteVariablesForTheRequest()
    {
        var fixture = Request("X-Forwarded-For: 198.51.100.1\r\n");

        fixture.Context.SetRealIp(ClientAddress.FromIPAddress(IPAddress.Parse("203.0.113.9")));

        Assert.Equal("203.0.113.9", fixture.Evaluate("$remote_addr"));
        Assert.Equal("\xCB\x00\x71\x09", fixture.Evaluate("$binary_remote_addr"));
        Assert.Equal("", fixture.Evaluate("$remote_port")); // no port in the header: nginx's $remote_port is empty
        Assert.Equal("198.51.100.1, 203.0.113.9", fixture.Evaluate("$proxy_add_x_forwarded_for"));
        Assert.Equal("192.0.2.7", fixture.Evaluate("$realip_remote_addr"));
        Assert.Equal("51000", fixture.Evaluate("$realip_remote_port"));
        Assert.True(fixture.Context.RealIpSet);
    }

    [Fact]
    public void SetRealIp_IPv6WithPort_TextAndBinaryAndPort()
    {
        var fixture = Request();
        Assert.True(IpAddressText.TryParseAddressAndPort("[2001:DB8::7]:8443"u8, out var client));

        fixture.Context.SetRealIp(client);

        Assert.Equal("2001:db8::7", fixture.Evaluate("$remote_addr"));
        Assert.Equal(16, fixture.Evaluate("$binary_remote_addr").Length);
        Assert.Equal("8443", fixture.Evaluate("$remote_port"));
    }

    [Fact]
    public void EndRequest_AfterRealIp_PeerAddressAgain()
    {
        var fixture = Request();
        fixture.Context.SetRealIp(ClientAddress.FromIPAddress(IPAddress.Parse("203.0.113.9")));

        fixture.Context.EndRequest();

        Assert.False(fixture.Context.RealIpSet);
        Assert.Equal("192.0.2.7"u8.ToArray(), fixture.Context.RemoteAddr.ToArray());
        Assert.Equal(new byte[] { 192, 0, 2, 7 }, fixture.Context.BinaryRemoteAddr.ToArray());
        Assert.Equal(fixture.Context.Peer, fixture.Context.Client);
    }

    [Theory]
    [InlineData(nameof(LimitReqStatus.None), "")]
    [InlineData(nameof(LimitReqStatus.Passed), "PASSED")]
    [InlineData(nameof(LimitReqStatus.Delayed), "DELAYED")]
    [InlineData(nameof(LimitReqStatus.Rejected), "REJECTED")]
    [InlineData(nameof(LimitReqStatus.DelayedDryRun), "DELAYED_DRY_RUN")]
    [InlineData(nameof(LimitReqStatus.RejectedDryRun), "REJECTED_DRY_RUN")]
    public void Evaluate_LimitReqStatus_NginxNames(string status, string expected)
    {
        var fixture = Request();
        fixture.Context.LimitReqStatus = Enum.Parse<LimitReqStatus>(status);
        Assert.Equal(expected, fixture.Evaluate("$limit_req_status"));
    }

    [Theory]
    [InlineData(nameof(LimitConnStatus.None), "")]
    [InlineData(nameof(LimitConnStatus.Passed), "PASSED")]
    [InlineData(nameof(LimitConnStatus.Rejected), "REJECTED")]
    [InlineData(nameof(LimitConnStatus.RejectedDryRun), "REJECTED_DRY_RUN")]
    public void Evaluate_LimitConnStatus_NginxNames(string status, string expected)
    {
        var fixture = Request();
        fixture.Context.LimitConnStatus = Enum.Parse<LimitConnStatus>(status);
        Assert.Equal(expected, fixture.Evaluate("$limit_conn_status"));
    }

    [Fact]
    public void BeginRequest_NextRequest_StatusesCleared()
    {
        var fixture = Request();
        fixture.Context.LimitReqStatus = LimitReqStatus.Rejected;
        fixture.Context.LimitConnStatus = LimitConnStatus.Passed;

        fixture.Context.EndRequest();
        fixture.Context.BeginRequest(fixture.Context.Head);

        Assert.Equal(LimitReqStatus.None, fixture.Context.LimitReqStatus);
        Assert.Equal(LimitConnStatus.None, fixture.Context.LimitConnStatus);
    }
}
