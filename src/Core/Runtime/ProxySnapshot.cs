using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using FastProxy.Config;
using FastProxy.Http1;
using FastProxy.Infrastructure;
using FastProxy.LoadBalancing;
using FastProxy.RateLimiting;
using FastProxy.Routing;
using FastProxy.Tls;
using FastProxy.Upstreams;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace FastProxy.Runtime;

/// <summary>An upstream group at run time: the load-balancing state and one pool per destination.</summary>
internal sealed partial class ClusterRuntime(ClusterState state, UpstreamPool[] pools)
{
    public ClusterState State { get; } = state;

    /// <summary>Indexed by <see cref="DestinationState.Index"/>.</summary>
    public UpstreamPool[] Pools { get; } = pools;
}

/// <summary>
/// What a listen address needs before a request is routed (the head must be read before Host is known, so, as in
/// nginx, the default server of the address decides the head limits and the header and keep-alive timeouts).
/// </summary>
internal sealed class ListenRuntime(IPEndPoint endPoint, ServerConfig defaultServer)
{
    public IPEndPoint EndPoint { get; } = endPoint;
    public ServerConfig DefaultServer { get; } = defaultServer;
    public Http1ParserOptions ParserOptions { get; } = new()
    {
        MaxRequestLineLength = defaultServer.MaxRequestLineLength,
        MaxHeadSize = defaultServer.MaxHeadSize,
    };

    /// <summary>TLS termination for this address (<c>listen ... ssl</c>); null for plain HTTP.</summary>
    public TlsServerContext? Tls { get; set; }

    /// <summary>The virtual servers of this address, found once when the snapshot is built rather than per request.</summary>
    public ServerNameTable Names { get; set; } = null!;
}

/// <summary>
/// The immutable runtime form of one <see cref="ProxyConfig"/>: routes, clusters with their pools, maps, and the
/// per-location compiled settings. A request reads the current snapshot once and uses it to the end; a reload builds
/// a new one and swaps the reference, so in-flight requests finish on the old.
/// </summary>
internal sealed partial class ProxySnapshot
{
    private readonly ConcurrentDictionary<LocationSettings, LocationRuntime> _locations = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<IPEndPoint, ListenRuntime> _listens;
    private readonly SnapshotLimits _limits;

    private ProxySnapshot(ProxyConfig config, RouteTable routes, Dictionary<string, ClusterRuntime> clusters,
        Dictionary<string, MapRuntime> maps, Dictionary<IPEndPoint, ListenRuntime> listens, TimeSpan shortestTimeout,
        SnapshotLimits limits)
    {
        _limits = limits;
        Config = config;
        Routes = routes;
        Clusters = clusters;
        Maps = maps;
        _listens = listens;
        ShortestTimeout = shortestTimeout;
    }

    public ProxyConfig Config { get; }
    public RouteTable Routes { get; }
    public IReadOnlyDictionary<string, ClusterRuntime> Clusters { get; }
    public IReadOnlyDictionary<string, MapRuntime> Maps { get; }

    /// <summary>
    /// True when some template reads regex captures ($1..$9 or a named capture): only then do regexes of locations,
    /// rewrites and maps capture (which costs a string and a Match per match); else they only test.
    /// </summary>
    public bool UsesCaptures { get; private set; }

    /// <summary>The shortest timeout in the configuration, which sets the heartbeat interval.</summary>
    public TimeSpan ShortestTimeout { get; }

    public IEnumerable<ListenRuntime> Listens => _listens.Values;

    /// <summary>The limit zones of this configuration, for the server to commit to its registry when it switches.</summary>
    public LimitZoneSet LimitZones => _limits.Zones;

    public ListenRuntime? GetListen(IPEndPoint endPoint) => _listens.GetValueOrDefault(endPoint);

    /// <summary>
    /// The compiled form of a location's (or a server's) settings, looked up by reference. Every location reachable
    /// from the config was compiled at build; a miss (settings objects the router made itself) compiles once.
    /// </summary>
    public LocationRuntime GetLocation(LocationSettings settings)
    {
        if (_locations.TryGetValue(settings, out var runtime))
        {
            return runtime;
        }
        return _locations.GetOrAdd(settings, static (s, self) => new LocationRuntime(s, self.ClusterFor(s), self.Maps, self._limits.For(s))
        {
            UpstreamTls = self._upstreamTls?.GetValueOrDefault(s),
            AccessLogs = self.AccessLogs?.For(s) ?? [],
        }, this);
    }

    /// <summary>The access-log files and formats of this snapshot (null until attached: nothing is logged).</summary>
    internal Diagnostics.AccessLogPlan? AccessLogs { get; private set; }

