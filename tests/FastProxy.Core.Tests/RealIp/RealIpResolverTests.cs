using System.Net;
using System.Text;

namespace FastProxy.RealIp.Tests;

public class RealIpResolverTests
{
    private static readonly ClientAddress TrustedPeer = Address("10.0.0.1");
    private static readonly ClientAddress UntrustedPeer = Address("192.0.2.200");

    private static ClientAddress Address(string text, int port = 0) => ClientAddress.FromIPAddress(IPAddress.Parse(text), port);

    private static RealIpResolver Resolver(RealIpSource source, bool recursive, params string[] trusted)
    {
        Assert.True(TrustedProxies.TryParse(trusted.Length == 0 ? ["10.0.0.0/8", "2001:db8::/32"] : trusted, out TrustedProxies? proxies, out string? error), error);
        return new RealIpResolver(proxies, source, source == RealIpSource.Header ? "CF-Connecting-IP" : null, recursive);
    }

    private static ClientAddress Resolve(RealIpResolver resolver, ClientAddress peer, string value, out bool changed)
    {
        changed = resolver.TryResolve(peer, Encoding.ASCII.GetBytes(value), out ClientAddress client);
        return client;
    }

    private static string ResolveText(RealIpResolver resolver, ClientAddress peer, string value)
        => Resolve(resolver, peer, value, out _).ToString();

    [Fact]
    public void TryResolve_UntrustedPeer_NeverTakesTheHeader()
    {
        foreach (bool recursive in new[] { false, true })
        {
            var resolver = Resolver(RealIpSource.XForwardedFor, recursive);

            ClientAddress client = Resolve(resolver, UntrustedPeer, "10.0.0.5, 203.0.113.7", out bool changed);

            Assert.False(changed);
            Assert.Equal(UntrustedPeer, client);
        }
    }

    [Fact]
    public void TryResolve_NoTrustedProxies_NeverChanges()
    {
        var resolver = new RealIpResolver(TrustedProxies.None, RealIpSource.XRealIp);

        Assert.False(resolver.TryResolve(TrustedPeer, "203.0.113.7"u8, out ClientAddress client));
        Assert.Equal(TrustedPeer, client);
    }

    [Fact]
    public void TryResolve_TrustedPeerXRealIp_TakesTheHeader()
    {
        var resolver = Resolver(RealIpSource.XRealIp, recursive: false);

        ClientAddress client = Resolve(resolver, TrustedPeer, "203.0.113.7", out bool changed);

        Assert.True(changed);
        Assert.Equal(Address("203.0.113.7"), client);
        Assert.Equal("X-Real-IP", resolver.HeaderName);
    }

    [Fact]
    public void TryResolve_XForwardedForNotRecursive_TakesTheLastElement()
    {
        var resolver = Resolver(RealIpSource.XForwardedFor, recursive: false);

        Assert.Equal("10.0.0.2", ResolveText(resolver, TrustedPeer, "198.51.100.1, 203.0.113.5, 10.0.0.2"));
        Assert.Equal("203.0.113.5", ResolveText(resolver, TrustedPeer, "198.51.100.1,203.0.113.5"));
    }

    [Fact]
    public void TryResolve_XForwardedForRecursive_TakesRightmostUntrusted()
    {
        var resolver = Resolver(RealIpSource.XForwardedFor, recursive: true);

        Assert.Equal("203.0.113.5", ResolveText(resolver, TrustedPeer, "198.51.100.1, 203.0.113.5, 10.0.0.2, 10.9.9.9"));
    }

    [Fact]
    public void TryResolve_XForwardedForRecursiveAllTrusted_TakesTheLeftmost()
    {
        var resolver = Resolver(RealIpSource.XForwardedFor, recursive: true);

        Assert.Equal("10.0.0.3", ResolveText(resolver, TrustedPeer, "10.0.0.3, 10.0.0.2"));
    }

    [Fact]
    public void TryResolve_ClientForgesForwardedFor_CannotChooseItsAddress()
    {
        // The client sends "X-Forwarded-For: 10.0.0.9, 1.1.1.1"; our trusted proxy appends the address it saw.
        var resolver = Resolver(RealIpSource.XForwardedFor, recursive: true);

        Assert.Equal("198.51.100.9", ResolveText(resolver, TrustedPeer, "10.0.0.9, 1.1.1.1, 198.51.100.9"));
    }

