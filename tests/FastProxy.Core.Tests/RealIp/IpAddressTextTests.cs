using System.Net;
using System.Text;

namespace FastProxy.RealIp.Tests;

public class IpAddressTextTests
{
    [Theory]
    [InlineData("0.0.0.0")]
    [InlineData("1.2.3.4")]
    [InlineData("255.255.255.255")]
    [InlineData("10.0.0.1")]
    [InlineData("192.168.100.200")]
    public void TryParseIPv4_DottedQuad_MatchesIPAddress(string text)
    {
        Assert.True(IpAddressText.TryParseAddress(Encoding.ASCII.GetBytes(text), out ClientAddress address));
        Assert.Equal(ClientAddressFamily.IPv4, address.Family);
        Assert.Equal(IPAddress.Parse(text), address.ToIPAddress());
    }

    [Theory]
    [InlineData("")]
    [InlineData("1")]
    [InlineData("1.2.3")]
    [InlineData("1.2.3.")]
    [InlineData("1..2.3")]
    [InlineData(".1.2.3")]
    [InlineData("1.2.3.4.")]
    [InlineData("256.0.0.1")]
    [InlineData("1.2.3.1000")]
    [InlineData("00.1.2.3")]
    [InlineData("1.2.3.04")]
    [InlineData("0x7f.0.0.1")]
    [InlineData("+1.2.3.4")]
    [InlineData(" 1.2.3.4")]
    public void TryParseIPv4_NotADottedQuad_Fails(string text)
    {
        Assert.False(IpAddressText.TryParseIPv4(Encoding.ASCII.GetBytes(text), out _));
    }

    [Theory]
    [InlineData("::")]
    [InlineData("::1")]
    [InlineData("1::")]
    [InlineData("2001:db8::1")]
    [InlineData("2001:DB8:0:0:8:800:200C:417A")]
    [InlineData("fe80::1:2:3:4")]
    [InlineData("1:2:3:4:5:6:7:8")]
    [InlineData("1:2:3:4:5:6:7::")]
    [InlineData("::2:3:4:5:6:7:8")]
    [InlineData("::ffff:192.0.2.1")]
    [InlineData("::192.0.2.1")]
    [InlineData("64:ff9b::192.0.2.33")]
    [InlineData("1:2:3:4:5:6:1.2.3.4")]
    [InlineData("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")]
    public void TryParseIPv6_TextForms_MatchIPAddress(string text)
    {
        Assert.True(IpAddressText.TryParseAddress(Encoding.ASCII.GetBytes(text), out ClientAddress address));
        Assert.Equal(ClientAddressFamily.IPv6, address.Family);
        Assert.Equal(IPAddress.Parse(text), address.ToIPAddress());
    }

    [Theory]
    [InlineData(":")]
    [InlineData(":::")]
    [InlineData(":1")]
    [InlineData("1:")]
    [InlineData("1::2::3")]
    [InlineData("1:2:3:4:5:6:7")]
    [InlineData("1:2:3:4:5:6:7:8:9")]
    [InlineData("1:2:3:4:5:6:7:8::")]
    [InlineData("::1:2:3:4:5:6:7:8")]
    [InlineData("12345::1")]
    [InlineData("g::1")]
    [InlineData("::1.2.3")]
    [InlineData("1:2:3:4:5:6:7:1.2.3.4")]
    [InlineData("::1.2.3.4:5")]
    [InlineData("fe80::1%eth0")]
    [InlineData("[::1]")]
    public void TryParseIPv6_Malformed_Fails(string text)
    {
        Assert.False(IpAddressText.TryParseIPv6(Encoding.ASCII.GetBytes(text), out _, out _));
    }

    [Theory]
    [InlineData("1.2.3.4:1", "1.2.3.4", 1)]
    [InlineData("1.2.3.4:65535", "1.2.3.4", 65535)]
    [InlineData("[::1]:8080", "::1", 8080)]
    [InlineData("::1", "::1", 0)]
    [InlineData("::1:80", "::1:80", 0)]   // a valid IPv6 address first, as ngx_parse_addr_port tries
    public void TryParseAddressAndPort_NginxForms_Parse(string text, string address, int port)
    {
        Assert.True(IpAddressText.TryParseAddressAndPort(Encoding.ASCII.GetBytes(text), out ClientAddress parsed));
        Assert.Equal(IPAddress.Parse(address), parsed.ToIPAddress());
        Assert.Equal(port, parsed.Port);
    }

    [Theory]
    [InlineData("1.2.3.4:")]
    [InlineData("1.2.3.4:00000")]
    [InlineData("1.2.3.4:123456")]
    [InlineData("1.2.3.4:-1")]
    [InlineData("[::1]")]
    [InlineData("[::1]80")]
    [InlineData("[::1")]
    [InlineData("[::1]:")]
    [InlineData("host:80")]
    public void TryParseAddressAndPort_Malformed_Fails(string text)
    {
        Assert.False(IpAddressText.TryParseAddressAndPort(Encoding.ASCII.GetBytes(text), out _));
    }
}
