using System.Runtime.CompilerServices;

namespace FastProxy.RateLimiting;

/// <summary>Slot policy of limit_conn tables: the state is <c>generation:32 | count:32</c>.</summary>
/// <remarks>
/// The generation changes every time the slot is given to a new key, so a CAS prepared against the previous key's
/// count can never succeed on the new key's (counts alone repeat: 0, 1, 0...). A slot whose count is above zero is
/// never recycled; a key whose count is back to zero keeps its slot until the space is needed (nginx deletes the node
/// at zero; keeping it saves a recycle when the same client comes back, and costs nothing since it is free to take).
/// </remarks>
internal readonly struct LimitConnSlotPolicy : ILimitSlotPolicy
{
    public const uint FreshCount = uint.MaxValue;
    public const uint TombCount = uint.MaxValue - 1;

    public static bool IsTombstone(long state) => (uint)state == TombCount;

    public static long Tombstone(long state) => (state & ~0xFFFF_FFFFL) | TombCount;

    public static long Fresh(long previous, long now) => Pack(Generation(previous) + 1, FreshCount);

    public long VictimScore(long state, int touch, long now)
        => (uint)state == 0 ? 1 + (uint)((int)now - touch) : -1;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long Pack(uint generation, uint count) => (long)(((ulong)generation << 32) | count);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Generation(long state) => (uint)((ulong)state >> 32);

    /// <summary>The number of requests holding the key (a fresh state counts zero).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Count(long state) => (uint)state is FreshCount or TombCount ? 0 : (uint)state;
}

internal enum LimitConnResult : byte
{
    Acquired,

    /// <summary>The key already holds <c>limit_conn</c> requests.</summary>
    Rejected,

    /// <summary>No slot could be found or recycled for a new key (nginx: the zone's slab allocation failed).</summary>
    NoSlot,
}

/// <summary>
/// One <c>limit_conn_zone KEY zone=NAME:SIZE</c>: concurrent requests per key, held by <see cref="LimitConnLease"/>s.
/// </summary>
internal sealed class LimitConnZone
{
    public const long MinSizeBytes = LimitReqZone.MinSizeBytes;

    /// <summary>The state size nginx documents for limit_conn on 32-bit platforms ("One megabyte zone can keep about 32
    /// thousand 32-byte states").</summary>
    public const int NominalStateBytes = 32;

    // Twice as many slots as nominal states, as for limit_req: SIZE / 512 buckets x 1088 bytes, about 2.1 x SIZE.
    private const int SizeBytesPerBucket = NominalStateBytes * LimitTable.SlotsPerBucket / 2;

    internal LimitConnZone(string name, long sizeBytes, string key, LimitClock clock, LimitTable table)
    {
        Name = name;
        SizeBytes = sizeBytes;
        Key = key;
        Clock = clock;
        Table = table;
    }

    public string Name { get; }

    public long SizeBytes { get; }

    public string Key { get; }

    /// <summary>Orders slots for recycling (least recently used first among keys with no request in flight).</summary>
    public LimitClock Clock { get; }

    /// <summary>Keys with requests in flight the zone holds with overwhelming probability: SIZE / 32.</summary>
    public long NominalStates => SizeBytes / NominalStateBytes;

    internal LimitTable Table { get; }

