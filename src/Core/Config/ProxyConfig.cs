using System.Net;

namespace FastProxy.Config;

// The configuration model: immutable records that both front doors produce (the nginx-syntax loader for operators,
// ProxyConfigBuilder/code for embedders). Values are already resolved: nginx's inheritance (http → server →
// location) has been applied, so every location carries its complete settings. The engine turns a ProxyConfig into
// a runtime snapshot (routes, clusters, pools) that a reload swaps atomically.

/// <summary>The whole configuration of one FastProxy instance.</summary>
public sealed record ProxyConfig
{
    /// <summary>Virtual servers, in file order (the first one on a listen address is its default unless one says default_server).</summary>
    public IReadOnlyList<ServerConfig> Servers { get; init; } = [];

    /// <summary>Named upstream groups (<c>upstream NAME { ... }</c>).</summary>
    public IReadOnlyList<UpstreamConfig> Upstreams { get; init; } = [];

    /// <summary><c>map</c> blocks: variables computed from other variables.</summary>
    public IReadOnlyList<MapConfig> Maps { get; init; } = [];

    /// <summary><c>limit_req_zone</c> declarations.</summary>
    public IReadOnlyList<LimitReqZoneConfig> LimitReqZones { get; init; } = [];

    /// <summary><c>limit_conn_zone</c> declarations.</summary>
    public IReadOnlyList<LimitConnZoneConfig> LimitConnZones { get; init; } = [];

    /// <summary>nginx's worker_connections: the cap on open client connections; beyond it new ones are closed at once.</summary>
    public int WorkerConnections { get; init; } = 1024;

    /// <summary>How long a graceful stop waits for in-flight requests before closing them.</summary>
    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary><c>log_format</c> definitions by name (the predefined <c>combined</c> is always there).</summary>
    public IReadOnlyDictionary<string, ValueTemplate> LogFormats { get; init; } = new Dictionary<string, ValueTemplate>();

    /// <summary><c>log_format NAME escape=...</c>: how variable values are escaped; a format not listed escapes as nginx's default.</summary>
    public IReadOnlyDictionary<string, LogEscape> LogFormatEscapes { get; init; } = new Dictionary<string, LogEscape>();

    /// <summary>
    /// nginx's prefix (<c>-p</c>): relative <c>access_log</c> paths (such as the default <c>logs/access.log</c>) are
    /// resolved against it; null = the current directory. <c>fastproxy</c> sets it (see docs/operations.md).
    /// </summary>
    public string? Prefix { get; init; }

    /// <summary>Where <c>error_log</c> writes (null = standard error) and from which level.</summary>
    public string? ErrorLogPath { get; init; }
    public string ErrorLogLevel { get; init; } = "error";

    /// <summary><c>pid</c> file, used by <c>fastproxy -s reload|stop|quit</c>.</summary>
    public string? PidFile { get; init; }

    /// <summary>Directives parsed but not acted on, with file:line, for <c>fastproxy -t</c> to list.</summary>
    public IReadOnlyList<string> Warnings { get; init; } = [];
}

/// <summary>One <c>listen</c> directive.</summary>
public sealed record ListenConfig
{
    /// <summary>The address to bind; <see cref="IPAddress.Any"/> when only a port is given.</summary>
    public required IPEndPoint EndPoint { get; init; }
    public bool DefaultServer { get; init; }
    public bool Ssl { get; init; }
    public bool Http2 { get; init; }
}

/// <summary>One <c>server { }</c> block.</summary>
public sealed record ServerConfig
{
    public IReadOnlyList<ListenConfig> Listens { get; init; } = [];

    /// <summary>server_name entries as written: exact, wildcard (<c>*.example.com</c>, <c>www.example.*</c>) or regex (<c>~^...</c>).</summary>
    public IReadOnlyList<string> ServerNames { get; init; } = [];

    /// <summary>Top-level locations in file order (nested ones hang under their parent).</summary>
    public IReadOnlyList<LocationConfig> Locations { get; init; } = [];

    /// <summary>
    /// Settings that apply in the server context outside any location: <c>rewrite</c>/<c>return</c> at server level
    /// run before location matching (nginx's server rewrite phase), and a request that matches no location uses these.
    /// </summary>
    public LocationSettings Settings { get; init; } = LocationSettings.Default;

