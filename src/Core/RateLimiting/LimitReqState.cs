using System.Runtime.CompilerServices;

namespace FastProxy.RateLimiting;

/// <summary>
/// The 64-bit leaky-bucket state of one limit_req key: <c>last:38 | excess:26</c>, updated by one CAS.
/// </summary>
/// <remarks>
/// <para>ngx_http_limit_req_node_t keeps <c>last</c> (ms) and <c>excess</c> (milli-requests: "1 corresponds to 0.001
/// r/s") in two words under the zone mutex. To update both without a lock they share one word:</para>
/// <list type="bullet">
/// <item><c>last</c>: milliseconds of the <see cref="LimitClock"/>, modulo 2^38 (8.7 years). Differences are taken
/// modulo 2^38 and sign-extended, so the clock's age never matters; only a state idle for more than 4.3 years would
/// be misread.</item>
/// <item><c>excess</c>: 0..<see cref="MaxExcess"/> milli-requests, plus three markers above it. A stored excess never
/// exceeds burst x 1000 (nginx stores it only when the request is within the burst), hence the limit on burst,
/// <see cref="MaxBurst"/>.</item>
/// </list>
/// <para>Markers: <see cref="FreshMarker"/> is a state just created and not yet accounted (nginx's new node with
/// <c>last = 0</c>); <see cref="DrainedMarker"/> is a fresh state whose request was rejected by a later zone (nginx
/// leaves such a node with excess 0); both mean "no excess". <see cref="TombMarker"/> is a slot being recycled.
/// Every marker keeps the time it was written, which is what makes a stale CAS impossible after a recycle (see
/// <see cref="LimitTable"/>).</para>
/// </remarks>
internal static class LimitReqState
{
    public const int ExcessBits = 26;
    public const long ExcessMask = (1L << ExcessBits) - 1;
    public const long FreshMarker = ExcessMask;
    public const long TombMarker = ExcessMask - 1;
    public const long DrainedMarker = ExcessMask - 2;
    public const long MaxExcess = ExcessMask - 3;

    /// <summary>The largest <c>burst=</c> whose excess (burst x 1000 milli-requests) fits the state word.</summary>
    public const int MaxBurst = (int)(MaxExcess / 1000);

    // rate x ms must not overflow: rates are at most 2^30 milli-requests/s (LimitRate.MaxMilliPerSecond), and after
    // 2^33 ms (99 days) every bucket has leaked completely even at the lowest rate (1r/m = 16 milli/s).
    private const long MaxElapsedMs = 1L << 33;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long Pack(long timeMs, long excess) => (timeMs << ExcessBits) | excess;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long Excess(long state) => state & ExcessMask;

    /// <summary><c>now - last</c> in milliseconds, from the 38-bit stored time (sign-extended).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long Elapsed(long now, long state) => unchecked((now << ExcessBits) - (state & ~ExcessMask)) >> ExcessBits;

    /// <summary>True for the fresh and drained markers: a state with no excess yet.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool IsEmpty(long state) => (state & ExcessMask) is FreshMarker or DrainedMarker;

    /// <summary>How much of the excess has leaked after <paramref name="ms"/> at <paramref name="rate"/> milli-requests
    /// per second, truncated exactly as nginx's <c>ctx->rate * ms / 1000</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long Leak(long rate, long ms) => rate * Math.Min(ms, MaxElapsedMs) / 1000;

