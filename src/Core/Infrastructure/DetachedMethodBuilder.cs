using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;

namespace FastProxy.Infrastructure;

/// <summary>
/// What a fire-and-forget async method returns: nothing to await. Its state machine, when it suspends, lives in a
/// pooled box that goes back to the pool as the method completes (nobody reads a result), so starting one allocates
/// nothing in steady state; an <c>async Task</c> would allocate its task every time.
/// </summary>
/// <remarks>
/// For a connection's request loop, which starts once per connection and again each time a parked connection resumes
/// (under crowding, once per request). The method must handle its own exceptions: one that escapes is rethrown on the
/// thread pool, where it ends the process as an <c>async void</c> method's would.
/// </remarks>
[AsyncMethodBuilder(typeof(DetachedMethodBuilder))]
internal readonly struct Detached;

/// <inheritdoc cref="Detached"/>
internal struct DetachedMethodBuilder
{
    private DetachedBox? _box;

    public static DetachedMethodBuilder Create() => default;

    public readonly Detached Task => default;

    public void Start<TStateMachine>(ref TStateMachine stateMachine) where TStateMachine : IAsyncStateMachine => stateMachine.MoveNext();

    public void SetStateMachine(IAsyncStateMachine stateMachine)
    {
    }

    // The last thing the state machine does: nothing of it is touched after the box is back in the pool.
    public readonly void SetResult() => _box?.Complete();

    public readonly void SetException(Exception exception)
    {
        _box?.Complete();
        ThreadPool.UnsafeQueueUserWorkItem(static e => ExceptionDispatchInfo.Throw(e), exception, preferLocal: false);
    }

    public void AwaitOnCompleted<TAwaiter, TStateMachine>(ref TAwaiter awaiter, ref TStateMachine stateMachine)
        where TAwaiter : INotifyCompletion where TStateMachine : IAsyncStateMachine =>
        awaiter.OnCompleted(GetBox(ref stateMachine).MoveNextAction);

    public void AwaitUnsafeOnCompleted<TAwaiter, TStateMachine>(ref TAwaiter awaiter, ref TStateMachine stateMachine)
        where TAwaiter : ICriticalNotifyCompletion where TStateMachine : IAsyncStateMachine =>
        awaiter.UnsafeOnCompleted(GetBox(ref stateMachine).MoveNextAction);

    private DetachedBox GetBox<TStateMachine>(ref TStateMachine stateMachine) where TStateMachine : IAsyncStateMachine
    {
        if (_box is { } existing)
        {
            return existing;
        }
        var box = Box<TStateMachine>.Rent();
        // Set before copying: the copy in the box must carry the reference to the box (the runtime's order too).
        _box = box;
        box.StateMachine = stateMachine;
        return box;
    }

    private abstract class DetachedBox
    {
        public Action MoveNextAction { get; protected init; } = null!;

        public abstract void Complete();
    }

    private sealed class Box<TStateMachine> : DetachedBox where TStateMachine : IAsyncStateMachine
    {
        public TStateMachine StateMachine = default!;

        private Box()
        {
            MoveNextAction = MoveNext;
        }

        private void MoveNext() => StateMachine.MoveNext();

        private static readonly BoxPool<Box<TStateMachine>> s_pool = new();

        public static Box<TStateMachine> Rent() => s_pool.TryRent() ?? new Box<TStateMachine>();

        public override void Complete()
        {
            // Drop the references the finished state machine holds, then back to the pool.
            StateMachine = default!;
            s_pool.Return(this);
        }
    }
}