    public static LimitConnZone Create(string name, long sizeBytes, string key, LimitClock clock)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(clock);
        return new LimitConnZone(name, sizeBytes, key, clock, new LimitTable(BucketsForSize(sizeBytes)));
    }

    /// <summary>Test and benchmark support: a zone over exactly <paramref name="buckets"/> buckets of 32 slots.</summary>
    internal static LimitConnZone CreateWithBuckets(string name, int buckets, LimitClock clock)
        => new(name, (long)buckets * SizeBytesPerBucket, "$test", clock, new LimitTable(buckets));

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

    /// <summary>Takes one of the key's <paramref name="limit"/> places. The lease must be released exactly through
    /// <see cref="LimitConnLease.Release(ref LimitConnLease)"/> when the request ends, whatever way it ends.</summary>
    public LimitConnResult TryAcquire(ReadOnlySpan<byte> key, int limit, long now, out LimitConnLease lease)
    {
        LimitKey id = Table.CreateKey(key);
        var policy = default(LimitConnSlotPolicy);
        if (Table.FindOrInsert(in id, now, ref policy, out SlotSnapshot snapshot) == InsertResult.Full)
        {
            lease = default;
            return LimitConnResult.NoSlot;
        }

        Table.Touch(snapshot.Slot, now);
        while (true)
        {
            uint count = LimitConnSlotPolicy.Count(snapshot.State);
            if (count >= (uint)limit)
            {
                lease = default;
                return LimitConnResult.Rejected;
            }

            uint generation = LimitConnSlotPolicy.Generation(snapshot.State);
            switch (Table.TryUpdate<LimitConnSlotPolicy>(ref snapshot, LimitConnSlotPolicy.Pack(generation, count + 1)))
            {
                case UpdateResult.Updated:
                    lease = new LimitConnLease(Table, snapshot.Slot, generation);
                    return LimitConnResult.Acquired;
                case UpdateResult.Lost:
                    if (Table.FindOrInsert(in id, now, ref policy, out snapshot) == InsertResult.Full)
                    {
                        lease = default;
                        return LimitConnResult.NoSlot;
                    }

                    break;
            }
        }
    }

    /// <summary>Test support: the current count of a key (0 when absent).</summary>
    internal int CountOf(ReadOnlySpan<byte> key)
    {
        LimitKey id = Table.CreateKey(key);
        return Table.TryFind<LimitConnSlotPolicy>(in id, out SlotSnapshot snapshot)
            ? (int)LimitConnSlotPolicy.Count(snapshot.State)
            : 0;
    }
}

/// <summary>
/// One place held in a limit_conn zone by a request in flight. Release it in a <c>finally</c>.
/// </summary>
/// <remarks>
/// A lease is a small value the engine keeps in its per-request state (a field, an array element). Releasing swaps the
/// lease's table reference to null first, so releasing the same lease twice, even from two threads at once (a
/// finally racing an abort callback), releases once. A copy of a lease is a second handle on the same place: release
/// the variable that received it, never a copy. The count of a slot never goes below zero and a slot with a count is
/// never recycled, so a lease stays valid until released, across reloads too.
/// </remarks>
internal struct LimitConnLease
{
    private LimitTable? _table;
    private readonly int _slot;
    private readonly uint _generation;

    internal LimitConnLease(LimitTable table, int slot, uint generation)
    {
        _table = table;
        _slot = slot;
        _generation = generation;
    }

    public readonly bool IsHeld => _table is not null;

    /// <summary>Gives the place back; harmless on a default or already released lease.</summary>
    public static void Release(ref LimitConnLease lease)
    {
        LimitTable? table = Interlocked.Exchange(ref lease._table, null);
        if (table is null)
        {
            return;
        }

        while (true)
        {
            long state = table.ReadState(lease._slot);
            uint count = LimitConnSlotPolicy.Count(state);
            if (LimitConnSlotPolicy.Generation(state) != lease._generation || count == 0)
            {
                // Unreachable while leases are used as documented; never let a count wrap below zero.
                return;
            }

            if (table.CompareExchangeState(lease._slot, LimitConnSlotPolicy.Pack(lease._generation, count - 1), state))
            {
                return;
            }
        }
    }

    /// <summary>Releases every lease of the span (in reverse order of acquisition, like nginx's pool cleanups).</summary>
    public static void ReleaseAll(Span<LimitConnLease> leases)
    {
        for (int i = leases.Length - 1; i >= 0; i--)
        {
            Release(ref leases[i]);
        }
    }
}
