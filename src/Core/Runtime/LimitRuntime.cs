using System.Text;
using FastProxy.Config;
using FastProxy.RateLimiting;
using FastProxy.RealIp;
using Microsoft.Extensions.Logging;

namespace FastProxy.Runtime;

/// <summary>
/// Which key each rule of a limit policy uses: the distinct key expressions of its zones (rules usually share one,
/// <c>$binary_remote_addr</c>) and, per rule, the index of its expression. Evaluated once per request per distinct
/// expression.
/// </summary>
internal sealed class LimitKeyPlan
{
    public LimitKeyPlan(CompiledTemplate[] keys, int[] ruleKey)
    {
        Keys = keys;
        RuleKey = ruleKey;
        IsBinaryRemoteAddr = new bool[keys.Length];
        for (int i = 0; i < keys.Length; i++)
        {
            var parts = keys[i].Parts;
            IsBinaryRemoteAddr[i] = keys[i].Literal is null && parts.Length == 1 && parts[0].Kind == VariableKind.BinaryRemoteAddr;
        }
    }

    /// <summary>The distinct key expressions.</summary>
    public CompiledTemplate[] Keys { get; }

    /// <summary>Rule index → index into <see cref="Keys"/>.</summary>
    public int[] RuleKey { get; }

    /// <summary>Per key: it is exactly <c>$binary_remote_addr</c>, read without evaluating anything.</summary>
    public bool[] IsBinaryRemoteAddr { get; }

    /// <summary>True when every rule uses one expression that is exactly <c>$binary_remote_addr</c> (the usual case).</summary>
    public bool SingleBinaryRemoteAddr => Keys.Length == 1 && IsBinaryRemoteAddr[0];
}

/// <summary>
/// The realip, limit_req and limit_conn handlers of one location (or server) context, compiled once per snapshot
/// from its merged settings against the snapshot's zones. A context with none of them has no LimitRuntime at all, so
/// a request to it pays one null check.
/// </summary>
internal sealed class LimitRuntime
{
    private LimitRuntime()
    {
    }

    /// <summary>set_real_ip_from / real_ip_header / real_ip_recursive; null when realip is off here.</summary>
    public RealIpResolver? RealIp { get; private init; }

    /// <summary>The header realip reads, lower case (for X-Forwarded-For every line is read).</summary>
    public byte[] RealIpHeader { get; private init; } = [];

    public LimitReqPolicy? Req { get; private init; }
    public LimitKeyPlan? ReqKeys { get; private init; }
    public LogLevel ReqLogLevel { get; private init; } = LogLevel.Error;
    public LogLevel ReqDelayLogLevel { get; private init; } = LogLevel.Warning;

    public LimitConnPolicy? Conn { get; private init; }
    public LimitKeyPlan? ConnKeys { get; private init; }
    public LogLevel ConnLogLevel { get; private init; } = LogLevel.Error;

