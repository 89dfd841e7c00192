using System.Threading.Tasks.Sources;

namespace FastProxy.Infrastructure.Tests;

public sealed class DetachedMethodBuilderTests
{
    [Fact]
    public void Detached_SuspendsAndCompletes_RunsToTheEndEachTime()
    {
        var gate = new Gate();
        var counter = new Counter();

        for (int i = 0; i < 3; i++)
        {
            gate.Reset();
            _ = WaitThenCountAsync(gate, counter);
            Assert.Equal(i, counter.Value); // suspended at the gate
            gate.Open();
            Assert.Equal(i + 1, counter.Value);
        }
    }

    [Fact]
    public void Detached_CompletesWithoutSuspending_Runs()
    {
        var counter = new Counter();

        _ = CountAsync(counter);

        Assert.Equal(1, counter.Value);
    }

    [Fact]
    public void Detached_StartedAgainAfterCompleting_AllocatesNothing()
    {
        var gate = new Gate();
        var counter = new Counter();
        // Warm-up (the box, JIT) and three measured rounds: 100 + 3 × 1,000 starts.
        long least = FastProxy.Core.Tests.ThreadAllocation.LeastOfThreeRounds(() =>
        {
            gate.Reset();
            _ = WaitThenCountAsync(gate, counter);
            gate.Open();
        });

        // An async Task method would allocate its task (its state machine box) on every start that suspends.
        Assert.Equal(3100, counter.Value);
        Assert.Equal(0, least);
    }

    private static async Detached WaitThenCountAsync(Gate gate, Counter counter)
    {
        await gate.WaitAsync().ConfigureAwait(false); // xunit runs tests under a SynchronizationContext
        counter.Value++;
    }

#pragma warning disable CS1998 // completes synchronously on purpose
    private static async Detached CountAsync(Counter counter) => counter.Value++;
#pragma warning restore CS1998

    private sealed class Counter
    {
        public int Value;
    }

    /// <summary>A reusable awaitable that completes inline when opened (no allocation per wait).</summary>
    private sealed class Gate : IValueTaskSource
    {
        private ManualResetValueTaskSourceCore<bool> _core = new() { RunContinuationsAsynchronously = false };

        public ValueTask WaitAsync() => new(this, _core.Version);

        public void Open() => _core.SetResult(true);

        public void Reset() => _core.Reset();

        void IValueTaskSource.GetResult(short token) => _core.GetResult(token);

        ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _core.GetStatus(token);

        void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
            _core.OnCompleted(continuation, state, token, flags);
    }
}
