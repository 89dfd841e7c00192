using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using System.Security.Cryptography;

namespace FastProxy.RateLimiting;

/// <summary>The identity of one limit key inside one <see cref="LimitTable"/> (depends on the table's hash key).</summary>
internal readonly struct LimitKey
{
    public readonly ulong K0;
    public readonly ulong K1;
    public readonly int Info;          // 1..16: key stored inline (its length); 0xFF: 128-bit SipHash of a longer key
    public readonly uint Hash;         // picks the bucket
    public readonly byte Fingerprint;  // filters slots inside the bucket
    public readonly byte Home;         // the slot an insert tries first, and the one a lookup prefetches

    public LimitKey(ulong k0, ulong k1, int info, ulong hash)
    {
        K0 = k0;
        K1 = k1;
        Info = info;
        Hash = (uint)(hash >> 32);
        Fingerprint = (byte)hash;
        Home = (byte)((hash >> 8) & (LimitTable.SlotsPerBucket - 1));
    }
}

/// <summary>A validated view of one slot: its global index, the state word read, and the bucket control word
/// under which key and state were read together.</summary>
internal readonly struct SlotSnapshot
{
    public readonly int Slot;
    public readonly long State;
    public readonly long Control;

    public SlotSnapshot(int slot, long state, long control)
    {
        Slot = slot;
        State = state;
        Control = control;
    }
}

internal enum InsertResult : byte { Found, Inserted, Full }

internal enum UpdateResult : byte
{
    /// <summary>The CAS succeeded.</summary>
    Updated,

    /// <summary>The CAS lost to another update of the same key; the snapshot now holds the current state.</summary>
    Retry,

    /// <summary>The slot may no longer hold the key (recycled or being recycled): look the key up again.</summary>
    Lost,
}

/// <summary>What a table needs to know about the 64-bit state word of a kind of limit (limit_req, limit_conn).</summary>
internal interface ILimitSlotPolicy
{
    /// <summary>True for the terminal state written by the thread that recycles a slot.</summary>
    static abstract bool IsTombstone(long state);

    static abstract long Tombstone(long state);

    /// <summary>The state of a slot just claimed for a new key. It must never equal a state a stale reader of the
    /// slot's previous key may still hold, and <see cref="VictimScore"/> must refuse it.</summary>
    static abstract long Fresh(long previous, long now);

    /// <summary>How good a victim the slot is when its bucket is full: below zero means it must not be recycled;
    /// higher is recycled first.</summary>
    long VictimScore(long state, int touch, long now);
}

/// <summary>
/// A fixed-size, lock-free table of per-key limit states, shared by ngx_http_limit_req and ngx_http_limit_conn
/// style zones. Allocated once; no lock and no allocation per operation.
/// </summary>
/// <remarks>
/// <para><b>Layout.</b> The table is an array of buckets of 32 slots, cache-line aligned in one pinned array:</para>
/// <code>
/// bucket (1088 bytes) = header (64) + 32 slots x 32
/// header: [0..8)  control = version:32 | visible-mask:32
///         [8..40) one fingerprint byte per slot
/// slot:   [0..16) key (inline bytes, or a 128-bit SipHash of a longer key)
///         [16..24) state (the limit's 64-bit word, updated by CAS)
///         [24..28) touch (ms of the last lookup, for LRU)     [28..32) meta (taken bit, key length)
/// </code>
/// <para><b>Home slot.</b> A lookup needs the header (which slots are live, their fingerprints) before it knows which
/// slot to read, so on a big table its two cache misses would follow each other. Each key therefore has a home slot
/// (5 bits of its hash, independent of bucket and fingerprint): an insert claims it when it is free, and a lookup
/// prefetches its line while it reads the header, so for most keys both misses overlap. Where a key sits in its bucket
/// changes nothing else: any free slot is as valid as another, and lookups still go through the header.</para>
/// <para><b>Membership.</b> A slot belongs to the bucket's key set only while its bit is set in the control word, and
/// every change of that set is one CAS of the control word that also bumps the version. That CAS is what makes
/// "insert the key if absent" atomic: an inserter claims a private slot, writes the key, re-checks that the key is
/// still absent under the current control word and publishes with a CAS from exactly that word. Two requests racing
/// to create the same key cannot both win, so a key never has two live states (which would double its limit).</para>
/// <para><b>Reads</b> are seqlock-style: read control, compare the candidate slots' keys, read the state, read
/// control again; equal control words mean the key and state belong together. Writers never wait for readers, and
/// a thread stalled in the middle of an insert or a recycle only holds its own private slot: nobody waits for it.</para>
/// <para><b>Updates</b> are a CAS of the state word from a validated snapshot. Recycling a slot first CASes its
/// state to a tombstone, then unpublishes it. A CAS from a stale snapshot can therefore only succeed if the new
/// key's state word equals the old one bit for bit; each policy makes that impossible (limit_conn: a generation
/// counter in the word; limit_req: the word carries a time that never moves backwards within a key, a state written
/// in the current millisecond is never recycled, and a slot's next key starts no earlier than the recycling
/// thread's "now", so every state of the next key is strictly later than every state of the previous one).</para>
/// <para><b>Eviction.</b> When a bucket is full the policy scores the live slots (limit_req: states whose bucket has
/// fully leaked first, then least recently touched; limit_conn: only keys with no connection) and the best victim
/// is recycled. This is an LRU within the 32 slots a key can live in, not nginx's global LRU list; tables are sized
/// with twice as many slots as nominal states so that a bucket overflows before the table is full with negligible
/// probability (see docs/rate-limiting.md). When no slot can be recycled the caller rejects the request.</para>
/// </remarks>
internal sealed class LimitTable
{
    public const int SlotsPerBucket = 32;
    public const int BucketBytes = HeaderBytes + SlotsPerBucket * SlotBytes;
    public const int MaxInlineKey = 16;