    /// <summary>keepalive_timeout: how long an idle client keep-alive connection is kept (nginx default 75 s).</summary>
    public TimeSpan KeepaliveTimeout { get; init; } = TimeSpan.FromSeconds(75);

    /// <summary>keepalive_requests: requests served on one client connection before it is closed (nginx default 1000).</summary>
    public int KeepaliveRequests { get; init; } = 1000;

    /// <summary>client_header_timeout: the whole head must arrive within this (nginx default 60 s), else 408.</summary>
    public TimeSpan ClientHeaderTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>large_client_header_buffers: longest request line and largest head.</summary>
    public int MaxRequestLineLength { get; init; } = 8 * 1024;
    public int MaxHeadSize { get; init; } = 32 * 1024;

    /// <summary>merge_slashes (on by default in nginx).</summary>
    public bool MergeSlashes { get; init; } = true;

    /// <summary>TLS settings when any listen of this server has <c>ssl</c>.</summary>
    public ServerTlsConfig? Tls { get; init; }

    /// <summary>Where the block was declared (file:line), for messages.</summary>
    public string? Source { get; init; }
}

/// <summary>How a location's pattern is matched (nginx's location modifiers).</summary>
public enum LocationMatchKind
{
    /// <summary><c>location /prefix</c></summary>
    Prefix,
    /// <summary><c>location = /exact</c></summary>
    Exact,
    /// <summary><c>location ^~ /prefix</c>: a prefix that, when longest, stops the regex search.</summary>
    PrefixNoRegex,
    /// <summary><c>location ~ regex</c></summary>
    Regex,
    /// <summary><c>location ~* regex</c></summary>
    RegexCaseInsensitive,
    /// <summary><c>location @name</c>: only reachable by internal redirects.</summary>
    Named,
}

/// <summary>One <c>location</c> block with its resolved settings.</summary>
public sealed record LocationConfig
{
    public LocationMatchKind MatchKind { get; init; } = LocationMatchKind.Prefix;
    public required string Pattern { get; init; }
    public LocationSettings Settings { get; init; } = LocationSettings.Default;
    public IReadOnlyList<LocationConfig> Locations { get; init; } = [];
    public string? Source { get; init; }
}

/// <summary>
/// Everything that can be set at http, server or location level, already merged the way nginx merges it (a
/// directive in an inner block replaces the outer one; for array directives such as proxy_set_header an inner
/// occurrence replaces all outer ones).
/// </summary>
public sealed record LocationSettings
{
    public static LocationSettings Default { get; } = new();

    /// <summary><c>proxy_pass</c>; null when the location does not proxy.</summary>
    public ProxyPassConfig? ProxyPass { get; init; }

    /// <summary><c>return</c>; checked before proxying (nginx's rewrite phase).</summary>
    public ReturnConfig? Return { get; init; }

    /// <summary><c>rewrite</c> directives in order.</summary>
    public IReadOnlyList<RewriteConfig> Rewrites { get; init; } = [];

    /// <summary>
    /// <c>break;</c> ends the block's rewrite directives (after <see cref="Rewrites"/>; a <c>rewrite</c> or
    /// <c>return</c> after it is never reached): processing stops there, and a URI changed before it keeps the
    /// location (as <c>rewrite ... break</c>).
    /// </summary>
    public bool RewriteBreak { get; init; }

    /// <summary>
    /// <c>proxy_set_header</c> as written (without nginx's implicit defaults: the engine adds
    /// <c>Host $proxy_host</c> and the Connection handling itself unless a header of that name is set here).
    /// A value that evaluates to the empty string removes the header, as in nginx.
    /// </summary>
    public IReadOnlyList<HeaderTemplate> ProxySetHeaders { get; init; } = [];

    /// <summary><c>proxy_hide_header</c>: response fields not passed to the client (beyond nginx's defaults).</summary>
    public IReadOnlyList<string> ProxyHideHeaders { get; init; } = [];

    /// <summary><c>proxy_pass_header</c>: fields nginx hides by default that should pass.</summary>
    public IReadOnlyList<string> ProxyPassHeaders { get; init; } = [];

    /// <summary><c>add_header</c>: fields added to responses (only to 2xx/3xx unless Always).</summary>
    public IReadOnlyList<AddHeaderConfig> AddHeaders { get; init; } = [];

