using FastProxy.Config;

namespace FastProxy.Routing;

/// <summary>nginx's $uri: the request path decoded and normalised (ngx_http_parse_complex_uri, on a Unix build).</summary>
internal static class UriNormalizer
{
    private enum State { Usual, Slash, Dot, DotDot }

    /// <summary>
    /// Writes the normalised form of <paramref name="rawPath"/> (the path of the request target, with or without its
    /// query) into <paramref name="destination"/> (at least as long as the input; one byte for an empty path, which
    /// becomes "/").
    /// Percent escapes are decoded and the decoded byte is then read like any other, so "%2e%2e" and "..%2F" are dot
    /// segments and "%2F" is a slash, exactly as nginx reads them; "." and ".." segments are resolved; runs of "/" are
    /// merged when <paramref name="mergeSlashes"/>; the path ends at "?" or "#". Returns false for what nginx answers
    /// 400: a ".." that climbs above the root, "%00", a bad or truncated escape, or a path not starting with "/".
    /// A backslash is an ordinary byte (nginx treats it as a separator only on Windows).
    /// </summary>
    public static bool TryNormalize(ReadOnlySpan<byte> rawPath, Span<byte> destination, bool mergeSlashes, out int length)
    {
        length = 0;
        if (rawPath.IsEmpty)
        {
            if (destination.IsEmpty)
            {
                return false;
            }
            // "GET http://host HTTP/1.1": nginx's empty_path_in_uri becomes "/".
            destination[0] = (byte)'/';
            length = 1;
            return true;
        }
        if (rawPath[0] != (byte)'/')
        {
            return false;
        }
        var state = State.Usual;
        int u = 0;
        int p = 0;
        while (p < rawPath.Length)
        {
            byte ch = rawPath[p++];
            if (ch == (byte)'%')
            {
                if (p + 2 > rawPath.Length || !TryHex(rawPath[p], out int hi) || !TryHex(rawPath[p + 1], out int lo))
                {
                    return false;
                }
                ch = (byte)((hi << 4) | lo);
                p += 2;
                if (ch == 0)
                {
                    return false;
                }
                // A decoded "%", "#" or "?" is data, not syntax (sw_quoted_second); every other decoded byte is read
                // in the state the escape appeared in, so an escaped "/" or "." takes part in dot segments.
                if (ch is (byte)'%' or (byte)'#' or (byte)'?')
                {
                    destination[u++] = ch;
                    state = State.Usual;
                    continue;
                }
            }
            else if (ch is (byte)'?' or (byte)'#')
            {
                break;
            }

            switch (state)
            {
                case State.Usual:
                    destination[u++] = ch;
                    if (ch == (byte)'/')
                    {
                        state = State.Slash;
                    }
                    break;

                case State.Slash:
                    if (ch == (byte)'/')
                    {
                        if (!mergeSlashes)
                        {
                            destination[u++] = ch;
                        }
                    }
                    else if (ch == (byte)'.')
                    {
                        destination[u++] = ch;
                        state = State.Dot;
                    }
                    else
                    {
                        destination[u++] = ch;
                        state = State.Usual;
                    }
                    break;

                case State.Dot:
                    if (ch == (byte)'/')
                    {
                        // "/./": drop the dot, stay after the slash.
                        u--;
                        state = State.Slash;
                    }
                    else if (ch == (byte)'.')
                    {
                        destination[u++] = ch;
                        state = State.DotDot;
                    }
                    else
                    {
                        destination[u++] = ch;
                        state = State.Usual;
                    }
                    break;

                case State.DotDot:
                    if (ch == (byte)'/')
                    {
                        if (!ClimbUp(destination, ref u))
                        {
                            return false;
                        }
                        state = State.Slash;
                    }
                    else
                    {
                        destination[u++] = ch;
                        state = State.Usual;
                    }
                    break;
            }
        }
        if (state == State.Dot)
        {
            u--;
        }
        else if (state == State.DotDot && !ClimbUp(destination, ref u))
        {
            return false;
        }
        length = u;
        return true;
    }

    /// <summary>Drops "/segment/.." back to "/": u points after "/..". False when there is nothing left to climb.</summary>
    private static bool ClimbUp(Span<byte> destination, ref int u)
    {
        // nginx: u -= 4 (back over "/.." and one more byte), then back to the previous "/".
        u -= 4;
        while (true)
        {
            if (u < 0)
            {
                return false;
            }
            if (destination[u] == (byte)'/')
            {
                u++;
                return true;
            }
            u--;
        }
    }

    private static bool TryHex(byte b, out int value)
    {
        value = b switch
        {
            >= (byte)'0' and <= (byte)'9' => b - '0',
            >= (byte)'a' and <= (byte)'f' => b - 'a' + 10,
            >= (byte)'A' and <= (byte)'F' => b - 'A' + 10,
            _ => -1,
        };
        return value >= 0;
    }
}

