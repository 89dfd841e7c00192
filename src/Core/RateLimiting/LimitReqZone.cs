using System.Runtime.CompilerServices;

namespace FastProxy.RateLimiting;

/// <summary>
/// One <c>limit_req_zone KEY zone=NAME:SIZE rate=RATE</c>: a fixed table of leaky-bucket states plus the rate of the
/// configuration that declared it.
/// </summary>
/// <remarks>
/// The table (the state) outlives configurations: on reload <see cref="LimitZoneRegistry"/> hands the same table to
/// the new configuration when name, size and key are unchanged, and a new rate applies to the kept state, as nginx's
/// ngx_http_limit_req_init_zone does (it keeps the shared memory and takes the new <c>ctx->rate</c>).
/// </remarks>
internal sealed class LimitReqZone
{
    /// <summary>nginx refuses zones under 8 pages ("zone is too small"); 8 x 4096.</summary>
    public const long MinSizeBytes = 8 * 4096;

    /// <summary>The state size nginx documents for limit_req on 32-bit platforms ("One megabyte zone can keep about 16
    /// thousand 64-byte states"); a zone promises that many keys per byte of SIZE.</summary>
    public const int NominalStateBytes = 64;

    // Twice as many slots as nominal states, so that a 32-slot bucket overflows before the zone holds its nominal
    // number of keys with probability ~1e-4 per bucket at 100% load (Poisson(16) > 32) and ~3e-11 at the 8k states
    // per MB nginx really holds on 64-bit platforms. Memory: SIZE / 1024 buckets x 1088 bytes, about 1.06 x SIZE.
    private const int SizeBytesPerBucket = NominalStateBytes * LimitTable.SlotsPerBucket / 2;

    private readonly long _rate;

    internal LimitReqZone(string name, long sizeBytes, string key, LimitRate rate, LimitClock clock, LimitTable table)
    {
        Name = name;
        SizeBytes = sizeBytes;
        Key = key;
        Rate = rate;
        Clock = clock;
        Table = table;
        _rate = rate.MilliPerSecond;
    }

    public string Name { get; }

    public long SizeBytes { get; }

    /// <summary>The key expression as written in the configuration (compared verbatim on reload, as nginx does).</summary>
    public string Key { get; }

    public LimitRate Rate { get; }

    public LimitClock Clock { get; }

    /// <summary>Keys the zone holds exactly (no recycling) with overwhelming probability: SIZE / 64.</summary>
    public long NominalStates => SizeBytes / NominalStateBytes;

    internal LimitTable Table { get; }

    internal long RateMilli => _rate;

