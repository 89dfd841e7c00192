using System.Buffers;
using System.Runtime.CompilerServices;

namespace FastProxy.RateLimiting;

/// <summary>Supplies, per request, the evaluated key of each rule of a policy (rule order). The engine evaluates the
/// zone's key expression (<see cref="LimitReqZone.Key"/>, <see cref="LimitConnZone.Key"/>) into bytes; an empty span
/// means "not limited by this rule".</summary>
internal interface ILimitKeySource
{
    ReadOnlySpan<byte> GetKey(int ruleIndex);
}

/// <summary>The same key for every rule (typically <c>$binary_remote_addr</c>).</summary>
internal readonly ref struct SingleLimitKey : ILimitKeySource
{
    private readonly ReadOnlySpan<byte> _key;

    public SingleLimitKey(ReadOnlySpan<byte> key) => _key = key;

    public ReadOnlySpan<byte> GetKey(int ruleIndex) => _key;
}

/// <summary>What the engine does with the request.</summary>
internal enum LimitAction : byte
{
    Pass,

    /// <summary>Wait <see cref="LimitReqDecision.DelayMs"/> (without holding a thread), then continue.</summary>
    Delay,

    /// <summary>Answer <see cref="LimitReqDecision.StatusCode"/> now.</summary>
    Reject,
}

/// <summary>The values of nginx's <c>$limit_req_status</c>; <see cref="None"/> is "not set" (no rule applied).</summary>
internal enum LimitReqStatus : byte { None, Passed, Delayed, Rejected, DelayedDryRun, RejectedDryRun }

/// <summary>One <c>limit_req zone=NAME [burst=N] [nodelay | delay=N]</c>.</summary>
internal readonly struct LimitReqRule
{
    /// <summary>What nodelay means: every excessive request within the burst is served at once (nginx sets
    /// <c>delay = NGX_MAX_INT_T_VALUE / 1000</c>).</summary>
    public const int NoDelay = int.MaxValue;

    public LimitReqRule(LimitReqZone zone, int burst = 0, int delay = 0)
    {
        ArgumentNullException.ThrowIfNull(zone);
        if (burst < 0 || burst > LimitReqState.MaxBurst)
        {
            throw new ArgumentOutOfRangeException(nameof(burst), burst, $"burst must be within 0..{LimitReqState.MaxBurst}.");
        }

        ArgumentOutOfRangeException.ThrowIfNegative(delay);
        Zone = zone;
        Burst = burst;
        Delay = delay;
        BurstMilli = burst * 1000L;
        DelayMilli = delay * 1000L;
    }

    public LimitReqZone Zone { get; }

    public int Burst { get; }

    /// <summary>Excessive requests up to this many are served without delay (<see cref="NoDelay"/> for nodelay).</summary>
    public int Delay { get; }

    public bool IsNoDelay => Delay == NoDelay;

    internal long BurstMilli { get; }

    internal long DelayMilli { get; }

    public static LimitReqRule WithNoDelay(LimitReqZone zone, int burst = 0) => new(zone, burst, NoDelay);
}

/// <summary>The decision for one request against the <c>limit_req</c> rules of its context. Errors are values: a
/// rejection is a decision, never an exception.</summary>
internal readonly struct LimitReqDecision
{
    private LimitReqDecision(LimitAction action, LimitReqStatus status, int statusCode, long delayMs,
        int retryAfterSeconds, int ruleIndex, long excessMilli, bool noSlot)
    {
        Action = action;
        Status = status;
        StatusCode = statusCode;
        DelayMs = delayMs;
        RetryAfterSeconds = retryAfterSeconds;
        RuleIndex = ruleIndex;
        ExcessMilli = excessMilli;
        NoSlot = noSlot;
    }

    public LimitAction Action { get; }

    /// <summary>For <c>$limit_req_status</c> and logs.</summary>
    public LimitReqStatus Status { get; }

    /// <summary><c>limit_req_status</c> (default 503) when <see cref="Status"/> is a rejection, else 0.</summary>
    public int StatusCode { get; }

    /// <summary>How long to delay the request (also reported in dry run, where it is not applied).</summary>
    public long DelayMs { get; }

    /// <summary>For a <c>Retry-After</c> header on rejections: whole seconds (at least 1) until the rejecting zone's
    /// bucket would admit this key again if nothing else arrives.</summary>
    public int RetryAfterSeconds { get; }

    /// <summary>The rule that rejected the request, or that imposed the longest delay; -1 otherwise.</summary>
    public int RuleIndex { get; }

    /// <summary>The excess in milli-requests behind the rejection or delay, as nginx logs it (<c>excess: 1.500</c>).</summary>
    public long ExcessMilli { get; }

    /// <summary>The rejection comes from a full zone (nginx: "could not allocate node"), not from the rate.</summary>
    public bool NoSlot { get; }

    public static LimitReqDecision NotLimited => new(LimitAction.Pass, LimitReqStatus.None, 0, 0, 0, -1, 0, false);

    internal static LimitReqDecision Passed => new(LimitAction.Pass, LimitReqStatus.Passed, 0, 0, 0, -1, 0, false);

    internal static LimitReqDecision Delayed(bool dryRun, long delayMs, int ruleIndex, long excess)
        => new(dryRun ? LimitAction.Pass : LimitAction.Delay, dryRun ? LimitReqStatus.DelayedDryRun : LimitReqStatus.Delayed,
            0, delayMs, 0, ruleIndex, excess, false);

    internal static LimitReqDecision Rejected(bool dryRun, int statusCode, long retryAfterMs, int ruleIndex, long excess, bool noSlot)
        => new(dryRun ? LimitAction.Pass : LimitAction.Reject, dryRun ? LimitReqStatus.RejectedDryRun : LimitReqStatus.Rejected,
            dryRun ? 0 : statusCode, 0, (int)Math.Clamp((retryAfterMs + 999) / 1000, 1, int.MaxValue), ruleIndex, excess, noSlot);
}

