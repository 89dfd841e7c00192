using System.Net;
using FastProxy.Config;

namespace FastProxy;

/// <summary>
/// Builds a <see cref="ProxyConfig"/> in code, for embedders, with nginx's inheritance: settings given with
/// <see cref="Http"/> apply to every server, a server's <see cref="ServerBuilder.Defaults"/> to its locations, and an
/// inner setting replaces the outer one (for proxy_set_header, as in nginx, an inner list replaces the outer list).
/// </summary>
/// <example><code>
/// var config = new ProxyConfigBuilder()
///     .Upstream("app", u => u.Server("127.0.0.1:8081").Keepalive(16))
///     .Server(s => s
///         .Listen("127.0.0.1:8080")
///         .Location("/", l => l.ProxyPass("http://app").ProxySetHeader("X-Real-IP", "$remote_addr")))
///     .Build();
/// </code></example>
public sealed partial class ProxyConfigBuilder
{
    private readonly List<ServerBuilder> _servers = [];
    private readonly List<UpstreamBuilder> _upstreams = [];
    private readonly List<MapConfig> _maps = [];
    private readonly List<Action<LocationBuilder>> _http = [];
    private int _workerConnections = 1024;
    private TimeSpan _shutdownTimeout = TimeSpan.FromSeconds(10);
    private string? _pidFile;

    /// <summary>Settings inherited by every server and location (nginx's http level).</summary>
    public ProxyConfigBuilder Http(Action<LocationBuilder> configure)
    {
        _http.Add(configure);
        return this;
    }

    public ProxyConfigBuilder Server(Action<ServerBuilder> configure)
    {
        var server = new ServerBuilder();
        configure(server);
        _servers.Add(server);
        return this;
    }

    public ProxyConfigBuilder Upstream(string name, Action<UpstreamBuilder> configure)
    {
        var upstream = new UpstreamBuilder(name);
        configure(upstream);
        _upstreams.Add(upstream);
        return this;
    }

    /// <summary><c>map SOURCE $variable { default DEFAULT; key value; ... }</c>.</summary>
    public ProxyConfigBuilder Map(string source, string variable, string defaultValue, params (string Key, string Value)[] entries)
    {
        var list = new List<MapEntry>();
        foreach (var (key, value) in entries)
        {
            list.Add(new MapEntry(key, ValueTemplate.Parse(value)));
        }
        _maps.Add(new MapConfig
        {
            Source = ValueTemplate.Parse(source),
            Variable = variable.TrimStart('$'),
            Default = ValueTemplate.Parse(defaultValue),
            Entries = list,
        });
        return this;
    }

    public ProxyConfigBuilder WorkerConnections(int count)
    {
        _workerConnections = count;
        return this;
    }

    public ProxyConfigBuilder ShutdownTimeout(TimeSpan timeout)
    {
        _shutdownTimeout = timeout;
        return this;
    }

    public ProxyConfigBuilder PidFile(string? path)
    {
        _pidFile = path;
        return this;
    }

    public ProxyConfig Build()
    {
        var upstreamNames = new HashSet<string>(StringComparer.Ordinal);
        var upstreams = new List<UpstreamConfig>();
        foreach (var upstream in _upstreams)
        {
            upstreamNames.Add(upstream.Name);
            upstreams.Add(upstream.Build());
        }
        var http = LocationBuilder.Apply(LocationSettings.Default, _http, upstreamNames);
        var servers = new List<ServerConfig>();
        foreach (var server in _servers)
        {
            servers.Add(server.Build(http, upstreamNames));
        }
        return new ProxyConfig
        {
            Servers = servers,
            Upstreams = upstreams,
            Maps = [.. _maps],
            LimitReqZones = [.. _limitReqZones],
            LimitConnZones = [.. _limitConnZones],
            WorkerConnections = _workerConnections,
            ShutdownTimeout = _shutdownTimeout,
            PidFile = _pidFile,
        };
    }
}

