using System.Collections.Concurrent;

namespace FastProxy.Infrastructure;

/// <summary>
/// Reusable objects shared by every thread, bounded, that lets go of what a burst left behind: <see cref="Trim"/>
/// (on the heartbeat) drops the objects that sat in the stock, unused, since the previous trim. Steady use keeps what
/// it cycles through; a burst's extra objects go to the GC a tick after it ends instead of staying for the life of the
/// process (Kestrel's memory pool evicts idle blocks the same way since .NET 9).
/// </summary>
internal sealed class SharedStock<T> where T : class
{
    private readonly ConcurrentQueue<T> _items = new();
    private readonly int _limit;
    private int _count;
    // The fewest objects the stock held since the last trim: that many were never taken in the meantime. Written
    // without a lock (a lost update only makes one trim keep or drop a little more).
    private int _fewestSinceTrim;

    public SharedStock(int limit)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limit);
        _limit = limit;
    }

    public int Count => Volatile.Read(ref _count);

    public bool TryTake(out T item)
    {
        if (_items.TryDequeue(out item!))
        {
            int left = Interlocked.Decrement(ref _count);
            if (left < _fewestSinceTrim)
            {
                _fewestSinceTrim = left;
            }
            return true;
        }
        return false;
    }

    /// <summary>Keeps <paramref name="item"/>; false (the caller drops it) when the stock is full.</summary>
    public bool TryAdd(T item)
    {
        if (Interlocked.Increment(ref _count) > _limit)
        {
            Interlocked.Decrement(ref _count);
            return false;
        }
        _items.Enqueue(item);
        return true;
    }

    /// <summary>
    /// Drops the objects that were not taken since the last call, keeping at least <paramref name="keep"/>; returns how
    /// many were dropped. One caller at a time (the heartbeat).
    /// </summary>
    public int Trim(int keep)
    {
        int count = Volatile.Read(ref _count);
        int unused = Math.Min(Volatile.Read(ref _fewestSinceTrim), count);
        int drop = Math.Min(unused, count - keep);
        int dropped = 0;
        while (dropped < drop && TryTakeQuietly())
        {
            dropped++;
        }
        Volatile.Write(ref _fewestSinceTrim, Volatile.Read(ref _count));
        return dropped;
    }

    private bool TryTakeQuietly()
    {
        if (_items.TryDequeue(out _))
        {
            Interlocked.Decrement(ref _count);
            return true;
        }
        return false;
    }
}
