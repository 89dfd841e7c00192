using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace FastProxy.LoadBalancing;

/// <summary>A condition a round-robin walk applies on top of eligibility (least_conn uses it to break ties).</summary>
internal interface IDestinationFilter
{
    bool Accept(DestinationState destination);
}

internal readonly struct AcceptAll : IDestinationFilter
{
    public bool Accept(DestinationState destination) => true;
}

/// <summary>
/// nginx's smooth weighted round-robin, made lock-free: the sequence nginx would produce over one period (sum of
/// the weights) is computed once into an array and walked by an Interlocked counter; it is rebuilt only when a
/// destination enters or leaves service (<see cref="ClusterState.HealthVersion"/>) or a slow_start step passes.
/// </summary>
/// <remarks>
/// <para>nginx runs, per pick and under a lock (or single-threaded per worker): every eligible peer adds its
/// effective weight to its current weight, the largest current weight wins (the first one on ties), and the winner
/// gives back the total. Over a period of Σweights picks each peer is chosen exactly weight times, interleaved
/// smoothly (weights 5,1,1 give a a b a c a a). That sequence only depends on the weights of the eligible peers, so
/// it can be precomputed; picks then cost one Interlocked.Increment and an array read.</para>
/// <para>What changes per pick and is not in the schedule (tried by this request, at max_conns, a health change not
/// yet rebuilt) is skipped by walking on to the next entry: the exactness holds for the picks the schedule itself
/// makes, and the skipped share goes to the next servers in the sequence, as nginx gives it to the next best.</para>
/// <para>The counter is striped per core (<see cref="ClusterStateOptions.RoundRobinStripes"/>) so that cores do not
/// fight over one cache line: each stripe walks the whole sequence from its own offset, so each stripe is exactly
/// weighted over every period and so is their union in the limit (the deviation at any time is at most one period
/// per stripe). With one stripe the order is exactly nginx's.</para>
/// <para>Weights are divided by their greatest common divisor; if the period is still longer than
/// <see cref="MaxScheduleLength"/>, weights are scaled down proportionally (each keeps at least 1), the only
/// approximation. nginx's temporary lowering of effective_weight after each failure is not reproduced (see docs).</para>
/// </remarks>
internal sealed class SmoothWeightedRoundRobin
{
    internal const int MaxScheduleLength = 1 << 14;

    private readonly ClusterState _cluster;
    private readonly DestinationTier _tier;
    private readonly StripedCounter _counter;
    private Schedule _schedule;
    private int _rebuilding;

    public SmoothWeightedRoundRobin(ClusterState cluster, DestinationTier tier)
    {
        _cluster = cluster;
        _tier = tier;
        _counter = new StripedCounter(cluster.RoundRobinStripes);
        long now = cluster.TimeProvider.GetTimestamp();
        _schedule = Schedule.Build(tier.Members, cluster.HealthVersion, now);
    }

    /// <summary>The current period (for tests and diagnostics).</summary>
    internal DestinationState[] CurrentSequence => Volatile.Read(ref _schedule).Sequence;

    /// <summary>The next destination in the smooth sequence that is eligible and accepted by the filter.</summary>
    public DestinationState? Pick<TFilter>(ref LoadBalancingContext context, long now, TFilter filter)
        where TFilter : struct, IDestinationFilter
    {
        Schedule schedule = Volatile.Read(ref _schedule);
        if (schedule.Version != _cluster.HealthVersion || now >= schedule.RebuildAt)
        {
            schedule = Refresh(schedule, now);
        }
        DestinationState[] sequence = schedule.Sequence;
        uint length = (uint)sequence.Length;
        if (length == 0)
        {
            return null;
        }
        uint ticket = _counter.Next(out uint stripe, out int stripeShift);
        uint start = ticket + (uint)(((ulong)stripe * length) >> stripeShift);
        uint position = schedule.FastMod(start);

        // Walk on past entries this pick cannot use. After as many steps as there are members, check once whether any
        // member could be used at all, so a saturated cluster costs O(members), not O(period), per pick.
        uint checkpoint = Math.Min(length, (uint)_tier.Members.Length * 2);
        for (uint step = 0; step < length; step++)
        {
            DestinationState candidate = sequence[position];
            if (candidate.Flags == 0 && !context.IsTried(candidate.Index) && !candidate.IsSaturated && filter.Accept(candidate))
            {
                return candidate;
            }
            if (++position == length)
            {
                position = 0;
            }
            if (step + 1 == checkpoint && checkpoint < length && !AnyUsable(ref context, filter))
            {
                return null;
            }
        }
        return null;
    }