    /// <summary>
    /// Compiles the limits of <paramref name="settings"/>; null when it has none. Problems (a zone missing from the
    /// zone set, a burst or limit out of range, a zone used twice in one context, a bad set_real_ip_from) are added
    /// to <paramref name="errors"/> and that handler is left out.
    /// </summary>
    public static LimitRuntime? Create(LocationSettings settings, LimitZoneSet zones, IReadOnlyDictionary<string, CompiledTemplate> zoneKeys,
        List<string> errors)
    {
        RealIpResolver? realIp = null;
        byte[] realIpHeader = [];
        if (settings.RealIp is { } realIpConfig)
        {
            realIp = CreateRealIp(realIpConfig, errors, out realIpHeader);
        }

        LimitReqPolicy? req = null;
        LimitKeyPlan? reqKeys = null;
        if (settings.LimitReqs.Count > 0)
        {
            var rules = new List<LimitReqRule>(settings.LimitReqs.Count);
            var keys = new List<string>(settings.LimitReqs.Count);
            foreach (var rule in settings.LimitReqs)
            {
                if (!zones.RequestZones.TryGetValue(rule.Zone, out var zone))
                {
                    errors.Add($"unknown limit_req_zone \"{rule.Zone}\"");
                    continue;
                }
                if (rule.Burst < 0 || rule.Burst > LimitReqState.MaxBurst)
                {
                    errors.Add($"limit_req zone={rule.Zone}: burst={rule.Burst} is out of range (0..{LimitReqState.MaxBurst})");
                    continue;
                }
                rules.Add(rule.NoDelay ? LimitReqRule.WithNoDelay(zone, rule.Burst) : new LimitReqRule(zone, rule.Burst, Math.Max(0, rule.Delay)));
                keys.Add(zone.Name);
            }
            if (rules.Count == settings.LimitReqs.Count && TryCreate(() => new LimitReqPolicy(rules, settings.LimitReqStatus, settings.LimitReqDryRun), errors, "limit_req", out req))
            {
                reqKeys = Plan(keys, zoneKeys);
            }
        }

        LimitConnPolicy? conn = null;
        LimitKeyPlan? connKeys = null;
        if (settings.LimitConns.Count > 0)
        {
            var rules = new List<LimitConnRule>(settings.LimitConns.Count);
            var keys = new List<string>(settings.LimitConns.Count);
            foreach (var rule in settings.LimitConns)
            {
                if (!zones.ConnectionZones.TryGetValue(rule.Zone, out var zone))
                {
                    errors.Add($"unknown limit_conn_zone \"{rule.Zone}\"");
                    continue;
                }
                if (keys.Contains(zone.Name))
                {
                    // ngx_http_limit_conn: the same zone twice in one context.
                    errors.Add($"limit_conn \"{rule.Zone}\" is duplicate");
                    continue;
                }
                if (rule.Limit is < 1 or > 65535)
                {
                    errors.Add($"invalid number of connections \"{rule.Limit}\"");
                    continue;
                }
                rules.Add(new LimitConnRule(zone, rule.Limit));
                keys.Add(zone.Name);
            }
            if (rules.Count == settings.LimitConns.Count && TryCreate(() => new LimitConnPolicy(rules, settings.LimitConnStatus, settings.LimitConnDryRun), errors, "limit_conn", out conn))
            {
                connKeys = Plan(keys, zoneKeys);
            }
        }

        if (realIp is null && req is null && conn is null)
        {
            return null;
        }
        var reqLevel = ToLogLevel(settings.LimitReqLogLevel);
        return new LimitRuntime
        {
            RealIp = realIp,
            RealIpHeader = realIpHeader,
            Req = req,
            ReqKeys = reqKeys,
            ReqLogLevel = reqLevel,
            // ngx_http_limit_req_merge_conf: delays are logged one level below rejections (info stays info).
            ReqDelayLogLevel = settings.LimitReqLogLevel switch
            {
                "error" => LogLevel.Warning,
                _ => LogLevel.Information,
            },
            Conn = conn,
            ConnKeys = connKeys,
            ConnLogLevel = ToLogLevel(settings.LimitConnLogLevel),
        };
    }

    /// <summary>nginx's levels as the host's error log maps them (notice and info are both Information).</summary>
    private static LogLevel ToLogLevel(string level) => level switch
    {
        "info" or "notice" => LogLevel.Information,
        "warn" => LogLevel.Warning,
        _ => LogLevel.Error,
    };

    private static bool TryCreate<T>(Func<T> create, List<string> errors, string directive, out T? policy) where T : class
    {
        try
        {
            policy = create();
            return true;
        }
        catch (ArgumentException e)
        {
            // The policies check what the loader may not have (a zone used twice, a status out of 400..599).
            errors.Add($"{directive}: {e.Message}");
            policy = null;
            return false;
        }
    }

    private static LimitKeyPlan Plan(List<string> zoneNames, IReadOnlyDictionary<string, CompiledTemplate> zoneKeys)
    {
        var distinct = new List<CompiledTemplate>();
        var sources = new List<string>();
        var ruleKey = new int[zoneNames.Count];
        for (int i = 0; i < zoneNames.Count; i++)
        {
            var key = zoneKeys[zoneNames[i]];
            string source = KeySource(key);
            int index = sources.IndexOf(source);
            if (index < 0)
            {
                index = distinct.Count;
                distinct.Add(key);
                sources.Add(source);
            }
            ruleKey[i] = index;
        }
        return new LimitKeyPlan([.. distinct], ruleKey);
    }

    /// <summary>Identity of a compiled key for sharing: the parts' kinds, arguments and literals.</summary>
    private static string KeySource(CompiledTemplate key)
    {
        var text = new StringBuilder();
        foreach (var part in key.Parts)
        {
            text.Append(part.Literal is { } literal ? "L" + Convert.ToHexString(literal) : "V" + (int)part.Kind + ":"
                + (part.Argument is null ? "" : Convert.ToHexString(part.Argument)) + ":" + part.Map?.Config.Variable);
            text.Append('|');
        }
        return text.ToString();
    }

