using System.Buffers;
using System.Net.Sockets;
using static FastProxy.Transport.Tests.EpollTestData;

namespace FastProxy.Transport.Tests;

/// <summary>The input side of <see cref="Epoll.EpollConnection"/> against <see cref="System.IO.Pipelines.PipeReader"/>'s contract, over real sockets.</summary>
public class EpollPipeReaderTests
{
    private static readonly TimeSpan Bound = EpollPair.Bound;

    [EpollTheory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ReadAsync_DataSplitAcrossSends_ArrivesComplete(bool inbound)
    {
        await using var pair = await EpollPair.CreateAsync(inbound);
        int[] pieces = [1, 2, 7, 100, 2047, 2048, 2049, 16383, 16384, 16385, 3, 40000];
        var expected = Pattern(pieces.Sum());

        int offset = 0;
        var received = new List<byte>();
        foreach (int piece in pieces)
        {
            await pair.SendAsync(expected.AsMemory(offset, piece));
            offset += piece;
            // Read about half of what is there so far, leaving the rest for the next round.
            received.AddRange(await pair.ReadExactlyAsync((offset - received.Count + 1) / 2));
        }
        received.AddRange(await pair.ReadExactlyAsync(expected.Length - received.Count));

        Assert.Equal(expected, received.ToArray());
    }

    [EpollFact]
    public async Task AdvanceTo_ExaminedBeforeEnd_NextReadReturnsAtOnce()
    {
        await using var pair = await EpollPair.ConnectAsync();
        await pair.SendAsync("0123456789"u8.ToArray());
        var result = await ReadAtLeastAsync(pair, 10);

        pair.Input.AdvanceTo(result.Buffer.Start, result.Buffer.GetPosition(5));
        var again = pair.Input.ReadAsync();

        Assert.True(again.IsCompleted);
        var same = await again;
        Assert.Equal("0123456789"u8.ToArray(), same.Buffer.ToArray());
        pair.Input.AdvanceTo(same.Buffer.End);
    }

    [EpollFact]
    public async Task AdvanceTo_ExaminedToEnd_NextReadWaitsForNewBytes()
    {
        await using var pair = await EpollPair.ConnectAsync();
        await pair.SendAsync("0123456789"u8.ToArray());
        var result = await ReadAtLeastAsync(pair, 10);

        // Three bytes consumed, all ten examined: the seven left are not a result until more come.
        pair.Input.AdvanceTo(result.Buffer.GetPosition(3), result.Buffer.End);
        var waiting = pair.Input.ReadAsync();
        Assert.False(waiting.IsCompleted);
        await pair.SendAsync("abc"u8.ToArray());
        var next = await waiting.AsTask().WaitAsync(Bound);

        Assert.False(next.IsCanceled);
        Assert.Equal("3456789abc"u8.ToArray(), (await ReadAtLeastAsync(pair, 10, next)).Buffer.ToArray());
    }

    [EpollFact]
    public async Task ReadAsync_MoreThanOneBlock_SpansSegmentsByteExact()
    {
        await using var pair = await EpollPair.ConnectAsync();
        const int Size = 1024 * 1024;
        var sending = pair.SendAsync(Pattern(Size));

        // Nothing consumed: the whole MiB accumulates in one multi-segment buffer.
        var result = await ReadAtLeastAsync(pair, Size);
        await sending;

        var buffer = result.Buffer;
        Assert.Equal(Size, buffer.Length);
        Assert.False(buffer.IsSingleSegment);
        int segments = 0;
        long offset = 0;
        foreach (var segment in buffer)
        {
            Assert.Equal(-1, FirstMismatch(segment.Span, offset));
            offset += segment.Length;
            segments++;
        }
        Assert.True(segments >= Size / Epoll.BufferSegment.BlockSize, $"{segments} segments");
        Assert.Equal(-1, FirstMismatch(buffer.ToArray()));
        pair.Input.AdvanceTo(buffer.End);
    }

    [EpollFact]
    public async Task ReadAsync_SmallMessagesThenABigOne_OneBufferThenScatterReads()
    {
        await using var pair = await EpollPair.ConnectAsync();
        const int Block = Epoll.BufferSegment.BlockSize;
        await pair.SendAsync(Pattern(100));
        Assert.Equal(100, (await pair.ReadExactlyAsync(100)).Length);

        // After small messages one recv into the block: a read brings at most what the block holds.
        // Two blocks and a bit: well inside the initial receive window, so all of it is in the socket after the send.
        const int Total = 2 * Block + 1000;
        await pair.SendAsync(Pattern(Total));
        var first = await pair.ReadAsync();
        Assert.True(first.Buffer.Length <= Block, $"{first.Buffer.Length} bytes in the first read");
        long firstLength = first.Buffer.Length;
        pair.Input.AdvanceTo(first.Buffer.End);

        // After a big one, scatter reads (the rest of the block and a spare one): one read brings more than a block.
        var second = await pair.ReadAsync();
        Assert.True(second.Buffer.Length > Block, $"{second.Buffer.Length} bytes in the second read");
        Assert.Equal(-1, FirstMismatch(second.Buffer.ToArray(), firstLength));
        long secondLength = second.Buffer.Length;
        pair.Input.AdvanceTo(second.Buffer.End);
        int rest = (int)(Total - firstLength - secondLength);
        Assert.Equal(-1, FirstMismatch(await pair.ReadExactlyAsync(rest), firstLength + secondLength));
    }

    [EpollFact]
    public async Task AdvanceTo_OddSlicesAcrossSegments_EveryByteOnce()
    {
        await using var pair = await EpollPair.ConnectAsync();
        const int Size = 1024 * 1024;
        var sending = pair.SendAsync(Pattern(Size));

        // Consume 1000 bytes at a time (never aligned with a 16 KiB block), examining everything received.
        long consumed = 0;
        while (consumed < Size)
        {
            var result = await pair.ReadAsync();
            var buffer = result.Buffer;
            long take = Math.Min(1000, buffer.Length);
            Assert.Equal(-1, FirstMismatch(buffer.Slice(0, take).ToArray(), consumed));
            consumed += take;
            pair.Input.AdvanceTo(buffer.GetPosition(take), take == buffer.Length ? buffer.End : buffer.Start);
            Assert.False(result.IsCompleted);
        }
        await sending;

        Assert.Equal(Size, consumed);
    }

    [EpollFact]
    public async Task TryRead_BytesInKernel_ReturnsThemWithoutReadAsync()
    {
        await using var pair = await EpollPair.ConnectAsync();

        // A fresh connection starts drained: TryRead asks the kernel once the loop counted an input event.
        await pair.SendAsync("first"u8.ToArray());
        await WaitUntilAsync(() => Volatile.Read(ref pair.Connection.ReadEvents) != 0 && pair.Connection.HasKernelInput());
        Assert.True(pair.Input.TryRead(out var first));
        Assert.Equal("first"u8.ToArray(), first.Buffer.ToArray());
        pair.Input.AdvanceTo(first.Buffer.End);

        // After a drain, the loop's next input event says bytes wait in the kernel.
        Assert.False(pair.Input.TryRead(out _));
        int events = Volatile.Read(ref pair.Connection.ReadEvents);
        await pair.SendAsync("second"u8.ToArray());
        // (An event counted late for "first" may move the counter too; with the bytes in the kernel, either will do.)
        await WaitUntilAsync(() => Volatile.Read(ref pair.Connection.ReadEvents) != events && pair.Connection.HasKernelInput());
        Assert.True(pair.Input.TryRead(out var second));
        Assert.Equal("second"u8.ToArray(), second.Buffer.ToArray());
        pair.Input.AdvanceTo(second.Buffer.End);
    }

    [EpollTheory]
    [InlineData(1, false)]
    [InlineData(1000, false)]
    [InlineData(16384, false)]
    [InlineData(16385, false)]
    [InlineData(70000, false)]
    [InlineData(1, true)]
    [InlineData(1000, true)]
    [InlineData(16384, true)]
    [InlineData(16385, true)]
    [InlineData(70000, true)]
    public async Task ReadAsync_FinWithLastData_ReportsCompletedWithAllBytes(int size, bool readWaiting)
    {
        await using var pair = await EpollPair.ConnectAsync();
        var expected = Pattern(size);
        var waiting = readWaiting ? pair.Input.ReadAsync() : default;
        Assert.False(readWaiting && waiting.IsCompleted);

        await pair.SendAsync(expected);
        pair.Peer.Shutdown(SocketShutdown.Send);
        if (!readWaiting)
        {
            // The data and the FIN are in the kernel and the loop has seen the event announcing both (one edge): a
            // short read then must not be taken for "drained", or the FIN is never read.
            await WaitUntilAsync(() => pair.Connection.PeerClosed);
        }
        else
        {
            var first = await waiting.AsTask().WaitAsync(Bound);
            pair.Input.AdvanceTo(first.Buffer.Start); // nothing consumed or examined: the next read returns it again
        }

        Assert.Equal(expected, await pair.ReadToEndAsync());
        Assert.True(pair.Connection.ReceivedFin);
    }

    [EpollFact]
    public async Task ReadAsync_PeerResets_InputCompletes()
    {
        await using var pair = await EpollPair.ConnectAsync();
        await pair.SendAsync("before the reset"u8.ToArray());
        var first = await pair.ReadAsync();
        pair.Input.AdvanceTo(first.Buffer.End);
        var waiting = pair.Input.ReadAsync();

        pair.Peer.LingerState = new LingerOption(true, 0);
        pair.Peer.Close(); // RST

        var result = await waiting.AsTask().WaitAsync(Bound);
        pair.Input.AdvanceTo(result.Buffer.End);
        Assert.True(result.IsCompleted);
        Assert.True(pair.Connection.ReceivedFin);
    }

    [EpollFact]
    public async Task ReadAsync_PeerResetsWithUnreadData_InputCompletes()
    {
        await using var pair = await EpollPair.ConnectAsync();
        await pair.SendAsync(Pattern(5000));
        pair.Peer.LingerState = new LingerOption(true, 0);
        pair.Peer.Close();

        var bytes = await pair.ReadToEndAsync();

        Assert.Equal(-1, FirstMismatch(bytes));
    }

    [EpollFact]
    public async Task CancelPendingRead_FromAnotherThread_WakesReadWithIsCanceled()
    {
        await using var pair = await EpollPair.ConnectAsync();
        var waiting = pair.Input.ReadAsync();
        Assert.False(waiting.IsCompleted);

        await Task.Run(pair.Input.CancelPendingRead);
        var result = await waiting.AsTask().WaitAsync(Bound);

        Assert.True(result.IsCanceled);
        Assert.False(result.IsCompleted);
        pair.Input.AdvanceTo(result.Buffer.End);
        // The reader goes on as before.
        await pair.SendAsync("after"u8.ToArray());
        Assert.Equal("after"u8.ToArray(), await pair.ReadExactlyAsync(5));
    }

    [EpollFact]
    public async Task TryRead_RightAfterAbort_ReportsTheEnd()
    {
        await using var pair = await EpollPair.ConnectAsync();

        pair.Connection.Abort();

        Assert.True(pair.Input.TryRead(out var result));
        Assert.True(result.IsCompleted);
        pair.Input.AdvanceTo(result.Buffer.End);
    }

    [EpollFact]
    public async Task ReadAsync_TokenAlreadyCancelled_CanceledWithoutReading()
    {
        await using var pair = await EpollPair.ConnectAsync();
        await pair.SendAsync("kept"u8.ToArray());
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pair.Input.ReadAsync(cancelled.Token).AsTask());

        var result = await pair.ReadAsync();
        Assert.Equal("kept"u8.ToArray(), result.Buffer.ToArray());
        pair.Input.AdvanceTo(result.Buffer.End);
    }