/// <summary>One <c>server { }</c>.</summary>
public sealed class ServerBuilder
{
    private readonly List<ListenConfig> _listens = [];
    private readonly List<string> _names = [];
    private readonly List<Action<LocationBuilder>> _defaults = [];
    private readonly List<(LocationMatchKind Kind, string Pattern, Action<LocationBuilder> Configure)> _locations = [];
    private Func<ServerConfig, ServerConfig>? _configure;

    /// <summary><c>listen</c>: "127.0.0.1:8080", "[::1]:8080", "8080" (all IPv4 addresses); port 0 picks a free port.</summary>
    public ServerBuilder Listen(string address, bool defaultServer = false)
    {
        IPEndPoint endPoint = int.TryParse(address, out int port) ? new IPEndPoint(IPAddress.Any, port) : IPEndPoint.Parse(address);
        return Listen(endPoint, defaultServer);
    }

    public ServerBuilder Listen(IPEndPoint endPoint, bool defaultServer = false)
    {
        _listens.Add(new ListenConfig { EndPoint = endPoint, DefaultServer = defaultServer });
        return this;
    }

    public ServerBuilder ServerName(params string[] names)
    {
        _names.AddRange(names);
        return this;
    }

    /// <summary>Settings of the server level, inherited by its locations (and used when no location matches).</summary>
    public ServerBuilder Defaults(Action<LocationBuilder> configure)
    {
        _defaults.Add(configure);
        return this;
    }

    public ServerBuilder Location(string pattern, Action<LocationBuilder> configure) => Location(LocationMatchKind.Prefix, pattern, configure);

    public ServerBuilder Location(LocationMatchKind kind, string pattern, Action<LocationBuilder> configure)
    {
        _locations.Add((kind, pattern, configure));
        return this;
    }

    /// <summary>Anything else of <see cref="ServerConfig"/> (timeouts, head limits), as a record transformation.</summary>
    public ServerBuilder Configure(Func<ServerConfig, ServerConfig> configure)
    {
        var previous = _configure;
        _configure = previous is null ? configure : c => configure(previous(c));
        return this;
    }

    public ServerBuilder KeepaliveTimeout(TimeSpan timeout) => Configure(c => c with { KeepaliveTimeout = timeout });

    public ServerBuilder KeepaliveRequests(int count) => Configure(c => c with { KeepaliveRequests = count });

    public ServerBuilder ClientHeaderTimeout(TimeSpan timeout) => Configure(c => c with { ClientHeaderTimeout = timeout });

    internal ServerConfig Build(LocationSettings http, HashSet<string> upstreamNames)
    {
        var settings = LocationBuilder.Apply(http, _defaults, upstreamNames);
        var locations = new List<LocationConfig>();
        foreach (var (kind, pattern, configure) in _locations)
        {
            locations.Add(new LocationConfig
            {
                MatchKind = kind,
                Pattern = pattern,
                Settings = LocationBuilder.Apply(settings, [configure], upstreamNames),
            });
        }
        var config = new ServerConfig
        {
            Listens = [.. _listens],
            ServerNames = [.. _names],
            Locations = locations,
            Settings = settings,
        };
        return _configure is null ? config : _configure(config);
    }
}

/// <summary>The settings of a location (or of the server or http level).</summary>
public sealed partial class LocationBuilder
{
    private LocationSettings _settings;
    private readonly HashSet<string> _upstreamNames;
    private List<HeaderTemplate>? _setHeaders;
    private List<AddHeaderConfig>? _addHeaders;

    private LocationBuilder(LocationSettings inherited, HashSet<string> upstreamNames)
    {
        _settings = inherited;
        _upstreamNames = upstreamNames;
    }

    internal static LocationSettings Apply(LocationSettings inherited, IEnumerable<Action<LocationBuilder>> actions, HashSet<string> upstreamNames)
    {
        var builder = new LocationBuilder(inherited, upstreamNames);
        foreach (var action in actions)
        {
            action(builder);
        }
        return builder.Build();
    }