    private const int HeaderBytes = 64;
    private const int SlotBytes = 32;
    private const int FingerprintOffset = 8;
    private const int HashedKeyInfo = 0xFF;
    private const int MetaTaken = 1;
    private const long VersionOne = 1L << 32;
    private const int NoVictim = -1;
    private const int VictimRaced = -2;

    // Each failed attempt means another thread changed this bucket's key set, so the loop is lock-free; the cap only
    // bounds the work of one request under pathological churn (it is then answered as "no slot").
    private const int MaxInsertAttempts = 1024;

    private readonly byte[] _memory;
    private readonly int _offset;
    private readonly int _bucketCount;
    private readonly ulong _seed0;
    private readonly ulong _seed1;

    public LimitTable(int bucketCount)
    {
        if (bucketCount < 1 || (long)bucketCount * BucketBytes + 64 > Array.MaxLength)
        {
            throw new ArgumentOutOfRangeException(nameof(bucketCount), bucketCount, "The table does not fit one array.");
        }

        _bucketCount = bucketCount;

        // Pinned (pinned object heap) so that the 64-byte alignment computed once stays true (and the home slot can
        // be prefetched by address): a bucket header and each slot then sit in whole cache lines, and a lookup
        // touches two lines (header, matching slot).
        _memory = GC.AllocateArray<byte>(bucketCount * BucketBytes + 64, pinned: true);
        _offset = AlignmentOffset(_memory);

        Span<ulong> seed = stackalloc ulong[2];
        RandomNumberGenerator.Fill(MemoryMarshal.AsBytes(seed));
        _seed0 = seed[0];
        _seed1 = seed[1];
    }

    public int BucketCount => _bucketCount;

    public int SlotCount => _bucketCount * SlotsPerBucket;

    public LimitKey CreateKey(ReadOnlySpan<byte> key)
    {
        if (key.Length <= MaxInlineKey)
        {
            // The key bytes, zero-padded to two little-endian words ($binary_remote_addr: 4 or 16 bytes, read directly).
            ulong w0, w1;
            ref byte first = ref MemoryMarshal.GetReference(key);
            if (key.Length == 4)
            {
                w0 = Unsafe.ReadUnaligned<uint>(ref first);
                w1 = 0;
            }
            else if (key.Length == MaxInlineKey)
            {
                w0 = Unsafe.ReadUnaligned<ulong>(ref first);
                w1 = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref first, 8));
            }
            else
            {
                KeyBytes inline = default;
                key.CopyTo(inline);
                w0 = Unsafe.ReadUnaligned<ulong>(ref inline[0]);
                w1 = Unsafe.ReadUnaligned<ulong>(ref inline[8]);
            }