    [EpollFact]
    public async Task CancelPendingRead_NoReadPending_NextReadCanceledOnce()
    {
        await using var pair = await EpollPair.ConnectAsync();

        pair.Input.CancelPendingRead();
        var canceled = pair.Input.ReadAsync();
        Assert.True(canceled.IsCompleted);
        var first = await canceled;
        Assert.True(first.IsCanceled);
        pair.Input.AdvanceTo(first.Buffer.End);

        var next = pair.Input.ReadAsync();
        Assert.False(next.IsCompleted);
        await pair.SendAsync("x"u8.ToArray());
        var result = await next.AsTask().WaitAsync(Bound);
        Assert.False(result.IsCanceled);
        Assert.Equal("x"u8.ToArray(), result.Buffer.ToArray());
        pair.Input.AdvanceTo(result.Buffer.End);
    }

    [EpollFact]
    public async Task CancelPendingRead_BeforeTryRead_TryReadReportsCanceledOnce()
    {
        await using var pair = await EpollPair.ConnectAsync();

        pair.Input.CancelPendingRead();

        Assert.True(pair.Input.TryRead(out var result));
        Assert.True(result.IsCanceled);
        pair.Input.AdvanceTo(result.Buffer.End);
        Assert.False(pair.Input.TryRead(out _));
    }

