using System.Buffers.Binary;
using System.Text;
using FastProxy.Config;
using FastProxy.RealIp;

namespace FastProxy.Runtime;

/// <summary>
/// <c>allow</c>/<c>deny</c> compiled (ngx_http_access_module): the IPv4 rules and the IPv6 rules in configuration
/// order, each a network and a mask, "all" in both lists. The first rule of the client's family that matches decides;
/// no match allows. An IPv4-mapped IPv6 client is checked as IPv4 when there are IPv4 rules, as nginx does.
/// </summary>
internal sealed class AccessList
{
    private readonly (uint Network, uint Mask, bool Deny)[] _v4;
    private readonly (ulong High, ulong Low, ulong MaskHigh, ulong MaskLow, bool Deny)[] _v6;

    private AccessList((uint, uint, bool)[] v4, (ulong, ulong, ulong, ulong, bool)[] v6)
    {
        _v4 = v4;
        _v6 = v6;
    }

    /// <summary>The compiled rules, or null when there are none (the request path then skips the check).</summary>
    public static AccessList? Create(IReadOnlyList<AccessRuleConfig> rules)
    {
        if (rules.Count == 0)
        {
            return null;
        }
        var v4 = new List<(uint, uint, bool)>();
        var v6 = new List<(ulong, ulong, ulong, ulong, bool)>();
        foreach (var rule in rules)
        {
            if (rule.Address == "all")
            {
                v4.Add((0, 0, rule.Deny));
                v6.Add((0, 0, 0, 0, rule.Deny));
                continue;
            }
            if (rule.Address == "unix:")
            {
                continue; // FastProxy listens on no UNIX socket: such rules can never match
            }
            if (!IpCidr.TryParse(Encoding.ASCII.GetBytes(rule.Address), out var cidr, out _))
            {
                throw new ArgumentException($"invalid parameter \"{rule.Address}\"");
            }
            if (cidr.Family == ClientAddressFamily.IPv4)
            {
                v4.Add(((uint)cidr.Low, (uint)cidr.MaskLow, rule.Deny));
            }
            else
            {
                v6.Add((cidr.High, cidr.Low, cidr.MaskHigh, cidr.MaskLow, rule.Deny));
            }
        }
        return new AccessList([.. v4], [.. v6]);
    }

    /// <summary>
    /// True when the rules deny <paramref name="address"/> ($binary_remote_addr: 4 bytes for IPv4, 16 for IPv6).
    /// </summary>
    public bool Denies(ReadOnlySpan<byte> address)
    {
        if (address.Length == 4)
        {
            return DeniesIPv4(BinaryPrimitives.ReadUInt32BigEndian(address));
        }
        if (address.Length != 16)
        {
            return false;
        }
        ulong high = BinaryPrimitives.ReadUInt64BigEndian(address);
        ulong low = BinaryPrimitives.ReadUInt64BigEndian(address[8..]);
        // IN6_IS_ADDR_V4MAPPED: ::ffff:a.b.c.d
        if (_v4.Length > 0 && high == 0 && (low >> 32) == 0xFFFF)
        {
            return DeniesIPv4((uint)low);
        }
        foreach (ref readonly var rule in _v6.AsSpan())
        {
            if ((high & rule.MaskHigh) == rule.High && (low & rule.MaskLow) == rule.Low)
            {
                return rule.Deny;
            }
        }
        return false;
    }

    private bool DeniesIPv4(uint address)
    {
        foreach (ref readonly var rule in _v4.AsSpan())
        {
            if ((address & rule.Mask) == rule.Network)
            {
                return rule.Deny;
            }
        }
        return false;
    }
}
