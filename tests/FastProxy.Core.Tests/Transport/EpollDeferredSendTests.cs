using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using FastProxy.Transport.Epoll;
using static FastProxy.Transport.Tests.EpollTestData;

namespace FastProxy.Transport.Tests;

/// <summary>
/// A client connection's flushes made on an event loop's thread, whose send the loop makes at the end of its turn
/// (<see cref="EpollLoop.DeferSend"/>), over real sockets: the bytes arrive, in order, whatever thread touches the
/// writer next, and nothing is left behind by a full kernel buffer, an abort, a close or parking.
/// </summary>
public class EpollDeferredSendTests
{
    private static readonly TimeSpan Bound = EpollPair.Bound;

    private const int SO_SNDBUF = 7;

    [EpollFact]
    public async Task FlushAsync_OnLoopThread_CompletesAtOnceAndBytesArriveAfterTheTurn()
    {
        await using var pair = await EpollPair.AcceptAsync();
        var writer = (EpollPipeWriter)pair.Output;

        var (completed, sendingLater) = await OnLoopAsync(pair.Connection, () =>
        {
            pair.Output.Write("hello"u8);
            var flush = pair.Output.FlushAsync();
            return (flush.IsCompletedSuccessfully && !flush.Result.IsCompleted, writer.IsSendingLater);
        });

        Assert.True(completed);
        Assert.True(sendingLater); // not sent yet while the turn that flushed was still running
        Assert.Equal("hello"u8.ToArray(), await pair.ReceiveExactlyAsync(5));
    }

    [EpollFact]
    public async Task FlushAsync_OutboundConnectionOnLoopThread_SentAtOnce()
    {
        await using var pair = await EpollPair.ConnectAsync();
        var writer = (EpollPipeWriter)pair.Output;

        var sendingLater = await OnLoopAsync(pair.Connection, () =>
        {
            pair.Output.Write("request"u8);
            _ = pair.Output.FlushAsync();
            return writer.IsSendingLater;
        });

        Assert.False(sendingLater); // a backend waits for each request: it is sent as flushed
        Assert.Equal("request"u8.ToArray(), await pair.ReceiveExactlyAsync(7));
    }

    [EpollFact]
    public async Task FlushAsync_OnLoopThreadMoreThanTheLimit_SentAtOnce()
    {
        await using var pair = await EpollPair.AcceptAsync();
        var writer = (EpollPipeWriter)pair.Output;
        const int Size = EpollPipeWriter.MaxDeferredBytes + 1;
        var receiving = pair.ReceiveExactlyAsync(Size);

        var sendingLater = await OnLoopAsync(pair.Connection, () =>
        {
            WritePattern(pair.Output, 0, Size);
            _ = pair.Output.FlushAsync();
            return writer.IsSendingLater;
        });

        Assert.False(sendingLater);
        Assert.Equal(-1, FirstMismatch(await receiving));
    }

    [EpollFact]
    public async Task FlushAsync_SeveralInOneTurn_ArriveInOrder()
    {
        await using var pair = await EpollPair.AcceptAsync();
        int[] sizes = [1, 100, 16383, 16385, 5, 3000];
        var receiving = pair.ReceiveExactlyAsync(sizes.Sum());

        await OnLoopAsync(pair.Connection, () =>
        {
            long offset = 0;
            foreach (int size in sizes)
            {
                WritePattern(pair.Output, offset, size);
                offset += size;
                Assert.True(pair.Output.FlushAsync().IsCompletedSuccessfully);
            }
            return 0;
        });

        Assert.Equal(-1, FirstMismatch(await receiving));
    }