    private LocationSettings Build()
    {
        var settings = _settings;
        if (_setHeaders is not null)
        {
            settings = settings with { ProxySetHeaders = _setHeaders };
        }
        if (_addHeaders is not null)
        {
            settings = settings with { AddHeaders = _addHeaders };
        }
        return settings;
    }

    /// <summary><c>proxy_pass URL</c>: "http://name" (an upstream), "http://host:port", "http://host:port/uri".</summary>
    public LocationBuilder ProxyPass(string url)
    {
        var uri = new Uri(url, UriKind.Absolute);
        string host = uri.IdnHost.Contains(':') ? $"[{uri.IdnHost}]" : uri.IdnHost;
        // Uri drops a default port; keep "explicitly written" vs not as nginx's $proxy_host does.
        int authorityEnd = url.IndexOf('/', url.IndexOf("//", StringComparison.Ordinal) + 2);
        string authority = authorityEnd < 0 ? url[(url.IndexOf("//", StringComparison.Ordinal) + 2)..] : url[(url.IndexOf("//", StringComparison.Ordinal) + 2)..authorityEnd];
        bool portWritten = authority.LastIndexOf(':') > authority.LastIndexOf(']');
        bool named = !portWritten && _upstreamNames.Contains(host);
        _settings = _settings with
        {
            ProxyPass = new ProxyPassConfig
            {
                Scheme = uri.Scheme,
                Host = host,
                Port = portWritten ? uri.Port : named ? null : uri.Port,
                Uri = authorityEnd < 0 ? null : url[authorityEnd..],
                IsNamedUpstream = named,
                Url = url,
            },
        };
        return this;
    }

    /// <summary><c>proxy_set_header NAME VALUE</c> (nginx variables allowed; an empty value removes the field).</summary>
    public LocationBuilder ProxySetHeader(string name, string value)
    {
        _setHeaders ??= [];
        _setHeaders.Add(new HeaderTemplate(name, ValueTemplate.Parse(value)));
        return this;
    }

    public LocationBuilder ProxyHideHeader(string name)
    {
        _settings = _settings with { ProxyHideHeaders = [.. _settings.ProxyHideHeaders, name] };
        return this;
    }

    public LocationBuilder ProxyPassHeader(string name)
    {
        _settings = _settings with { ProxyPassHeaders = [.. _settings.ProxyPassHeaders, name] };
        return this;
    }

    public LocationBuilder AddHeader(string name, string value, bool always = false)
    {
        _addHeaders ??= [];
        _addHeaders.Add(new AddHeaderConfig(name, ValueTemplate.Parse(value), always));
        return this;
    }

    /// <summary>
    /// <c>rewrite REGEX REPLACEMENT [FLAG]</c>, in order with the others (a replacement starting with http://,
    /// https:// or $scheme redirects, as in nginx).
    /// </summary>
    public LocationBuilder Rewrite(string regex, string replacement, RewriteFlag flag = RewriteFlag.None)
    {
        // A bad pattern is a configuration error: thrown here, where the embedder wrote it.
        _ = FastProxy.Routing.NginxRegex.Create(regex, ignoreCase: false);
        if (flag is RewriteFlag.None or RewriteFlag.Last or RewriteFlag.Break
            && (replacement.StartsWith("http://", StringComparison.Ordinal) || replacement.StartsWith("https://", StringComparison.Ordinal)
                || replacement.StartsWith("$scheme", StringComparison.Ordinal)))
        {
            flag = RewriteFlag.Redirect;
        }
        _settings = _settings with { Rewrites = [.. _settings.Rewrites, new RewriteConfig(regex, ValueTemplate.Parse(replacement), flag)] };
        return this;
    }

