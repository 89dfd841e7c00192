using System.Diagnostics;

namespace FastProxy.Transport.Epoll;

/// <summary>
/// Objects a parked or closed client connection gave back (its reader and writer), kept per event-loop thread for reuse
/// by the next connection that needs one. An object is reused only after a quarantine (<see cref="Quarantine"/>):
/// other threads may still hold a reference read just before it was given back (the heartbeat's walk over the
/// connections, a stop), and whatever they do with it must land on no other connection; such a reference lives for one
/// call, microseconds, far shorter than the quarantine. Given back and rented on the loop thread only: no locks. Times
/// are the loop's cached clock (one read per turn; a turn is microseconds, the quarantine 100 ms).
/// </summary>
internal sealed class LoopPool<T> where T : class
{
    private static readonly TimeSpan Quarantine = TimeSpan.FromMilliseconds(100);
    // Enough for a loop closing 20,000 connections a second to find one out of quarantine (at most 1.4 MiB of readers
    // and writers per loop).
    private const int Limit = 4096;
    // What a trim keeps whatever its age, and the age beyond which an object unused is let go.
    internal const int Keep = 16;
    internal static readonly TimeSpan IdleAge = TimeSpan.FromSeconds(1);

    [ThreadStatic]
    private static Queue<(T Item, long Since)>? t_items;

    /// <summary>An object given back at least the quarantine ago, when called on <paramref name="loop"/>'s thread; else null.</summary>
    public static T? TryRent(EpollLoop loop)
    {
        if (!loop.IsCurrent)
        {
            return null;
        }
        var items = t_items;
        if (items is null || items.Count == 0)
        {
            return null;
        }
        var (item, since) = items.Peek();
        if (Stopwatch.GetElapsedTime(since, EpollLoop.CachedTimestamp()) < Quarantine)
        {
            return null;
        }
        items.Dequeue();
        return item;
    }

    /// <summary>
    /// Lets go of this thread's objects given back more than <see cref="IdleAge"/> before <paramref name="now"/> and not
    /// rented since (the oldest are first in line), beyond <see cref="Keep"/>: a burst's readers and writers go to the GC
    /// once it has passed. On the loop thread, posted by <see cref="EpollLoop.TrimPools"/>.
    /// </summary>
    public static int Trim(long now)
    {
        var items = t_items;
        int dropped = 0;
        while (items is not null && items.Count > Keep && Stopwatch.GetElapsedTime(items.Peek().Since, now) > IdleAge)
        {
            items.Dequeue();
            dropped++;
        }
        if (dropped > 0 && items!.Count < Limit / 8)
        {
            items.TrimExcess(); // the queue's array stays as large as the burst made it otherwise (64 KiB at the limit)
        }
        return dropped;
    }

    /// <summary>Objects on this thread now (tests).</summary>
    internal static int CountOnThisThread => t_items?.Count ?? 0;

    public static void Return(T item)
    {
        var items = t_items ??= new Queue<(T, long)>();
        if (items.Count < Limit)
        {
            items.Enqueue((item, EpollLoop.CachedTimestamp()));
        }
    }
}
