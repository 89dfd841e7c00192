using System.Diagnostics.CodeAnalysis;
using System.Text;

namespace FastProxy.RealIp;

/// <summary>One <c>set_real_ip_from</c> network: an address and a prefix length, matched on raw bits.</summary>
internal readonly struct IpCidr
{
    private IpCidr(ClientAddressFamily family, ulong high, ulong low, ulong maskHigh, ulong maskLow, int prefixLength)
    {
        Family = family;
        High = high;
        Low = low;
        MaskHigh = maskHigh;
        MaskLow = maskLow;
        PrefixLength = prefixLength;
    }

    public ClientAddressFamily Family { get; }

    public int PrefixLength { get; }

    // IPv4 uses Low (32 bits) and MaskLow; IPv6 uses both halves.
    internal ulong High { get; }

    internal ulong Low { get; }

    internal ulong MaskHigh { get; }

    internal ulong MaskLow { get; }

    /// <summary>
    /// ngx_ptocidr: <c>address</c> or <c>address/prefix</c>. When the address has bits set beyond the prefix, nginx
    /// warns "low address bits of ... are meaningless" and masks them: <paramref name="hostBitsSet"/> reports it.
    /// </summary>
    public static bool TryParse(ReadOnlySpan<byte> text, out IpCidr cidr, out bool hostBitsSet)
    {
        cidr = default;
        hostBitsSet = false;
        int slash = text.IndexOf((byte)'/');
        ReadOnlySpan<byte> addressText = slash < 0 ? text : text[..slash];
        if (!IpAddressText.TryParseAddress(addressText, out ClientAddress address))
        {
            return false;
        }

        int max = address.Family == ClientAddressFamily.IPv4 ? 32 : 128;
        int prefix = max;
        if (slash >= 0)
        {
            ReadOnlySpan<byte> prefixText = text[(slash + 1)..];
            if (prefixText.IsEmpty || prefixText.Length > 3 || prefixText.IndexOfAnyExceptInRange((byte)'0', (byte)'9') >= 0)
            {
                return false;
            }

            prefix = 0;
            foreach (byte c in prefixText)
            {
                prefix = prefix * 10 + (c - '0');
            }

            if (prefix > max)
            {
                return false;
            }
        }

        if (address.Family == ClientAddressFamily.IPv4)
        {
            ulong mask = prefix == 0 ? 0 : (0xFFFF_FFFFUL << (32 - prefix)) & 0xFFFF_FFFFUL;
            ulong value = address.IPv4Value;
            hostBitsSet = (value & ~mask & 0xFFFF_FFFFUL) != 0;
            cidr = new IpCidr(ClientAddressFamily.IPv4, 0, value & mask, 0, mask, prefix);
            return true;
        }

        ulong maskHigh = prefix >= 64 ? ulong.MaxValue : prefix == 0 ? 0 : ulong.MaxValue << (64 - prefix);
        ulong maskLow = prefix <= 64 ? 0 : prefix == 128 ? ulong.MaxValue : ulong.MaxValue << (128 - prefix);
        hostBitsSet = (address.IPv6High & ~maskHigh) != 0 || (address.IPv6Low & ~maskLow) != 0;
        cidr = new IpCidr(ClientAddressFamily.IPv6, address.IPv6High & maskHigh, address.IPv6Low & maskLow, maskHigh, maskLow, prefix);
        return true;
    }

    public override string ToString()
    {
        ClientAddress network = Family == ClientAddressFamily.IPv4
            ? ClientAddress.FromIPv4((uint)Low)
            : ClientAddress.FromIPv6(High, Low);
        return $"{network}/{PrefixLength}";
    }
}

/// <summary>
/// The <c>set_real_ip_from</c> list of a context: the peers whose headers may name the client.
/// </summary>
/// <remarks>
/// Matching follows ngx_cidr_match: an IPv4-mapped IPv6 address is compared as the IPv4 address it carries, IPv4
/// networks match only IPv4 addresses and IPv6 networks only IPv6 ones, and <c>unix:</c> trusts every peer on a UNIX
/// domain socket. nginx also accepts a host name and trusts the addresses it resolves to at load time; FastProxy
/// does not resolve names here (the configuration loader must, or reject them).
/// </remarks>
internal sealed class TrustedProxies
{
    private readonly uint[] _v4Networks;
    private readonly uint[] _v4Masks;
    private readonly IpCidr[] _v6;

    public TrustedProxies(IEnumerable<IpCidr> networks, bool trustUnixSockets = false)
    {
        ArgumentNullException.ThrowIfNull(networks);
        IpCidr[] all = [.. networks];
        IpCidr[] v4 = [.. all.Where(c => c.Family == ClientAddressFamily.IPv4)];
        _v4Networks = [.. v4.Select(c => (uint)c.Low)];
        _v4Masks = [.. v4.Select(c => (uint)c.MaskLow)];
        _v6 = [.. all.Where(c => c.Family == ClientAddressFamily.IPv6)];
        Networks = all;
        TrustUnixSockets = trustUnixSockets;
    }

    public static TrustedProxies None { get; } = new([]);

    public IReadOnlyList<IpCidr> Networks { get; }

    public bool TrustUnixSockets { get; }

    public bool IsEmpty => Networks.Count == 0 && !TrustUnixSockets;

    /// <summary>Parses <c>set_real_ip_from</c> values (<c>CIDR</c>, address, or <c>unix:</c>). Warnings (host bits set
    /// beyond the prefix, as nginx warns) are added to <paramref name="warnings"/> when given.</summary>
    public static bool TryParse(
        IEnumerable<string> entries,
        [NotNullWhen(true)] out TrustedProxies? proxies,
        [NotNullWhen(false)] out string? error,
        ICollection<string>? warnings = null)
    {
        ArgumentNullException.ThrowIfNull(entries);
        var networks = new List<IpCidr>();
        bool unix = false;
        foreach (string entry in entries)
        {
            if (entry == "unix:")
            {
                unix = true;
                continue;
            }

            if (!Ascii.IsValid(entry) || !IpCidr.TryParse(Encoding.ASCII.GetBytes(entry), out IpCidr cidr, out bool hostBits))
            {
                proxies = null;
                error = $"invalid parameter \"{entry}\"";
                return false;
            }

            if (hostBits)
            {
                warnings?.Add($"low address bits of {entry} are meaningless");
            }

            networks.Add(cidr);
        }

        proxies = new TrustedProxies(networks, unix);
        error = null;
        return true;
    }

    public bool Contains(in ClientAddress address)
    {
        switch (address.Family)
        {
            case ClientAddressFamily.IPv4:
                return ContainsIPv4(address.IPv4Value);
            case ClientAddressFamily.IPv6:
                if (address.IsIPv4MappedIPv6)
                {
                    return ContainsIPv4((uint)address.IPv6Low);
                }

                foreach (ref readonly IpCidr cidr in _v6.AsSpan())
                {
                    if ((address.IPv6High & cidr.MaskHigh) == cidr.High && (address.IPv6Low & cidr.MaskLow) == cidr.Low)
                    {
                        return true;
                    }
                }

                return false;
            case ClientAddressFamily.Unix:
                return TrustUnixSockets;
            default:
                return false;
        }
    }

    private bool ContainsIPv4(uint address)
    {
        uint[] networks = _v4Networks;
        uint[] masks = _v4Masks;
        for (int i = 0; i < networks.Length && i < masks.Length; i++)
        {
            if ((address & masks[i]) == networks[i])
            {
                return true;
            }
        }

        return false;
    }
}
