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
    private static readonly SharedStock<TBox> s_pool = BoxPools.Register(new SharedStock<TBox>(PooledValueTaskMethodBuilder.MaxRetained));

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
        return s_pool.TryTake(out var box) ? box : null;
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
        s_pool.TryAdd(box);
    }
}

/// <summary>Every <see cref="BoxPool{TBox}"/>'s shared stock, for the heartbeat's trim (<see cref="IdleMemory"/>).</summary>
internal static class BoxPools
{
    private static readonly object s_gate = new();
    private static Action[] s_trims = [];

    public static SharedStock<TBox> Register<TBox>(SharedStock<TBox> stock) where TBox : class
    {
        lock (s_gate)
        {
            var trims = new Action[s_trims.Length + 1];
            s_trims.CopyTo(trims, 0);
            trims[^1] = () => stock.Trim(keep: 0);
            Volatile.Write(ref s_trims, trims);
        }
        return stock;
    }

    /// <summary>Lets go of the boxes of every pool that nobody took since the last trim.</summary>
    public static void TrimAll()
    {
        foreach (var trim in Volatile.Read(ref s_trims))
        {
            trim();
        }
    }
}