    /// <summary><c>allow ADDRESS|CIDR|all</c>: rules apply in the order they are added; the first match decides.</summary>
    public LocationBuilder Allow(string address)
    {
        CheckAccessAddress(address);
        _settings = _settings with { AccessRules = [.. _settings.AccessRules, new AccessRuleConfig(false, address)] };
        return this;
    }

    /// <summary><c>deny ADDRESS|CIDR|all</c>.</summary>
    public LocationBuilder Deny(string address)
    {
        CheckAccessAddress(address);
        _settings = _settings with { AccessRules = [.. _settings.AccessRules, new AccessRuleConfig(true, address)] };
        return this;
    }

    private static void CheckAccessAddress(string address)
    {
        if (address is not ("all" or "unix:")
            && (!System.Text.Ascii.IsValid(address) || !FastProxy.RealIp.IpCidr.TryParse(System.Text.Encoding.ASCII.GetBytes(address), out _, out _)))
        {
            throw new ArgumentException($"invalid parameter \"{address}\"", nameof(address));
        }
    }

    /// <summary><c>proxy_redirect off</c> (an empty list) or <c>proxy_redirect REDIRECT REPLACEMENT</c> pairs.</summary>
    public LocationBuilder ProxyRedirect(string? redirect, string? replacement = null)
    {
        var list = redirect is null ? [] : new List<ProxyRedirectConfig>(_settings.ProxyRedirects ?? [])
        {
            new(redirect, ValueTemplate.Parse(replacement ?? string.Empty)),
        };
        _settings = _settings with { ProxyRedirects = list };
        return this;
    }

    /// <summary><c>return CODE [TEXT|URL]</c>.</summary>
    public LocationBuilder Return(int status, string? text = null)
    {
        _settings = _settings with { Return = new ReturnConfig(status, text is null ? null : ValueTemplate.Parse(text)) };
        return this;
    }

    public LocationBuilder ProxyHttpVersion(string version)
    {
        _settings = _settings with { ProxyHttpVersion = version };
        return this;
    }

    public LocationBuilder ProxyConnectTimeout(TimeSpan timeout)
    {
        _settings = _settings with { ProxyConnectTimeout = timeout };
        return this;
    }

    public LocationBuilder ProxyReadTimeout(TimeSpan timeout)
    {
        _settings = _settings with { ProxyReadTimeout = timeout };
        return this;
    }

    public LocationBuilder ProxySendTimeout(TimeSpan timeout)
    {
        _settings = _settings with { ProxySendTimeout = timeout };
        return this;
    }

    /// <summary>client_max_body_size in bytes (0 = unlimited).</summary>
    public LocationBuilder ClientMaxBodySize(long bytes)
    {
        _settings = _settings with { ClientMaxBodySize = bytes };
        return this;
    }

    public LocationBuilder ClientBodyTimeout(TimeSpan timeout)
    {
        _settings = _settings with { ClientBodyTimeout = timeout };
        return this;
    }

    /// <summary><c>send_timeout</c>: the longest a write to the client may stall.</summary>
    public LocationBuilder SendTimeout(TimeSpan timeout)
    {
        _settings = _settings with { SendTimeout = timeout };
        return this;
    }

    /// <summary><c>proxy_next_upstream</c> with its tries (0 = unlimited) and timeout (zero = unlimited).</summary>
    public LocationBuilder ProxyNextUpstream(NextUpstreamConditions conditions, int tries = 0, TimeSpan timeout = default)
    {
        _settings = _settings with { NextUpstream = new NextUpstreamConfig { Conditions = conditions, Tries = tries, Timeout = timeout } };
        return this;
    }

    /// <summary>Anything else of <see cref="LocationSettings"/>, as a record transformation.</summary>
    public LocationBuilder Configure(Func<LocationSettings, LocationSettings> configure)
    {
        _settings = configure(_settings);
        return this;
    }
}

/// <summary>One <c>upstream NAME { }</c>.</summary>
public sealed class UpstreamBuilder
{
    private readonly List<UpstreamServerConfig> _servers = [];
    private UpstreamConfig _config;

