using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace FastProxy.RealIp;

internal enum ClientAddressFamily : byte { None, IPv4, IPv6, Unix }

/// <summary>
/// A peer or client address as nginx's <c>$remote_addr</c> / <c>$binary_remote_addr</c> see it: family, address bytes
/// (network order) and port. A value type: resolving and keying on it allocates nothing.
/// </summary>
internal readonly struct ClientAddress : IEquatable<ClientAddress>
{
    private static readonly byte[] UnixText = "unix:"u8.ToArray();

    // IPv4: _high = 0, _low = the address as a big-endian uint. IPv6: the 16 bytes as two big-endian ulongs.
    private readonly ulong _high;
    private readonly ulong _low;

    private ClientAddress(ClientAddressFamily family, ulong high, ulong low, int port)
    {
        Family = family;
        _high = high;
        _low = low;
        Port = port;
    }

    public ClientAddressFamily Family { get; }

    /// <summary>The port (0 when unknown or not given).</summary>
    public int Port { get; }

    public static ClientAddress Unix => new(ClientAddressFamily.Unix, 0, 0, 0);

    public bool IsIPv4MappedIPv6 => Family == ClientAddressFamily.IPv6 && _high == 0 && (_low >> 32) == 0xFFFF;

    internal uint IPv4Value => (uint)_low;

    internal ulong IPv6High => _high;

    internal ulong IPv6Low => _low;

    /// <summary><paramref name="address"/>: the four octets as a big-endian number (192.0.2.1 is 0xC0000201).</summary>
    public static ClientAddress FromIPv4(uint address, int port = 0) => new(ClientAddressFamily.IPv4, 0, address, port);

    public static ClientAddress FromIPv4(ReadOnlySpan<byte> bytes, int port = 0)
        => FromIPv4(BinaryPrimitives.ReadUInt32BigEndian(bytes[..4]), port);

    public static ClientAddress FromIPv6(ulong high, ulong low, int port = 0) => new(ClientAddressFamily.IPv6, high, low, port);

    public static ClientAddress FromIPv6(ReadOnlySpan<byte> bytes, int port = 0)
        => FromIPv6(BinaryPrimitives.ReadUInt64BigEndian(bytes[..8]), BinaryPrimitives.ReadUInt64BigEndian(bytes.Slice(8, 8)), port);

    /// <summary>
    /// The address of a socket peer. An IPv4-mapped IPv6 address (what a dual-mode socket reports for an IPv4 client)
    /// becomes the IPv4 address: nginx, listening on separate IPv4 and IPv6 sockets (its default, ipv6only=on), sees
    /// such clients as IPv4, and <c>$binary_remote_addr</c> is then 4 bytes.
    /// </summary>
    public static ClientAddress FromIPAddress(IPAddress address, int port = 0)
    {
        ArgumentNullException.ThrowIfNull(address);
        Span<byte> bytes = stackalloc byte[16];
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            address.TryWriteBytes(bytes, out _);
            return FromIPv4(bytes, port);
        }

        if (address.AddressFamily == AddressFamily.InterNetworkV6)
        {
            address.TryWriteBytes(bytes, out _);
            ClientAddress v6 = FromIPv6(bytes, port);
            return v6.IsIPv4MappedIPv6 ? FromIPv4((uint)v6._low, port) : v6;
        }

        throw new ArgumentException($"Unsupported address family {address.AddressFamily}.", nameof(address));
    }

    public static ClientAddress FromEndPoint(EndPoint? endPoint) => endPoint switch
    {
        IPEndPoint ip => FromIPAddress(ip.Address, ip.Port),
        UnixDomainSocketEndPoint => Unix,
        _ => default,
    };

    public ClientAddress WithPort(int port) => new(Family, _high, _low, port);

    /// <summary>
    /// Writes <c>$binary_remote_addr</c>: 4 bytes for IPv4, 16 for IPv6, and for a unix socket the text "unix:" as
    /// nginx does (ngx_http_variable_binary_remote_addr falls back to the address text). Returns the length.
    /// </summary>
    public int WriteBinary(Span<byte> destination)
    {
        switch (Family)
        {
            case ClientAddressFamily.IPv4:
                BinaryPrimitives.WriteUInt32BigEndian(destination, (uint)_low);
                return 4;
            case ClientAddressFamily.IPv6:
                BinaryPrimitives.WriteUInt64BigEndian(destination, _high);
                BinaryPrimitives.WriteUInt64BigEndian(destination[8..], _low);
                return 16;
            case ClientAddressFamily.Unix:
                UnixText.CopyTo(destination);
                return UnixText.Length;
            default:
                return 0;
        }
    }

    /// <summary>Allocates; for logs and tests.</summary>
    public IPAddress? ToIPAddress()
    {
        Span<byte> bytes = stackalloc byte[16];
        return Family switch
        {
            ClientAddressFamily.IPv4 or ClientAddressFamily.IPv6 => new IPAddress(bytes[..WriteBinary(bytes)]),
            _ => null,
        };
    }

    public override string ToString() => Family switch
    {
        ClientAddressFamily.Unix => "unix:",
        ClientAddressFamily.None => "",
        _ => ToIPAddress()!.ToString(),
    };

    public bool Equals(ClientAddress other)
        => Family == other.Family && _high == other._high && _low == other._low && Port == other.Port;

    public override bool Equals(object? obj) => obj is ClientAddress other && Equals(other);

    public override int GetHashCode() => HashCode.Combine(Family, _high, _low, Port);

    public static bool operator ==(ClientAddress left, ClientAddress right) => left.Equals(right);

    public static bool operator !=(ClientAddress left, ClientAddress right) => !left.Equals(right);
}
