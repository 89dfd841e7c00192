namespace FastProxy.RateLimiting;

/// <summary>One <c>limit_conn ZONE N</c>.</summary>
internal readonly struct LimitConnRule
{
    public LimitConnRule(LimitConnZone zone, int limit)
    {
        ArgumentNullException.ThrowIfNull(zone);

        // ngx_http_limit_conn: "invalid number of connections" outside 1..65535 (the node counts in a u_short).
        if (limit is < 1 or > 65535)
        {
            throw new ArgumentOutOfRangeException(nameof(limit), limit, "limit_conn must be within 1..65535.");
        }

        Zone = zone;
        Limit = limit;
    }

    public LimitConnZone Zone { get; }

    public int Limit { get; }
}

/// <summary>The values of nginx's <c>$limit_conn_status</c>; <see cref="None"/> is "not set".</summary>
internal enum LimitConnStatus : byte { None, Passed, Rejected, RejectedDryRun }

internal readonly struct LimitConnDecision
{
    private LimitConnDecision(LimitAction action, LimitConnStatus status, int statusCode, int ruleIndex, bool noSlot)
    {
        Action = action;
        Status = status;
        StatusCode = statusCode;
        RuleIndex = ruleIndex;
        NoSlot = noSlot;
    }

    /// <summary><see cref="LimitAction.Pass"/> or <see cref="LimitAction.Reject"/>.</summary>
    public LimitAction Action { get; }

    public LimitConnStatus Status { get; }

    /// <summary><c>limit_conn_status</c> (default 503) on rejection, else 0.</summary>
    public int StatusCode { get; }

    /// <summary>The rule that rejected the request, or -1.</summary>
    public int RuleIndex { get; }

    /// <summary>The rejection comes from a full zone, not from the limit.</summary>
    public bool NoSlot { get; }

    internal static LimitConnDecision NotLimited => new(LimitAction.Pass, LimitConnStatus.None, 0, -1, false);

    internal static LimitConnDecision Passed => new(LimitAction.Pass, LimitConnStatus.Passed, 0, -1, false);

    internal static LimitConnDecision Rejected(bool dryRun, int statusCode, int ruleIndex, bool noSlot)
        => dryRun
            ? new(LimitAction.Pass, LimitConnStatus.RejectedDryRun, 0, ruleIndex, noSlot)
            : new(LimitAction.Reject, LimitConnStatus.Rejected, statusCode, ruleIndex, noSlot);
}

/// <summary>
/// The <c>limit_conn</c> rules of one context, with <c>limit_conn_status</c> and <c>limit_conn_dry_run</c>.
/// </summary>
/// <remarks>
/// Mirrors ngx_http_limit_conn_handler: rules are applied in order, each taking a place for its key; keys that are
/// empty or longer than 255 bytes are skipped. The first rule whose key is at its limit (or whose zone has no room)
/// rejects the request and every place taken so far for it is given back (ngx_http_limit_conn_cleanup_all). In dry
/// run the request then goes on without holding any place, as nginx does.
/// </remarks>
internal sealed class LimitConnPolicy
{
    /// <summary>nginx skips keys longer than 255 bytes (the node stores the length in a u_char).</summary>
    public const int MaxKeyLength = 255;

    private readonly LimitConnRule[] _rules;

    public LimitConnPolicy(IReadOnlyList<LimitConnRule> rules, int statusCode = 503, bool dryRun = false)
    {
        ArgumentNullException.ThrowIfNull(rules);
        if (rules.Count == 0)
        {
            throw new ArgumentException("A limit_conn policy needs at least one rule.", nameof(rules));
        }

        if (statusCode is < 400 or > 599)
        {
            throw new ArgumentOutOfRangeException(nameof(statusCode), statusCode, "limit_conn_status must be within 400..599.");
        }

        _rules = [.. rules];
        StatusCode = statusCode;
        DryRun = dryRun;
    }

    public IReadOnlyList<LimitConnRule> Rules => _rules;

    /// <summary>How many leases <see cref="Acquire{TKeys}(TKeys, Span{LimitConnLease})"/> needs room for.</summary>
    public int LeaseCount => _rules.Length;

    public int StatusCode { get; }

    public bool DryRun { get; }

    public LimitConnDecision Acquire(ReadOnlySpan<byte> key, Span<LimitConnLease> leases)
        => Acquire(new SingleLimitKey(key), leases);

    /// <summary>
    /// Takes the request's places. <paramref name="leases"/> (at least <see cref="LeaseCount"/> long, all released)
    /// receives them; the engine releases them with <see cref="LimitConnLease.ReleaseAll"/> when the request ends,
    /// whatever the decision (a rejected request holds none).
    /// </summary>
    public LimitConnDecision Acquire<TKeys>(TKeys keys, Span<LimitConnLease> leases)
        where TKeys : ILimitKeySource, allows ref struct
        => Acquire(keys, leases, _rules[0].Zone.Clock.NowMs());

    /// <summary>As <see cref="Acquire{TKeys}(TKeys, Span{LimitConnLease})"/>, at <paramref name="now"/> (ms of the zones'
    /// clock, only used to order recycling), for an engine that reads the clock once per request.</summary>
    public LimitConnDecision Acquire<TKeys>(TKeys keys, Span<LimitConnLease> leases, long now)
        where TKeys : ILimitKeySource, allows ref struct
    {
        LimitConnRule[] rules = _rules;
        if (leases.Length < rules.Length)
        {
            throw new ArgumentException($"Room for {rules.Length} leases is needed.", nameof(leases));
        }

        bool any = false;
        for (int i = 0; i < rules.Length; i++)
        {
            if (leases[i].IsHeld)
            {
                // Overwriting would leak a place forever: the caller reused storage without releasing it.
                throw new InvalidOperationException("A lease slot still holds a place; release it first.");
            }

            ReadOnlySpan<byte> key = keys.GetKey(i);
            if (key.IsEmpty || key.Length > MaxKeyLength)
            {
                continue;
            }

            any = true;
            ref readonly LimitConnRule rule = ref rules[i];
            LimitConnResult result = rule.Zone.TryAcquire(key, rule.Limit, now, out leases[i]);
            if (result != LimitConnResult.Acquired)
            {
                LimitConnLease.ReleaseAll(leases[..i]);
                return LimitConnDecision.Rejected(DryRun, StatusCode, i, result == LimitConnResult.NoSlot);
            }
        }

        return any ? LimitConnDecision.Passed : LimitConnDecision.NotLimited;
    }
}
