using System.Runtime.CompilerServices;
using System.Threading.Tasks.Sources;

namespace FastProxy.Infrastructure;

/// <summary>
/// An async method builder for ValueTask-returning methods whose state-machine boxes come from a process-wide pool
/// per method (a thread-local slot, then a bounded queue), so a method that suspends allocates nothing in steady
/// state, however many connections are in flight.
/// </summary>
/// <remarks>
/// Why not the runtime's <see cref="PoolingAsyncValueTaskMethodBuilder"/>: its cache holds one box per thread and per
/// core, so with more requests in flight than cores (every real load) most suspending calls still allocate their box;
/// measured at ~5 boxes per proxied request. This builder keeps up to <see cref="MaxRetained"/> boxes per method.
/// Like the runtime's, a box returns to the pool when its result is read, so the ValueTask must be awaited exactly
/// once (the data path always does). ExecutionContext is not flowed across awaits of critical awaiters (the data path
/// keeps no ambient state), which is what the runtime's <c>UnsafeOnCompleted</c> path does too.
/// </remarks>
internal struct PooledValueTaskMethodBuilder
{
    internal const int MaxRetained = 4096;

    private PooledValueTaskMethodBuilder<VoidResult> _inner;

    public static PooledValueTaskMethodBuilder Create() => default;

    public ValueTask Task
    {
        get
        {
            var source = _inner.Source;
            return source is null ? default : new ValueTask(source, source.Version);
        }
    }

    public void Start<TStateMachine>(ref TStateMachine stateMachine) where TStateMachine : IAsyncStateMachine => stateMachine.MoveNext();

    public void SetStateMachine(IAsyncStateMachine stateMachine)
    {
    }

    public void SetResult() => _inner.SetResult(default);

    public void SetException(Exception exception) => _inner.SetException(exception);

    public void AwaitOnCompleted<TAwaiter, TStateMachine>(ref TAwaiter awaiter, ref TStateMachine stateMachine)
        where TAwaiter : INotifyCompletion where TStateMachine : IAsyncStateMachine =>
        _inner.AwaitOnCompleted(ref awaiter, ref stateMachine);

    public void AwaitUnsafeOnCompleted<TAwaiter, TStateMachine>(ref TAwaiter awaiter, ref TStateMachine stateMachine)
        where TAwaiter : ICriticalNotifyCompletion where TStateMachine : IAsyncStateMachine =>
        _inner.AwaitUnsafeOnCompleted(ref awaiter, ref stateMachine);
}

internal readonly struct VoidResult;

/// <inheritdoc cref="PooledValueTaskMethodBuilder"/>
internal struct PooledValueTaskMethodBuilder<TResult>
{
    private PooledBox? _box;
    private TResult _result;
    private Exception? _exception;

    public static PooledValueTaskMethodBuilder<TResult> Create() => default;

    /// <summary>The box when the method suspended at least once; null when it completed synchronously.</summary>
    internal readonly PooledBox? Source => _box;

    public ValueTask<TResult> Task
    {
        get
        {
            if (_box is { } box)
            {
                return new ValueTask<TResult>(box, box.Version);
            }
            if (_exception is not null)
            {
                return ValueTask.FromException<TResult>(_exception);
            }
            return new ValueTask<TResult>(_result);
        }
    }

    public void Start<TStateMachine>(ref TStateMachine stateMachine) where TStateMachine : IAsyncStateMachine => stateMachine.MoveNext();

    public void SetStateMachine(IAsyncStateMachine stateMachine)
    {
    }

    public void SetResult(TResult result)
    {
        if (_box is { } box)
        {
            box.SetResult(result);
        }
        else
        {
            _result = result;
        }
    }

    public void SetException(Exception exception)
    {
        if (_box is { } box)
        {
            box.SetException(exception);
        }
        else
        {
            _exception = exception;
        }
    }

    public void AwaitOnCompleted<TAwaiter, TStateMachine>(ref TAwaiter awaiter, ref TStateMachine stateMachine)
        where TAwaiter : INotifyCompletion where TStateMachine : IAsyncStateMachine =>
        awaiter.OnCompleted(GetBox(ref stateMachine).MoveNextAction);

    public void AwaitUnsafeOnCompleted<TAwaiter, TStateMachine>(ref TAwaiter awaiter, ref TStateMachine stateMachine)
        where TAwaiter : ICriticalNotifyCompletion where TStateMachine : IAsyncStateMachine =>
        awaiter.UnsafeOnCompleted(GetBox(ref stateMachine).MoveNextAction);

    private PooledBox GetBox<TStateMachine>(ref TStateMachine stateMachine) where TStateMachine : IAsyncStateMachine
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

    /// <summary>The pooled, resettable completion source a suspended method completes.</summary>
    internal abstract class PooledBox : IValueTaskSource<TResult>, IValueTaskSource
    {
        protected ManualResetValueTaskSourceCore<TResult> _core;

        public short Version => _core.Version;

        public Action MoveNextAction { get; protected init; } = null!;

        public void SetResult(TResult result) => _core.SetResult(result);

        public void SetException(Exception exception) => _core.SetException(exception);

        public TResult GetResult(short token)
        {
            try
            {
                return _core.GetResult(token);
            }
            finally
            {
                Return();
            }
        }

        void IValueTaskSource.GetResult(short token) => GetResult(token);

        public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

        public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
            _core.OnCompleted(continuation, state, token, flags);

        protected abstract void Return();
    }

    private sealed class Box<TStateMachine> : PooledBox where TStateMachine : IAsyncStateMachine
    {
        public TStateMachine StateMachine = default!;

        private Box()
        {
            MoveNextAction = MoveNext;
        }

        private void MoveNext() => StateMachine.MoveNext();

        private static readonly BoxPool<Box<TStateMachine>> s_pool = new();

        public static Box<TStateMachine> Rent() => s_pool.TryRent() ?? new Box<TStateMachine>();

        protected override void Return()
        {
            // Drop the references the finished state machine holds, then reset for the next use.
            StateMachine = default!;
            _core.Reset();
            s_pool.Return(this);
        }
    }
}
