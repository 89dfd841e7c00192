namespace FastProxy.Upstreams;

/// <summary>
/// <c>keepalive N</c> of one upstream group: at most N idle connections over all of the group's destinations together,
/// as nginx's keepalive module keeps one cache of N connections per group (per worker; FastProxy has one shared
/// pool, so N per group). Each destination keeps its own most-recently-used ring (<see cref="UpstreamPool"/>); this
/// counts their idle connections together, and when the group is full a returning connection makes room by evicting
/// the group's least recently used idle connection, wherever it is (nginx closes the LRU item of its cache).
/// </summary>
/// <remarks>
/// The count is reserved with a compare-and-swap before a connection goes into a ring and released whenever one
/// leaves a ring, so the bound holds under concurrency. Finding the least recently used connection reads each pool's
/// oldest idle time without a lock (a heuristic: a racing lease may take it first, then the returning connection is
/// closed instead).
/// </remarks>
internal sealed class UpstreamIdleBudget
{
    private readonly Lock _poolsLock = new();
    private UpstreamPool[] _pools = [];
    private int _idle;
    private volatile int _max;

    public UpstreamIdleBudget(int max) => _max = Math.Max(0, max);

    /// <summary><c>keepalive N</c>.</summary>
    public int Max
    {
        get => _max;
        set => _max = Math.Max(0, value);
    }

    /// <summary>Idle connections of the group now.</summary>
    public int Idle => Volatile.Read(ref _idle);

    /// <summary>Takes one idle slot when the group is below its bound.</summary>
    public bool TryReserve()
    {
        int current = Volatile.Read(ref _idle);
        while (current < _max)
        {
            int seen = Interlocked.CompareExchange(ref _idle, current + 1, current);
            if (seen == current)
            {
                return true;
            }
            current = seen;
        }
        return false;
    }

    /// <summary>Connections left a ring (leased, swept, evicted, drained).</summary>
    public void Release(int count = 1)
    {
        if (count > 0)
        {
            Interlocked.Add(ref _idle, -count);
        }
    }

    public void Add(UpstreamPool pool)
    {
        lock (_poolsLock)
        {
            if (Array.IndexOf(_pools, pool) < 0)
            {
                _pools = [.. _pools, pool];
            }
        }
    }

    public void Remove(UpstreamPool pool)
    {
        lock (_poolsLock)
        {
            int i = Array.IndexOf(_pools, pool);
            if (i >= 0)
            {
                var pools = new UpstreamPool[_pools.Length - 1];
                Array.Copy(_pools, 0, pools, 0, i);
                Array.Copy(_pools, i + 1, pools, i, pools.Length - i);
                _pools = pools;
            }
        }
    }

    /// <summary>
    /// Makes room for one connection: evicts the group's least recently used idle connection (closing it) and takes
    /// its slot. False when there was nothing to evict or another thread took the room first.
    /// </summary>
    public bool TryReserveByEvicting()
    {
        UpstreamPool? oldest = null;
        long oldestSince = long.MaxValue;
        foreach (var pool in Volatile.Read(ref _pools))
        {
            long since = pool.OldestIdleSince;
            if (since < oldestSince)
            {
                oldestSince = since;
                oldest = pool;
            }
        }
        // The evicted connection's slot is handed straight to the caller: the count does not change.
        return oldest is not null && oldest.TryEvictOldest(keepSlot: true);
    }
}