    /// <summary>
    /// ngx_http_limit_req_lookup/account: the excess this request would leave, and the time to store with it.
    /// </summary>
    /// <remarks>
    /// <para>nginx (1.15.7+): <c>ms = now - last; if (ms &lt; -60000) ms = 1; else if (ms &lt; 0) ms = 0;
    /// excess = lr->excess - ctx->rate * ms / 1000 + 1000; if (excess &lt; 0) excess = 0;</c> and on accounting
    /// <c>if (ms) lr->last = now</c>. A new node counts as fully leaked: its first request leaves excess 0.</para>
    /// <para>One deviation: the stored time never moves backwards. nginx's <c>ms &lt; -60000</c> case (a clock that
    /// jumped back) also sets <c>last = now</c>; here the arithmetic uses <c>ms = 1</c> as nginx does but <c>last</c> is
    /// kept. Our clock is monotonic, so a time in the past only comes from a request that read the clock before
    /// another one wrote the state; keeping <c>last</c> non-decreasing is what the table's ABA guard rests on.</para>
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long NextExcess(long state, long now, long rate, out long lastToStore)
    {
        long ms = Elapsed(now, state);

        // The stored 38 bits of 'last' are enough: Pack keeps only those bits of whatever we pass.
        lastToStore = ms > 0 ? now : state >> ExcessBits;
        if (IsEmpty(state))
        {
            return 0;
        }

        if (ms < -60000)
        {
            ms = 1;
        }
        else if (ms < 0)
        {
            ms = 0;
        }

        long excess = Excess(state) - Leak(rate, ms) + 1000;
        return excess < 0 ? 0 : excess;
    }

    /// <summary>
    /// Milliseconds until a request rejected against <paramref name="state"/> would be within the burst, if nothing
    /// else arrives: the smallest elapsed time with <c>excess - rate * ms / 1000 + 1000 &lt;= burst</c>, minus the
    /// time already elapsed (a rejection does not change the state, as in nginx).
    /// </summary>
    public static long MillisecondsUntilAdmitted(long state, long now, long rate, long burstMilli)
    {
        if (IsEmpty(state))
        {
            return 0;
        }

        long ms = Elapsed(now, state);
        if (ms < -60000)
        {
            ms = 1;
        }
        else if (ms < 0)
        {
            ms = 0;
        }

        long needed = Excess(state) + 1000 - burstMilli;   // leak required: floor(rate * t / 1000) >= needed
        if (needed <= 0)
        {
            return 0;
        }

        long t = (needed * 1000 + rate - 1) / rate;
        return Math.Max(0, t - ms);
    }
}

/// <summary>Slot policy of limit_req tables (see <see cref="LimitReqState"/>).</summary>
internal readonly struct LimitReqSlotPolicy : ILimitSlotPolicy
{
    // A bucket that has leaked completely is equivalent to no state at all (nginx's "zero rate entries" that
    // ngx_http_limit_req_expire deletes first), so it is always preferred over evicting real excess.
    private const long LosslessBonus = 1L << 40;

    private readonly long _rate;

    public LimitReqSlotPolicy(long rateMilliPerSecond) => _rate = rateMilliPerSecond;

    public static bool IsTombstone(long state) => LimitReqState.Excess(state) == LimitReqState.TombMarker;

    public static long Tombstone(long state) => (state & ~LimitReqState.ExcessMask) | LimitReqState.TombMarker;

    // The slot's next key starts at a time no earlier than anything the slot held before (a recycled victim is always
    // older than 'now'; a slot given back unpublished keeps the time of its last claim), even if this thread's 'now'
    // is a little stale: the ABA guard needs every incarnation to start later than the previous one ended.
    public static long Fresh(long previous, long now)
        => LimitReqState.Pack(LimitReqState.Elapsed(now, previous) > 0 ? now : previous >> LimitReqState.ExcessBits, LimitReqState.FreshMarker);

    public long VictimScore(long state, int touch, long now)
    {
        long excess = LimitReqState.Excess(state);

        // A fresh state belongs to a request in flight (or to a slot being published): like a node with count > 0 in
        // nginx, it is never expired.
        if (excess is LimitReqState.FreshMarker or LimitReqState.TombMarker)
        {
            return -1;
        }

        // A state written in this millisecond is never recycled: the next key's states then all carry a later time,
        // so no stale CAS on the old key can ever match them (the ABA guard of LimitTable).
        long ms = LimitReqState.Elapsed(now, state);
        if (ms <= 0)
        {
            return -1;
        }

        long age = (uint)((int)now - touch);
        if (excess == LimitReqState.DrainedMarker || LimitReqState.Leak(_rate, ms) >= excess + 1000)
        {
            return LosslessBonus + age;
        }

        return age;
    }
}
