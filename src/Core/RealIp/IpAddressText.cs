using System.Runtime.CompilerServices;

namespace FastProxy.RealIp;

/// <summary>
/// Strict parsing of IP address text on bytes, for header values (X-Forwarded-For, X-Real-IP, the PROXY protocol
/// source) and for <c>set_real_ip_from</c>. Nothing is allocated.
/// </summary>
/// <remarks>
/// Accepted: IPv4 in dotted-decimal form exactly as RFC 3986 §3.2.2 <c>IPv4address</c> (four dec-octets, no leading
/// zeros), and IPv6 in the text forms of RFC 4291 §2.2 (hex groups, one <c>::</c>, an IPv4 tail), without a zone id.
/// nginx's ngx_inet_addr is laxer (it reads "010.1.1.1" as 10.1.1.1 and "1.2.3." as 1.2.3.0); we reject those
/// rather than guess: a client address taken from a header must mean one thing only. A rejected element stops
/// the X-Forwarded-For walk exactly where nginx stops on an element it cannot parse.
/// </remarks>
internal static class IpAddressText
{
    /// <summary>ngx_parse_addr: an IPv4 or IPv6 address, nothing else.</summary>
    public static bool TryParseAddress(ReadOnlySpan<byte> text, out ClientAddress address)
    {
        if (TryParseIPv4(text, out uint v4))
        {
            address = ClientAddress.FromIPv4(v4);
            return true;
        }

        if (TryParseIPv6(text, out ulong high, out ulong low))
        {
            address = ClientAddress.FromIPv6(high, low);
            return true;
        }

        address = default;
        return false;
    }

    /// <summary>
    /// ngx_parse_addr_port: an address, or <c>IPv4:port</c>, or <c>[address]:port</c> with a port of 1..65535.
    /// </summary>
    public static bool TryParseAddressAndPort(ReadOnlySpan<byte> text, out ClientAddress address)
    {
        if (TryParseAddress(text, out address))
        {
            return true;
        }

        ReadOnlySpan<byte> host;
        ReadOnlySpan<byte> port;
        if (!text.IsEmpty && text[0] == (byte)'[')
        {
            int close = text.IndexOf((byte)']');

            // "[::1]" alone is not accepted (nginx: the ']' must be followed by ":port").
            if (close < 0 || close == text.Length - 1 || text[close + 1] != (byte)':')
            {
                return false;
            }

            host = text[1..close];
            port = text[(close + 2)..];
        }
        else
        {
            int colon = text.IndexOf((byte)':');
            if (colon < 0)
            {
                return false;
            }

            host = text[..colon];
            port = text[(colon + 1)..];
        }

        if (!TryParsePort(port, out int portNumber) || !TryParseAddress(host, out address))
        {
            address = default;
            return false;
        }

        address = address.WithPort(portNumber);
        return true;
    }

    /// <summary>RFC 3986 IPv4address: dec-octet "." dec-octet "." dec-octet "." dec-octet.</summary>
    public static bool TryParseIPv4(ReadOnlySpan<byte> text, out uint value)
    {
        value = 0;
        int octets = 0;
        int i = 0;
        while (true)
        {
            int start = i;
            uint octet = 0;
            while (i < text.Length && IsDigit(text[i]))
            {
                octet = octet * 10 + (uint)(text[i] - '0');
                i++;
                if (i - start > 3)
                {
                    return false;
                }
            }

            int digits = i - start;
            if (digits == 0 || octet > 255 || (digits > 1 && text[start] == (byte)'0'))
            {
                return false;
            }

            value = (value << 8) | octet;
            octets++;
            if (octets == 4)
            {
                return i == text.Length;
            }

            if (i >= text.Length || text[i] != (byte)'.')
            {
                return false;
            }

            i++;
        }
    }

    /// <summary>RFC 4291 §2.2 text forms: <c>x:x:x:x:x:x:x:x</c>, one <c>::</c>, an IPv4 tail; no zone id.</summary>
    public static bool TryParseIPv6(ReadOnlySpan<byte> text, out ulong high, out ulong low)
    {
        high = low = 0;
        Span<ushort> groups = stackalloc ushort[8];
        int count = 0;
        int gap = -1;   // index in 'groups' where "::" stands
        int i = 0;

        if (text.Length < 2)
        {
            return false;
        }

        if (text[0] == (byte)':')
        {
            if (text[1] != (byte)':')
            {
                return false;
            }

            gap = 0;
            i = 2;
            if (i == text.Length)
            {
                return true;   // "::"
            }
        }

        while (true)
        {
            if (count == 8)
            {
                return false;
            }

            int start = i;
            uint group = 0;
            while (i < text.Length && HexValue(text[i]) is int h and >= 0)
            {
                group = (group << 4) | (uint)h;
                i++;
            }

            int digits = i - start;
            if (i < text.Length && text[i] == (byte)'.')
            {
                // An IPv4 tail takes the last two groups: it must end the text and leave room for them.
                if (count > 6 || !TryParseIPv4(text[start..], out uint v4))
                {
                    return false;
                }

                groups[count++] = (ushort)(v4 >> 16);
                groups[count++] = (ushort)v4;
                break;
            }

            if (digits is 0 or > 4)
            {
                return false;
            }

            groups[count++] = (ushort)group;
            if (i == text.Length)
            {
                break;
            }

            if (text[i] != (byte)':')
            {
                return false;
            }

            i++;
            if (i < text.Length && text[i] == (byte)':')
            {
                if (gap >= 0)
                {
                    return false;   // a second "::"
                }

                gap = count;
                i++;
                if (i == text.Length)
                {
                    break;   // ends with "::"
                }
            }
            else if (i == text.Length)
            {
                return false;   // ends with a single ':'
            }
        }

        if (gap < 0 ? count != 8 : count > 7)
        {
            return false;   // "::" stands for at least one group of zeros
        }

        Span<ushort> full = stackalloc ushort[8];
        if (gap < 0)
        {
            groups.CopyTo(full);
        }
        else
        {
            full.Clear();
            groups[..gap].CopyTo(full);
            groups[gap..count].CopyTo(full[(8 - (count - gap))..]);
        }

        for (int g = 0; g < 4; g++)
        {
            high = (high << 16) | full[g];
            low = (low << 16) | full[g + 4];
        }

        return true;
    }

