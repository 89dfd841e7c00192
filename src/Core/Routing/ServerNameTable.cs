using System.Buffers;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using FastProxy.Config;

namespace FastProxy.Routing;

/// <summary>
/// The virtual servers of one listen address, found by Host as nginx's ngx_http_find_virtual_server does: the exact
/// name, then the longest wildcard starting with "*" (or ".name", which also matches "name" itself), then the longest
/// wildcard ending with "*", then the first matching regex in file order, else the default server (the one with
/// <c>default_server</c>, or the first). A name claimed by an earlier server of the address stays with it
/// ("conflicting server name ... ignored").
/// </summary>
internal sealed class ServerNameTable
{
    private readonly Dictionary<string, ServerRoute>.AlternateLookup<ReadOnlySpan<char>> _exact;
    private readonly Dictionary<string, ServerRoute>.AlternateLookup<ReadOnlySpan<char>> _head;
    private readonly Dictionary<string, ServerRoute>.AlternateLookup<ReadOnlySpan<char>> _tail;
    private readonly (Regex Regex, ServerRoute Server)[] _regexes;
    private readonly bool _hasWildcards;
    // One server on this address and no regex name (whose captures a request may read): every host selects it (by
    // name or as the default), so no lookup is needed.
    private readonly bool _single;

    public ServerNameTable(IPEndPoint endPoint, List<ServerRoute> servers)
    {
        EndPoint = endPoint;
        var exact = new Dictionary<string, ServerRoute>(StringComparer.Ordinal);
        var head = new Dictionary<string, ServerRoute>(StringComparer.Ordinal);
        var tail = new Dictionary<string, ServerRoute>(StringComparer.Ordinal);
        var regexes = new List<(Regex, ServerRoute)>();
        ServerRoute? defaultServer = null;
        foreach (var server in servers)
        {
            foreach (var listen in server.Config.Listens)
            {
                if (listen.DefaultServer && listen.EndPoint.Equals(endPoint))
                {
                    defaultServer ??= server;
                }
            }
            foreach (var raw in server.Config.ServerNames)
            {
                if (raw.Length > 0 && raw[0] == '~')
                {
                    // nginx compiles server name regexes caselessly (NGX_REGEX_CASELESS) and matches the lower-cased host.
                    regexes.Add((NginxRegex.Create(raw.Substring(1), ignoreCase: true), server));
                    continue;
                }
                string name = raw.ToLowerInvariant();
                if (name.StartsWith("*.", StringComparison.Ordinal))
                {
                    head.TryAdd(name.Substring(1), server);
                }
                else if (name.Length > 1 && name[0] == '.')
                {
                    // ".example.com": "example.com" itself and every name under it; it conflicts with an exact
                    // "example.com" of another server (ngx_hash_add_key checks both), so claim both or neither.
                    string bare = name.Substring(1);
                    bool bareFree = !exact.TryGetValue(bare, out var owner) || owner == server;
                    if (bareFree && !head.ContainsKey(name))
                    {
                        exact[bare] = server;
                        head[name] = server;
                    }
                }
                else if (name.EndsWith(".*", StringComparison.Ordinal) && name.Length > 2 && name.IndexOf('*') == name.Length - 1)
                {
                    tail.TryAdd(name.Substring(0, name.Length - 1), server);
                }
                else if (name.IndexOf('*') < 0)
                {
                    exact.TryAdd(name, server);
                }
            }
        }
        Default = defaultServer ?? servers[0];
        _exact = exact.GetAlternateLookup<ReadOnlySpan<char>>();
        _head = head.GetAlternateLookup<ReadOnlySpan<char>>();
        _tail = tail.GetAlternateLookup<ReadOnlySpan<char>>();
        _hasWildcards = head.Count > 0 || tail.Count > 0;
        _regexes = [.. regexes];
        _single = servers.Count == 1 && regexes.Count == 0;
    }

    public IPEndPoint EndPoint { get; }

    /// <summary>The default server of this address.</summary>
    public ServerRoute Default { get; }

