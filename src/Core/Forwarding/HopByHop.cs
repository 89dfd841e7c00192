using FastProxy.Http1;

namespace FastProxy.Forwarding;

/// <summary>RFC 9110 §7.6.1: fields that describe one connection and are never forwarded.</summary>
internal static class HopByHop
{
    /// <summary>
    /// True for Connection, Keep-Alive, Proxy-Connection, TE, Trailer, Upgrade (the caller lets Upgrade through when
    /// upgrading) — the fixed list; names listed in Connection are checked by <see cref="IsListedInConnection"/>.
    /// </summary>
    public static bool IsFixed(KnownField known) => known is KnownField.Connection or KnownField.KeepAlive
        or KnownField.ProxyConnection or KnownField.TE or KnownField.Trailer or KnownField.Upgrade;

    /// <summary>
    /// True when <paramref name="name"/> appears as a token in any Connection field of the head (RFC 9110 §7.6.1:
    /// "a proxy … MUST remove … each connection option … and then remove the Connection header field itself").
    /// Only called when the parser saw such an option (<see cref="ConnectionOptions.Other"/>), so the common head
    /// costs nothing.
    /// </summary>
    public static bool IsListedInConnection(ReadOnlySpan<byte> head, ReadOnlySpan<HttpField> fields, ReadOnlySpan<byte> name)
    {
        foreach (ref readonly var field in fields)
        {
            if (field.Known != KnownField.Connection)
            {
                continue;
            }
            var value = head.Slice(field.ValueOffset, field.ValueLength);
            while (!value.IsEmpty)
            {
                int comma = value.IndexOf((byte)',');
                var token = (comma < 0 ? value : value[..comma]).Trim((byte)' ').Trim((byte)'\t');
                if (token.Length == name.Length && System.Text.Ascii.EqualsIgnoreCase(token, name))
                {
                    return true;
                }
                value = comma < 0 ? default : value[(comma + 1)..];
            }
        }
        return false;
    }
}