    [EpollFact]
    public async Task GetSpan_OtherThreadRightAfterDeferredFlush_BytesStayInOrder()
    {
        // The loop's end-of-turn send races the test thread's next write: whichever comes first, the writer is used by
        // one thread at a time and the bytes keep their order.
        await using var pair = await EpollPair.AcceptAsync();
        const int Rounds = 200;
        const int Piece = 700;
        var receiving = pair.ReceiveExactlyAsync(Rounds * Piece * 2);

        long offset = 0;
        for (int round = 0; round < Rounds; round++)
        {
            long start = offset;
            await OnLoopAsync(pair.Connection, () =>
            {
                WritePattern(pair.Output, start, Piece);
                return pair.Output.FlushAsync().IsCompletedSuccessfully;
            });
            WritePattern(pair.Output, start + Piece, Piece);
            await pair.Output.FlushAsync().AsTask().WaitAsync(Bound);
            offset += 2 * Piece;
        }

        Assert.Equal(-1, FirstMismatch(await receiving));
    }

    [EpollFact]
    public async Task SendDeferred_KernelBufferFull_RestSentByOutputEventsWithoutAnotherFlush()
    {
        await using var pair = await EpollPair.AcceptAsync(peerReceiveBuffer: 4096);
        SetSendBuffer(pair.Connection, 4096);
        var writer = (EpollPipeWriter)pair.Output;
        const int Size = 60 * 1024;

        await OnLoopAsync(pair.Connection, () =>
        {
            WritePattern(pair.Output, 0, Size);
            return pair.Output.FlushAsync().IsCompletedSuccessfully;
        });
        // The turn ended with part sent and the rest waiting for room (the peer is not reading yet).
        Assert.True(await OnLoopAsync(pair.Connection, () => writer.IsSendingLater));

        Assert.Equal(-1, FirstMismatch(await pair.ReceiveExactlyAsync(Size)));
        Assert.False(await OnLoopAsync(pair.Connection, () => writer.IsSendingLater));
    }

    [EpollFact]
    public async Task FlushAsync_AfterStalledDeferredSend_WaitsAndSendsBothInOrder()
    {
        await using var pair = await EpollPair.AcceptAsync(peerReceiveBuffer: 4096);
        SetSendBuffer(pair.Connection, 4096);
        const int Size = 60 * 1024;
        await OnLoopAsync(pair.Connection, () =>
        {
            WritePattern(pair.Output, 0, Size);
            return pair.Output.FlushAsync().IsCompletedSuccessfully;
        });

        WritePattern(pair.Output, Size, 100);
        var flush = pair.Output.FlushAsync().AsTask();
        var received = await pair.ReceiveExactlyAsync(Size + 100);
        var result = await flush.WaitAsync(Bound);

        Assert.False(result.IsCompleted);
        Assert.Equal(-1, FirstMismatch(received));
    }

    [EpollFact]
    public async Task Abort_AfterDeferredFlushInTheSameTurn_BytesSentBeforeTheEnd()
    {
        await using var pair = await EpollPair.AcceptAsync();

        await OnLoopAsync(pair.Connection, () =>
        {
            pair.Output.Write("last frame"u8);
            _ = pair.Output.FlushAsync();
            pair.Connection.Abort();
            return 0;
        });

        Assert.Equal("last frame"u8.ToArray(), await pair.ReceiveToEndAsync());
    }

    [EpollFact]
    public async Task CloseAsync_AfterDeferredFlushInTheSameTurn_BytesThenFin()
    {
        var pair = await EpollPair.AcceptAsync();

        var closing = await OnLoopAsync(pair.Connection, () =>
        {
            pair.Output.Write("goodbye"u8);
            _ = pair.Output.FlushAsync();
            return pair.Connection.CloseAsync(TimeSpan.FromSeconds(5), TimeSpan.Zero).AsTask();
        });
        await closing.WaitAsync(Bound);

        Assert.Equal("goodbye"u8.ToArray(), await pair.ReceiveToEndAsync());
        pair.Peer.Dispose();
    }