    /// <summary><c>proxy_http_version</c> (1.0 or 1.1). FastProxy speaks 1.1 upstream unless 1.0 is set explicitly.</summary>
    public string ProxyHttpVersion { get; init; } = "1.1";

    public TimeSpan ProxyConnectTimeout { get; init; } = TimeSpan.FromSeconds(60);
    public TimeSpan ProxyReadTimeout { get; init; } = TimeSpan.FromSeconds(60);
    public TimeSpan ProxySendTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>client_max_body_size (1 MiB default; 0 = unlimited); larger bodies get 413.</summary>
    public long ClientMaxBodySize { get; init; } = 1024 * 1024;

    /// <summary>client_body_timeout: longest pause between two reads of the request body (60 s), else 408.</summary>
    public TimeSpan ClientBodyTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>send_timeout: longest a write to the client may stall (60 s); then the connection is closed.</summary>
    public TimeSpan SendTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary><c>proxy_next_upstream</c> and its tries/timeout.</summary>
    public NextUpstreamConfig NextUpstream { get; init; } = NextUpstreamConfig.Default;

    /// <summary><c>proxy_redirect</c>: null = default (rewrite Location/Refresh from the proxy_pass URL), empty = off.</summary>
    public IReadOnlyList<ProxyRedirectConfig>? ProxyRedirects { get; init; }

    /// <summary><c>proxy_buffering</c> (FastProxy streams either way; kept for access to the setting).</summary>
    public bool ProxyBuffering { get; init; } = true;

    /// <summary><c>limit_req</c> rules; all apply.</summary>
    public IReadOnlyList<LimitReqRuleConfig> LimitReqs { get; init; } = [];
    public int LimitReqStatus { get; init; } = 503;
    public bool LimitReqDryRun { get; init; }

    /// <summary><c>limit_conn</c> rules; all apply.</summary>
    public IReadOnlyList<LimitConnRuleConfig> LimitConns { get; init; } = [];
    public int LimitConnStatus { get; init; } = 503;
    public bool LimitConnDryRun { get; init; }

    /// <summary>
    /// <c>limit_req_log_level</c> / <c>limit_conn_log_level</c>: info, notice, warn or error (the default). Rejections
    /// are logged at this level, limit_req delays one level lower (info stays info), as nginx does.
    /// </summary>
    public string LimitReqLogLevel { get; init; } = "error";
    public string LimitConnLogLevel { get; init; } = "error";

    /// <summary>access_log: null = off; default writes the combined format to logs/access.log as nginx does.</summary>
    public IReadOnlyList<AccessLogConfig> AccessLogs { get; init; } = [];

    /// <summary>HTTPS-to-upstream settings (proxy_ssl_*).</summary>
    public UpstreamTlsConfig UpstreamTls { get; init; } = UpstreamTlsConfig.Default;

    /// <summary>Real client address behind trusted proxies (realip module).</summary>
    public RealIpConfig? RealIp { get; init; }

    /// <summary>
    /// <c>allow</c>/<c>deny</c> rules in order (ngx_http_access_module): the first rule matching the client address
    /// decides, no match allows. A level with any rule replaces all outer rules.
    /// </summary>
    public IReadOnlyList<AccessRuleConfig> AccessRules { get; init; } = [];
}

/// <summary>One <c>allow</c>/<c>deny</c>: <see cref="Address"/> is "all", "unix:", an address or a CIDR network.</summary>
public sealed record AccessRuleConfig(bool Deny, string Address);

/// <summary><c>proxy_pass URL</c>.</summary>
public sealed record ProxyPassConfig
{
    /// <summary>"http" or "https".</summary>
    public string Scheme { get; init; } = "http";

    /// <summary>The host part as written: an upstream name, a host name or an address (with port when given).</summary>
    public required string Host { get; init; }

    /// <summary>The port when written, else 80/443 by scheme (not used when Host names an upstream).</summary>
    public int? Port { get; init; }

    /// <summary>
    /// The URI part, null when proxy_pass has none (then the client's original URI goes through unchanged); with a
    /// URI the part of the normalised path matched by the location prefix is replaced by it.
    /// </summary>
    public string? Uri { get; init; }

    /// <summary>The upstream group this resolves to: the named upstream, or an implicit one-server group.</summary>
    public string UpstreamName => Port is int p && !IsNamedUpstream ? $"{Host}:{p}" : Host;