    [Theory]
    [InlineData("")]
    [InlineData(",")]
    [InlineData(" ")]
    [InlineData(", ,")]
    [InlineData("unknown")]
    [InlineData("1.2.3")]
    [InlineData("1.2.3.4.5")]
    [InlineData("256.1.1.1")]
    [InlineData("01.2.3.4")]
    [InlineData("1.2.3.4\t")]
    [InlineData("1.2.3.4;")]
    [InlineData("[2001:db8::1]")]
    [InlineData("2001:db8::1%eth0")]
    [InlineData("1.2.3.4:0")]
    [InlineData("1.2.3.4:65536")]
    [InlineData("1.2.3.4:")]
    [InlineData("1.2.3.4:80x")]
    [InlineData("::1::2")]
    [InlineData("\u00e9")]
    public void TryResolve_MalformedValue_KeepsThePeer(string value)
    {
        foreach (bool recursive in new[] { false, true })
        {
            var resolver = Resolver(RealIpSource.XForwardedFor, recursive);

            ClientAddress client = Resolve(resolver, TrustedPeer, value, out bool changed);

            Assert.False(changed);
            Assert.Equal(TrustedPeer, client);
        }
    }

    [Fact]
    public void TryResolve_RecursiveReachesMalformedElement_StopsAtLastGoodAddress()
    {
        var resolver = Resolver(RealIpSource.XForwardedFor, recursive: true);

        Assert.Equal("10.0.0.2", ResolveText(resolver, TrustedPeer, "203.0.113.5, garbage, 10.0.0.2"));
        Assert.Equal("10.0.0.2", ResolveText(resolver, TrustedPeer, ", 10.0.0.2"));
    }

    [Fact]
    public void TryResolve_SeparatorAsFirstByte_IsPartOfTheElementAsInNginx()
    {
        // ngx_http_get_forwarded_addr_internal never looks at the first byte as a separator, so ",10.0.0.2" is one
        // element that does not parse: the peer address stays.
        var resolver = Resolver(RealIpSource.XForwardedFor, recursive: true);

        Assert.Equal("10.0.0.1", ResolveText(resolver, TrustedPeer, ",10.0.0.2"));
    }

    [Fact]
    public void TryResolve_TrailingSeparators_AreSkipped()
    {
        var resolver = Resolver(RealIpSource.XForwardedFor, recursive: false);

        Assert.Equal("203.0.113.5", ResolveText(resolver, TrustedPeer, "203.0.113.5, , "));
    }

    [Fact]
    public void TryResolve_ElementWithPort_TakesAddressAndPort()
    {
        var resolver = Resolver(RealIpSource.XForwardedFor, recursive: false);

        Assert.Equal(Address("203.0.113.5", 8080), Resolve(resolver, TrustedPeer, "203.0.113.5:8080", out _));
        Assert.Equal(Address("2001:db8:ffff::5", 443), Resolve(resolver, TrustedPeer, "[2001:db8:ffff::5]:443", out _));
        Assert.Equal(Address("203.0.113.6", 80), Resolve(resolver, TrustedPeer, "[203.0.113.6]:80", out _));
    }

    [Fact]
    public void TryResolve_IPv6PeerAndHeader_MatchesIPv6Networks()
    {
        var resolver = Resolver(RealIpSource.XForwardedFor, recursive: true);
        ClientAddress peer = Address("2001:db8::1");

        Assert.Equal("2001:db9::5", ResolveText(resolver, peer, "2001:db9::5, 2001:db8:0:1::7"));
        Assert.Equal("2001:db8:1::5", ResolveText(resolver, peer, "2001:db8:1::5, 2001:db8::7"));
        Assert.Equal(Address("2001:db9::1"), Resolve(resolver, Address("2001:db9::1"), "203.0.113.5", out bool changed));
        Assert.False(changed);
    }

    [Fact]
    public void TryResolve_IPv4MappedIPv6InHeader_IsMatchedAsIPv4()
    {
        // ngx_cidr_match compares an IPv4-mapped IPv6 address with the IPv4 networks.
        var resolver = Resolver(RealIpSource.XForwardedFor, recursive: true);

        ClientAddress client = Resolve(resolver, TrustedPeer, "203.0.113.5, ::ffff:10.0.0.3", out _);

        Assert.Equal(Address("203.0.113.5"), client);
    }

