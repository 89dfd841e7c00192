using System.Net;
using System.Text;

namespace FastProxy.RealIp.Tests;

public class TrustedProxiesTests
{
    private static ClientAddress Address(string text) => ClientAddress.FromIPAddress(IPAddress.Parse(text));

    private static TrustedProxies Parse(params string[] entries)
    {
        Assert.True(TrustedProxies.TryParse(entries, out TrustedProxies? proxies, out string? error), error);
        return proxies;
    }

    [Theory]
    [InlineData("10.0.0.0/8", "10.0.0.0", true)]
    [InlineData("10.0.0.0/8", "10.255.255.255", true)]
    [InlineData("10.0.0.0/8", "11.0.0.0", false)]
    [InlineData("10.0.0.0/8", "9.255.255.255", false)]
    [InlineData("192.168.1.7", "192.168.1.7", true)]
    [InlineData("192.168.1.7", "192.168.1.8", false)]
    [InlineData("0.0.0.0/0", "203.0.113.1", true)]
    [InlineData("0.0.0.0/0", "2001:db8::1", false)]
    [InlineData("128.0.0.0/1", "127.255.255.255", false)]
    [InlineData("128.0.0.0/1", "128.0.0.0", true)]
    [InlineData("2001:db8::/32", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", true)]
    [InlineData("2001:db8::/32", "2001:db9::", false)]
    [InlineData("2001:db8::/32", "10.0.0.1", false)]
    [InlineData("2001:db8::/63", "2001:db8:0:1:ffff::", true)]
    [InlineData("2001:db8::/63", "2001:db8:0:2::", false)]
    [InlineData("2001:db8::/64", "2001:db8::ffff:ffff:ffff:ffff", true)]
    [InlineData("2001:db8::/64", "2001:db8:0:1::", false)]
    [InlineData("2001:db8::/65", "2001:db8::7fff:ffff:ffff:ffff", true)]
    [InlineData("2001:db8::/65", "2001:db8::8000:0:0:0", false)]
    [InlineData("2001:db8::1", "2001:db8::1", true)]
    [InlineData("2001:db8::1/128", "2001:db8::2", false)]
    [InlineData("::/0", "2001:db8::2", true)]
    public void Contains_NetworkAndAddress_MatchesOnPrefixBits(string network, string address, bool expected)
    {
        Assert.Equal(expected, Parse(network).Contains(Address(address)));
    }

    [Fact]
    public void Contains_IPv4MappedIPv6_MatchesIPv4Networks()
    {
        var mapped = ClientAddress.FromIPv6(IPAddress.Parse("::ffff:10.1.2.3").GetAddressBytes());

        Assert.True(Parse("10.0.0.0/8").Contains(mapped));
        Assert.False(Parse("::ffff:0:0/96").Contains(mapped));
    }

    [Fact]
    public void TryParse_HostBitsBeyondPrefix_WarnsAndMasks()
    {
        var warnings = new List<string>();
        Assert.True(TrustedProxies.TryParse(["10.1.2.3/8"], out TrustedProxies? proxies, out _, warnings));

        Assert.Equal(["low address bits of 10.1.2.3/8 are meaningless"], warnings);
        Assert.True(proxies.Contains(Address("10.200.0.1")));
        Assert.Equal("10.0.0.0/8", proxies.Networks[0].ToString());
    }

    [Theory]
    [InlineData("10.0.0.0/33")]
    [InlineData("2001:db8::/129")]
    [InlineData("10.0.0.0/")]
    [InlineData("10.0.0.0/-1")]
    [InlineData("10.0.0.0/8/8")]
    [InlineData("localhost")]
    [InlineData("all")]
    [InlineData("10.0.0.0 /8")]
    public void TryParse_Invalid_FailsNamingTheEntry(string entry)
    {
        Assert.False(TrustedProxies.TryParse([entry], out _, out string? error));
        Assert.Equal($"invalid parameter \"{entry}\"", error);
    }

    [Fact]
    public void Contains_Unix_OnlyWithUnixEntry()
    {
        Assert.True(Parse("unix:").Contains(ClientAddress.Unix));
        Assert.False(Parse("0.0.0.0/0", "::/0").Contains(ClientAddress.Unix));
        Assert.False(Parse("unix:").Contains(Address("127.0.0.1")));
    }

    [Fact]
    public void Contains_DefaultAddress_IsNeverTrusted()
    {
        Assert.False(Parse("0.0.0.0/0", "::/0", "unix:").Contains(default));
    }

    [Fact]
    public void IpCidrTryParse_Bytes_ParsesWithoutAllocating()
    {
        Assert.True(IpCidr.TryParse("172.16.0.0/12"u8, out IpCidr cidr, out bool hostBits));
        Assert.False(hostBits);
        Assert.Equal(12, cidr.PrefixLength);
        Assert.Equal(ClientAddressFamily.IPv4, cidr.Family);
        Assert.Equal("172.16.0.0/12", Encoding.ASCII.GetString(Encoding.ASCII.GetBytes(cidr.ToString())));
    }
}
