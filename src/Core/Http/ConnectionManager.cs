using FastProxy.Infrastructure;

namespace FastProxy.Http;

/// <summary>
/// The open client connections: the worker_connections cap (checked with one Interlocked increment at accept), the
/// heartbeat's walk over their deadlines, and the set a graceful stop drains.
/// </summary>
/// <remarks>
/// The set is a table of slots, as nginx's array of connections: a connection takes a free slot at accept and gives it
/// back at close, 8 bytes of table per connection (a dictionary node per connection was 60 bytes, an eighth of what an
/// idle connection holds). Adding and removing take a short lock, as a dictionary's writes do; walks read the table
/// without one and may see a connection that just closed (whose calls do nothing) or miss one that just opened (the
/// next tick sees it).
/// </remarks>
internal sealed class ConnectionManager : IHeartbeatHandler
{
    private readonly object _gate = new();
    private ClientConnection?[] _slots = new ClientConnection?[64];
    // Slots below _used that are free, as a stack; _used grows the table's used part only when none is free.
    private int[] _free = new int[64];
    private int _freeCount;
    private int _used;
    private int _count;
    private int _parked;

    public int Count => Volatile.Read(ref _count);

    /// <summary>Idle keep-alive connections parked without their HTTP state (<see cref="ClientConnection"/>).</summary>
    public int Parked => Volatile.Read(ref _parked);

    internal void CountParked(int delta) => Interlocked.Add(ref _parked, delta);

    /// <summary>
    /// More connections are between requests or in one than the pool of HTTP state keeps: an idle one then parks at
    /// once instead of at the next heartbeat tick (nginx parks every idle keep-alive connection at once; FastProxy
    /// spares connections in steady use that cost until it matters).
    /// </summary>
    public bool Crowded => Volatile.Read(ref _count) - Volatile.Read(ref _parked) > CrowdedAbove;

    /// <summary>Connections not parked beyond which an idle one parks at once: half the pool of HTTP state.</summary>
    internal int CrowdedAbove { get; set; } = ServerServices.MaxPooledHttpConnections / 2;

    /// <summary>Reserves a slot; false when <paramref name="limit"/> connections are already open.</summary>
    public bool TryReserve(int limit)
    {
        if (Interlocked.Increment(ref _count) > limit)
        {
            Interlocked.Decrement(ref _count);
            return false;
        }
        return true;
    }

    /// <summary>Gives back a slot reserved for a connection that never started.</summary>
    public void Release() => Interlocked.Decrement(ref _count);

    public void Add(ClientConnection connection)
    {
        lock (_gate)
        {
            int slot;
            if (_freeCount > 0)
            {
                slot = _free[--_freeCount];
            }
            else
            {
                if (_used == _slots.Length)
                {
                    // Readers keep walking the old table (what it lacks, the next walk sees); the new one is complete
                    // before it is published.
                    var grown = new ClientConnection?[_slots.Length * 2];
                    Array.Copy(_slots, grown, _used);
                    Volatile.Write(ref _slots, grown);
                    Array.Resize(ref _free, grown.Length);
                }
                slot = _used++;
            }
            connection.Slot = slot;
            Volatile.Write(ref _slots[slot], connection);
        }
    }

    public void Remove(ClientConnection connection)
    {
        lock (_gate)
        {
            int slot = connection.Slot;
            if (slot < 0 || !ReferenceEquals(_slots[slot], connection))
            {
                return;
            }
            _slots[slot] = null;
            connection.Slot = -1;
            _free[_freeCount++] = slot;
        }
        Interlocked.Decrement(ref _count);
    }

    public void OnHeartbeat(long now)
    {
        var slots = Volatile.Read(ref _slots);
        for (int i = 0; i < slots.Length; i++)
        {
            Volatile.Read(ref slots[i])?.OnHeartbeat(now);
        }
    }

    /// <summary>Asks every connection to finish its current request and close; idle ones close at once.</summary>
    public void RequestStopAll()
    {
        var slots = Volatile.Read(ref _slots);
        for (int i = 0; i < slots.Length; i++)
        {
            Volatile.Read(ref slots[i])?.RequestStop();
        }
    }

    public void AbortAll()
    {
        var slots = Volatile.Read(ref _slots);
        for (int i = 0; i < slots.Length; i++)
        {
            Volatile.Read(ref slots[i])?.Abort();
        }
    }

    /// <summary>The connections open now (a copy: stop and tests).</summary>
    public List<ClientConnection> Connections
    {
        get
        {
            var list = new List<ClientConnection>();
            var slots = Volatile.Read(ref _slots);
            for (int i = 0; i < slots.Length; i++)
            {
                if (Volatile.Read(ref slots[i]) is { } connection)
                {
                    list.Add(connection);
                }
            }
            return list;
        }
    }
}
