using System.Runtime.CompilerServices;

namespace FastProxy.Infrastructure;

/// <summary>
/// The pool of one async method's state-machine boxes (<see cref="PooledValueTaskMethodBuilder"/>,
/// <see cref="DetachedMethodBuilder"/>): a small stack per thread first, then one shared stock of at most
/// <see cref="PooledValueTaskMethodBuilder.MaxRetained"/> boxes. One instance per box type, held in a static field of
/// that type.
/// </summary>
/// <remarks>
/// The per-thread stack, not a single slot: an event loop thread suspends and resumes the same method for many
/// connections at once (every idle keep-alive connection sits in the same await), so one cached box per thread would
/// send almost every rent and return through the shared stock's interlocked operations. Every box type's thread
/// stacks hang off one non-generic thread static, indexed by the type's kind: a thread static of a generic class over
/// a reference type (as the pool was) costs a generic-dictionary lookup and an out-of-line thread-static base call on
/// every rent and return (~0.6% of the core in scenario A's profile).
/// </remarks>
internal sealed class BoxPool<TBox> where TBox : class
{
    private readonly int _kind = BoxPools.NewKind();
    private readonly SharedStock<TBox> _shared = BoxPools.Register(new SharedStock<TBox>(PooledValueTaskMethodBuilder.MaxRetained));

    /// <summary>A box from this thread's stack or the shared stock; null when both are empty.</summary>
    public TBox? TryRent()
    {
        var stacks = BoxPools.ThreadStacks;
        if (stacks is not null && (uint)_kind < (uint)stacks.Counts.Length)
        {
            ref int count = ref stacks.Counts[_kind];
            if (count > 0)
            {
                var stack = stacks.Items[_kind]!;
                int top = --count;
                object box = stack[top]!;
                stack[top] = null;
                return Unsafe.As<TBox>(box);
            }
        }
        return _shared.TryTake(out var shared) ? shared : null;
    }

    /// <summary>Keeps a box that was reset (beyond the limit it is left to the GC).</summary>
    public void Return(TBox box)
    {
        var stacks = BoxPools.ThreadStacks ?? BoxPools.CreateThreadStacks();
        if ((uint)_kind >= (uint)stacks.Counts.Length)
        {
            stacks.Grow(_kind);
        }
        ref int count = ref stacks.Counts[_kind];
        if (count < BoxPools.ThreadStackSize)
        {
            (stacks.Items[_kind] ??= new object?[BoxPools.ThreadStackSize])[count++] = box;
            return;
        }
        _shared.TryAdd(box);
    }
}

/// <summary>What every <see cref="BoxPool{TBox}"/> shares: the threads' stacks, and the shared stocks for the heartbeat's trim (<see cref="IdleMemory"/>).</summary>
internal static class BoxPools
{
    internal const int ThreadStackSize = 32;

    private static readonly object s_gate = new();
    private static Action[] s_trims = [];
    private static int s_kinds;

    [ThreadStatic]
    private static Stacks? t_stacks;

    internal static Stacks? ThreadStacks => t_stacks;

    internal static Stacks CreateThreadStacks() => t_stacks = new Stacks();

    /// <summary>The index of a new box type in every thread's stacks.</summary>
    internal static int NewKind() => Interlocked.Increment(ref s_kinds) - 1;

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

    /// <summary>One thread's stacks, one per box type (by kind), made on the thread's first return of that type.</summary>
    internal sealed class Stacks
    {
        public int[] Counts = new int[32];
        public object?[]?[] Items = new object?[32][];

        public void Grow(int kind)
        {
            int size = Counts.Length;
            while (size <= kind)
            {
                size *= 2;
            }
            Array.Resize(ref Counts, size);
            Array.Resize(ref Items, size);
        }
    }
}