    [EpollFact]
    public async Task ReadAsync_TokenFires_ThrowsOperationCanceledAndReaderGoesOn()
    {
        await using var pair = await EpollPair.ConnectAsync();
        using var cts = new CancellationTokenSource();
        var waiting = pair.Input.ReadAsync(cts.Token);
        Assert.False(waiting.IsCompleted);

        await Task.Run(cts.Cancel);

        var thrown = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting.AsTask().WaitAsync(Bound));
        Assert.Equal(cts.Token, thrown.CancellationToken);
        await pair.SendAsync("after"u8.ToArray());
        Assert.Equal("after"u8.ToArray(), await pair.ReadExactlyAsync(5));
    }

    [EpollFact]
    public async Task ReadAsync_TokenFiresAfterReadCompleted_LaterReadUnaffected()
    {
        await using var pair = await EpollPair.ConnectAsync();
        using var cts = new CancellationTokenSource();
        var waiting = pair.Input.ReadAsync(cts.Token);
        Assert.False(waiting.IsCompleted);
        await pair.SendAsync("data"u8.ToArray());
        // The loop completed the read; its token fires before the reader took the result.
        await WaitUntilAsync(() => waiting.IsCompleted);
        cts.Cancel();
        var result = await waiting;
        Assert.Equal("data"u8.ToArray(), result.Buffer.ToArray());
        pair.Input.AdvanceTo(result.Buffer.End);

        // A later read without a token must not inherit that cancellation.
        var next = pair.Input.ReadAsync();
        Assert.False(next.IsCompleted);
        await pair.SendAsync("more"u8.ToArray());
        var more = await next.AsTask().WaitAsync(Bound);

        Assert.Equal("more"u8.ToArray(), more.Buffer.ToArray());
        pair.Input.AdvanceTo(more.Buffer.End);
    }

    // ---- helpers ------------------------------------------------------------------------------------------------

    /// <summary>Reads (consuming nothing, examining everything) until the buffer holds at least <paramref name="count"/> bytes.</summary>
    private static async Task<System.IO.Pipelines.ReadResult> ReadAtLeastAsync(EpollPair pair, int count, System.IO.Pipelines.ReadResult? first = null)
    {
        var result = first ?? await pair.ReadAsync();
        while (result.Buffer.Length < count)
        {
            Assert.False(result.IsCompleted, "input ended early");
            pair.Input.AdvanceTo(result.Buffer.Start, result.Buffer.End);
            result = await pair.ReadAsync();
        }
        return result;
    }

    /// <summary>Waits for a condition another thread makes true (an event the loop handles), bounded.</summary>
    internal static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + Bound;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not met in time");
            await Task.Yield();
        }
    }
}
