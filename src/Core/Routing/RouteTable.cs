using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using FastProxy.Config;

namespace FastProxy.Routing;

// CONTRACT (owned by the config/routing engineer, used by the engine): server selection (nginx's
// ngx_http_find_virtual_server), location matching (ngx_http_core_find_location), $uri normalisation
// (ngx_http_parse_complex_uri) and the upstream request target (ngx_http_proxy_create_request). Everything on the
// per-request path works on spans and allocates nothing unless a regex has to see the path as characters, and even
// then the characters live on the stack (or in a pooled array for very long paths).

/// <summary>One virtual server at run time.</summary>
internal sealed class ServerRoute
{
    public ServerRoute(ServerConfig config)
    {
        Config = config;
        ServerNameBytes = Encoding.ASCII.GetBytes(config.ServerNames.Count > 0 ? config.ServerNames[0] : string.Empty);
        var locations = new List<LocationRoute>();
        foreach (var location in config.Locations)
        {
            locations.Add(new LocationRoute(location, parent: null));
        }
        Locations = [.. locations];
        Root = new LocationLevel(Locations);
        var named = new Dictionary<string, LocationRoute>(StringComparer.Ordinal);
        foreach (var location in Locations)
        {
            if (location.Config.MatchKind == LocationMatchKind.Named)
            {
                named.TryAdd(location.Config.Pattern, location);
            }
        }
        _named = named;
    }

    private readonly Dictionary<string, LocationRoute> _named;

    public ServerConfig Config { get; }

    /// <summary>$server_name: the first server_name of the block.</summary>
    public byte[] ServerNameBytes { get; }

    /// <summary>Top-level locations in file order.</summary>
    public LocationRoute[] Locations { get; }

    internal LocationLevel Root { get; }

    /// <summary>A named location (<c>@name</c>), for internal redirects; null when there is none of that name.</summary>
    public LocationRoute? FindNamed(string name) => _named.GetValueOrDefault(name);

    /// <summary>The compiled server-level settings of the snapshot this route belongs to (set when it is built).</summary>
    internal Runtime.LocationRuntime? Runtime { get; set; }
}

/// <summary>One location at run time.</summary>
internal sealed class LocationRoute
{
    public LocationRoute(LocationConfig config, LocationRoute? parent = null)
    {
        Config = config;
        Parent = parent;
        PatternBytes = Encoding.UTF8.GetBytes(config.Pattern);
        Kind = config.MatchKind;
        if (Kind is LocationMatchKind.Regex or LocationMatchKind.RegexCaseInsensitive)
        {
            Regex = NginxRegex.Create(config.Pattern, Kind == LocationMatchKind.RegexCaseInsensitive);
        }
        // ngx_http_proxy_pass sets auto_redirect on a location whose name ends with "/": a request for the name
        // without the slash is answered 301 with the slash appended (ngx_http_core_find_config_phase).
        AutoRedirect = config.Settings.ProxyPass is not null && Kind is LocationMatchKind.Prefix or LocationMatchKind.PrefixNoRegex
            or LocationMatchKind.Exact && PatternBytes.Length > 0 && PatternBytes[^1] == (byte)'/';
        ProxyPassUriBytes = config.Settings.ProxyPass?.Uri is string uri ? Encoding.UTF8.GetBytes(uri) : [];
        var children = new List<LocationRoute>();
        foreach (var child in config.Locations)
        {
            children.Add(new LocationRoute(child, this));
        }
        Locations = [.. children];
        // Nested prefixes extend this location's name (checked at load), so they differ from the byte after it on.
        Nested = Locations.Length == 0 ? null : new LocationLevel(Locations, IsStatic ? PatternBytes.Length : 1);
    }

    public LocationConfig Config { get; }

    public LocationSettings Settings => Config.Settings;

    /// <summary>
    /// The compiled settings of the snapshot this route belongs to, set when it is built: a request reads them here
    /// rather than looking them up by settings object (null only for a route built outside a snapshot).
    /// </summary>
    internal Runtime.LocationRuntime? Runtime { get; set; }

    public LocationMatchKind Kind { get; }

    /// <summary>The location's name as bytes: the prefix, the exact URI, the regex source or "@name".</summary>
    public byte[] PatternBytes { get; }

    /// <summary>The URI part of proxy_pass as bytes (empty when it has none).</summary>
    public byte[] ProxyPassUriBytes { get; }

