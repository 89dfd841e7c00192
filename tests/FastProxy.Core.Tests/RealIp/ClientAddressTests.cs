using System.Net;
using System.Net.Sockets;

namespace FastProxy.RealIp.Tests;

public class ClientAddressTests
{
    [Fact]
    public void WriteBinary_IPv4_IsFourBytes()
    {
        ClientAddress address = ClientAddress.FromIPAddress(IPAddress.Parse("192.0.2.1"), 443);
        Span<byte> buffer = stackalloc byte[16];

        int length = address.WriteBinary(buffer);

        Assert.Equal(4, length);
        Assert.Equal(new byte[] { 192, 0, 2, 1 }, buffer[..length].ToArray());
        Assert.Equal(443, address.Port);
    }

    [Fact]
    public void WriteBinary_IPv6_IsSixteenBytes()
    {
        IPAddress ip = IPAddress.Parse("2001:db8::7");
        Span<byte> buffer = stackalloc byte[16];

        int length = ClientAddress.FromIPAddress(ip).WriteBinary(buffer);

        Assert.Equal(16, length);
        Assert.Equal(ip.GetAddressBytes(), buffer.ToArray());
    }

    [Fact]
    public void FromIPAddress_IPv4MappedFromDualModeSocket_BecomesIPv4()
    {
        ClientAddress address = ClientAddress.FromIPAddress(IPAddress.Parse("::ffff:192.0.2.9"));

        Assert.Equal(ClientAddressFamily.IPv4, address.Family);
        Assert.Equal("192.0.2.9", address.ToString());
    }

    [Fact]
    public void FromEndPoint_UnixSocket_IsUnixWithTextKey()
    {
        ClientAddress address = ClientAddress.FromEndPoint(new UnixDomainSocketEndPoint("/tmp/fastproxy.sock"));
        Span<byte> buffer = stackalloc byte[16];

        Assert.Equal(ClientAddressFamily.Unix, address.Family);
        Assert.Equal("unix:"u8.ToArray(), buffer[..address.WriteBinary(buffer)].ToArray());
    }

    [Fact]
    public void Equality_SameAddressDifferentPort_AreDifferent()
    {
        var a = ClientAddress.FromIPv4(0xC0000201, 80);

        Assert.Equal(a, ClientAddress.FromIPv4([192, 0, 2, 1], 80));
        Assert.NotEqual(a, a.WithPort(81));
        Assert.Equal("192.0.2.1", a.ToString());
    }
}
