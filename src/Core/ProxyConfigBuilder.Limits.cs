using FastProxy.Config;

namespace FastProxy;

// limit_req / limit_conn / realip for embedders: the same model the nginx loader fills (docs/rate-limiting.md).
public sealed partial class ProxyConfigBuilder
{
    private readonly List<LimitReqZoneConfig> _limitReqZones = [];
    private readonly List<LimitConnZoneConfig> _limitConnZones = [];

    /// <summary>
    /// <c>limit_req_zone KEY zone=NAME:SIZE rate=RATE</c>: <paramref name="rate"/> as nginx writes it, "10r/s" or
    /// "30r/m"; <paramref name="key"/> a variable expression such as "$binary_remote_addr".
    /// </summary>
    public ProxyConfigBuilder LimitReqZone(string name, string key, long sizeBytes, string rate)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (!RateLimiting.LimitRate.TryParse(rate, out var parsed))
        {
            throw new ArgumentException($"invalid rate \"{rate}\"", nameof(rate));
        }
        _limitReqZones.Add(new LimitReqZoneConfig { Name = name, Key = ValueTemplate.Parse(key), SizeBytes = sizeBytes, RateMilli = parsed.MilliPerSecond });
        return this;
    }

    /// <summary><c>limit_conn_zone KEY zone=NAME:SIZE</c>.</summary>
    public ProxyConfigBuilder LimitConnZone(string name, string key, long sizeBytes)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        _limitConnZones.Add(new LimitConnZoneConfig { Name = name, Key = ValueTemplate.Parse(key), SizeBytes = sizeBytes });
        return this;
    }
}

public sealed partial class LocationBuilder
{
    // As in nginx, the first limit_req (limit_conn, set_real_ip_from) of a block replaces the inherited list; more add to it.
    private bool _ownLimitReqs;
    private bool _ownLimitConns;

    /// <summary><c>limit_req zone=ZONE [burst=N] [nodelay | delay=N]</c>.</summary>
    public LocationBuilder LimitReq(string zone, int burst = 0, bool nodelay = false, int delay = 0)
    {
        var rules = _ownLimitReqs ? [.. _settings.LimitReqs] : new List<LimitReqRuleConfig>();
        rules.Add(new LimitReqRuleConfig(zone, burst, nodelay, delay));
        _ownLimitReqs = true;
        _settings = _settings with { LimitReqs = rules };
        return this;
    }

    /// <summary><c>limit_req_status</c>, <c>limit_req_dry_run</c>, <c>limit_req_log_level</c> (info, notice, warn, error).</summary>
    public LocationBuilder LimitReqOptions(int? status = null, bool? dryRun = null, string? logLevel = null)
    {
        _settings = _settings with
        {
            LimitReqStatus = status ?? _settings.LimitReqStatus,
            LimitReqDryRun = dryRun ?? _settings.LimitReqDryRun,
            LimitReqLogLevel = logLevel ?? _settings.LimitReqLogLevel,
        };
        return this;
    }

    /// <summary><c>limit_conn ZONE N</c>.</summary>
    public LocationBuilder LimitConn(string zone, int limit)
    {
        var rules = _ownLimitConns ? [.. _settings.LimitConns] : new List<LimitConnRuleConfig>();
        rules.Add(new LimitConnRuleConfig(zone, limit));
        _ownLimitConns = true;
        _settings = _settings with { LimitConns = rules };
        return this;
    }

    /// <summary><c>limit_conn_status</c>, <c>limit_conn_dry_run</c>, <c>limit_conn_log_level</c>.</summary>
    public LocationBuilder LimitConnOptions(int? status = null, bool? dryRun = null, string? logLevel = null)
    {
        _settings = _settings with
        {
            LimitConnStatus = status ?? _settings.LimitConnStatus,
            LimitConnDryRun = dryRun ?? _settings.LimitConnDryRun,
            LimitConnLogLevel = logLevel ?? _settings.LimitConnLogLevel,
        };
        return this;
    }

    /// <summary>
    /// <c>set_real_ip_from</c> (CIDRs, addresses or "unix:"), <c>real_ip_header</c> (X-Real-IP by default),
    /// <c>real_ip_recursive</c>.
    /// </summary>
    public LocationBuilder RealIp(IReadOnlyList<string> trusted, string header = "X-Real-IP", bool recursive = false)
    {
        _settings = _settings with { RealIp = new RealIpConfig { TrustedCidrs = [.. trusted], Header = header, Recursive = recursive } };
        return this;
    }
}