    /// <summary>The compiled regex of a <c>~</c>/<c>~*</c> location (match it again with Regex.Match when captures are needed).</summary>
    public Regex? Regex { get; }

    public LocationRoute? Parent { get; }

    /// <summary>Nested locations in file order.</summary>
    public LocationRoute[] Locations { get; }

    /// <summary>True when a request for the name without its trailing slash is redirected (301) here.</summary>
    public bool AutoRedirect { get; }

    internal LocationLevel? Nested { get; }

    /// <summary>True for a prefix location (plain or ^~) or an exact one: its prefix is what proxy_pass replaces.</summary>
    public bool IsStatic => Kind is LocationMatchKind.Prefix or LocationMatchKind.PrefixNoRegex or LocationMatchKind.Exact;
}

/// <summary>What location matching decided.</summary>
internal enum LocationMatchStatus
{
    /// <summary>No location matches: the server-level settings apply (nginx answers from the server's defaults).</summary>
    None,

    /// <summary>A location matches.</summary>
    Found,

    /// <summary>
    /// The path equals a proxied prefix location's name without its trailing "/": nginx answers 301 to the path with
    /// "/" appended (and the query kept). The location is the one redirected to.
    /// </summary>
    AutoRedirect,
}

/// <summary>The locations of one level (a server, or the nested locations of one location), prepared for matching.</summary>
internal sealed class LocationLevel
{
    private readonly LocationRoute[] _exact;
    private readonly LocationRoute[] _regexes;
    private readonly LocationRoute[] _autoRedirects;

    // Prefixes longer than _keyIndex are bucketed by their byte at _keyIndex (the first byte after "/" at the top,
    // the first byte after the parent's name when nested), longest first in each bucket; shorter ones are in _short.
    // A bucket hit is always longer than any _short prefix, so the first match found is nginx's longest match.
    private readonly int _keyIndex;
    private readonly LocationRoute[]?[] _buckets = new LocationRoute[]?[256];
    private readonly LocationRoute[] _short;

    public LocationLevel(LocationRoute[] locations, int keyIndex = 1)
    {
        _keyIndex = keyIndex;
        _exact = [.. locations.Where(l => l.Kind == LocationMatchKind.Exact)];
        // Longest first; stable for equal lengths (equal names are a load error anyway).
        var prefixes = locations
            .Where(l => l.Kind is LocationMatchKind.Prefix or LocationMatchKind.PrefixNoRegex)
            .Select((l, i) => (l, i))
            .OrderByDescending(x => x.l.PatternBytes.Length)
            .ThenBy(x => x.i)
            .Select(x => x.l)
            .ToList();
        _short = [.. prefixes.Where(l => l.PatternBytes.Length <= keyIndex)];
        foreach (var group in prefixes.Where(l => l.PatternBytes.Length > keyIndex).GroupBy(l => l.PatternBytes[keyIndex]))
        {
            _buckets[group.Key] = [.. group];
        }
        _regexes = [.. locations.Where(l => l.Regex is not null)];
        _autoRedirects = [.. locations.Where(l => l.AutoRedirect)];
    }

    public bool HasRegexes => _regexes.Length > 0;

    public LocationRoute? FindExact(ReadOnlySpan<byte> path)
    {
        foreach (var location in _exact)
        {
            if (path.SequenceEqual(location.PatternBytes))
            {
                return location;
            }
        }
        return null;
    }

    public LocationRoute? FindLongestPrefix(ReadOnlySpan<byte> path)
    {
        if ((uint)_keyIndex < (uint)path.Length && _buckets[path[_keyIndex]] is { } bucket)
        {
            foreach (var location in bucket)
            {
                if (path.StartsWith(location.PatternBytes))
                {
                    return location;
                }
            }
        }
        foreach (var location in _short)
        {
            if (path.StartsWith(location.PatternBytes))
            {
                return location;
            }
        }
        return null;
    }

    /// <summary>A proxied location named exactly <paramref name="path"/> + "/".</summary>
    public LocationRoute? FindAutoRedirect(ReadOnlySpan<byte> path)
    {
        foreach (var location in _autoRedirects)
        {
            var name = location.PatternBytes;
            if (name.Length == path.Length + 1 && name.AsSpan(0, path.Length).SequenceEqual(path))
            {
                return location;
            }
        }
        return null;
    }