/// <summary>
/// The <c>limit_req</c> rules of one configuration context (after inheritance), with <c>limit_req_status</c> and
/// <c>limit_req_dry_run</c>: what the engine calls once per request (nginx evaluates it once per main request).
/// </summary>
/// <remarks>
/// Mirrors ngx_http_limit_req_handler. Rules are looked up in order; every rule but the last only checks its burst
/// (ngx_http_limit_req_lookup with <c>account = 0</c>) and the last one checks and stores (<c>account = 1</c>). The
/// first rule beyond its burst rejects the request: later rules are not looked at, earlier ones are left unchanged
/// (ngx_http_limit_req_unlock only drops their pins), and the rejecting zone's state is not changed either. When
/// every rule passes, the earlier zones store their excess recomputed at that moment, last to first
/// (ngx_http_limit_req_account, which does not re-check the burst), and the delay is the longest any rule imposes:
/// <c>(excess - delay) * 1000 / rate</c> ms for a rule whose excess is above its <c>delay</c>. Rejected requests
/// therefore consume nothing in any zone.
/// </remarks>
internal sealed class LimitReqPolicy
{
    /// <summary>nginx skips (does not limit) keys longer than 65535 bytes, logging an error.</summary>
    public const int MaxKeyLength = 65535;

    private const int MaxStackRules = 16;

    private readonly LimitReqRule[] _rules;
    private readonly LimitClock _clock;

    public LimitReqPolicy(IReadOnlyList<LimitReqRule> rules, int statusCode = 503, bool dryRun = false)
    {
        ArgumentNullException.ThrowIfNull(rules);
        if (rules.Count == 0)
        {
            throw new ArgumentException("A limit_req policy needs at least one rule.", nameof(rules));
        }

        if (statusCode is < 400 or > 599)
        {
            throw new ArgumentOutOfRangeException(nameof(statusCode), statusCode, "limit_req_status must be within 400..599.");
        }

        _rules = [.. rules];
        _clock = _rules[0].Zone.Clock;
        for (int i = 0; i < _rules.Length; i++)
        {
            if (!ReferenceEquals(_rules[i].Zone.Clock, _clock))
            {
                throw new ArgumentException("All zones of a policy must share one clock (one registry).", nameof(rules));
            }

            for (int j = 0; j < i; j++)
            {
                if (ReferenceEquals(_rules[j].Zone.Table, _rules[i].Zone.Table))
                {
                    // nginx: "limit_req ... is duplicate"
                    throw new ArgumentException($"Zone \"{_rules[i].Zone.Name}\" is used twice in one context.", nameof(rules));
                }
            }
        }

        StatusCode = statusCode;
        DryRun = dryRun;
    }

    public IReadOnlyList<LimitReqRule> Rules => _rules;

    public int StatusCode { get; }

    public bool DryRun { get; }

    public LimitClock Clock => _clock;

    /// <summary>Evaluates a request whose rules all use the same key bytes.</summary>
    public LimitReqDecision Evaluate(ReadOnlySpan<byte> key) => Evaluate(new SingleLimitKey(key), _clock.NowMs());

    public LimitReqDecision Evaluate<TKeys>(TKeys keys)
        where TKeys : ILimitKeySource, allows ref struct
        => Evaluate(keys, _clock.NowMs());