    internal UpstreamBuilder(string name)
    {
        Name = name;
        _config = new UpstreamConfig { Name = name };
    }

    public string Name { get; }

    /// <summary>
    /// <c>server ADDRESS [weight=N] [backup] [down] [max_fails=N] [fail_timeout=T] [max_conns=N] [slow_start=T]</c>. A host
    /// name is resolved when the server starts and again on each reload; each of its addresses is one server.
    /// </summary>
    public UpstreamBuilder Server(string address, int weight = 1, bool backup = false, bool down = false, int maxFails = 1, TimeSpan? failTimeout = null,
        int maxConns = 0, TimeSpan? slowStart = null)
    {
        _servers.Add(new UpstreamServerConfig
        {
            Address = address,
            Weight = weight,
            Backup = backup,
            Down = down,
            MaxFails = maxFails,
            FailTimeout = failTimeout ?? TimeSpan.FromSeconds(10),
            MaxConns = maxConns,
            SlowStart = slowStart ?? TimeSpan.Zero,
        });
        return this;
    }

    public UpstreamBuilder Server(IPEndPoint endPoint, int weight = 1, bool backup = false)
    {
        _servers.Add(new UpstreamServerConfig { Address = endPoint.ToString(), EndPoints = [endPoint], Weight = weight, Backup = backup });
        return this;
    }

    /// <summary><c>keepalive N</c>: idle connections kept for the whole group (0 disables upstream keep-alive).</summary>
    public UpstreamBuilder Keepalive(int connections)
    {
        _config = _config with { Keepalive = connections };
        return this;
    }

    public UpstreamBuilder KeepaliveTimeout(TimeSpan timeout)
    {
        _config = _config with { KeepaliveTimeout = timeout };
        return this;
    }

    public UpstreamBuilder KeepaliveRequests(int count)
    {
        _config = _config with { KeepaliveRequests = count };
        return this;
    }

    /// <summary>
    /// The balancing policy name: a built-in (FastProxy.LoadBalancing.LoadBalancingPolicies) or one registered in
    /// <see cref="ProxyServerOptions.LoadBalancingPolicies"/>.
    /// </summary>
    public UpstreamBuilder Policy(string name)
    {
        _config = _config with { Policy = name };
        return this;
    }

    /// <summary><c>least_conn</c>.</summary>
    public UpstreamBuilder LeastConn() => Policy(LoadBalancing.LoadBalancingPolicies.LeastConnections);

    /// <summary><c>ip_hash</c>.</summary>
    public UpstreamBuilder IpHash() => Policy(LoadBalancing.LoadBalancingPolicies.IpHash);

    /// <summary><c>hash KEY [consistent]</c>: KEY is evaluated per request ("$request_uri", "$cookie_user$arg_x"...).</summary>
    public UpstreamBuilder Hash(string key, bool consistent = false)
    {
        _config = _config with { Policy = LoadBalancing.LoadBalancingPolicies.Hash, HashKey = ValueTemplate.Parse(key), HashConsistent = consistent };
        return this;
    }

    /// <summary><c>random</c>, or <c>random two [least_conn]</c> with <paramref name="two"/>.</summary>
    public UpstreamBuilder Random(bool two = false)
    {
        _config = _config with { Policy = two ? LoadBalancing.LoadBalancingPolicies.RandomTwo : LoadBalancing.LoadBalancingPolicies.Random, RandomTwo = two };
        return this;
    }

    /// <summary><c>health_check [interval=T] [fails=N] [passes=N] [uri=URI] [timeout=T] [status=MIN-MAX]</c>.</summary>
    public UpstreamBuilder HealthCheck(HealthCheckConfig check)
    {
        _config = _config with { HealthCheck = check };
        return this;
    }

    internal UpstreamConfig Build() => _config with { Servers = [.. _servers] };
}