    public ReadOnlySpan<LocationRoute> Regexes => _regexes;
}

/// <summary>The regex flavour of nginx locations, server names, maps and rewrites, in .NET.</summary>
internal static class NginxRegex
{
    /// <summary>
    /// PCRE's "(?P&lt;name&gt;...)" becomes .NET's "(?&lt;name&gt;...)". NonBacktracking (linear time on hostile paths)
    /// where the pattern allows it, else compiled backtracking. Throws ArgumentException on a bad pattern.
    /// </summary>
    public static Regex Create(string pattern, bool ignoreCase)
    {
        string dotnet = pattern.Replace("(?P<", "(?<", StringComparison.Ordinal);
        var options = RegexOptions.CultureInvariant | (ignoreCase ? RegexOptions.IgnoreCase : RegexOptions.None);
        try
        {
            return new Regex(dotnet, options | RegexOptions.NonBacktracking);
        }
        catch (NotSupportedException)
        {
            return new Regex(dotnet, options | RegexOptions.Compiled);
        }
    }
}

/// <summary>Server selection and location matching for one configuration snapshot.</summary>
internal sealed class RouteTable
{
    private readonly (IPEndPoint EndPoint, ServerNameTable Names)[] _byListen;

    private readonly Dictionary<string, MapTable> _maps;

    private RouteTable((IPEndPoint, ServerNameTable)[] byListen, ServerRoute[] servers, MapTable[] maps)
    {
        _byListen = byListen;
        Servers = servers;
        Maps = maps;
        _maps = maps.ToDictionary(m => m.Variable, StringComparer.Ordinal);
    }

    /// <summary>The compiled <c>map</c> blocks, in file order.</summary>
    public MapTable[] Maps { get; }

    /// <summary>The map that defines <paramref name="variable"/> (without "$"), or null.</summary>
    public MapTable? FindMap(string variable) => _maps.GetValueOrDefault(variable);

    /// <summary>Every server, in file order.</summary>
    public ServerRoute[] Servers { get; }

    /// <summary>Every distinct listen end point of the configuration.</summary>
    public IEnumerable<IPEndPoint> ListenEndPoints
    {
        get
        {
            foreach (var (endPoint, _) in _byListen)
            {
                yield return endPoint;
            }
        }
    }

    public static RouteTable Build(ProxyConfig config)
    {
        var routes = new List<ServerRoute>();
        var byListen = new List<(IPEndPoint EndPoint, List<ServerRoute> Servers)>();
        foreach (var server in config.Servers)
        {
            var route = new ServerRoute(server);
            routes.Add(route);
            foreach (var listen in server.Listens)
            {
                int i = byListen.FindIndex(e => e.EndPoint.Equals(listen.EndPoint));
                if (i < 0)
                {
                    byListen.Add((listen.EndPoint, [route]));
                }
                else if (!byListen[i].Servers.Contains(route))
                {
                    byListen[i].Servers.Add(route);
                }
            }
        }
        var tables = new (IPEndPoint, ServerNameTable)[byListen.Count];
        for (int i = 0; i < byListen.Count; i++)
        {
            var (endPoint, servers) = byListen[i];
            tables[i] = (endPoint, new ServerNameTable(endPoint, servers));
        }
        return new RouteTable(tables, [.. routes], [.. config.Maps.Select(m => new MapTable(m))]);
    }

    /// <summary>
    /// The server for a request that arrived on <paramref name="listen"/> (the configured end point the listener
    /// was bound for, or the connection's local address) naming <paramref name="host"/> (the Host header or the
    /// request-target authority, as received: port, trailing dot and case are handled here). An empty or invalid
    /// host gets the server named "" if any, else the default server; use <see cref="HostName.TryNormalize"/> first
    /// to answer an invalid Host with 400 as nginx does.
    /// </summary>
    public ServerRoute SelectServer(IPEndPoint listen, ReadOnlySpan<byte> host)
    {
        var table = FindListen(listen);
        return table.Select(host);
    }