    /// <summary>Evaluates a request at <paramref name="now"/> (ms of <see cref="Clock"/>), for an engine that reads the
    /// clock once per event-loop turn as nginx does with <c>ngx_current_msec</c>.</summary>
    [SkipLocalsInit]
    public LimitReqDecision Evaluate<TKeys>(TKeys keys, long now)
        where TKeys : ILimitKeySource, allows ref struct
    {
        LimitReqRule[] rules = _rules;
        if (rules.Length == 1)
        {
            return EvaluateOne(keys.GetKey(0), now, in rules[0]);
        }

        ZoneProbe[]? rented = null;
        Span<ZoneProbe> probes = rules.Length <= MaxStackRules
            ? stackalloc ZoneProbe[rules.Length]
            : (rented = ArrayPool<ZoneProbe>.Shared.Rent(rules.Length));
        try
        {
            return EvaluateMany(keys, now, rules, probes);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<ZoneProbe>.Shared.Return(rented);
            }
        }
    }

    private LimitReqDecision EvaluateOne(ReadOnlySpan<byte> key, long now, in LimitReqRule rule)
    {
        if (key.IsEmpty || key.Length > MaxKeyLength)
        {
            return LimitReqDecision.NotLimited;
        }

        AdmitResult probe = rule.Zone.Admit(key, now, rule.BurstMilli);
        if (probe.Kind != ZoneProbeKind.Ok)
        {
            return LimitReqDecision.Rejected(DryRun, StatusCode, probe.RetryAfterMs, 0, probe.Excess, probe.Kind == ZoneProbeKind.NoSlot);
        }

        if (probe.Excess <= rule.DelayMilli)
        {
            return LimitReqDecision.Passed;
        }

        return LimitReqDecision.Delayed(DryRun, (probe.Excess - rule.DelayMilli) * 1000 / rule.Zone.RateMilli, 0, probe.Excess);
    }

    private LimitReqDecision EvaluateMany<TKeys>(TKeys keys, long now, LimitReqRule[] rules, Span<ZoneProbe> probes)
        where TKeys : ILimitKeySource, allows ref struct
    {
        int last = rules.Length - 1;
        bool any = false;
        int n;
        ZoneProbe probe = default;
        for (n = 0; n < rules.Length; n++)
        {
            ReadOnlySpan<byte> key = keys.GetKey(n);
            if (key.IsEmpty || key.Length > MaxKeyLength)
            {
                probes[n] = default;   // Skipped
                continue;
            }

            any = true;
            ref readonly LimitReqRule rule = ref rules[n];
            probe = n == last ? ZoneProbe.From(rule.Zone.Admit(key, now, rule.BurstMilli)) : rule.Zone.Probe(key, now, rule.BurstMilli);
            probes[n] = probe;
            if (probe.Kind != ZoneProbeKind.Again)
            {
                break;
            }
        }

        if (!any)
        {
            return LimitReqDecision.NotLimited;
        }

        if (probe.Kind is ZoneProbeKind.Busy or ZoneProbeKind.NoSlot)
        {
            for (int k = 0; k < n; k++)
            {
                rules[k].Zone.Abandon(in probes[k]);
            }

            return LimitReqDecision.Rejected(DryRun, StatusCode, probe.RetryAfterMs, n, probe.Excess, probe.Kind == ZoneProbeKind.NoSlot);
        }

        // Either the last rule admitted and stored (Ok, n == last), or the last rule's key was empty and every probed
        // rule is still pending (Again, n == rules.Length): nginx then accounts all of them.
        long maxDelay = 0;
        int delayRule = -1;
        long delayExcess = 0;
        if (probe.Kind == ZoneProbeKind.Ok && probe.Excess > rules[n].DelayMilli)
        {
            maxDelay = (probe.Excess - rules[n].DelayMilli) * 1000 / rules[n].Zone.RateMilli;
            delayRule = n;
            delayExcess = probe.Excess;
        }

        for (int k = n - 1; k >= 0; k--)
        {
            if (probes[k].Kind != ZoneProbeKind.Again)
            {
                continue;
            }

            ref readonly LimitReqRule rule = ref rules[k];
            long excess = rule.Zone.Commit(ref probes[k], now);
            if (excess <= rule.DelayMilli)
            {
                continue;
            }

            long delay = (excess - rule.DelayMilli) * 1000 / rule.Zone.RateMilli;
            if (delay > maxDelay)
            {
                maxDelay = delay;
                delayRule = k;
                delayExcess = excess;
            }
        }

        return maxDelay == 0 ? LimitReqDecision.Passed : LimitReqDecision.Delayed(DryRun, maxDelay, delayRule, delayExcess);
    }
}
