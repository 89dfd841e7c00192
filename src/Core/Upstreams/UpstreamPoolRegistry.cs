using System.Collections.Concurrent;
using System.Net;
using FastProxy.Infrastructure;
using FastProxy.Tls;

namespace FastProxy.Upstreams;

/// <summary>
/// Every upstream pool of the server, keyed by (upstream group, destination address). Pools outlive snapshots: a
/// reload that keeps a group and its server keeps its warm connections; pools no longer referenced are retired.
/// </summary>
internal sealed class UpstreamPoolRegistry : IHeartbeatHandler
{
    private readonly ConcurrentDictionary<(string Group, IPEndPoint EndPoint), UpstreamPool> _pools = new();
    private readonly ConcurrentDictionary<string, UpstreamIdleBudget> _budgets = new(StringComparer.Ordinal);

    // HTTPS upstreams: pooled by the whole TLS identity of a connection, not only its address (plain pools above
    // keep their cheaper key).
    private readonly ConcurrentDictionary<(string Group, UpstreamTlsPoolKey Key), UpstreamPool> _tlsPools = new();

    public UpstreamPool GetOrCreate(string group, IPEndPoint endPoint, int maxIdle, long idleTimeoutTicks, int maxRequests)
    {
        // keepalive N bounds the group's idle connections together (nginx: one cache per upstream block).
        var budget = _budgets.GetOrAdd(group, static (_, max) => new UpstreamIdleBudget(max), maxIdle);
        budget.Max = maxIdle;
        var pool = _pools.GetOrAdd((group, endPoint), static (key, s) => new UpstreamPool(key.EndPoint, s.maxIdle, s.idleTimeoutTicks, s.maxRequests, s.budget),
            (maxIdle, idleTimeoutTicks, maxRequests, budget));
        pool.Update(maxIdle, idleTimeoutTicks, maxRequests);
        return pool;
    }

    /// <summary>The group's idle-connection count (for tests and metrics); null for an unknown group.</summary>
    public UpstreamIdleBudget? GetBudget(string group) => _budgets.GetValueOrDefault(group);

    /// <summary>The pool of TLS connections to one destination made with one set of proxy_ssl_* settings.</summary>
    public UpstreamPool GetOrCreateTls(string group, UpstreamTlsPoolKey key, int maxIdle, long idleTimeoutTicks, int maxRequests)
    {
        // The group's keepalive N counts its TLS connections too.
        var budget = _budgets.GetOrAdd(group, static (_, max) => new UpstreamIdleBudget(max), maxIdle);
        budget.Max = maxIdle;
        var pool = _tlsPools.GetOrAdd((group, key), static (k, s) => new UpstreamPool(k.Key.EndPoint, s.maxIdle, s.idleTimeoutTicks, s.maxRequests, s.budget),
            (maxIdle, idleTimeoutTicks, maxRequests, budget));
        pool.Update(maxIdle, idleTimeoutTicks, maxRequests);
        return pool;
    }

    /// <summary>Retires every pool not in <paramref name="inUse"/> (after a reload swapped the snapshot).</summary>
    public void RetireExcept(HashSet<UpstreamPool> inUse)
    {
        foreach (var entry in _pools)
        {
            if (!inUse.Contains(entry.Value) && _pools.TryRemove(entry))
            {
                entry.Value.Retire();
            }
        }
        foreach (var entry in _tlsPools)
        {
            if (!inUse.Contains(entry.Value) && _tlsPools.TryRemove(entry))
            {
                entry.Value.Retire();
            }
        }
    }

    public void RetireAll()
    {
        foreach (var entry in _pools)
        {
            if (_pools.TryRemove(entry))
            {
                entry.Value.Retire();
            }
        }
        foreach (var entry in _tlsPools)
        {
            if (_tlsPools.TryRemove(entry))
            {
                entry.Value.Retire();
            }
        }
    }

    public void OnHeartbeat(long now)
    {
        foreach (var entry in _pools)
        {
            entry.Value.Sweep(now);
        }
        if (!_tlsPools.IsEmpty)
        {
            foreach (var entry in _tlsPools)
            {
                entry.Value.Sweep(now);
            }
        }
    }

    public IEnumerable<UpstreamPool> Pools => _pools.Values.Concat(_tlsPools.Values);
}
