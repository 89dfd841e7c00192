using System.Buffers;
using System.IO.Pipelines;
using FastProxy.Transport.Epoll;

namespace FastProxy.Transport.Tests;

/// <summary>
/// A client connection parked in its <see cref="EpollConnection"/> (reader and writer given back, only the registration
/// kept): what wakes it, and that it reads and writes normally afterwards.
/// </summary>
public class EpollParkingTests
{
    private static readonly TimeSpan Bound = EpollPair.Bound;

    [EpollFact]
    public async Task TryPark_IdleOnItsLoop_ParkedAndBytesWakeItThenReadNormally()
    {
        await using var pair = await EpollPair.AcceptAsync();
        await ExchangeOnceAsync(pair);
        var waiter = new Waiter();

        var parked = await OnLoopAsync(pair.Connection, () => pair.Connection.TryPark(waiter));
        await pair.SendAsync("next"u8.ToArray());
        await waiter.Woken.Task.WaitAsync(Bound);

        Assert.Equal(ParkResult.Parked, parked);
        Assert.Equal(1, waiter.Count);
        Assert.Equal("next"u8.ToArray(), await pair.ReadExactlyAsync(4)); // a reader again, on the same socket
        pair.Output.Write("ok"u8);
        await pair.Output.FlushAsync().AsTask().WaitAsync(Bound);
        Assert.Equal("ok"u8.ToArray(), await pair.ReceiveExactlyAsync(2));
    }

    [EpollFact]
    public async Task TryPark_BytesAlreadyAnnounced_InputReadyAndNotParked()
    {
        await using var pair = await EpollPair.AcceptAsync();
        await ExchangeOnceAsync(pair);
        await pair.SendAsync("early"u8.ToArray());
        // The bytes' input event must have been counted before parking is tried.
        await Waits(() => Volatile.Read(ref pair.Connection.ReadEvents) != pair.Connection.ReadDrainedAt);
        var waiter = new Waiter();

        var parked = await OnLoopAsync(pair.Connection, () => pair.Connection.TryPark(waiter));

        Assert.Equal(ParkResult.InputReady, parked);
        Assert.Equal(0, waiter.Count);
        Assert.Equal("early"u8.ToArray(), await pair.ReadExactlyAsync(5));
    }

    [EpollFact]
    public async Task TryPark_OffItsLoopThread_NotHere()
    {
        await using var pair = await EpollPair.AcceptAsync();
        await ExchangeOnceAsync(pair);

        // A pool thread (test code after an await may itself run on the loop thread that completed it).
        var parked = await Task.Run(() => pair.Connection.TryPark(new Waiter())).WaitAsync(Bound);

        Assert.Equal(ParkResult.NotHere, parked);
    }

    [EpollFact]
    public async Task TryPark_BytesStillBuffered_NotHere()
    {
        await using var pair = await EpollPair.AcceptAsync();
        await pair.SendAsync("abc"u8.ToArray());
        var read = await pair.ReadAsync();
        pair.Input.AdvanceTo(read.Buffer.Start, read.Buffer.End); // examined, not consumed: still buffered

        var parked = await OnLoopAsync(pair.Connection, () => pair.Connection.TryPark(new Waiter()));

        Assert.Equal(ParkResult.NotHere, parked);
    }

    [EpollFact]
    public async Task WakeParked_Parked_WaiterCalledOnceOnItsLoop()
    {
        await using var pair = await EpollPair.AcceptAsync();
        await ExchangeOnceAsync(pair);
        var waiter = new Waiter();
        Assert.Equal(ParkResult.Parked, await OnLoopAsync(pair.Connection, () => pair.Connection.TryPark(waiter)));

        pair.Connection.WakeParked();
        pair.Connection.WakeParked(); // a second wake finds nothing parked
        await waiter.Woken.Task.WaitAsync(Bound);

        Assert.Equal(1, waiter.Count);
        Assert.True(waiter.OnLoop);
    }

    [EpollFact]
    public async Task Abort_Parked_WaiterCalledAndConnectionAborted()
    {
        await using var pair = await EpollPair.AcceptAsync();
        await ExchangeOnceAsync(pair);
        var waiter = new Waiter();
        Assert.Equal(ParkResult.Parked, await OnLoopAsync(pair.Connection, () => pair.Connection.TryPark(waiter)));

        pair.Connection.Abort();
        await waiter.Woken.Task.WaitAsync(Bound);

        Assert.True(pair.Connection.IsAborted);
        Assert.Equal(1, waiter.Count);
    }

    [EpollFact]
    public async Task CloseAsync_Parked_ClosesWithoutAReaderOrWriter()
    {
        var pair = await EpollPair.AcceptAsync();
        await ExchangeOnceAsync(pair);
        Assert.Equal(ParkResult.Parked, await OnLoopAsync(pair.Connection, () => pair.Connection.TryPark(new Waiter())));

        await pair.Connection.CloseAsync(TimeSpan.Zero, TimeSpan.Zero).AsTask().WaitAsync(Bound);

        using var timeout = new CancellationTokenSource(Bound);
        Assert.Equal(0, await pair.Peer.ReceiveAsync(new byte[1], System.Net.Sockets.SocketFlags.None, timeout.Token));
        pair.Peer.Dispose();
    }

    /// <summary>A request and its answer, so the connection has had a reader and a writer.</summary>
    private static async Task ExchangeOnceAsync(EpollPair pair)
    {
        await pair.SendAsync("ping"u8.ToArray());
        Assert.Equal("ping"u8.ToArray(), await pair.ReadExactlyAsync(4));
        pair.Output.Write("pong"u8);
        await pair.Output.FlushAsync().AsTask().WaitAsync(Bound);
        Assert.Equal("pong"u8.ToArray(), await pair.ReceiveExactlyAsync(4));
    }

    /// <summary>Runs <paramref name="action"/> on the connection's event-loop thread (where parking happens).</summary>
    private static Task<T> OnLoopAsync<T>(EpollConnection connection, Func<T> action)
    {
        var work = new LoopWork<T>(action);
        connection.Loop.Post(work);
        return work.Done.Task.WaitAsync(Bound);
    }

    private static async Task Waits(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + Bound;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out");
            await Task.Delay(5);
        }
    }

    private sealed class LoopWork<T>(Func<T> action) : IEpollWork
    {
        public TaskCompletionSource<T> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Execute() => Done.SetResult(action());
    }

    private sealed class Waiter : IParkedWaiter
    {
        private int _count;

        public TaskCompletionSource Woken { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public int Count => Volatile.Read(ref _count);

        public bool OnLoop { get; private set; }

        public void OnParkedWake()
        {
            OnLoop = EpollLoop.Current is not null;
            Interlocked.Increment(ref _count);
            Woken.TrySetResult();
        }
    }
}
