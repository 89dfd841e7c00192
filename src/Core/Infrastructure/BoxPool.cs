using System.Collections.Concurrent;

namespace FastProxy.Infrastructure;

/// <summary>
/// The pool of one async method's state-machine boxes (<see cref="PooledValueTaskMethodBuilder"/>,
/// <see cref="DetachedMethodBuilder"/>): a small stack per thread first, then one shared queue of at most
/// <see cref="PooledValueTaskMethodBuilder.MaxRetained"/> boxes.
/// </summary>
/// <remarks>
/// The per-thread stack, not a single slot: an event loop thread suspends and resumes the same method for many
/// connections at once (every idle keep-alive connection sits in the same await), so one cached box per thread would
/// send almost every rent and return through the shared queue's interlocked operations.
/// </remarks>
internal static class BoxPool<TBox> where TBox : class
{
    private const int ThreadStackSize = 32;

    [ThreadStatic]
    private static TBox?[]? t_stack;
    [ThreadStatic]
    private static int t_count;
    private static readonly ConcurrentQueue<TBox> s_pool = new();
    private static int s_pooled;

    /// <summary>A box from this thread's stack or the shared queue; null when both are empty.</summary>
    public static TBox? TryRent()
    {
        var stack = t_stack;
        if (stack is not null && t_count > 0)
        {
            int top = --t_count;
            var cached = stack[top]!;
            stack[top] = null;
            return cached;
        }
        if (s_pool.TryDequeue(out var box))
        {
            Interlocked.Decrement(ref s_pooled);
            return box;
        }
        return null;
    }

    /// <summary>Keeps a box that was reset (beyond the limit it is left to the GC).</summary>
    public static void Return(TBox box)
    {
        var stack = t_stack ??= new TBox?[ThreadStackSize];
        if (t_count < ThreadStackSize)
        {
            stack[t_count++] = box;
            return;
        }
        if (Interlocked.Increment(ref s_pooled) > PooledValueTaskMethodBuilder.MaxRetained)
        {
            Interlocked.Decrement(ref s_pooled);
            return;
        }
        s_pool.Enqueue(box);
    }
}