    /// <summary>
    /// The server for a Host. With <paramref name="captures"/>, a server chosen by a regex name leaves its groups in
    /// the request as nginx does ($1..$9 until the next match, named ones as variables: <c>server_name
    /// ~^(?&lt;user&gt;.+)\.example\.net$;</c> gives <c>$user</c>); pass it only when the configuration reads captures.
    /// </summary>
    public ServerRoute Select(ReadOnlySpan<byte> rawHost, Http.RequestContext? captures = null)
    {
        if (_single)
        {
            return Default;
        }
        char[]? rented = null;
        Span<char> buffer = rawHost.Length <= 256 ? stackalloc char[256] : (rented = ArrayPool<char>.Shared.Rent(rawHost.Length));
        try
        {
            int length = HostName.NormalizeToChars(rawHost, buffer);
            if (length < 0)
            {
                return Default;
            }
            return Select((ReadOnlySpan<char>)buffer.Slice(0, length), captures) ?? Default;
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<char>.Shared.Return(rented);
            }
        }
    }

    /// <summary>Looks up a host that is already lower case, without port or trailing dot; null = use the default.</summary>
    internal ServerRoute? Select(ReadOnlySpan<char> host, Http.RequestContext? captures = null)
    {
        if (_exact.TryGetValue(host, out var server))
        {
            return server;
        }
        if (_hasWildcards && host.Length > 0)
        {
            // Leading wildcards: the longest suffix ".rest" that is registered (left-most dot first).
            for (int i = 0; i < host.Length; i++)
            {
                if (host[i] == '.' && i > 0 && _head.TryGetValue(host.Slice(i), out server))
                {
                    return server;
                }
            }
            // Trailing wildcards: the longest prefix "name." that is registered, with something after it.
            for (int i = host.Length - 2; i > 0; i--)
            {
                if (host[i] == '.' && _tail.TryGetValue(host.Slice(0, i + 1), out server))
                {
                    return server;
                }
            }
        }
        foreach (var (regex, route) in _regexes)
        {
            if (regex.IsMatch(host))
            {
                if (captures is not null)
                {
                    Capture(regex, host, captures);
                }
                return route;
            }
        }
        return null;
    }

    private static void Capture(Regex regex, ReadOnlySpan<char> host, Http.RequestContext context)
    {
        byte[]? rented = null;
        Span<byte> bytes = host.Length <= 256 ? stackalloc byte[256] : (rented = ArrayPool<byte>.Shared.Rent(host.Length));
        try
        {
            // Each char is one byte of the Host as sent (NormalizeToChars widened them): Latin-1 gives the bytes back.
            int length = Encoding.Latin1.GetBytes(host, bytes);
            Runtime.RegexCaptures.Capture(regex, bytes[..length], context); // matched already: groups only
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }
}

/// <summary>nginx's Host handling (ngx_http_validate_host): lower case, port and one trailing dot removed.</summary>
internal static class HostName
{
    /// <summary>
    /// Writes the normalised host; false when nginx answers 400 ("..", "/", NUL, space or control characters, or nothing
    /// left). An empty input is valid and stays empty (no Host).
    /// </summary>
    public static bool TryNormalize(ReadOnlySpan<byte> host, Span<byte> destination, out int length)
    {
        length = Scan(host, out int hostLength);
        if (length < 0)
        {
            return false;
        }
        for (int i = 0; i < length; i++)
        {
            byte b = host[i];
            destination[i] = b is >= (byte)'A' and <= (byte)'Z' ? (byte)(b | 0x20) : b;
        }
        _ = hostLength;
        return true;
    }

    /// <summary>The same as characters (bytes widened one to one), for the name tables; -1 when invalid.</summary>
    internal static int NormalizeToChars(ReadOnlySpan<byte> host, Span<char> destination)
    {
        int length = Scan(host, out _);
        if (length < 0)
        {
            return -1;
        }
        for (int i = 0; i < length; i++)
        {
            byte b = host[i];
            destination[i] = (char)(b is >= (byte)'A' and <= (byte)'Z' ? b | 0x20 : b);
        }
        return length;
    }

    /// <summary>Returns the normalised length (a prefix of the input), or -1 when invalid.</summary>
    private static int Scan(ReadOnlySpan<byte> host, out int hostLength)
    {
        hostLength = host.Length;
        if (host.IsEmpty)
        {
            return 0;
        }
        int dot = -2;
        bool inRest = false, literal = false;
        for (int i = 0; i < host.Length; i++)
        {
            byte ch = host[i];
            switch (ch)
            {
                case (byte)'.':
                    if (dot == i - 1)
                    {
                        return -1;
                    }
                    dot = i;
                    break;
                case (byte)':':
                    if (!inRest && !literal)
                    {
                        hostLength = i;
                        inRest = true;
                    }
                    break;
                case (byte)'[':
                    if (i == 0)
                    {
                        literal = true;
                    }
                    break;
                case (byte)']':
                    if (literal && !inRest)
                    {
                        hostLength = i + 1;
                        inRest = true;
                        literal = false;
                    }
                    break;
                case (byte)'/' or 0:
                    return -1;
                default:
                    if (ch <= 0x20 || ch == 0x7f)
                    {
                        return -1;
                    }
                    break;
            }
        }
        int length = hostLength;
        if (length > 0 && dot == length - 1)
        {
            length--;
        }
        return length == 0 ? -1 : length;
    }
}
