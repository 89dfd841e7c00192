using Microsoft.Extensions.ObjectPool;

namespace FastProxy.Infrastructure;

/// <summary>
/// An <see cref="ObjectPool{T}"/> (as <see cref="DefaultObjectPool{T}"/>: the policy makes and vets objects, at most
/// a fixed number are kept) whose idle objects <see cref="Trim"/> lets go of: see <see cref="SharedStock{T}"/>.
/// </summary>
internal sealed class TrimmingObjectPool<T> : ObjectPool<T>, ITrimmablePool where T : class
{
    private readonly IPooledObjectPolicy<T> _policy;
    private readonly SharedStock<T> _stock;

    public TrimmingObjectPool(IPooledObjectPolicy<T> policy, int limit)
    {
        _policy = policy;
        _stock = new SharedStock<T>(limit);
    }

    /// <summary>Objects kept for reuse now.</summary>
    public int Count => _stock.Count;

    public override T Get() => _stock.TryTake(out var item) ? item : _policy.Create();

    public override void Return(T obj)
    {
        if (_policy.Return(obj))
        {
            _stock.TryAdd(obj);
        }
    }

    /// <summary>Drops what was not taken since the last trim, keeping at least <paramref name="keep"/>.</summary>
    public int Trim(int keep) => _stock.Trim(keep);
}

/// <summary>A pool the heartbeat trims (<see cref="IdleMemory"/>).</summary>
internal interface ITrimmablePool
{
    /// <summary>Drops what was not taken since the last trim, keeping at least <paramref name="keep"/>; returns how many.</summary>
    int Trim(int keep);
}
