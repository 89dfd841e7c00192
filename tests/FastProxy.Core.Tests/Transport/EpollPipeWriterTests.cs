using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using static FastProxy.Transport.Tests.EpollTestData;

namespace FastProxy.Transport.Tests;

/// <summary>The output side of <see cref="Epoll.EpollConnection"/> against <see cref="PipeWriter"/>'s contract, over real sockets.</summary>
public class EpollPipeWriterTests
{
    private static readonly TimeSpan Bound = EpollPair.Bound;

    /// <summary>The peer's receive buffer in backpressure tests: a small window fills the kernel buffers sooner.</summary>
    private const int SmallWindow = 4096;

    [EpollTheory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task FlushAsync_SecondSend_NagleTurnedOffOnlyThen(bool inbound)
    {
        await using var pair = await EpollPair.CreateAsync(inbound);

        pair.Output.Write("first"u8);
        await pair.Output.FlushAsync().AsTask().WaitAsync(Bound);
        Assert.False(NoDelay(pair.Connection)); // one send and close needs no setsockopt (nginx sets it for keep-alive)
        pair.Output.Write("second"u8);
        await pair.Output.FlushAsync().AsTask().WaitAsync(Bound);

        Assert.True(NoDelay(pair.Connection)); // before a second small send, Nagle would hold it for an ACK
        Assert.Equal("firstsecond"u8.ToArray(), await pair.ReceiveExactlyAsync(11));
    }

    private static unsafe bool NoDelay(Epoll.EpollConnection connection)
    {
        int value = 0;
        uint length = sizeof(int);
        Assert.Equal(0, Epoll.LinuxInterop.getsockopt(connection.Descriptor, Epoll.LinuxInterop.IPPROTO_TCP, Epoll.LinuxInterop.TCP_NODELAY, &value, &length));
        return value != 0;
    }

    [EpollTheory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task FlushAsync_ManySegments_ArrivesByteExact(bool inbound)
    {
        await using var pair = await EpollPair.CreateAsync(inbound);
        const int Size = 1024 * 1024;
        WritePattern(pair.Output, 0, Size, piece: 4096);
        Assert.Equal(Size, pair.Output.UnflushedBytes);

        var receiving = pair.ReceiveExactlyAsync(Size);
        var flush = await pair.Output.FlushAsync().AsTask().WaitAsync(Bound);
        var received = await receiving;

        Assert.False(flush.IsCompleted);
        Assert.False(flush.IsCanceled);
        Assert.Equal(-1, FirstMismatch(received));
    }

    [EpollFact]
    public async Task FlushAsync_SeveralFlushesAndSizes_ArriveInOrder()
    {
        await using var pair = await EpollPair.ConnectAsync();
        int[] sizes = [1, 100, 16383, 16384, 16385, 5, 50000, 3];
        var receiving = pair.ReceiveExactlyAsync(sizes.Sum());

        long offset = 0;
        foreach (int size in sizes)
        {
            // One GetMemory of the whole size: bigger than a block makes an unpooled one.
            var memory = pair.Output.GetMemory(size);
            Pattern(size, offset).CopyTo(memory);
            pair.Output.Advance(size);
            offset += size;
            var flush = await pair.Output.FlushAsync().AsTask().WaitAsync(Bound);
            Assert.False(flush.IsCompleted);
        }

        Assert.Equal(-1, FirstMismatch(await receiving));
    }

    [EpollFact]
    public async Task UnflushedBytes_AdvanceThenFlush_CountsAndResets()
    {
        await using var pair = await EpollPair.ConnectAsync();
        Assert.True(pair.Output.CanGetUnflushedBytes);
        Assert.Equal(0, pair.Output.UnflushedBytes);

        WritePattern(pair.Output, 0, 100);
        Assert.Equal(100, pair.Output.UnflushedBytes);
        WritePattern(pair.Output, 100, 20000);
        Assert.Equal(20100, pair.Output.UnflushedBytes);
        await pair.Output.FlushAsync().AsTask().WaitAsync(Bound);

        Assert.Equal(0, pair.Output.UnflushedBytes);
        Assert.Equal(-1, FirstMismatch(await pair.ReceiveExactlyAsync(20100)));
    }

    [EpollFact]
    public async Task FlushAsync_PeerNotReading_PendsUntilPeerDrains()
    {
        await using var pair = await EpollPair.ConnectAsync(peerReceiveBuffer: SmallWindow);

        var (written, pending) = await FillUntilFlushPendsAsync(pair);
        var received = await pair.ReceiveExactlyAsync(checked((int)written));
        var result = await pending.WaitAsync(Bound);

        Assert.False(result.IsCompleted);
        Assert.False(result.IsCanceled);
        Assert.Equal(-1, FirstMismatch(received));
        // And the connection carries on.
        WritePattern(pair.Output, written, 10);
        await pair.Output.FlushAsync().AsTask().WaitAsync(Bound);
        Assert.Equal(-1, FirstMismatch(await pair.ReceiveExactlyAsync(10), written));
    }

    [EpollFact]
    public async Task CancelPendingFlush_FlushPending_CanceledThenNextFlushSendsTheRest()
    {
        await using var pair = await EpollPair.ConnectAsync(peerReceiveBuffer: SmallWindow);
        var (written, pending) = await FillUntilFlushPendsAsync(pair);

        await Task.Run(pair.Output.CancelPendingFlush);
        var canceled = await pending.WaitAsync(Bound);
        Assert.True(canceled.IsCanceled);
        Assert.False(canceled.IsCompleted);

        var receiving = pair.ReceiveExactlyAsync(checked((int)written));
        var flush = await pair.Output.FlushAsync().AsTask().WaitAsync(Bound);
        Assert.False(flush.IsCanceled);
        Assert.False(flush.IsCompleted);
        Assert.Equal(-1, FirstMismatch(await receiving));
    }

    [EpollFact]
    public async Task FlushAsync_TokenFiresWhilePending_ThrowsOperationCanceledAndNextFlushSendsTheRest()
    {
        // DuplexPipeStream passes SslStream's token here: a TLS handshake's timeout must end a flush the peer stalls.
        await using var pair = await EpollPair.ConnectAsync(peerReceiveBuffer: SmallWindow);
        using var cts = new CancellationTokenSource();
        var (written, pending) = await FillUntilFlushPendsAsync(pair, cts.Token);

        await Task.Run(cts.Cancel);

        var thrown = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pending.WaitAsync(Bound));
        Assert.Equal(cts.Token, thrown.CancellationToken);
        var receiving = pair.ReceiveExactlyAsync(checked((int)written));
        var flush = await pair.Output.FlushAsync().AsTask().WaitAsync(Bound);
        Assert.False(flush.IsCanceled);
        Assert.False(flush.IsCompleted);
        Assert.Equal(-1, FirstMismatch(await receiving));
    }

    [EpollFact]
    public async Task FlushAsync_TokenFiresAfterFlushCompleted_LaterFlushUnaffected()
    {
        await using var pair = await EpollPair.ConnectAsync(peerReceiveBuffer: SmallWindow);
        using var cts = new CancellationTokenSource();
        var (written, pending) = await FillUntilFlushPendsAsync(pair, cts.Token);
        var received = await pair.ReceiveExactlyAsync(checked((int)written));
        await pending.WaitAsync(Bound);
        cts.Cancel();

        WritePattern(pair.Output, written, 100);
        var flush = await pair.Output.FlushAsync().AsTask().WaitAsync(Bound);

        Assert.False(flush.IsCanceled || flush.IsCompleted);
        Assert.Equal(-1, FirstMismatch(received));
        Assert.Equal(-1, FirstMismatch(await pair.ReceiveExactlyAsync(100), written));
    }

    [EpollFact]
    public async Task Abort_FromAnotherThread_WakesPendingFlushAndRead()
    {
        await using var pair = await EpollPair.ConnectAsync(peerReceiveBuffer: SmallWindow);
        var (_, flush) = await FillUntilFlushPendsAsync(pair);
        var read = pair.Input.ReadAsync();
        Assert.False(read.IsCompleted);

        await Task.Run(pair.Connection.Abort);
        var flushed = await flush.WaitAsync(Bound);
        var readResult = await read.AsTask().WaitAsync(Bound);

        Assert.True(flushed.IsCompleted);
        Assert.True(readResult.IsCompleted);
        Assert.True(pair.Connection.IsAborted);
        pair.Input.AdvanceTo(readResult.Buffer.End);
        // Later operations report the end at once.
        pair.Output.Write("late"u8);
        var late = pair.Output.FlushAsync();
        Assert.True(late.IsCompleted);
        Assert.True((await late).IsCompleted);
        var lateRead = pair.Input.ReadAsync();
        Assert.True(lateRead.IsCompleted);
        Assert.True((await lateRead).IsCompleted);
    }

    [EpollFact]
    public async Task AbortSend_FlushPending_FlushCompletesAndInputStillReads()
    {
        await using var pair = await EpollPair.ConnectAsync(peerReceiveBuffer: SmallWindow);
        var (written, flush) = await FillUntilFlushPendsAsync(pair);

        await Task.Run(pair.Connection.AbortSend);
        var flushed = await flush.WaitAsync(Bound);
        Assert.True(flushed.IsCompleted);
        Assert.False(pair.Connection.IsAborted);

        // Nothing more is sent: a new flush reports the end, and the peer gets what the kernel had, then FIN.
        pair.Output.Write("never sent"u8);
        var next = pair.Output.FlushAsync();
        Assert.True(next.IsCompleted);
        Assert.True((await next).IsCompleted);
        var received = await pair.ReceiveToEndAsync();
        Assert.True(received.Length <= written, $"{received.Length} > {written}");
        Assert.Equal(-1, FirstMismatch(received));

        // The input side is untouched.
        await pair.SendAsync("still reading"u8.ToArray());
        Assert.Equal("still reading"u8.ToArray(), await pair.ReadExactlyAsync(13));
        pair.Peer.Shutdown(SocketShutdown.Send);
        Assert.Empty(await pair.ReadToEndAsync());
    }

    // ---- helpers ------------------------------------------------------------------------------------------------

    /// <summary>
    /// Writes and flushes pattern chunks while the peer reads nothing, until a flush stays pending (the kernel's
    /// buffers are full). Returns how much was written in all and the pending flush.
    /// </summary>
    internal static async Task<(long Written, Task<FlushResult> Pending)> FillUntilFlushPendsAsync(EpollPair pair, CancellationToken token = default)
    {
        const int Chunk = 256 * 1024;
        long written = 0;
        // The kernel holds at most a few MiB per side (tcp_wmem/tcp_rmem maxima); 1 GiB means it never filled.
        while (written < 1L << 30)
        {
            WritePattern(pair.Output, written, Chunk, piece: Chunk);
            written += Chunk;
            var flush = pair.Output.FlushAsync(token);
            if (!flush.IsCompleted)
            {
                return (written, flush.AsTask());
            }
            var result = await flush;
            Assert.False(result.IsCompleted || result.IsCanceled);
        }
        Assert.Fail("the flush never waited");
        return default;
    }
}
