namespace FastProxy.RealIp;

/// <summary>Where <c>real_ip_header</c> takes the client address from.</summary>
internal enum RealIpSource : byte
{
    /// <summary><c>X-Real-IP</c>, nginx's default.</summary>
    XRealIp,

    /// <summary><c>X-Forwarded-For</c>: every field line of the header, walked from the last.</summary>
    XForwardedFor,

    /// <summary>Any other header, named by <see cref="RealIpResolver.HeaderName"/> (its first occurrence).</summary>
    Header,

    /// <summary>The source address of the PROXY protocol header of the connection.</summary>
    ProxyProtocol,
}

/// <summary>
/// The real client address behind trusted proxies: <c>set_real_ip_from</c>, <c>real_ip_header</c>,
/// <c>real_ip_recursive</c>, with nginx's algorithm (ngx_http_get_forwarded_addr). Pure: bytes in, an address out.
/// </summary>
/// <remarks>
/// <para>Only a trusted peer can change the address. The value is read from its end: the last element (elements are
/// separated by spaces and commas) replaces the peer address. Without <c>real_ip_recursive</c> that is all. With it,
/// as long as the address just taken is itself trusted, the walk goes on leftwards, so the result is the rightmost
/// address not in the trusted set (or the leftmost element when every one is trusted). An element that does not parse
/// stops the walk: the address stays the last one taken, or the peer's if none was.</para>
/// <para>X-Forwarded-For may arrive as several field lines; nginx walks them from the last line to the first, going on
/// to an earlier line only in recursive mode and only when the whole later line was consumed through trusted
/// addresses. Without recursion only the last line is read.</para>
/// <para>An untrusted peer can therefore never choose its address, and with recursion a client can only prepend
/// addresses to the left of the first untrusted hop, which the walk never reaches.</para>
/// </remarks>
internal sealed class RealIpResolver
{
    public RealIpResolver(TrustedProxies trusted, RealIpSource source = RealIpSource.XRealIp, string? headerName = null, bool recursive = false)
    {
        ArgumentNullException.ThrowIfNull(trusted);
        if (source == RealIpSource.Header && string.IsNullOrEmpty(headerName))
        {
            throw new ArgumentException("A header name is needed for RealIpSource.Header.", nameof(headerName));
        }

        Trusted = trusted;
        Source = source;
        HeaderName = source switch
        {
            RealIpSource.XRealIp => "X-Real-IP",
            RealIpSource.XForwardedFor => "X-Forwarded-For",
            RealIpSource.Header => headerName,
            _ => null,
        };
        Recursive = recursive;
    }

    public TrustedProxies Trusted { get; }

    public RealIpSource Source { get; }

    /// <summary>The header the engine reads (null for <see cref="RealIpSource.ProxyProtocol"/>).</summary>
    public string? HeaderName { get; }

    public bool Recursive { get; }

    private enum Walk : byte { Declined, Ok, Done }

    /// <summary>Resolves from one value: X-Real-IP, another header, the PROXY protocol source address, or a single
    /// X-Forwarded-For line. True when the address changed; <paramref name="client"/> is the peer otherwise.</summary>
    public bool TryResolve(in ClientAddress peer, ReadOnlySpan<byte> value, out ClientAddress client)
    {
        client = peer;
        if (WalkValue(ref client, value) == Walk.Declined)
        {
            client = peer;
            return false;
        }

        return true;
    }

    /// <summary>Resolves from every X-Forwarded-For field line of the request, in the order received, each a range of
    /// <paramref name="buffer"/> (the engine keeps header values as offsets into its read buffer).</summary>
    public bool TryResolve(in ClientAddress peer, ReadOnlySpan<byte> buffer, ReadOnlySpan<Range> lines, out ClientAddress client)
    {
        client = peer;
        Walk result = Walk.Declined;
        bool found = false;
        for (int i = lines.Length - 1; i >= 0; i--)
        {
            result = WalkValue(ref client, buffer[lines[i]]);
            if (!Recursive)
            {
                break;
            }

            if (result == Walk.Declined && found)
            {
                result = Walk.Done;
                break;
            }

            if (result != Walk.Ok)
            {
                break;
            }

            found = true;
        }

        if (result == Walk.Declined)
        {
            client = peer;
            return false;
        }

        return true;
    }

    /// <summary>ngx_http_get_forwarded_addr_internal, on indices instead of pointers.</summary>
    private Walk WalkValue(ref ClientAddress address, ReadOnlySpan<byte> value)
    {
        bool found = false;
        int length = value.Length;
        while (true)
        {
            if (!Trusted.Contains(in address))
            {
                return found ? Walk.Done : Walk.Declined;
            }

            if (length == 0)
            {
                // An empty value: nginx would parse the byte before it, which is never an address. Same outcome.
                return found ? Walk.Done : Walk.Declined;
            }

            // Skip trailing separators, then find where the last element starts. Like nginx, the first byte of the
            // value is never taken for a separator.
            int p = length - 1;
            while (p > 0 && IsSeparator(value[p]))
            {
                p--;
                length--;
            }

            while (p > 0)
            {
                if (IsSeparator(value[p]))
                {
                    p++;
                    break;
                }

                p--;
            }

            if (!IpAddressText.TryParseAddressAndPort(value[p..length], out ClientAddress parsed))
            {
                return found ? Walk.Done : Walk.Declined;
            }

            address = parsed;
            found = true;
            if (!Recursive || p == 0)
            {
                return Walk.Ok;
            }

            length = p - 1;
        }
    }

    private static bool IsSeparator(byte c) => c is (byte)' ' or (byte)',';
}
