using System.Buffers;
using System.IO.Pipelines;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Threading.Tasks.Sources;
using FastProxy.Transport.Epoll;
using FastProxy.Transport;

namespace FastProxy.Tls;

/// <summary>
/// The plaintext input of a <see cref="TlsConnection"/>: a <see cref="PipeReader"/> that decrypts when the HTTP code
/// asks for more, with no pipe, lock or read-ahead between SslStream and the reader. A read that needs bytes asks the
/// connection's fill loop for one record: the loop waits for it with a zero-byte read (an idle connection holds no
/// buffer, and SslStream frees its own), decrypts it into a pooled block and hands the block over; the block joins
/// the chain the HTTP code reads, exactly as a socket's bytes do on the event loops.
/// </summary>
/// <remarks>
/// <para>
/// Why not SslStream under a StreamPipeReader: CancelPendingRead (the heartbeat's timeouts, a graceful stop, parking)
/// must end a waiting read at once, and cancelling a read inside SslStream may leave it unusable. Here a cancelled
/// read completes on its own while the fill goes on; what it decrypts is there for the next read.
/// </para>
/// <para>
/// Ownership: the chain (<c>_head</c> … <c>_tail</c>) belongs to the reading code, except while a read waits; then
/// whoever takes the waiting read over (the fill loop with a record, or a canceller) owns it until it completes the
/// read. One fill at a time: <c>_fill</c> goes Idle → Wanted (the reader asks) → Ready (a record or the end is handed
/// over) → Idle (merged into the chain), so a fill never overwrites one not yet merged.
/// </para>
/// </remarks>
internal sealed class TlsPipeReader : PipeReader, IValueTaskSource<ReadResult>, IValueTaskSource
{
    private const int FillIdle = 0;
    private const int FillWanted = 1;
    private const int FillReady = 2;

    private readonly SslStream _stream;
    private readonly bool _readAhead;
    // The transport under the stream when it hands SslStream one record per read (client connections).
    private readonly DuplexPipeStream? _framedTransport;

    // The reading side's buffer and state.
    private ReadChain _chain;
    private bool _ended;
    private bool _completed;

    // The hand-over from the fill loop.
    private int _fill;
    private BufferSegment? _filledBlock;
    private bool _filledEnd;
    private volatile bool _inputEnded;

    // The reader's wait.
    private ManualResetValueTaskSourceCore<ReadResult> _read;
    private int _waiting;
    private int _cancelRequested;

    // The fill loop's wait for the next request of a fill.
    private ManualResetValueTaskSourceCore<bool> _demand;
    private int _loopIdle;
    private volatile bool _stopping;
    private Task? _loop;

    /// <param name="stream">The authenticated stream.</param>
    /// <param name="readAhead">
    /// Keep one record's read in flight even when nobody asks: for an upstream connection, so that what a backend
    /// sends while its connection idles in the pool (close_notify, stray bytes) is seen before the connection is
    /// reused, as a socket's FIN is. A client connection reads on demand: nothing is decrypted ahead of the request
    /// loop, which keeps backpressure exact.
    /// </param>
    /// <param name="transport">The stream under <paramref name="stream"/> when it hands over one record per read
    /// (<see cref="DuplexPipeStream.RecordFramed"/>): the reader then waits for records on it.</param>
    public TlsPipeReader(SslStream stream, bool readAhead = false, DuplexPipeStream? transport = null)
    {
        _stream = stream;
        _readAhead = readAhead;
        _framedTransport = transport is { RecordFramed: true } && !readAhead ? transport : null;
        _read.RunContinuationsAsynchronously = false;
        _demand.RunContinuationsAsynchronously = false;
    }

    /// <summary>The peer closed (close_notify or FIN) or the connection failed: no more plaintext will come.</summary>
    public bool InputEnded => _inputEnded;

    public void Start()
    {
        _loop = FillLoopAsync();
        if (_readAhead)
        {
            AskForFill();
        }
    }

    private long Unconsumed => _chain.Unconsumed;

    // ---- PipeReader ---------------------------------------------------------------------------------------------