    /// <summary>True when Host names an <c>upstream</c> block.</summary>
    public bool IsNamedUpstream { get; init; }

    /// <summary>
    /// The URL as written (nginx's <c>url</c>, which <c>proxy_redirect default</c> compares with Location); null when
    /// not known, then it is rebuilt from the parts.
    /// </summary>
    public string? Url { get; init; }
}

/// <summary><c>return code [text|URL]</c> / <c>return URL</c>.</summary>
public sealed record ReturnConfig(int StatusCode, ValueTemplate? Text);

public enum RewriteFlag { None, Last, Break, Redirect, Permanent }

/// <summary><c>rewrite regex replacement [flag]</c>.</summary>
public sealed record RewriteConfig(string Regex, ValueTemplate Replacement, RewriteFlag Flag);

/// <summary>A header name with a value template.</summary>
public sealed record HeaderTemplate(string Name, ValueTemplate Value);

/// <summary><c>add_header name value [always]</c>.</summary>
public sealed record AddHeaderConfig(string Name, ValueTemplate Value, bool Always);

/// <summary><c>proxy_redirect redirect replacement</c>.</summary>
public sealed record ProxyRedirectConfig(string Redirect, ValueTemplate Replacement);

[Flags]
public enum NextUpstreamConditions
{
    Off = 0,
    Error = 1,
    Timeout = 2,
    InvalidHeader = 4,
    Http500 = 8,
    Http502 = 16,
    Http503 = 32,
    Http504 = 64,
    Http403 = 128,
    Http404 = 256,
    Http429 = 512,
    NonIdempotent = 1024,
}

/// <summary><c>proxy_next_upstream</c>, <c>proxy_next_upstream_tries</c> (0 = unlimited), <c>proxy_next_upstream_timeout</c> (0 = unlimited).</summary>
public sealed record NextUpstreamConfig
{
    public static NextUpstreamConfig Default { get; } = new();
    public NextUpstreamConditions Conditions { get; init; } = NextUpstreamConditions.Error | NextUpstreamConditions.Timeout;
    public int Tries { get; init; }
    public TimeSpan Timeout { get; init; } = TimeSpan.Zero;
}

/// <summary><c>upstream NAME { ... }</c>.</summary>
public sealed record UpstreamConfig
{
    public required string Name { get; init; }
    public IReadOnlyList<UpstreamServerConfig> Servers { get; init; } = [];

    /// <summary>Balancing policy name (see FastProxy.LoadBalancing.LoadBalancingPolicies); round-robin by default.</summary>
    public string Policy { get; init; } = "round_robin";

    /// <summary>For <c>hash KEY [consistent]</c>.</summary>
    public ValueTemplate? HashKey { get; init; }
    public bool HashConsistent { get; init; }

    /// <summary><c>random two [least_conn]</c>: pick two servers at random and use the less loaded (Policy = random).</summary>
    public bool RandomTwo { get; init; }

    /// <summary><c>keepalive N</c>: idle connections kept per upstream group (FastProxy: 32 when unset).</summary>
    public int Keepalive { get; init; } = 32;
    public TimeSpan KeepaliveTimeout { get; init; } = TimeSpan.FromSeconds(60);
    public int KeepaliveRequests { get; init; } = 1000;

    /// <summary>Active health check (<c>health_check ...</c>), null = passive only.</summary>
    public HealthCheckConfig? HealthCheck { get; init; }

    /// <summary>True for the one-server group a plain <c>proxy_pass http://host:port</c> implies.</summary>
    public bool Implicit { get; init; }

    public string? Source { get; init; }
}

/// <summary><c>server ADDRESS [parameters]</c> inside an upstream.</summary>
public sealed record UpstreamServerConfig
{
    /// <summary>host:port as written (resolved at load).</summary>
    public required string Address { get; init; }
    /// <summary>Resolved addresses (a host name may give several; each becomes a server, as in nginx).</summary>
    public IReadOnlyList<IPEndPoint> EndPoints { get; init; } = [];
    public int Weight { get; init; } = 1;
    public int MaxFails { get; init; } = 1;
    public TimeSpan FailTimeout { get; init; } = TimeSpan.FromSeconds(10);
    public bool Backup { get; init; }
    public bool Down { get; init; }
    /// <summary>0 = unlimited.</summary>
    public int MaxConns { get; init; }
    public TimeSpan SlowStart { get; init; } = TimeSpan.Zero;
}

