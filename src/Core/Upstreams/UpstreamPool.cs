using System.Net;

namespace FastProxy.Upstreams;

/// <summary>
/// Idle keep-alive connections to one destination, shared by all threads (Pingora's finding: a shared pool reuses far
/// more than per-worker pools). Most recently used first, because the newest connection is the least likely to have
/// been closed by the backend's own idle timeout; bounded by <c>keepalive N</c> over the whole upstream group (the
/// <see cref="UpstreamIdleBudget"/> shared by the group's pools), the group's least recently used connection evicted
/// when full (as nginx's keepalive module closes the least recently used entry of its cache); idle-timed by the
/// heartbeat sweep.
/// </summary>
/// <remarks>
/// A short lock guards the ring. A lock-free LIFO (Treiber stack) is not safe here without per-push node allocation:
/// the connections are reused, so a popped-and-pushed-back connection is the ABA case. The critical sections are a
/// few array operations and never block; closing happens outside the lock.
/// </remarks>
internal sealed class UpstreamPool
{
    private readonly object _lock = new();
    private UpstreamConnection?[] _ring;
    private int _start;
    private int _count;
    private volatile bool _retired;
    private long _created;
    private long _reused;
    private readonly UpstreamIdleBudget? _budget;

    public UpstreamPool(IPEndPoint endPoint, int maxIdle, long idleTimeoutTicks, int maxRequests, UpstreamIdleBudget? budget = null)
    {
        EndPoint = endPoint;
        _ring = new UpstreamConnection?[Math.Max(maxIdle, 1)];
        MaxIdle = maxIdle;
        IdleTimeoutTicks = idleTimeoutTicks;
        MaxRequests = maxRequests;
        _budget = budget;
        budget?.Add(this);
    }

    /// <summary>The group's <c>keepalive N</c> count this pool shares (null: this pool alone is bounded by N).</summary>
    public UpstreamIdleBudget? Budget => _budget;

    /// <summary>When the oldest idle connection went idle; <see cref="long.MaxValue"/> when none is idle.</summary>
    public long OldestIdleSince
    {
        get
        {
            lock (_lock)
            {
                return _count == 0 ? long.MaxValue : _ring[_start]!.IdleSince;
            }
        }
    }

    /// <summary>
    /// Closes the oldest idle connection to make room in the group. With <paramref name="keepSlot"/> its slot in the
    /// group's count passes to the caller instead of being released.
    /// </summary>
    public bool TryEvictOldest(bool keepSlot)
    {
        UpstreamConnection? evicted = null;
        lock (_lock)
        {
            if (_count > 0)
            {
                evicted = _ring[_start];
                _ring[_start] = null;
                _start = (_start + 1) % _ring.Length;
                _count--;
            }
        }
        if (evicted is null)
        {
            return false;
        }
        if (!keepSlot)
        {
            _budget?.Release();
        }
        evicted.Close();
        return true;
    }

    public IPEndPoint EndPoint { get; }

    /// <summary><c>keepalive N</c>: idle connections kept (0 = none).</summary>
    public int MaxIdle { get; private set; }

    /// <summary>UpstreamConfig.KeepaliveTimeout in heartbeat ticks.</summary>
    public long IdleTimeoutTicks { get; private set; }

    /// <summary><c>keepalive_requests</c>: requests per connection before it is closed.</summary>
    public int MaxRequests { get; private set; }

    public int IdleCount => Volatile.Read(ref _count);

    /// <summary>Connections opened / leases served from the pool (for tests and metrics).</summary>
    public long Created => Interlocked.Read(ref _created);
    public long Reused => Volatile.Read(ref _reused);

    public void CountCreated() => Interlocked.Increment(ref _created);