    /// <summary>Gives every compiled location its access-log targets, before the snapshot is put in force.</summary>
    internal void AttachAccessLogs(Diagnostics.AccessLogPlan plan)
    {
        AccessLogs = plan;
        foreach (var runtime in _locations.Values)
        {
            runtime.AccessLogs = plan.For(runtime.Settings);
        }
    }

    private ClusterRuntime? ClusterFor(LocationSettings settings)
    {
        if (settings.ProxyPass is not { } pass)
        {
            return null;
        }
        return Clusters.GetValueOrDefault(ClusterName(pass, Config));
    }

    /// <summary>The group a proxy_pass uses: a named upstream if one has that name, else the implicit host:port group.</summary>
    private static string ClusterName(ProxyPassConfig pass, ProxyConfig config)
    {
        if (pass.Port is null)
        {
            foreach (var upstream in config.Upstreams)
            {
                if (upstream.Name == pass.Host)
                {
                    return upstream.Name;
                }
            }
        }
        return pass.IsNamedUpstream ? pass.Host : $"{pass.Host}:{pass.Port ?? (pass.Scheme == "https" ? 443 : 80)}";
    }

    /// <summary>
    /// Builds a snapshot; configuration errors (an unknown upstream, an unresolvable host, no listen) are returned
    /// as messages, never thrown.
    /// </summary>
    /// <remarks>
    /// The limit zones come from <paramref name="limitZones"/>, the server's registry, which keeps their state across
    /// reloads; they are prepared here and committed by the server only once it switches to this snapshot
    /// (<see cref="LimitZones"/>). Without a registry (validation, tests) the zones start empty.
    /// </remarks>
    public static ProxySnapshot? TryBuild(ProxyConfig config, UpstreamPoolRegistry pools, Heartbeat heartbeat,
        HashSet<UpstreamPool> poolsInUse, List<string> errors, TlsCertificateCache? certificates = null, ILogger? logger = null,
        LimitZoneRegistry? limitZones = null, ClusterBuildOptions? clusterOptions = null)
    {
        // Maps first (templates refer to them), in two phases so maps may refer to maps.
        var maps = new Dictionary<string, MapRuntime>(StringComparer.Ordinal);
        foreach (var map in config.Maps)
        {
            maps[map.Variable] = new MapRuntime(map);
        }
        foreach (var map in maps.Values)
        {
            try
            {
                map.Compile(maps);
            }
            catch (ArgumentException e)
            {
                errors.Add($"map ${map.Config.Variable}: invalid regular expression: {e.Message}");
            }
        }

        // Upstream groups: the named ones, plus an implicit one-server group per distinct proxy_pass host:port.
        var groups = new Dictionary<string, UpstreamConfig>(StringComparer.Ordinal);
        foreach (var upstream in config.Upstreams)
        {
            groups[upstream.Name] = upstream;
        }
        var shortest = TimeSpan.FromSeconds(1);
        foreach (var settings in AllSettings(config))
        {
            shortest = Min(shortest, settings.ProxyConnectTimeout, settings.ProxyReadTimeout, settings.ProxySendTimeout, settings.ClientBodyTimeout);
            shortest = Min(shortest, settings.SendTimeout, TimeSpan.MaxValue, TimeSpan.MaxValue, TimeSpan.MaxValue);
            if (settings.ProxyPass is not { } pass)
            {
                continue;
            }
            string name = ClusterName(pass, config);
            if (groups.ContainsKey(name))
            {
                continue;
            }
            if (pass.IsNamedUpstream)
            {
                errors.Add($"host not found in upstream \"{pass.Host}\"");
                continue;
            }
            groups[name] = new UpstreamConfig
            {
                Name = name,
                Implicit = true,
                Servers = [new UpstreamServerConfig { Address = name }],
            };
        }
        foreach (var server in config.Servers)
        {
            shortest = Min(shortest, server.ClientHeaderTimeout, server.KeepaliveTimeout, TimeSpan.MaxValue, TimeSpan.MaxValue);
        }

        var clusters = new Dictionary<string, ClusterRuntime>(StringComparer.Ordinal);
        foreach (var (name, group) in groups)
        {
            shortest = Min(shortest, group.KeepaliveTimeout, TimeSpan.MaxValue, TimeSpan.MaxValue, TimeSpan.MaxValue);
            var resolved = Resolve(group, errors);
            if (resolved is null)
            {
                continue;
            }
            if (BuildCluster(name, resolved, pools, heartbeat, poolsInUse, maps, clusterOptions, errors) is { } cluster)
            {
                clusters[name] = cluster;
            }
        }

        // Listen addresses and their default servers.
        var listens = new Dictionary<IPEndPoint, ListenRuntime>();
        foreach (var server in config.Servers)
        {
            foreach (var listen in server.Listens)
            {
                if (!listens.TryGetValue(listen.EndPoint, out var existing) || (listen.DefaultServer && !IsDefault(existing)))
                {
                    listens[listen.EndPoint] = new ListenRuntime(listen.EndPoint, server);
                }
            }
        }
        if (listens.Count == 0)
        {
            errors.Add("no \"listen\" in any server");
        }
        var upstreamTls = BuildTls(config, listens, clusters, maps, pools, heartbeat, poolsInUse, errors,
            certificates ?? new TlsCertificateCache(), logger ?? NullLogger.Instance);
        var limits = SnapshotLimits.TryBuild(config, AllSettings(config), maps, limitZones ?? new LimitZoneRegistry(heartbeat.Time), errors);
        if (errors.Count > 0 || limits is null)
        {
            return null;
        }

        var routes = RouteTable.Build(config);
        foreach (var (endPoint, listen) in listens)
        {
            listen.Names = routes.FindListen(endPoint);
        }
        var snapshot = new ProxySnapshot(config, routes, clusters, maps, listens, shortest, limits)
        {
            _upstreamTls = upstreamTls,
            UsesCaptures = RegexCaptures.AnyUse(config, maps),
        };
        foreach (var settings in AllSettings(config))
        {
            snapshot.GetLocation(settings);
        }
        foreach (var server in routes.Servers)
        {
            server.Runtime = snapshot.GetLocation(server.Config.Settings);
            AttachRuntimes(snapshot, server.Locations);
        }
        return snapshot;

        static void AttachRuntimes(ProxySnapshot snapshot, LocationRoute[] locations)
        {
            foreach (var location in locations)
            {
                location.Runtime = snapshot.GetLocation(location.Settings);
                AttachRuntimes(snapshot, location.Locations);
            }
        }

        bool IsDefault(ListenRuntime l)
        {
            foreach (var listen in l.DefaultServer.Listens)
            {
                if (listen.EndPoint.Equals(l.EndPoint) && listen.DefaultServer)
                {
                    return true;
                }
            }
            return false;
        }
    }