    [Fact]
    public void TryResolve_IPv4MappedPeerFromDualModeSocket_IsTrustedAsIPv4()
    {
        var resolver = Resolver(RealIpSource.XRealIp, recursive: false);
        var peer = ClientAddress.FromIPv6(IPAddress.Parse("::ffff:10.0.0.1").GetAddressBytes());

        Assert.True(resolver.TryResolve(peer, "203.0.113.5"u8, out ClientAddress client));
        Assert.Equal(Address("203.0.113.5"), client);
    }

    [Fact]
    public void TryResolve_UnixSocketPeer_TrustedOnlyWithUnixEntry()
    {
        var withUnix = Resolver(RealIpSource.XRealIp, recursive: false, "unix:");
        var without = Resolver(RealIpSource.XRealIp, recursive: false, "127.0.0.1");

        Assert.True(withUnix.TryResolve(ClientAddress.Unix, "203.0.113.5"u8, out _));
        Assert.False(without.TryResolve(ClientAddress.Unix, "203.0.113.5"u8, out ClientAddress client));
        Assert.Equal(ClientAddress.Unix, client);
    }

    [Fact]
    public void TryResolve_XRealIpRecursive_WalksLikeForwardedFor()
    {
        // nginx runs the same walk on every source; X-Real-IP normally holds a single address.
        var resolver = Resolver(RealIpSource.XRealIp, recursive: true);

        Assert.Equal("203.0.113.5", ResolveText(resolver, TrustedPeer, "203.0.113.5 10.0.0.9"));
    }

    [Fact]
    public void TryResolve_SeveralLinesNotRecursive_ReadsOnlyTheLastLine()
    {
        var resolver = Resolver(RealIpSource.XForwardedFor, recursive: false);
        byte[] buffer = "198.51.100.1|10.0.0.2"u8.ToArray();

        Assert.True(resolver.TryResolve(TrustedPeer, buffer, [0..12, 13..21], out ClientAddress client));
        Assert.Equal(Address("10.0.0.2"), client);
    }

    [Fact]
    public void TryResolve_SeveralLinesRecursive_ContinuesIntoEarlierLines()
    {
        var resolver = Resolver(RealIpSource.XForwardedFor, recursive: true);
        byte[] buffer = "198.51.100.1|10.0.0.2, 10.0.0.3"u8.ToArray();

        Assert.True(resolver.TryResolve(TrustedPeer, buffer, [0..12, 13..31], out ClientAddress client));
        Assert.Equal(Address("198.51.100.1"), client);
    }

    [Fact]
    public void TryResolve_SeveralLinesRecursiveUntrustedInLastLine_StopsThere()
    {
        var resolver = Resolver(RealIpSource.XForwardedFor, recursive: true);
        byte[] buffer = "198.51.100.1|203.0.113.5, 10.0.0.2"u8.ToArray();

        Assert.True(resolver.TryResolve(TrustedPeer, buffer, [0..12, 13..34], out ClientAddress client));
        Assert.Equal(Address("203.0.113.5"), client);
    }

    [Fact]
    public void TryResolve_SeveralLinesRecursiveEarlierLineMalformed_KeepsLastGoodAddress()
    {
        var resolver = Resolver(RealIpSource.XForwardedFor, recursive: true);
        byte[] buffer = "junk|10.0.0.2"u8.ToArray();

        Assert.True(resolver.TryResolve(TrustedPeer, buffer, [0..4, 5..13], out ClientAddress client));
        Assert.Equal(Address("10.0.0.2"), client);
    }

    [Fact]
    public void TryResolve_NoLines_KeepsThePeer()
    {
        var resolver = Resolver(RealIpSource.XForwardedFor, recursive: true);

        Assert.False(resolver.TryResolve(TrustedPeer, default, ReadOnlySpan<Range>.Empty, out ClientAddress client));
        Assert.Equal(TrustedPeer, client);
    }

    [Fact]
    public void Constructor_SourceAndHeader_NameTheHeaderToRead()
    {
        Assert.Equal("CF-Connecting-IP", Resolver(RealIpSource.Header, false).HeaderName);
        Assert.Equal("X-Forwarded-For", Resolver(RealIpSource.XForwardedFor, false).HeaderName);
        Assert.Null(Resolver(RealIpSource.ProxyProtocol, false).HeaderName);
        Assert.Throws<ArgumentException>(() => new RealIpResolver(TrustedProxies.None, RealIpSource.Header));
    }
}
