using System.Net;

namespace FastProxy.Config;

// Mutable drafts the loader fills while it walks the file; null means "not set at this level" so that nginx's
// merge (an inner level inherits what it does not set) can be applied once the whole file is read.

/// <summary>Settings of one http, server or location block as written there.</summary>
internal sealed class SettingsDraft
{
    public SettingsDraft(ConfContext level) => Level = level;

    public ConfContext Level { get; }

    /// <summary>Directives already seen in this block, for nginx's "is duplicate".</summary>
    public HashSet<string> Seen { get; } = new(StringComparer.Ordinal);

    public ProxyPassDraft? ProxyPass;
    public ReturnConfig? Return;
    public ConfDirective? ReturnDirective;
    public List<RewriteConfig> Rewrites = [];
    public bool RewriteBreak;
    public List<HeaderTemplate>? ProxySetHeaders;
    public List<string>? ProxyHideHeaders;
    public List<string>? ProxyPassHeaders;
    public List<AddHeaderConfig>? AddHeaders;
    public string? ProxyHttpVersion;
    public TimeSpan? ProxyConnectTimeout;
    public TimeSpan? ProxyReadTimeout;
    public TimeSpan? ProxySendTimeout;
    public long? ClientMaxBodySize;
    public TimeSpan? ClientBodyTimeout;
    public NextUpstreamConditions? NextUpstreamConditions;
    public int? NextUpstreamTries;
    public TimeSpan? NextUpstreamTimeout;

    /// <summary>proxy_redirect entries; <see cref="ProxyRedirectDefault"/> marks a "default" among them.</summary>
    public List<ProxyRedirectConfig>? ProxyRedirects;
    public bool ProxyRedirectDefault;

    /// <summary>Where "default" stands among the proxy_redirect entries (nginx tries them in order).</summary>
    public int ProxyRedirectDefaultIndex;
    public bool? ProxyBuffering;
    public List<LimitReqRuleConfig>? LimitReqs;
    public int? LimitReqStatus;
    public bool? LimitReqDryRun;
    public List<LimitConnRuleConfig>? LimitConns;
    public int? LimitConnStatus;
    public bool? LimitConnDryRun;
    public string? LimitReqLogLevel;
    public string? LimitConnLogLevel;
    public List<(AccessLogConfig Log, ConfDirective Directive)>? AccessLogs;

    // proxy_ssl_*
    public bool? ProxySslServerName;
    public ValueTemplate? ProxySslName;
    public bool? ProxySslVerify;
    public string? ProxySslTrustedCertificate;
    public int? ProxySslVerifyDepth;
    public string? ProxySslCertificate;
    public string? ProxySslCertificateKey;
    public string? ProxySslPasswordFile;
    public List<string>? ProxySslProtocols;
    public bool? ProxySslSessionReuse;

    // access (allow/deny), in order
    public List<AccessRuleConfig>? AccessRules;

    // realip
    public List<string>? RealIpFrom;
    public string? RealIpHeader;
    public bool? RealIpRecursive;

    // Server-wide (http and server levels; a location-level value is warned).
    public TimeSpan? KeepaliveTimeout;
    public int? KeepaliveRequests;
    public TimeSpan? ClientHeaderTimeout;
    public (int Line, int Head)? LargeClientHeaderBuffers;
    public bool? MergeSlashes;

    // ssl_* (http and server levels).
    public List<string>? SslCertificates;
    public List<string>? SslCertificateKeys;
    public List<string>? SslProtocols;
    public string? SslCiphers;
    public bool? SslPreferServerCiphers;
    public string? SslPasswordFile;
    public string? SslSessionCache;
    public bool? SslSessionTickets;
    public TimeSpan? SslSessionTimeout;
    public TimeSpan? SslHandshakeTimeout;
}

internal sealed class ProxyPassDraft
{
    public required ProxyPassConfig Config { get; init; }
    public required ConfDirective Directive { get; init; }
}

internal sealed class ServerDraft
{
    public ServerDraft(ConfDirective directive) => Directive = directive;

    public ConfDirective Directive { get; }
    public SettingsDraft Settings { get; } = new(ConfContext.Server);
    public List<ListenDraft> Listens { get; } = [];
    public List<(string Name, ConfDirective Directive)> Names { get; } = [];
    public List<LocationDraft> Locations { get; } = [];
}

internal sealed class ListenDraft
{
    public required ListenConfig Config { get; set; }
    public required ConfDirective Directive { get; init; }

    /// <summary>True when socket options (backlog=, reuseport, ...) were given: nginx allows them once per address.</summary>
    public bool HasSocketOptions { get; init; }

    public bool Implicit { get; init; }
}

internal sealed class LocationDraft
{
    public required LocationMatchKind Kind { get; init; }
    public required string Pattern { get; init; }
    public required ConfDirective Directive { get; init; }
    public LocationDraft? Parent { get; init; }
    public SettingsDraft Settings { get; } = new(ConfContext.Location);
    public List<LocationDraft> Children { get; } = [];

    public bool IsRegex => Kind is LocationMatchKind.Regex or LocationMatchKind.RegexCaseInsensitive;
}

internal sealed class UpstreamDraft
{
    public UpstreamDraft(string name, ConfDirective directive)
    {
        Name = name;
        Directive = directive;
    }

    public string Name { get; }
    public ConfDirective Directive { get; }
    public HashSet<string> Seen { get; } = new(StringComparer.Ordinal);
    public List<(UpstreamServerConfig Server, string Host, int Port, ConfDirective Directive)> Servers { get; } = [];
    public string Policy = "round_robin";
    public ConfDirective? PolicyDirective;
    public ValueTemplate? HashKey;
    public bool HashConsistent;
    public bool RandomTwo;
    public int? Keepalive;
    public TimeSpan? KeepaliveTimeout;
    public int? KeepaliveRequests;
    public HealthCheckConfig? HealthCheck;
}

/// <summary>Resolved host addresses, cached per load so a name used twice is looked up once.</summary>
internal sealed class HostResolver
{
    private readonly Dictionary<string, IPAddress[]?> _cache = new(StringComparer.OrdinalIgnoreCase);

    public IPAddress[]? Resolve(string host)
    {
        if (IPAddress.TryParse(host.Trim('[', ']'), out var address))
        {
            return [address];
        }
        if (_cache.TryGetValue(host, out var cached))
        {
            return cached;
        }
        IPAddress[]? result;
        try
        {
            result = Dns.GetHostAddresses(host);
            if (result.Length == 0)
            {
                result = null;
            }
        }
        catch (Exception e) when (e is System.Net.Sockets.SocketException or ArgumentException)
        {
            result = null;
        }
        _cache[host] = result;
        return result;
    }
}