    private static TimeSpan Min(TimeSpan current, TimeSpan a, TimeSpan b, TimeSpan c, TimeSpan d)
    {
        foreach (var t in (ReadOnlySpan<TimeSpan>)[a, b, c, d])
        {
            if (t > TimeSpan.Zero && t < current)
            {
                current = t;
            }
        }
        return current;
    }

    /// <summary>Every settings object of the config: each server's own and each location's, nested ones included.</summary>
    private static IEnumerable<LocationSettings> AllSettings(ProxyConfig config)
    {
        var stack = new Stack<LocationConfig>();
        foreach (var server in config.Servers)
        {
            yield return server.Settings;
            foreach (var location in server.Locations)
            {
                stack.Push(location);
            }
            while (stack.Count > 0)
            {
                var location = stack.Pop();
                yield return location.Settings;
                foreach (var nested in location.Locations)
                {
                    stack.Push(nested);
                }
            }
        }
    }

    /// <summary>Fills in the addresses of servers given by name (nginx resolves them once, at load).</summary>
    private static UpstreamConfig? Resolve(UpstreamConfig group, List<string> errors)
    {
        bool changed = false;
        var servers = new List<UpstreamServerConfig>(group.Servers.Count);
        foreach (var server in group.Servers)
        {
            if (server.EndPoints.Count > 0)
            {
                servers.Add(server);
                continue;
            }
            var endPoints = ResolveAddress(server.Address, out string? error);
            if (endPoints is null)
            {
                errors.Add(error!);
                return null;
            }
            servers.Add(server with { EndPoints = endPoints });
            changed = true;
        }
        return changed ? group with { Servers = servers } : group;
    }

    internal static IReadOnlyList<IPEndPoint>? ResolveAddress(string address, out string? error)
    {
        error = null;
        if (IPEndPoint.TryParse(address, out var endPoint) && (address.Contains(':') || endPoint.Port != 0))
        {
            if (endPoint.Port == 0)
            {
                endPoint.Port = 80;
            }
            return [endPoint];
        }
        // host[:port]
        string host = address;
        int port = 80;
        int colon = address.LastIndexOf(':');
        if (colon > 0 && !address.EndsWith(']') && int.TryParse(address.AsSpan(colon + 1), out int p))
        {
            host = address[..colon];
            port = p;
        }
        if (IPAddress.TryParse(host.Trim('[', ']'), out var ip))
        {
            return [new IPEndPoint(ip, port)];
        }
        try
        {
            var addresses = Dns.GetHostAddresses(host);
            var list = new List<IPEndPoint>();
            foreach (var a in addresses)
            {
                list.Add(new IPEndPoint(a, port));
            }
            if (list.Count == 0)
            {
                error = $"host not found in upstream \"{address}\"";
                return null;
            }
            return list;
        }
        catch (SocketException)
        {
            error = $"host not found in upstream \"{address}\"";
            return null;
        }
    }
}