    private static RealIpResolver? CreateRealIp(RealIpConfig config, List<string> errors, out byte[] header)
    {
        header = [];
        if (!TrustedProxies.TryParse(config.TrustedCidrs, out var trusted, out var error))
        {
            errors.Add("set_real_ip_from: " + error);
            return null;
        }
        var name = config.Header;
        if (string.Equals(name, "proxy_protocol", StringComparison.OrdinalIgnoreCase))
        {
            // The address of a PROXY protocol header: FastProxy's listeners take no proxy_protocol, so, as nginx
            // without one, there is never an address to take.
            return null;
        }
        header = Encoding.ASCII.GetBytes(name.ToLowerInvariant());
        if (string.Equals(name, "X-Real-IP", StringComparison.OrdinalIgnoreCase))
        {
            return new RealIpResolver(trusted, RealIpSource.XRealIp, recursive: config.Recursive);
        }
        if (string.Equals(name, "X-Forwarded-For", StringComparison.OrdinalIgnoreCase))
        {
            return new RealIpResolver(trusted, RealIpSource.XForwardedFor, recursive: config.Recursive);
        }
        return new RealIpResolver(trusted, RealIpSource.Header, name, config.Recursive);
    }
}

/// <summary>
/// The limits of one snapshot: its zone set (prepared in the server's registry, state kept across reloads) and the
/// compiled <see cref="LimitRuntime"/> of every settings object of the configuration.
/// </summary>
internal sealed class SnapshotLimits
{
    private readonly Dictionary<LocationSettings, LimitRuntime?> _bySettings;
    private readonly Dictionary<string, CompiledTemplate> _zoneKeys;

    private SnapshotLimits(LimitZoneSet zones, Dictionary<string, CompiledTemplate> zoneKeys, Dictionary<LocationSettings, LimitRuntime?> bySettings)
    {
        Zones = zones;
        _zoneKeys = zoneKeys;
        _bySettings = bySettings;
    }

    public LimitZoneSet Zones { get; }

    /// <summary>The compiled limits of a settings object (null when it has none).</summary>
    public LimitRuntime? For(LocationSettings settings) =>
        _bySettings.TryGetValue(settings, out var limits) ? limits : LimitRuntime.Create(settings, Zones, _zoneKeys, []);

    /// <summary>
    /// Prepares the zones (a zone kept with its name and size keeps its state; a changed key at the same size is
    /// refused, as nginx refuses such a reload) and compiles every context's handlers. Null when something is wrong;
    /// the messages are in <paramref name="errors"/>.
    /// </summary>
    public static SnapshotLimits? TryBuild(ProxyConfig config, IEnumerable<LocationSettings> allSettings,
        IReadOnlyDictionary<string, MapRuntime> maps, LimitZoneRegistry registry, List<string> errors)
    {
        var reqSpecs = new List<LimitReqZoneSpec>(config.LimitReqZones.Count);
        foreach (var zone in config.LimitReqZones)
        {
            if (zone.RateMilli is < 1 or > LimitRate.MaxMilliPerSecond)
            {
                errors.Add($"limit_req_zone \"{zone.Name}\": invalid rate");
                return null;
            }
            reqSpecs.Add(new LimitReqZoneSpec(zone.Name, zone.SizeBytes, zone.Key.Source, new LimitRate(zone.RateMilli)));
        }
        var connSpecs = new List<LimitConnZoneSpec>(config.LimitConnZones.Count);
        foreach (var zone in config.LimitConnZones)
        {
            connSpecs.Add(new LimitConnZoneSpec(zone.Name, zone.SizeBytes, zone.Key.Source));
        }
        if (!registry.TryPrepare(reqSpecs, connSpecs, out var zones, out var error))
        {
            errors.Add(error);
            return null;
        }

        var zoneKeys = new Dictionary<string, CompiledTemplate>(StringComparer.Ordinal);
        foreach (var zone in config.LimitReqZones)
        {
            zoneKeys[zone.Name] = CompiledTemplate.Compile(zone.Key, maps);
        }
        foreach (var zone in config.LimitConnZones)
        {
            zoneKeys[zone.Name] = CompiledTemplate.Compile(zone.Key, maps);
        }

        var bySettings = new Dictionary<LocationSettings, LimitRuntime?>(ReferenceEqualityComparer.Instance);
        int before = errors.Count;
        foreach (var settings in allSettings)
        {
            if (!bySettings.ContainsKey(settings))
            {
                bySettings[settings] = LimitRuntime.Create(settings, zones, zoneKeys, errors);
            }
        }
        return errors.Count == before ? new SnapshotLimits(zones, zoneKeys, bySettings) : null;
    }
}
