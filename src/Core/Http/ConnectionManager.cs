using System.Collections.Concurrent;
using FastProxy.Infrastructure;

namespace FastProxy.Http;

/// <summary>
/// The open client connections: the worker_connections cap (checked with one Interlocked increment at accept), the
/// heartbeat's walk over their deadlines, and the set a graceful stop drains.
/// </summary>
internal sealed class ConnectionManager : IHeartbeatHandler
{
    private readonly ConcurrentDictionary<long, ClientConnection> _connections = new();
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

    public void Add(ClientConnection connection) => _connections[connection.Id] = connection;

    public void Remove(ClientConnection connection)
    {
        if (_connections.TryRemove(connection.Id, out _))
        {
            Interlocked.Decrement(ref _count);
        }
    }

    public void OnHeartbeat(long now)
    {
        foreach (var entry in _connections)
        {
            entry.Value.OnHeartbeat(now);
        }
    }

    /// <summary>Asks every connection to finish its current request and close; idle ones close at once.</summary>
    public void RequestStopAll()
    {
        foreach (var entry in _connections)
        {
            entry.Value.RequestStop();
        }
    }

    public void AbortAll()
    {
        foreach (var entry in _connections)
        {
            entry.Value.Abort();
        }
    }

    public IEnumerable<ClientConnection> Connections => _connections.Values;
}