    /// <summary>ngx_atoi plus nginx's port bounds: digits only, 1..65535.</summary>
    public static bool TryParsePort(ReadOnlySpan<byte> text, out int port)
    {
        port = 0;
        if (text.IsEmpty || text.Length > 5)
        {
            return false;
        }

        foreach (byte c in text)
        {
            if (!IsDigit(c))
            {
                return false;
            }

            port = port * 10 + (c - '0');
        }

        return port is >= 1 and <= 65535;
    }

    /// <summary>The longest text <see cref="Format"/> writes: "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255".</summary>
    public const int MaxTextLength = 45;

    /// <summary>
    /// Writes an address as <c>$remote_addr</c> shows it (ngx_sock_ntop without the port): dotted-decimal IPv4, and
    /// IPv6 as ngx_inet6_ntop writes it (RFC 5952: lower-case hex without leading zeros, the longest run of two or
    /// more zero groups, the first of equals, as "::"; an IPv4-mapped or IPv4-compatible address with a dotted tail).
    /// Returns the length; <paramref name="destination"/> needs <see cref="MaxTextLength"/> bytes.
    /// </summary>
    public static int Format(in ClientAddress address, Span<byte> destination)
    {
        switch (address.Family)
        {
            case ClientAddressFamily.IPv4:
                return FormatIPv4(address.IPv4Value, destination);
            case ClientAddressFamily.IPv6:
                return FormatIPv6(address.IPv6High, address.IPv6Low, destination);
            case ClientAddressFamily.Unix:
                "unix:"u8.CopyTo(destination);
                return 5;
            default:
                return 0;
        }
    }

    private static int FormatIPv4(uint value, Span<byte> destination)
    {
        int n = 0;
        for (int shift = 24; shift >= 0; shift -= 8)
        {
            n += FormatDecimal((value >> shift) & 0xFF, destination[n..]);
            if (shift > 0)
            {
                destination[n++] = (byte)'.';
            }
        }

        return n;
    }

    private static int FormatDecimal(uint value, Span<byte> destination)
    {
        if (value >= 100)
        {
            destination[0] = (byte)('0' + value / 100);
            destination[1] = (byte)('0' + value / 10 % 10);
            destination[2] = (byte)('0' + value % 10);
            return 3;
        }

        if (value >= 10)
        {
            destination[0] = (byte)('0' + value / 10);
            destination[1] = (byte)('0' + value % 10);
            return 2;
        }

        destination[0] = (byte)('0' + value);
        return 1;
    }

    private static int FormatIPv6(ulong high, ulong low, Span<byte> destination)
    {
        Span<ushort> words = stackalloc ushort[8];
        for (int i = 0; i < 4; i++)
        {
            words[i] = (ushort)(high >> (48 - 16 * i));
            words[4 + i] = (ushort)(low >> (48 - 16 * i));
        }

        // The longest run of zero groups (the first of equal ones); a single zero group is not compressed.
        int zero = 8, max = 0;
        for (int i = 0; i < 8;)
        {
            if (words[i] != 0)
            {
                i++;
                continue;
            }

            int start = i;
            while (i < 8 && words[i] == 0)
            {
                i++;
            }

            if (i - start > max)
            {
                max = i - start;
                zero = start;
            }
        }

        if (max < 2)
        {
            zero = 8;
        }

        // ngx_inet6_ntop: "::ffff:a.b.c.d" (mapped), "::a.b.c.d" (compatible, but not "::1").
        int groups = 8;
        if (zero == 0 && ((max == 5 && words[5] == 0xFFFF) || max == 6 || (max == 7 && words[7] != 1)))
        {
            groups = 6;
        }

        int n = 0;
        for (int i = 0; i < groups; i++)
        {
            if (i == zero)
            {
                if (i == 0)
                {
                    destination[n++] = (byte)':';
                }

                destination[n++] = (byte)':';
                i += max - 1;
                continue;
            }

            n += FormatHex(words[i], destination[n..]);
            if (i < 7)
            {
                destination[n++] = (byte)':';
            }
        }

        if (groups == 6)
        {
            n += FormatIPv4((uint)low, destination[n..]);
        }

        return n;
    }

    private static int FormatHex(ushort value, Span<byte> destination)
    {
        int digits = value >= 0x1000 ? 4 : value >= 0x100 ? 3 : value >= 0x10 ? 2 : 1;
        for (int i = digits - 1; i >= 0; i--)
        {
            destination[i] = (byte)"0123456789abcdef"[value & 0xF];
            value >>= 4;
        }

        return digits;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool IsDigit(byte c) => (uint)(c - '0') <= 9;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int HexValue(byte c)
    {
        if ((uint)(c - '0') <= 9)
        {
            return c - '0';
        }

        uint lower = (uint)(c | 0x20) - 'a';
        return lower <= 5 ? (int)lower + 10 : -1;
    }
}
