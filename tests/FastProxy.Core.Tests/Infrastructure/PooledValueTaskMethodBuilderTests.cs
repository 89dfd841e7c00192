using System.Runtime.CompilerServices;
using System.Threading.Tasks.Sources;
using FastProxy.Infrastructure;

namespace FastProxy.Core.Tests.Infrastructure;

public sealed class PooledValueTaskMethodBuilderTests
{
    /// <summary>A reusable awaitable that suspends until <see cref="Set"/> (which runs the continuation inline).</summary>
    private sealed class Signal : IValueTaskSource
    {
        private ManualResetValueTaskSourceCore<bool> _core;

        public ValueTask WaitAsync() => new(this, _core.Version);

        public void Set() => _core.SetResult(true);

        public void Fail(Exception e) => _core.SetException(e);

        void IValueTaskSource.GetResult(short token)
        {
            try
            {
                _core.GetResult(token);
            }
            finally
            {
                _core.Reset();
            }
        }

        public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

        public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
            _core.OnCompleted(continuation, state, token, ValueTaskSourceOnCompletedFlags.None);
    }

    [AsyncMethodBuilder(typeof(PooledValueTaskMethodBuilder<>))]
    private static async ValueTask<int> AddOneAfterAsync(Signal signal, int value)
    {
        await signal.WaitAsync();
        return value + 1;
    }

    [AsyncMethodBuilder(typeof(PooledValueTaskMethodBuilder<>))]
    private static async ValueTask<int> SynchronousAsync(int value)
    {
        await Task.CompletedTask;
        return value * 2;
    }

    [AsyncMethodBuilder(typeof(PooledValueTaskMethodBuilder))]
    private static async ValueTask ThrowAfterAsync(Signal signal)
    {
        await signal.WaitAsync();
        throw new InvalidOperationException("boom");
    }

    /// <summary>The result of a task that completed inline (reading it returns the box to its pool).</summary>
    private static int Completed(ValueTask<int> task) =>
        task.IsCompleted ? task.GetAwaiter().GetResult() : throw new InvalidOperationException("not completed inline");

    /// <summary>
    /// Release builds only (CI runs the tests in Release): in Debug the compiler makes async state machines classes,
    /// allocated per call whatever the builder does.
    /// </summary>
    private static void AssertNoAllocation(long allocated)
    {
#if DEBUG
        _ = allocated;
#else
        Assert.Equal(0, allocated);
#endif
    }

    [Fact]
    public void Await_Suspended_ResultDelivered()
    {
        var signal = new Signal();

        var task = AddOneAfterAsync(signal, 41);
        Assert.False(task.IsCompleted);
        signal.Set();

        Assert.True(task.IsCompleted);
        Assert.Equal(42, Completed(task));
    }

    [Fact]
    public void Await_CompletedSynchronously_NoBoxAndResultDelivered()
    {
        var task = SynchronousAsync(21);

        Assert.True(task.IsCompletedSuccessfully);
        Assert.Equal(42, Completed(task));
    }

    [Fact]
    public async Task Await_SuspendedThenThrows_ExceptionPropagated()
    {
        var signal = new Signal();

        var task = ThrowAfterAsync(signal);
        signal.Set();

        var e = await Assert.ThrowsAsync<InvalidOperationException>(async () => await task);
        Assert.Equal("boom", e.Message);
    }

    [Fact]
    public void Await_ManySuspensionsInSteadyState_AllocatesNothing()
    {
        var signal = new Signal();
        for (int i = 0; i < 100; i++)
        {
            var warm = AddOneAfterAsync(signal, i);
            signal.Set();
            Assert.Equal(i + 1, Completed(warm));
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        int sum = 0;
        for (int i = 0; i < 1000; i++)
        {
            var task = AddOneAfterAsync(signal, i);
            signal.Set();
            sum += Completed(task);
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(500_500, sum);
        AssertNoAllocation(allocated);
    }

    [Fact]
    public void Await_ManyInFlightAtOnce_BoxesReusedAfterwards()
    {
        var signals = new Signal[64];
        var tasks = new ValueTask<int>[64];
        for (int round = 0; round < 3; round++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < signals.Length; i++)
            {
                signals[i] ??= new Signal();
                tasks[i] = AddOneAfterAsync(signals[i], i);
            }
            int wrong = 0;
            for (int i = 0; i < signals.Length; i++)
            {
                signals[i].Set();
                // No Assert inside the measured loop: xunit's asserts allocate.
                wrong += Completed(tasks[i]) == i + 1 ? 0 : 1;
            }
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.Equal(0, wrong);
            if (round == 2)
            {
                // 64 in flight at once: the runtime's pooling builder would allocate most of them every round.
                AssertNoAllocation(allocated);
            }
        }
    }
}