    public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        if (_completed)
        {
            throw new InvalidOperationException("Reading is not allowed after the reader was completed.");
        }
        if (cancellationToken.CanBeCanceled)
        {
            // The HTTP code never passes a token (it cancels with CancelPendingRead); the loop-less design has no
            // way to give one back to a fill in flight.
            throw new NotSupportedException("TlsPipeReader.ReadAsync takes no cancellation token.");
        }
        while (true)
        {
            if (TryComplete(out var result))
            {
                return new(result);
            }
            if (Unconsumed == 0)
            {
                ReleaseBlocks(); // an idle connection holds no buffer while it waits
            }
            _read.Reset();
            Interlocked.Exchange(ref _waiting, 1);
            // What may have come between the check and the publication of the wait: take the read back if so.
            if (Volatile.Read(ref _fill) == FillReady || Volatile.Read(ref _cancelRequested) != 0)
            {
                if (Interlocked.Exchange(ref _waiting, 0) == 1)
                {
                    continue;
                }
                return new(this, _read.Version); // taken over: the fill or the canceller completes it
            }
            AskForFill();
            return new(this, _read.Version);
        }
    }

    public override bool TryRead(out ReadResult result)
    {
        if (_completed)
        {
            throw new InvalidOperationException("Reading is not allowed after the reader was completed.");
        }
        if (TryComplete(out result))
        {
            return true;
        }
        if (Unconsumed > 0)
        {
            result = Result(canceled: false); // bytes already examined: there, but not news (as Pipe's TryRead)
            return true;
        }
        result = default;
        return false;
    }

    public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined) => _chain.AdvanceTo(consumed, examined);

    public override void CancelPendingRead()
    {
        Volatile.Write(ref _cancelRequested, 1);
        if (Interlocked.Exchange(ref _waiting, 0) == 1)
        {
            // Not on the canceller's thread (the heartbeat's, or a stop's): the read's code runs on a pool thread.
            ThreadPool.UnsafeQueueUserWorkItem(static reader => reader.CompleteTakenRead(), this, preferLocal: false);
        }
    }

    public override void Complete(Exception? exception = null) => _completed = true;

    // ---- The reading side ---------------------------------------------------------------------------------------

    /// <summary>A result available without waiting: a cancellation, the end of input, or bytes not yet examined.</summary>
    private bool TryComplete(out ReadResult result)
    {
        TakeFill();
        if (Volatile.Read(ref _cancelRequested) != 0 && Interlocked.Exchange(ref _cancelRequested, 0) != 0)
        {
            result = Result(canceled: true);
            return true;
        }
        if (_ended || (!_chain.ExaminedAll && Unconsumed > 0))
        {
            result = Result(canceled: false);
            return true;
        }
        result = default;
        return false;
    }

    /// <summary>Merges a record the fill loop handed over into the chain (by the chain's owner).</summary>
    private void TakeFill()
    {
        if (Volatile.Read(ref _fill) != FillReady)
        {
            return;
        }
        var block = _filledBlock;
        bool end = _filledEnd;
        _filledBlock = null;
        Volatile.Write(ref _fill, FillIdle);
        if (_readAhead && !end)
        {
            AskForFill();
        }
        if (block is not null)
        {
            _chain.Append(block);
        }
        if (end)
        {
            _ended = true;
        }
    }

    /// <summary>Completes the read this party took over (the fill with a record, or a canceller).</summary>
    private void CompleteTakenRead()
    {
        TakeFill();
        bool canceled = Volatile.Read(ref _cancelRequested) != 0 && Interlocked.Exchange(ref _cancelRequested, 0) != 0;
        _read.SetResult(Result(canceled));
    }

    private ReadResult Result(bool canceled) => _chain.Result(canceled, _ended);

    private void ReleaseBlocks() => _chain.Release();

    ReadResult IValueTaskSource<ReadResult>.GetResult(short token) => _read.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<ReadResult>.GetStatus(short token) => _read.GetStatus(token);

    void IValueTaskSource<ReadResult>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _read.OnCompleted(continuation, state, token, flags);

    // ---- The fill loop --------------------------------------------------------------------------------------------

    /// <summary>Asks for one record; the loop starts on this thread when it was waiting (and may finish here too).</summary>
    private void AskForFill()
    {
        if (Interlocked.CompareExchange(ref _fill, FillWanted, FillIdle) == FillIdle
            && Interlocked.Exchange(ref _loopIdle, 0) == 1)
        {
            _demand.SetResult(true);
        }
    }

    private async Task FillLoopAsync()
    {
        while (true)
        {
            // Wait until a read wants a record (or the connection closes). Publishing the idle state and then looking
            // at the request pairs with AskForFill's compare-and-swap then exchange: one of the two sees the other.
            _demand.Reset();
            Interlocked.Exchange(ref _loopIdle, 1);
            if ((Volatile.Read(ref _fill) == FillWanted || _stopping) && Interlocked.Exchange(ref _loopIdle, 0) == 1)
            {
                // Taken back: no one will complete the wait, go on without it.
            }
            else
            {
                await new ValueTask(this, _demand.Version);
            }
            if (_stopping)
            {
                return;
            }
            BufferSegment? block = null;
            bool end = false;
            try
            {
                // Wait for a record before taking a block. On a client connection whose transport hands SslStream one
                // record at a time, nothing is left inside SslStream after a record: wait on the transport itself,
                // which allocates nothing (DuplexPipeStream.RecordFramed). Else a zero-byte read, inside SslStream
                // (which releases its own buffer on it).
                if (_framedTransport is { AtRecordBoundary: true } framed)
                {
                    end = !await framed.WaitForInputAsync();
                }
                else
                {
#pragma warning disable CA2022 // a zero-byte read only waits for data; its count means nothing
                    await _stream.ReadAsync(Memory<byte>.Empty);
#pragma warning restore CA2022
                }
                if (end)
                {
                    HandOver(null, end: true);
                    return;
                }
                // Blocks are 16 KiB, the largest plaintext a record may carry (RFC 8446 §5.1): a read takes a whole
                // record's plaintext, so SslStream keeps none of it back.
                block = BufferSegment.Rent();
                int read = await _stream.ReadAsync(block.FreeMemory);
                if (read == 0)
                {
                    end = true; // close_notify or the transport's end
                }
                else
                {
                    block.Grow(read);
                }
            }
            catch (Exception e) when (e is IOException or AuthenticationException or SocketException or ObjectDisposedException
                                          or InvalidOperationException or OperationCanceledException)
            {
                // A reset, a truncated record, a bad MAC: the input simply ends, as a socket's does.
                end = true;
            }
            if (end && block is not null)
            {
                BufferSegment.Return(block);
                block = null;
            }
            HandOver(block, end);
            if (end)
            {
                return;
            }
        }
    }

    private void HandOver(BufferSegment? block, bool end)
    {
        _filledBlock = block;
        _filledEnd = end;
        if (end)
        {
            _inputEnded = true;
        }
        Volatile.Write(ref _fill, FillReady);
        if (Interlocked.Exchange(ref _waiting, 0) == 1)
        {
            CompleteTakenRead();
        }
    }

    void IValueTaskSource.GetResult(short token) => _demand.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _demand.GetStatus(token);

    void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _demand.OnCompleted(continuation, state, token, flags);

    // ---- Closing --------------------------------------------------------------------------------------------------

    /// <summary>
    /// Stops the fill loop (after the reading side completed): a loop waiting for a request ends at once; one inside
    /// SslStream ends when <paramref name="endTransportRead"/> ends the transport's read under it. Every block goes
    /// back to the pool.
    /// </summary>
    public async ValueTask StopAsync(Action endTransportRead)
    {
        _completed = true;
        _stopping = true;
        Interlocked.MemoryBarrier();
        if (Interlocked.Exchange(ref _loopIdle, 0) == 1)
        {
            _demand.SetResult(true);
        }
        else if (_loop is { IsCompleted: false })
        {
            // Busy: inside SslStream, waiting for the transport (or about to see the stop and end by itself).
            endTransportRead();
        }
        if (_loop is { } loop)
        {
            await loop;
        }
        if (Volatile.Read(ref _fill) == FillReady && _filledBlock is { } block)
        {
            BufferSegment.Return(block);
            _filledBlock = null;
        }
        ReleaseBlocks();
    }
}