    [EpollFact]
    public async Task CloseAsync_DeferredSendFindsKernelBufferFull_RestSentThenFin()
    {
        var pair = await EpollPair.AcceptAsync(peerReceiveBuffer: 4096);
        SetSendBuffer(pair.Connection, 4096);
        const int Size = 60 * 1024;

        var closing = await OnLoopAsync(pair.Connection, () =>
        {
            WritePattern(pair.Output, 0, Size);
            _ = pair.Output.FlushAsync();
            return pair.Connection.CloseAsync(TimeSpan.FromSeconds(10), TimeSpan.Zero).AsTask();
        });
        var received = await pair.ReceiveToEndAsync();
        await closing.WaitAsync(Bound);

        Assert.Equal(Size, received.Length);
        Assert.Equal(-1, FirstMismatch(received));
        pair.Peer.Dispose();
    }

    [EpollFact]
    public async Task TryPark_WriterSendingLater_ParksAndTheTurnsSendGivesTheWriterBack()
    {
        await using var pair = await EpollPair.AcceptAsync();
        await pair.SendAsync("ping"u8.ToArray());
        Assert.Equal("ping"u8.ToArray(), await pair.ReadExactlyAsync(4));
        var waiter = new Waiter();

        var (parked, writerKept) = await OnLoopAsync(pair.Connection, () =>
        {
            pair.Output.Write("pong"u8);
            _ = pair.Output.FlushAsync();
            return (pair.Connection.TryPark(waiter), pair.Connection.HasWriter);
        });

        Assert.Equal(ParkResult.Parked, parked);
        Assert.True(writerKept);
        Assert.Equal("pong"u8.ToArray(), await pair.ReceiveExactlyAsync(4));
        // The next turn of the loop runs after the one that sent: by then the writer is given back.
        Assert.False(await OnLoopAsync(pair.Connection, () => pair.Connection.HasWriter));
        // And the parked connection still wakes for input.
        await pair.SendAsync("x"u8.ToArray());
        await waiter.Woken.Task.WaitAsync(Bound);
    }

    [Theory]
    [InlineData(null, EpollLoop.DefaultSendBatch)]
    [InlineData("", EpollLoop.DefaultSendBatch)]
    [InlineData("0", 0)]
    [InlineData("4", 4)]
    [InlineData("100000", 512)]
    [InlineData("-1", EpollLoop.DefaultSendBatch)]
    [InlineData("x", EpollLoop.DefaultSendBatch)]
    public void SendBatchFromEnvironment_Values_CountOrDefault(string? value, int expected)
    {
        Assert.Equal(expected, EpollLoop.SendBatchFromEnvironment(value));
    }

    [Theory]
    [InlineData(null, EpollLoop.DefaultSendDelayMicroseconds)]
    [InlineData("0", 0)]
    [InlineData("250", 250)]
    [InlineData("99999999", 10_000)]
    [InlineData("-5", EpollLoop.DefaultSendDelayMicroseconds)]
    [InlineData("1ms", EpollLoop.DefaultSendDelayMicroseconds)]
    public void SendDelayFromEnvironment_Values_MicrosecondsOrDefault(string? value, long expected)
    {
        Assert.Equal(expected, EpollLoop.SendDelayFromEnvironment(value));
    }

    private static unsafe void SetSendBuffer(EpollConnection connection, int bytes)
    {
        Assert.Equal(0, LinuxInterop.setsockopt(connection.Descriptor, LinuxInterop.SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(int)));
    }

    /// <summary>Runs <paramref name="action"/> on the connection's event-loop thread, inside one of its turns.</summary>
    private static Task<T> OnLoopAsync<T>(EpollConnection connection, Func<T> action)
    {
        var work = new LoopWork<T>(action);
        connection.Loop.Post(work);
        return work.Done.Task.WaitAsync(Bound);
    }

    private sealed class LoopWork<T>(Func<T> action) : IEpollWork
    {
        public TaskCompletionSource<T> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Execute()
        {
            try
            {
                Done.SetResult(action());
            }
            catch (Exception e)
            {
                Done.SetException(e);
            }
        }
    }

    private sealed class Waiter : IParkedWaiter
    {
        public TaskCompletionSource Woken { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void OnParkedWake() => Woken.TrySetResult();
    }
}