    /// <summary>A reload changed the group's settings: applies them (the ring is resized under the lock).</summary>
    public void Update(int maxIdle, long idleTimeoutTicks, int maxRequests)
    {
        List<UpstreamConnection>? evicted = null;
        lock (_lock)
        {
            IdleTimeoutTicks = idleTimeoutTicks;
            MaxRequests = maxRequests;
            if (maxIdle != MaxIdle)
            {
                var ring = new UpstreamConnection?[Math.Max(maxIdle, 1)];
                int keep = Math.Min(_count, maxIdle);
                // Keep the newest.
                for (int i = 0; i < _count; i++)
                {
                    var c = _ring[(_start + i) % _ring.Length]!;
                    if (i < _count - keep)
                    {
                        (evicted ??= []).Add(c);
                    }
                    else
                    {
                        ring[i - (_count - keep)] = c;
                    }
                }
                _ring = ring;
                _start = 0;
                _count = keep;
                MaxIdle = maxIdle;
            }
        }
        _budget?.Release(evicted?.Count ?? 0);
        CloseAll(evicted);
    }

    /// <summary>The most recently returned usable connection, or null.</summary>
    public UpstreamConnection? TryLease(long now)
    {
        List<UpstreamConnection>? stale = null;
        UpstreamConnection? found = null;
        int popped = 0;
        lock (_lock)
        {
            while (_count > 0)
            {
                int top = (_start + _count - 1) % _ring.Length;
                var c = _ring[top]!;
                _ring[top] = null;
                _count--;
                popped++;
                if (now - c.IdleSince <= IdleTimeoutTicks && c.IsReusable())
                {
                    found = c;
                    _reused++; // under the lock: no locked instruction of its own
                    break;
                }
                (stale ??= []).Add(c);
            }
        }
        _budget?.Release(popped);
        CloseAll(stale);
        return found;
    }

    /// <summary>Takes a connection back after a complete, well-framed exchange; closes it when it cannot be kept.</summary>
    public void Return(UpstreamConnection connection, long now)
    {
        if (_retired || MaxIdle == 0 || connection.Requests >= MaxRequests)
        {
            connection.Close();
            return;
        }
        // keepalive N counts the whole group: take a slot, or the slot of the group's least recently used connection.
        if (_budget is not null && !_budget.TryReserve() && !_budget.TryReserveByEvicting())
        {
            connection.Close();
            return;
        }
        connection.IdleSince = now;
        UpstreamConnection? evicted = null;
        lock (_lock)
        {
            if (_count == _ring.Length)
            {
                evicted = _ring[_start];
                _ring[_start] = null;
                _start = (_start + 1) % _ring.Length;
                _count--;
            }
            _ring[(_start + _count) % _ring.Length] = connection;
            _count++;
        }
        if (evicted is not null)
        {
            _budget?.Release();
            evicted.Close();
        }
        if (_retired)
        {
            // Retired while we were returning: make sure nothing stays behind.
            Drain();
        }
    }

    /// <summary>Heartbeat: closes connections idle longer than the timeout or closed by the backend.</summary>
    public void Sweep(long now)
    {
        if (Volatile.Read(ref _count) == 0)
        {
            return;
        }
        List<UpstreamConnection>? stale = null;
        lock (_lock)
        {
            // Oldest first from the bottom; stop at the first fresh one (everything above it is newer)...
            while (_count > 0)
            {
                var c = _ring[_start]!;
                if (now - c.IdleSince <= IdleTimeoutTicks && !c.Transport.ReceivedFin)
                {
                    break;
                }
                _ring[_start] = null;
                _start = (_start + 1) % _ring.Length;
                _count--;
                (stale ??= []).Add(c);
            }
        }
        _budget?.Release(stale?.Count ?? 0);
        CloseAll(stale);
    }

    /// <summary>No longer used by any configuration: close everything idle now and whatever comes back later.</summary>
    public void Retire()
    {
        _retired = true;
        _budget?.Remove(this);
        Drain();
    }

    private void Drain()
    {
        List<UpstreamConnection>? all = null;
        lock (_lock)
        {
            while (_count > 0)
            {
                var c = _ring[_start]!;
                _ring[_start] = null;
                _start = (_start + 1) % _ring.Length;
                _count--;
                (all ??= []).Add(c);
            }
        }
        _budget?.Release(all?.Count ?? 0);
        CloseAll(all);
    }

    private static void CloseAll(List<UpstreamConnection>? connections)
    {
        if (connections is null)
        {
            return;
        }
        foreach (var c in connections)
        {
            c.Close();
        }
    }
}