    /// <summary>
    /// The listen address a connection belongs to: the exact address:port, else the wildcard address (0.0.0.0 or
    /// [::]) of that port, as nginx finds a connection's server block with getsockname().
    /// </summary>
    internal ServerNameTable FindListen(IPEndPoint listen)
    {
        ServerNameTable? wildcard = null;
        foreach (var (endPoint, table) in _byListen)
        {
            if (endPoint.Port != listen.Port)
            {
                continue;
            }
            if (endPoint.Address.Equals(listen.Address))
            {
                return table;
            }
            if (wildcard is null && endPoint.AddressFamily == listen.AddressFamily
                && (endPoint.Address.Equals(IPAddress.Any) || endPoint.Address.Equals(IPAddress.IPv6Any)))
            {
                wildcard = table;
            }
        }
        if (wildcard is null && _byListen.Length == 0)
        {
            throw new InvalidOperationException("the configuration has no server to route to");
        }
        return wildcard ?? _byListen[0].Names;
    }

    /// <summary>The location for a normalised path, or null when none matches (or nginx would redirect, see the overload).</summary>
    public LocationRoute? FindLocation(ServerRoute server, ReadOnlySpan<byte> normalizedPath) =>
        FindLocation(server, normalizedPath, out var location) == LocationMatchStatus.Found ? location : null;

    /// <summary>
    /// nginx's location choice for the normalised path ($uri): an exact "=" match wins; else the longest matching
    /// prefix, searched again among its nested locations; if that prefix is "^~" the regexes of its level are skipped,
    /// else they are tried in file order (after the nested ones) and the first match wins (then its own nested
    /// locations are searched); else the longest prefix stands.
    /// </summary>
    public LocationMatchStatus FindLocation(ServerRoute server, ReadOnlySpan<byte> normalizedPath, out LocationRoute? location)
    {
        var matcher = new PathMatcher(normalizedPath);
        try
        {
            location = null;
            var rc = Find(server.Root, ref matcher, ref location);
            return rc switch
            {
                Rc.Ok or Rc.Again => LocationMatchStatus.Found,
                Rc.Done => LocationMatchStatus.AutoRedirect,
                _ => LocationMatchStatus.None,
            };
        }
        finally
        {
            matcher.Dispose();
        }
    }

    private enum Rc { Declined, Again, Ok, Done }

    /// <summary>ngx_http_core_find_location, level by level.</summary>
    private static Rc Find(LocationLevel level, ref PathMatcher matcher, ref LocationRoute? location)
    {
        var path = matcher.Bytes;
        var exact = level.FindExact(path);
        if (exact is not null)
        {
            location = exact;
            return Rc.Ok;
        }
        var redirect = level.FindAutoRedirect(path);
        if (redirect is not null)
        {
            location = redirect;
            return Rc.Done;
        }
        var rc = Rc.Declined;
        bool noRegex = false;
        var prefix = level.FindLongestPrefix(path);
        if (prefix is not null)
        {
            location = prefix;
            noRegex = prefix.Kind == LocationMatchKind.PrefixNoRegex;
            rc = Rc.Again;
            if (prefix.Nested is not null)
            {
                var nested = Find(prefix.Nested, ref matcher, ref location);
                if (nested is Rc.Ok or Rc.Done)
                {
                    return nested;
                }
            }
        }
        if (!noRegex && level.HasRegexes)
        {
            var chars = matcher.Chars;
            foreach (var regex in level.Regexes)
            {
                if (regex.Regex!.IsMatch(chars))
                {
                    location = regex;
                    if (regex.Nested is not null)
                    {
                        Find(regex.Nested, ref matcher, ref location);
                    }
                    return Rc.Ok;
                }
            }
        }
        return rc;
    }

    /// <summary>The path as bytes, and lazily as characters for regexes (bytes widened one to one, as PCRE sees them).</summary>
    private ref struct PathMatcher
    {
        private char[]? _rented;
        private Span<char> _chars;
        private bool _decoded;

        public PathMatcher(ReadOnlySpan<byte> bytes)
        {
            Bytes = bytes;
        }

        public ReadOnlySpan<byte> Bytes { get; }

        public ReadOnlySpan<char> Chars
        {
            get
            {
                if (!_decoded)
                {
                    _rented = ArrayPool<char>.Shared.Rent(Math.Max(Bytes.Length, 1));
                    _chars = _rented.AsSpan(0, Bytes.Length);
                    Encoding.Latin1.GetChars(Bytes, _chars);
                    _decoded = true;
                }
                return _chars;
            }
        }

        public void Dispose()
        {
            if (_rented is not null)
            {
                ArrayPool<char>.Shared.Return(_rented);
                _rented = null;
            }
        }
    }
}
