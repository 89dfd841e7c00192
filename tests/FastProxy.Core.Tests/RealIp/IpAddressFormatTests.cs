using System.Net;
using System.Text;

namespace FastProxy.RealIp.Tests;

public class IpAddressFormatTests
{
    private static string Format(ClientAddress address)
    {
        var buffer = new byte[IpAddressText.MaxTextLength];
        return Encoding.ASCII.GetString(buffer, 0, IpAddressText.Format(address, buffer));
    }

    private static string Format(string text)
    {
        Assert.True(IpAddressText.TryParseAddress(Encoding.ASCII.GetBytes(text), out var address));
        return Format(address);
    }

    [Theory]
    [InlineData("0.0.0.0", "0.0.0.0")]
    [InlineData("1.2.3.4", "1.2.3.4")]
    [InlineData("255.255.255.255", "255.255.255.255")]
    [InlineData("10.100.9.99", "10.100.9.99")]
    [InlineData("::", "::")]
    [InlineData("::1", "::1")]
    [InlineData("1::", "1::")]
    [InlineData("2001:DB8:0:0:0:0:0:1", "2001:db8::1")]
    [InlineData("2001:db8:0:1:0:0:0:1", "2001:db8:0:1::1")]         // the longer run is compressed
    [InlineData("2001:0:0:1:0:0:0:1", "2001:0:0:1::1")]
    [InlineData("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1")]       // equal runs: the first (RFC 5952 §4.2.3)
    [InlineData("2001:db8:1:1:1:1:0:1", "2001:db8:1:1:1:1:0:1")]   // a single zero group is not compressed
    [InlineData("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")]
    [InlineData("::ffff:192.0.2.1", "::ffff:192.0.2.1")]             // IPv4-mapped: dotted tail, as ngx_inet6_ntop
    [InlineData("::192.0.2.1", "::192.0.2.1")]                       // IPv4-compatible
    [InlineData("::0.0.0.2", "::0.0.0.2")]
    [InlineData("fe80::1:2", "fe80::1:2")]
    public void Format_Address_AsNginxWritesRemoteAddr(string text, string expected) => Assert.Equal(expected, Format(text));

    [Fact]
    public void Format_LongestAddresses_FitMaxTextLength()
    {
        Assert.Equal("::ffff:255.255.255.255", Format(ClientAddress.FromIPv6(IPAddress.Parse("::ffff:255.255.255.255").GetAddressBytes())));
        Assert.InRange(Format("1111:2222:3333:4444:5555:6666:7777:8888").Length, 39, IpAddressText.MaxTextLength);
        Assert.Equal("unix:", Format(ClientAddress.Unix));
        Assert.Equal("", Format(default(ClientAddress)));
    }

    [Fact]
    public void Format_RandomIPv6_MatchesDotnetExceptForIPv4Tails()
    {
        var random = new Random(42);
        var bytes = new byte[16];
        for (int i = 0; i < 2000; i++)
        {
            random.NextBytes(bytes);
            // Zero some groups so that runs of every length appear.
            for (int g = 0; g < 8; g++)
            {
                if (random.Next(3) == 0)
                {
                    bytes[2 * g] = bytes[2 * g + 1] = 0;
                }
            }
            if (bytes.AsSpan(0, 10).IndexOfAnyExcept((byte)0) < 0)
            {
                continue; // ::x.x.x.x forms: .NET and nginx differ; covered above
            }
            var address = new IPAddress(bytes);
            Assert.Equal(address.ToString(), Format(ClientAddress.FromIPv6(bytes)));
        }
    }
}
