using System.Runtime.InteropServices;

namespace FastProxy.Benchmarks.RateLimiting;

/// <summary>The baseline of the limit_req benchmarks: one Dictionary behind one lock, nginx's arithmetic, no
/// eviction, keyed by the IPv4 address as a <c>uint</c> (so no hashing cost).</summary>
internal sealed class LockedLeakyBuckets(long rate, long burstMilli, int capacity)
{
    private readonly Dictionary<uint, (long Last, long Excess)> _states = new(capacity);
    private readonly Lock _lock = new();

    public bool TryAdmit(uint key, long now)
    {
        lock (_lock)
        {
            ref (long Last, long Excess) state = ref CollectionsMarshal.GetValueRefOrAddDefault(_states, key, out bool exists);
            if (!exists)
            {
                state = (now, 0);
                return true;
            }

            long ms = now - state.Last;
            if (ms < -60000)
            {
                ms = 1;
            }
            else if (ms < 0)
            {
                ms = 0;
            }

            long excess = state.Excess - rate * Math.Min(ms, 1L << 33) / 1000 + 1000;
            if (excess < 0)
            {
                excess = 0;
            }

            if (excess > burstMilli)
            {
                return false;
            }

            state.Excess = excess;
            if (ms != 0)
            {
                state.Last = now;
            }

            return true;
        }
    }
}

/// <summary>A clock that never moves: benchmarks that pass the time explicitly build their zones on it.</summary>
internal sealed class FrozenTimeProvider : TimeProvider
{
    public override long TimestampFrequency => 1000;

    public override long GetTimestamp() => 0;
}