    private bool AnyUsable<TFilter>(ref LoadBalancingContext context, TFilter filter)
        where TFilter : struct, IDestinationFilter
    {
        foreach (DestinationState member in _tier.Members)
        {
            if (member.Flags == 0 && !context.IsTried(member.Index) && !member.IsSaturated && filter.Accept(member))
            {
                return true;
            }
        }
        return false;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private Schedule Refresh(Schedule current, long now)
    {
        // One thread rebuilds; the others keep walking the old schedule meanwhile (it is still checked entry by entry).
        if (Interlocked.CompareExchange(ref _rebuilding, 1, 0) != 0)
        {
            return current;
        }
        try
        {
            int version = _cluster.HealthVersion;   // read before looking at the members: a later change rebuilds again
            Schedule rebuilt = Schedule.Build(_tier.Members, version, now);
            Volatile.Write(ref _schedule, rebuilt);
            return rebuilt;
        }
        finally
        {
            Volatile.Write(ref _rebuilding, 0);
        }
    }

    /// <summary>
    /// Computes one period of nginx's smooth weighted round-robin over the given weights (the first of equal current
    /// weights wins, as nginx's strict <c>&gt;</c>). Exposed for tests and the benchmark baseline.
    /// </summary>
    internal static int[] ComputeSequence(ReadOnlySpan<long> weights)
    {
        long total = 0;
        foreach (long weight in weights)
        {
            total += weight;
        }
        var sequence = new int[total];
        var current = new long[weights.Length];
        for (long t = 0; t < total; t++)
        {
            int best = -1;
            for (int i = 0; i < weights.Length; i++)
            {
                current[i] += weights[i];
                if (best < 0 || current[i] > current[best])
                {
                    best = i;
                }
            }
            current[best] -= total;
            sequence[t] = best;
        }
        return sequence;
    }

    private sealed class Schedule
    {
        private readonly ulong _fastModMultiplier;

        private Schedule(DestinationState[] sequence, int version, long rebuildAt)
        {
            Sequence = sequence;
            Version = version;
            RebuildAt = rebuildAt;
            _fastModMultiplier = sequence.Length == 0 ? 0 : ulong.MaxValue / (uint)sequence.Length + 1;
        }

        public DestinationState[] Sequence { get; }

        public int Version { get; }

        /// <summary>The next slow_start step; <see cref="long.MaxValue"/> when no weight is ramping.</summary>
        public long RebuildAt { get; }

        /// <summary>value % Sequence.Length without a division (Lemire's fastmod; exact for 32-bit values).</summary>
        public uint FastMod(uint value) =>
            (uint)(((((_fastModMultiplier * value) >> 32) + 1) * (uint)Sequence.Length) >> 32);

        public static Schedule Build(DestinationState[] members, int version, long now)
        {
            var eligible = new List<DestinationState>(members.Length);
            var weights = new List<long>(members.Length);
            long rebuildAt = long.MaxValue;
            foreach (DestinationState member in members)
            {
                if (member.Flags != 0)
                {
                    continue;   // down, unhealthy or passively unavailable: out of the schedule
                }
                eligible.Add(member);
                weights.Add(member.GetScaledWeight(now));
                rebuildAt = Math.Min(rebuildAt, member.NextWeightChange(now));
            }
            if (eligible.Count == 0)
            {
                return new Schedule([], version, rebuildAt);
            }
            Span<long> w = CollectionsMarshal.AsSpan(weights);
            Normalize(w);
            int[] order = ComputeSequence(w);
            var sequence = new DestinationState[order.Length];
            for (int i = 0; i < order.Length; i++)
            {
                sequence[i] = eligible[order[i]];
            }
            return new Schedule(sequence, version, rebuildAt);
        }

        private static void Normalize(Span<long> weights)
        {
            long gcd = 0;
            foreach (long weight in weights)
            {
                gcd = Gcd(gcd, weight);
            }
            long total = 0;
            for (int i = 0; i < weights.Length; i++)
            {
                weights[i] /= gcd;
                total += weights[i];
            }
            if (total <= MaxScheduleLength)
            {
                return;
            }
            // Too long a period: scale proportionally (the only approximation), keeping every server at least once.
            int budget = MaxScheduleLength - weights.Length;
            for (int i = 0; i < weights.Length; i++)
            {
                weights[i] = 1 + (long)((double)weights[i] * budget / total);
            }
        }

        private static long Gcd(long a, long b)
        {
            while (b != 0)
            {
                (a, b) = (b, a % b);
            }
            return a;
        }
    }
}

/// <summary>
/// An Interlocked counter split into cache-line-padded stripes chosen by the current core, so that concurrent pickers
/// on different cores do not contend on one line.
/// </summary>
internal sealed class StripedCounter
{
    private const int MaxStripes = 16;

    private readonly Slot[] _slots;
    private readonly int _mask;
    private readonly int _shift;

    public StripedCounter(int stripes)
    {
        if (stripes <= 0)
        {
            stripes = Environment.ProcessorCount;
        }
        stripes = (int)Math.Min(MaxStripes, System.Numerics.BitOperations.RoundUpToPowerOf2((uint)stripes));
        _slots = new Slot[stripes];
        _mask = stripes - 1;
        _shift = System.Numerics.BitOperations.Log2((uint)stripes);
    }

    public int Stripes => _slots.Length;

    /// <summary>The next ticket of the caller's stripe, the stripe, and log2 of the stripe count.</summary>
    public uint Next(out uint stripe, out int stripeShift)
    {
        stripeShift = _shift;
        stripe = _mask == 0 ? 0 : (uint)(Thread.GetCurrentProcessorId() & _mask);
        return (uint)Interlocked.Increment(ref _slots[stripe].Value) - 1;
    }

    // 128 bytes: two cache lines, as adjacent-line prefetchers pair them.
    [StructLayout(LayoutKind.Explicit, Size = 128)]
    private struct Slot
    {
        [FieldOffset(64)]
        public int Value;
    }
}