/// <summary>Builds the request target sent upstream, with nginx's proxy_pass URI semantics (ngx_http_proxy_create_request).</summary>
internal static class UpstreamTarget
{
    /// <summary>
    /// Writes the upstream request target. Without a URI on proxy_pass, the client's original target goes through
    /// unchanged; with one, the part of the normalised path matched by the location prefix is replaced by it, the rest
    /// is escaped again where nginx escapes it (only when the client's path had a "%", as nginx does), and the query
    /// is appended. Returns the length written, or -1 when <paramref name="destination"/> is too small.
    /// </summary>
    public static int Write(LocationRoute location, ReadOnlySpan<byte> originalTarget, ReadOnlySpan<byte> normalizedPath,
        ReadOnlySpan<byte> query, Span<byte> destination)
    {
        var proxyPass = location.Settings.ProxyPass;
        if (proxyPass?.Uri is null)
        {
            return originalTarget.TryCopyTo(destination) ? originalTarget.Length : -1;
        }
        var uri = location.ProxyPassUriBytes;
        // The matched prefix of a prefix or exact location; regex and named locations cannot have a URI (load error).
        int prefix = location.IsStatic ? Math.Min(location.PatternBytes.Length, normalizedPath.Length) : 0;
        bool escape = PathHasEscapes(originalTarget);
        return Compose(uri, normalizedPath.Slice(prefix), escape, query, destination);
    }

    /// <summary>
    /// The target after <c>rewrite ... break</c> changed the URI: nginx then ignores the URI part of proxy_pass and
    /// sends the whole rewritten URI, escaped (the request is "internal"), with <paramref name="query"/> (the
    /// rewritten arguments, or the original ones when the replacement had no "?").
    /// </summary>
    public static int WriteRewritten(ReadOnlySpan<byte> rewrittenPath, ReadOnlySpan<byte> query, Span<byte> destination) =>
        Compose([], rewrittenPath, escape: true, query, destination);

    /// <summary>
    /// The target after a rewrite changed $uri (ngx_http_proxy_create_request with r->internal set): the URI is always
    /// escaped; the location's matched prefix is replaced by the proxy_pass URI only while the location is valid
    /// (<paramref name="keepLocation"/>: the URI was changed by <c>last</c> or no flag and the request found its location
    /// again); after <c>break</c>, or without a URI on proxy_pass, the whole rewritten URI goes. <paramref name="args"/>
    /// are the arguments the rewrite left. Returns the length written, or -1 when <paramref name="destination"/> is too small.
    /// </summary>
    public static int WriteAfterRewrite(LocationRoute location, bool keepLocation, ReadOnlySpan<byte> uri, ReadOnlySpan<byte> args,
        Span<byte> destination)
    {
        if (!keepLocation || location.Settings.ProxyPass?.Uri is null)
        {
            return Compose([], uri, escape: true, args, destination);
        }
        int prefix = location.IsStatic ? Math.Min(location.PatternBytes.Length, uri.Length) : 0;
        return Compose(location.ProxyPassUriBytes, uri.Slice(prefix), escape: true, args, destination);
    }

    private static int Compose(ReadOnlySpan<byte> uri, ReadOnlySpan<byte> rest, bool escape, ReadOnlySpan<byte> query, Span<byte> destination)
    {
        int n = 0;
        if (!uri.TryCopyTo(destination))
        {
            return -1;
        }
        n += uri.Length;
        foreach (byte b in rest)
        {
            if (escape && MustEscape(b))
            {
                if (n + 3 > destination.Length)
                {
                    return -1;
                }
                destination[n++] = (byte)'%';
                destination[n++] = (byte)"0123456789ABCDEF"[b >> 4];
                destination[n++] = (byte)"0123456789ABCDEF"[b & 15];
                continue;
            }
            if (n >= destination.Length)
            {
                return -1;
            }
            destination[n++] = b;
        }
        if (!query.IsEmpty)
        {
            if (n + 1 + query.Length > destination.Length)
            {
                return -1;
            }
            destination[n++] = (byte)'?';
            query.CopyTo(destination.Slice(n));
            n += query.Length;
        }
        return n;
    }

    /// <summary>
    /// ngx_escape_uri(NGX_ESCAPE_URI): controls, space, '"', '#', '%', '&lt;', '&gt;', '?', '\', '^', '`', '{', '|', '}',
    /// DEL and every byte above 0x7F (checked against nginx 1.22 with every byte). "/" stays, so a decoded "%2F"
    /// goes upstream as "/", as nginx sends it.
    /// </summary>
    internal static bool MustEscape(byte b) => b <= 0x20 || b >= 0x7F || b is (byte)'"' or (byte)'#' or (byte)'%' or (byte)'<'
        or (byte)'>' or (byte)'?' or (byte)'\\' or (byte)'^' or (byte)'`' or (byte)'{' or (byte)'|' or (byte)'}';

    /// <summary>nginx's r->quoted_uri: the path (not the query) had a percent escape.</summary>
    private static bool PathHasEscapes(ReadOnlySpan<byte> target)
    {
        int end = target.IndexOfAny((byte)'?', (byte)'#');
        return (end < 0 ? target : target.Slice(0, end)).Contains((byte)'%');
    }
}