/// <summary><c>health_check interval=5s fails=3 passes=2 uri=/health</c> (in the spirit of NGINX Plus).</summary>
public sealed record HealthCheckConfig
{
    public TimeSpan Interval { get; init; } = TimeSpan.FromSeconds(5);
    public int Fails { get; init; } = 1;
    public int Passes { get; init; } = 1;
    public string Uri { get; init; } = "/";
    /// <summary>Acceptable status codes (default 200-399).</summary>
    public int MinStatus { get; init; } = 200;
    public int MaxStatus { get; init; } = 399;
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(5);
}

/// <summary><c>map SOURCE $result { ... }</c>.</summary>
public sealed record MapConfig
{
    public required ValueTemplate Source { get; init; }
    /// <summary>The variable it defines, without '$'.</summary>
    public required string Variable { get; init; }
    public ValueTemplate Default { get; init; } = ValueTemplate.Empty;
    /// <summary>Entries in file order: exact strings, or regexes when the key starts with ~ or ~*.</summary>
    public IReadOnlyList<MapEntry> Entries { get; init; } = [];
    public bool Hostnames { get; init; }
}

public sealed record MapEntry(string Key, ValueTemplate Value);

public sealed record LimitReqZoneConfig
{
    public required string Name { get; init; }
    public required ValueTemplate Key { get; init; }
    public required long SizeBytes { get; init; }
    /// <summary>Rate in requests per second × 1000 (nginx stores it this way; r/m becomes rate*1000/60).</summary>
    public required long RateMilli { get; init; }
}

public sealed record LimitConnZoneConfig
{
    public required string Name { get; init; }
    public required ValueTemplate Key { get; init; }
    public required long SizeBytes { get; init; }
}

public sealed record LimitReqRuleConfig(string Zone, int Burst, bool NoDelay, int Delay);

public sealed record LimitConnRuleConfig(string Zone, int Limit);

public sealed record AccessLogConfig(string Path, string Format, int BufferSize, TimeSpan Flush);

/// <summary>How a log format escapes variable values (nginx's <c>log_format ... escape=</c>).</summary>
public enum LogEscape
{
    /// <summary><c>"</c>, <c>\</c>, bytes below 0x20 and from 0x7F as <c>\xXX</c>; an empty value is logged as "-".</summary>
    Default,
    /// <summary>As a JSON string's content: <c>\"</c>, <c>\\</c>, <c>\n</c>..., other control bytes as <c>\u00XX</c>; empty stays empty.</summary>
    Json,
    /// <summary>Nothing escaped; empty stays empty.</summary>
    None,
}

public sealed record RealIpConfig
{
    public IReadOnlyList<string> TrustedCidrs { get; init; } = [];
    public string Header { get; init; } = "X-Real-IP";
    public bool Recursive { get; init; }
}

/// <summary>TLS termination settings of a server.</summary>
public sealed record ServerTlsConfig
{
    public IReadOnlyList<CertificateConfig> Certificates { get; init; } = [];
    public IReadOnlyList<string> Protocols { get; init; } = ["TLSv1.2", "TLSv1.3"];
    public string? Ciphers { get; init; }
    public bool PreferServerCiphers { get; init; }
    public string? PasswordFile { get; init; }
    public string? SessionCache { get; init; }
    public bool SessionTickets { get; init; } = true;
    public TimeSpan SessionTimeout { get; init; } = TimeSpan.FromMinutes(5);
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(60);
}

public sealed record CertificateConfig(string CertificatePath, string KeyPath);

/// <summary>proxy_ssl_* settings for HTTPS upstreams.</summary>
public sealed record UpstreamTlsConfig
{
    public static UpstreamTlsConfig Default { get; } = new();
    public bool ServerName { get; init; }
    public ValueTemplate? Name { get; init; }
    public bool Verify { get; init; }
    public string? TrustedCertificate { get; init; }
    public int VerifyDepth { get; init; } = 1;
    public CertificateConfig? ClientCertificate { get; init; }
    /// <summary><c>proxy_ssl_password_file</c>: passwords (one a line, tried in turn) for an encrypted client certificate key.</summary>
    public string? PasswordFile { get; init; }
    public IReadOnlyList<string> Protocols { get; init; } = ["TLSv1.2", "TLSv1.3"];
    public bool SessionReuse { get; init; } = true;
}
