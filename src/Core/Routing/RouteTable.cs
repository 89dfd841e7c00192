using System.Net;
using System.Text;
using FastProxy.Config;

namespace FastProxy.Routing;

// CONTRACT (owned by the config/routing engineer, used by the engine). The bodies here are deliberately minimal
// placeholders (first server per listen address, longest plain prefix, no normalisation); the routing engineer
// replaces them with nginx's exact semantics, keeping these entry points.

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
            locations.Add(new LocationRoute(location));
        }
        Locations = [.. locations];
    }

    public ServerConfig Config { get; }

    /// <summary>$server_name: the first server_name of the block.</summary>
    public byte[] ServerNameBytes { get; }

    public LocationRoute[] Locations { get; }
}

/// <summary>One location at run time.</summary>
internal sealed class LocationRoute
{
    public LocationRoute(LocationConfig config)
    {
        Config = config;
        PatternBytes = Encoding.UTF8.GetBytes(config.Pattern);
    }

    public LocationConfig Config { get; }

    public LocationSettings Settings => Config.Settings;

    public byte[] PatternBytes { get; }
}

/// <summary>Server selection and location matching for one configuration snapshot.</summary>
internal sealed class RouteTable
{
    private readonly (IPEndPoint EndPoint, ServerRoute[] Servers)[] _byListen;

    private RouteTable((IPEndPoint, ServerRoute[])[] byListen) => _byListen = byListen;

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
        var map = new List<(IPEndPoint, List<ServerRoute>)>();
        foreach (var server in config.Servers)
        {
            var route = new ServerRoute(server);
            foreach (var listen in server.Listens)
            {
                int i = map.FindIndex(e => e.Item1.Equals(listen.EndPoint));
                if (i < 0)
                {
                    map.Add((listen.EndPoint, [route]));
                }
                else
                {
                    map[i].Item2.Add(route);
                }
            }
        }
        return new RouteTable(map.Select(e => (e.Item1, e.Item2.ToArray())).ToArray());
    }

    /// <summary>
    /// The server for a request that arrived on <paramref name="listen"/> (the configured end point the listener
    /// was bound for) naming <paramref name="host"/> (already without port, lower-cased by the caller or not).
    /// </summary>
    public ServerRoute SelectServer(IPEndPoint listen, ReadOnlySpan<byte> host)
    {
        foreach (var (endPoint, servers) in _byListen)
        {
            if (endPoint.Equals(listen))
            {
                return servers[0];
            }
        }
        return _byListen[0].Servers[0];
    }

    /// <summary>The location for a normalised path, or null when none matches.</summary>
    public LocationRoute? FindLocation(ServerRoute server, ReadOnlySpan<byte> normalizedPath)
    {
        LocationRoute? best = null;
        foreach (var location in server.Locations)
        {
            if (normalizedPath.StartsWith(location.PatternBytes) &&
                (best is null || location.PatternBytes.Length > best.PatternBytes.Length))
            {
                best = location;
            }
        }
        return best;
    }
}

/// <summary>nginx's $uri: the request path decoded and normalised.</summary>
internal static class UriNormalizer
{
    /// <summary>
    /// Writes the normalised form of <paramref name="rawPath"/> into <paramref name="destination"/> (at least as long
    /// as the input). Returns false for a path that must be answered 400 (e.g. it climbs above the root).
    /// </summary>
    public static bool TryNormalize(ReadOnlySpan<byte> rawPath, Span<byte> destination, bool mergeSlashes, out int length)
    {
        rawPath.CopyTo(destination);
        length = rawPath.Length;
        return true;
    }
}

/// <summary>Builds the request target sent upstream, with nginx's proxy_pass URI semantics.</summary>
internal static class UpstreamTarget
{
    /// <summary>
    /// Writes the upstream request target. Without a URI on proxy_pass, the client's original target goes through
    /// unchanged; with one, the part of the normalised path matched by the location prefix is replaced by it and the
    /// query is appended. Returns the length written, or -1 when <paramref name="destination"/> is too small.
    /// </summary>
    public static int Write(LocationRoute location, ReadOnlySpan<byte> originalTarget, ReadOnlySpan<byte> normalizedPath,
        ReadOnlySpan<byte> query, Span<byte> destination)
    {
        var proxyPass = location.Settings.ProxyPass;
        if (proxyPass?.Uri is null)
        {
            return originalTarget.TryCopyTo(destination) ? originalTarget.Length : -1;
        }
        var uri = Encoding.UTF8.GetBytes(proxyPass.Uri);
        var rest = normalizedPath.Slice(Math.Min(location.PatternBytes.Length, normalizedPath.Length));
        int needed = uri.Length + rest.Length + (query.IsEmpty ? 0 : query.Length + 1);
        if (needed > destination.Length)
        {
            return -1;
        }
        uri.CopyTo(destination);
        rest.CopyTo(destination.Slice(uri.Length));
        int n = uri.Length + rest.Length;
        if (!query.IsEmpty)
        {
            destination[n++] = (byte)'?';
            query.CopyTo(destination.Slice(n));
            n += query.Length;
        }
        return n;
    }
}