    public static LimitReqZone Create(string name, long sizeBytes, string key, LimitRate rate, LimitClock clock)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(clock);
        return new LimitReqZone(name, sizeBytes, key, rate, clock, new LimitTable(BucketsForSize(sizeBytes)));
    }

    /// <summary>Test and benchmark support: a zone over exactly <paramref name="buckets"/> buckets of 32 slots.</summary>
    internal static LimitReqZone CreateWithBuckets(string name, int buckets, LimitRate rate, LimitClock clock)
        => new(name, (long)buckets * SizeBytesPerBucket, "$test", rate, clock, new LimitTable(buckets));

    internal static int BucketsForSize(long sizeBytes)
    {
        if (sizeBytes < MinSizeBytes)
        {
            throw new ArgumentOutOfRangeException(nameof(sizeBytes), sizeBytes, "The zone is too small (minimum 32k).");
        }

        long buckets = sizeBytes / SizeBytesPerBucket;
        if (buckets * LimitTable.BucketBytes + 64 > Array.MaxLength)
        {
            throw new ArgumentOutOfRangeException(nameof(sizeBytes), sizeBytes, "The zone is too large.");
        }

        return (int)buckets;
    }

    internal LimitReqZone WithRate(LimitRate rate) => new(Name, SizeBytes, Key, rate, Clock, Table);

    /// <summary>Diagnostics and tests: the stored state of a key (excess -1 for a state not accounted yet).</summary>
    internal bool TryGetState(ReadOnlySpan<byte> key, out long lastMs, out long excessMilli)
    {
        LimitKey id = Table.CreateKey(key);
        if (!Table.TryFind<LimitReqSlotPolicy>(in id, out SlotSnapshot snapshot))
        {
            lastMs = 0;
            excessMilli = 0;
            return false;
        }

        lastMs = snapshot.State >> LimitReqState.ExcessBits;
        excessMilli = LimitReqState.IsEmpty(snapshot.State) ? -1 : LimitReqState.Excess(snapshot.State);
        return true;
    }

    /// <summary>
    /// ngx_http_limit_req_lookup with <c>account = 0</c> (a zone that is not the last of its context): computes the
    /// excess without storing it, creating the state if the key is new.
    /// </summary>
    internal ZoneProbe Probe(ReadOnlySpan<byte> key, long now, long burstMilli)
    {
        LimitKey id = Table.CreateKey(key);
        var policy = new LimitReqSlotPolicy(_rate);
        InsertResult found = Table.FindOrInsert(in id, now, ref policy, out SlotSnapshot snapshot);
        if (found == InsertResult.Full)
        {
            return ZoneProbe.NoSlot();
        }

        Table.Touch(snapshot.Slot, now);
        long excess = LimitReqState.NextExcess(snapshot.State, now, _rate, out _);
        if (excess > burstMilli)
        {
            return ZoneProbe.Busy(excess, LimitReqState.MillisecondsUntilAdmitted(snapshot.State, now, _rate, burstMilli));
        }

        return new ZoneProbe(ZoneProbeKind.Again, excess, in id, in snapshot, inserted: found == InsertResult.Inserted);
    }

    /// <summary>
    /// ngx_http_limit_req_lookup with <c>account = 1</c> (the last zone of its context): admits the request and stores
    /// the new excess with one CAS, or rejects it without changing the state.
    /// </summary>
    internal AdmitResult Admit(ReadOnlySpan<byte> key, long now, long burstMilli)
    {
        LimitKey id = Table.CreateKey(key);
        var policy = new LimitReqSlotPolicy(_rate);
        if (Table.FindOrInsert(in id, now, ref policy, out SlotSnapshot snapshot) == InsertResult.Full)
        {
            return AdmitResult.NoSlot;
        }

        Table.Touch(snapshot.Slot, now);
        while (true)
        {
            long excess = LimitReqState.NextExcess(snapshot.State, now, _rate, out long last);
            if (excess > burstMilli)
            {
                return new AdmitResult(
                    ZoneProbeKind.Busy, excess, LimitReqState.MillisecondsUntilAdmitted(snapshot.State, now, _rate, burstMilli));
            }

            switch (Table.TryUpdate<LimitReqSlotPolicy>(ref snapshot, LimitReqState.Pack(last, excess)))
            {
                case UpdateResult.Updated:
                    return new AdmitResult(ZoneProbeKind.Ok, excess, 0);
                case UpdateResult.Lost:
                    if (Table.FindOrInsert(in id, now, ref policy, out snapshot) == InsertResult.Full)
                    {
                        return AdmitResult.NoSlot;
                    }

                    break;
            }
        }
    }

    /// <summary>
    /// ngx_http_limit_req_account for a zone probed earlier: stores the excess recomputed now, without checking the
    /// burst again (nginx does not either), and returns it.
    /// </summary>
    internal long Commit(ref ZoneProbe probe, long now)
    {
        SlotSnapshot snapshot = probe.Snapshot;
        var policy = new LimitReqSlotPolicy(_rate);
        while (true)
        {
            long excess = LimitReqState.NextExcess(snapshot.State, now, _rate, out long last);

            // Under concurrency the recomputed excess can pass the burst (as with several nginx workers); it is stored
            // saturated so that it can never collide with the markers.
            long next = LimitReqState.Pack(last, Math.Min(excess, LimitReqState.MaxExcess));
            switch (Table.TryUpdate<LimitReqSlotPolicy>(ref snapshot, next))
            {
                case UpdateResult.Updated:
                    return excess;
                case UpdateResult.Lost:
                    // Recycled between probe and account (only possible across a millisecond boundary): nginx pins the
                    // node with count++; we account the request to a new state instead.
                    if (Table.FindOrInsert(in probe.Key, now, ref policy, out snapshot) == InsertResult.Full)
                    {
                        return 0;
                    }

                    break;
            }
        }
    }

    /// <summary>
    /// ngx_http_limit_req_unlock for a zone probed earlier when a later zone rejected the request: a state this request
    /// created becomes "drained" (no excess, recyclable), as nginx leaves such a node with excess 0.
    /// </summary>
    internal void Abandon(in ZoneProbe probe)
    {
        if (probe.Kind == ZoneProbeKind.Again && probe.Inserted)
        {
            // Our own fresh value: if anyone accounted a request on it since, the CAS fails and that is correct. The
            // time is kept (never moves backwards; see LimitReqState).
            long fresh = probe.Snapshot.State;
            Table.CompareExchangeState(probe.Snapshot.Slot, (fresh & ~LimitReqState.ExcessMask) | LimitReqState.DrainedMarker, fresh);
        }
    }
}

internal enum ZoneProbeKind : byte
{
    /// <summary>The key was empty or too long: the zone does not apply (nginx: <c>continue</c>).</summary>
    Skipped,

    /// <summary>Within the burst, not yet accounted (nginx NGX_AGAIN).</summary>
    Again,

    /// <summary>Within the burst and accounted (nginx NGX_OK).</summary>
    Ok,

    /// <summary>Beyond the burst (nginx NGX_BUSY).</summary>
    Busy,

    /// <summary>No slot could be found or recycled (nginx NGX_ERROR: "could not allocate node").</summary>
    NoSlot,
}

/// <summary>The outcome of the last zone of a context (small: the single-zone path returns it by value).</summary>
internal readonly struct AdmitResult
{
    public readonly ZoneProbeKind Kind;
    public readonly long Excess;
    public readonly long RetryAfterMs;

    public AdmitResult(ZoneProbeKind kind, long excess, long retryAfterMs)
    {
        Kind = kind;
        Excess = excess;
        RetryAfterMs = retryAfterMs;
    }

    public static AdmitResult NoSlot => new(ZoneProbeKind.NoSlot, 0, 1000);
}

/// <summary>The outcome of one zone for one request.</summary>
internal struct ZoneProbe
{
    public ZoneProbeKind Kind;
    public bool Inserted;
    public long Excess;
    public long RetryAfterMs;
    public LimitKey Key;
    public SlotSnapshot Snapshot;

    public ZoneProbe(ZoneProbeKind kind, long excess, in LimitKey key, in SlotSnapshot snapshot, bool inserted)
    {
        Kind = kind;
        Excess = excess;
        Key = key;
        Snapshot = snapshot;
        Inserted = inserted;
        RetryAfterMs = 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ZoneProbe Busy(long excess, long retryAfterMs)
        => new() { Kind = ZoneProbeKind.Busy, Excess = excess, RetryAfterMs = retryAfterMs };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ZoneProbe NoSlot() => new() { Kind = ZoneProbeKind.NoSlot, RetryAfterMs = 1000 };

    public static ZoneProbe From(in AdmitResult result)
        => new() { Kind = result.Kind, Excess = result.Excess, RetryAfterMs = result.RetryAfterMs };
}