            return new LimitKey(w0, w1, key.Length, SipHash.Hash13Short(_seed0, _seed1, w0, w1, key.Length));
        }

        // Longer keys ($http_authorization, $request_uri...) are represented by a 128-bit keyed hash. Two distinct keys
        // share a state only if their SipHash-2-4-128 tags collide: ~n^2 / 2^129 for n live keys, and the table's
        // random key keeps an attacker from searching for a collision offline.
        SipHash.Hash24x128(_seed0, _seed1, key, out ulong lo, out ulong hi);
        return new LimitKey(lo, hi, HashedKeyInfo, hi);
    }

    /// <summary>Finds the live slot holding <paramref name="key"/>. The snapshot's control word is valid either way.</summary>
    public bool TryFind<TPolicy>(in LimitKey key, out SlotSnapshot snapshot)
        where TPolicy : struct, ILimitSlotPolicy
    {
        int bucketIndex = BucketIndex(key.Hash);
        return TryFindIn<TPolicy>(ref BucketRef(bucketIndex), bucketIndex, in key, out snapshot);
    }

    /// <summary>Finds the key's live slot or creates one with <see cref="ILimitSlotPolicy.Fresh"/> state, recycling a
    /// victim chosen by <paramref name="policy"/> when the bucket is full.</summary>
    public InsertResult FindOrInsert<TPolicy>(in LimitKey key, long now, ref TPolicy policy, out SlotSnapshot snapshot)
        where TPolicy : struct, ILimitSlotPolicy
    {
        int bucketIndex = BucketIndex(key.Hash);
        ref byte bucket = ref BucketRef(bucketIndex);
        ref long control = ref ControlRef(ref bucket);

        for (int attempt = 0; attempt < MaxInsertAttempts; attempt++)
        {
            if (TryFindIn<TPolicy>(ref bucket, bucketIndex, in key, out snapshot))
            {
                return InsertResult.Found;
            }

            uint visible = (uint)snapshot.Control;
            long previous;
            int i = ClaimFree(ref bucket, visible, key.Home);
            if (i >= 0)
            {
                previous = Volatile.Read(ref SlotRef(ref bucket, i).State);
            }
            else
            {
                i = ClaimVictim(ref bucket, visible, now, ref policy, out previous);
                if (i == VictimRaced)
                {
                    continue;
                }

                if (i == NoVictim)
                {
                    snapshot = default;
                    return InsertResult.Full;
                }
            }

            // The slot is ours and invisible: nobody reads it through a validated snapshot until we publish it.
            ref Slot slot = ref SlotRef(ref bucket, i);
            long fresh = TPolicy.Fresh(previous, now);
            slot.K0 = key.K0;
            slot.K1 = key.K1;
            slot.Touch = (int)now;
            Unsafe.Add(ref bucket, FingerprintOffset + i) = key.Fingerprint;
            Volatile.Write(ref slot.Meta, MetaTaken | (key.Info << 8));
            Volatile.Write(ref slot.State, fresh);

            while (true)
            {
                if (TryFindIn<TPolicy>(ref bucket, bucketIndex, in key, out snapshot))
                {
                    // Another request created the key first: give our slot back and use theirs.
                    Volatile.Write(ref slot.Meta, 0);
                    return InsertResult.Found;
                }

                long seen = snapshot.Control;
                long next = unchecked(seen + VersionOne) | (long)(1u << i);
                if (Interlocked.CompareExchange(ref control, next, seen) == seen)
                {
                    snapshot = new SlotSnapshot(bucketIndex * SlotsPerBucket + i, fresh, next);
                    return InsertResult.Inserted;
                }
            }
        }

        snapshot = default;
        return InsertResult.Full;
    }

    /// <summary>CASes the state of a validated snapshot to <paramref name="desired"/>.</summary>
    public UpdateResult TryUpdate<TPolicy>(ref SlotSnapshot snapshot, long desired)
        where TPolicy : struct, ILimitSlotPolicy
    {
        ref byte bucket = ref BucketRef(snapshot.Slot / SlotsPerBucket);
        ref Slot slot = ref SlotRef(ref bucket, snapshot.Slot % SlotsPerBucket);
        long seen = Interlocked.CompareExchange(ref slot.State, desired, snapshot.State);
        if (seen == snapshot.State)
        {
            snapshot = new SlotSnapshot(snapshot.Slot, desired, snapshot.Control);
            return UpdateResult.Updated;
        }

        // The CAS is a full fence, so this control read comes after the state read inside it. Control unchanged
        // since the snapshot means the slot was never unpublished in between, so 'seen' is still this key's state
        // (unless it is the tombstone of a recycle that has not unpublished yet).
        if (!TPolicy.IsTombstone(seen) && Volatile.Read(ref ControlRef(ref bucket)) == snapshot.Control)
        {
            snapshot = new SlotSnapshot(snapshot.Slot, seen, snapshot.Control);
            return UpdateResult.Retry;
        }

        return UpdateResult.Lost;
    }

    /// <summary>A raw CAS of a slot's state, for callers that own the value they expect (see the policies).</summary>
    public bool CompareExchangeState(int slotIndex, long desired, long expected)
        => Interlocked.CompareExchange(ref SlotAt(slotIndex).State, desired, expected) == expected;

    public long ReadState(int slotIndex) => Volatile.Read(ref SlotAt(slotIndex).State);

    /// <summary>Marks the slot as used now (nginx moves the node to the head of its LRU queue on every lookup).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Touch(int slotIndex, long now)
    {
        ref int touch = ref SlotAt(slotIndex).Touch;

        // Skip the store when it would not change anything, so a hot key does not write its line on every hit.
        if (touch != (int)now)
        {
            Volatile.Write(ref touch, (int)now);
        }
    }

    /// <summary>Test support: the live (visible, not tombstoned) slots with their key identity and state.</summary>
    internal List<(int Slot, ulong K0, ulong K1, int Info, long State)> DebugLiveSlots<TPolicy>()
        where TPolicy : struct, ILimitSlotPolicy
    {
        var live = new List<(int, ulong, ulong, int, long)>();
        for (int b = 0; b < _bucketCount; b++)
        {
            ref byte bucket = ref BucketRef(b);
            uint visible = (uint)Volatile.Read(ref ControlRef(ref bucket));
            while (visible != 0)
            {
                int i = BitOperations.TrailingZeroCount(visible);
                visible &= visible - 1;
                ref Slot slot = ref SlotRef(ref bucket, i);
                long state = Volatile.Read(ref slot.State);
                if (!TPolicy.IsTombstone(state))
                {
                    live.Add((b * SlotsPerBucket + i, slot.K0, slot.K1, slot.Meta >> 8, state));
                }
            }
        }

        return live;
    }

    private bool TryFindIn<TPolicy>(ref byte bucket, int bucketIndex, in LimitKey key, out SlotSnapshot snapshot)
        where TPolicy : struct, ILimitSlotPolicy
    {
        PrefetchSlot(ref bucket, key.Home);
        ref long control = ref ControlRef(ref bucket);
        while (true)
        {
            long seen = Volatile.Read(ref control);
            uint candidates = MatchFingerprint(ref bucket, key.Fingerprint) & (uint)seen;
            int found = -1;
            long state = 0;
            while (candidates != 0)
            {
                int i = BitOperations.TrailingZeroCount(candidates);
                candidates &= candidates - 1;
                ref Slot slot = ref SlotRef(ref bucket, i);

                // Volatile (acquire) reads keep every read of the slot before the second control read below, on
                // ARM64 as on x64 (where they cost nothing).
                if (Volatile.Read(ref slot.K0) == key.K0
                    && Volatile.Read(ref slot.K1) == key.K1
                    && Volatile.Read(ref slot.Meta) >> 8 == key.Info)
                {
                    long s = Volatile.Read(ref slot.State);
                    if (!TPolicy.IsTombstone(s))
                    {
                        found = i;
                        state = s;
                        break;
                    }
                }
            }

            if (Volatile.Read(ref control) == seen)
            {
                snapshot = new SlotSnapshot(found < 0 ? -1 : bucketIndex * SlotsPerBucket + found, state, seen);
                return found >= 0;
            }

            // The key set changed while we read: a slot we compared may have been recycled. Read again.
        }
    }

    private static int ClaimFree(ref byte bucket, uint visible, int home)
    {
        uint free = ~visible;
        if ((free & (1u << home)) != 0 && TryClaim(ref SlotRef(ref bucket, home).Meta))
        {
            return home;
        }

        free &= ~(1u << home);
        while (free != 0)
        {
            int i = BitOperations.TrailingZeroCount(free);
            free &= free - 1;
            if (TryClaim(ref SlotRef(ref bucket, i).Meta))
            {
                return i;
            }
        }

        return -1;
    }

    private static bool TryClaim(ref int meta)
    {
        int m = Volatile.Read(ref meta);
        return (m & MetaTaken) == 0 && Interlocked.CompareExchange(ref meta, m | MetaTaken, m) == m;
    }

    // A hint only: it changes no value and orders nothing. Without it the slot's miss starts after the header's.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void PrefetchSlot(ref byte bucket, int i)
    {
        if (Sse.IsSupported)
        {
            Sse.Prefetch0(Unsafe.AsPointer(ref SlotRef(ref bucket, i)));
        }
    }

    private static int ClaimVictim<TPolicy>(ref byte bucket, uint visible, long now, ref TPolicy policy, out long tombstone)
        where TPolicy : struct, ILimitSlotPolicy
    {
        int best = -1;
        long bestScore = -1;
        long bestState = 0;
        while (visible != 0)
        {
            int i = BitOperations.TrailingZeroCount(visible);
            visible &= visible - 1;
            ref Slot slot = ref SlotRef(ref bucket, i);
            long state = Volatile.Read(ref slot.State);
            long score = policy.VictimScore(state, Volatile.Read(ref slot.Touch), now);
            if (score > bestScore)
            {
                best = i;
                bestScore = score;
                bestState = state;
            }
        }

        if (best < 0)
        {
            tombstone = 0;
            return NoVictim;
        }

        // Freeze the victim's state first: from here every CAS by a reader of the old key fails, and only we (who wrote
        // the tombstone) may unpublish and reuse the slot.
        tombstone = TPolicy.Tombstone(bestState);
        if (Interlocked.CompareExchange(ref SlotRef(ref bucket, best).State, tombstone, bestState) != bestState)
        {
            return VictimRaced;
        }

        ref long control = ref ControlRef(ref bucket);
        long clear = ~(long)(1u << best);
        while (true)
        {
            long seen = Volatile.Read(ref control);
            if (Interlocked.CompareExchange(ref control, unchecked(seen + VersionOne) & clear, seen) == seen)
            {
                return best;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint MatchFingerprint(ref byte bucket, byte fingerprint)
    {
        ref byte fingerprints = ref Unsafe.Add(ref bucket, FingerprintOffset);
        if (Vector256.IsHardwareAccelerated)
        {
            return Vector256.Equals(Vector256.LoadUnsafe(ref fingerprints), Vector256.Create(fingerprint))
                .ExtractMostSignificantBits();
        }

        if (Vector128.IsHardwareAccelerated)
        {
            var wanted = Vector128.Create(fingerprint);
            uint low = Vector128.Equals(Vector128.LoadUnsafe(ref fingerprints), wanted).ExtractMostSignificantBits();
            uint high = Vector128.Equals(Vector128.LoadUnsafe(ref fingerprints, 16), wanted).ExtractMostSignificantBits();
            return low | (high << 16);
        }

        uint mask = 0;
        for (int i = 0; i < SlotsPerBucket; i++)
        {
            if (Unsafe.Add(ref fingerprints, i) == fingerprint)
            {
                mask |= 1u << i;
            }
        }

        return mask;
    }

    // Lemire's multiply-shift maps the hash onto [0, bucketCount) without a division or a power-of-two size.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int BucketIndex(uint hash) => (int)(((ulong)hash * (uint)_bucketCount) >> 32);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ref byte BucketRef(int bucketIndex)
        => ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_memory), _offset + (nint)bucketIndex * BucketBytes);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ref Slot SlotAt(int slotIndex)
        => ref SlotRef(ref BucketRef(slotIndex / SlotsPerBucket), slotIndex % SlotsPerBucket);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ref long ControlRef(ref byte bucket) => ref Unsafe.As<byte, long>(ref bucket);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ref Slot SlotRef(ref byte bucket, int i)
        => ref Unsafe.As<byte, Slot>(ref Unsafe.Add(ref bucket, HeaderBytes + i * SlotBytes));

    private static unsafe int AlignmentOffset(byte[] pinned)
    {
        nint address = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(pinned));
        return (int)((64 - (address & 63)) & 63);
    }

    [StructLayout(LayoutKind.Explicit, Size = SlotBytes)]
    private struct Slot
    {
        [FieldOffset(0)] public ulong K0;
        [FieldOffset(8)] public ulong K1;
        [FieldOffset(16)] public long State;
        [FieldOffset(24)] public int Touch;
        [FieldOffset(28)] public int Meta;
    }

    [InlineArray(MaxInlineKey)]
    private struct KeyBytes
    {
        private byte _element;
    }
}
