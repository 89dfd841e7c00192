using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Threading.Tasks.Sources;
using static FastProxy.Transport.Epoll.LinuxInterop;

namespace FastProxy.Transport.Epoll;

/// <summary>
/// The input side of an <see cref="EpollConnection"/>, with <see cref="PipeReader"/>'s contract (consumed and examined
/// positions, cancellation, TryRead): a read receives straight into the connection's buffer from the socket, on the
/// caller's thread when the socket has data, else on the loop thread when the next input event comes.
/// </summary>
/// <remarks>
/// Backpressure is the kernel's: bytes are received only when the connection's code asks for more, so a slow
/// consumer leaves them in the socket and TCP's window closes, and no buffer grows without bound.
/// </remarks>
internal sealed unsafe partial class EpollPipeReader : PipeReader, IValueTaskSource<ReadResult>
{
    /// <summary>Below this much free space at the tail, a receive goes into a fresh block (as Pipe's minimum).</summary>
    private const int MinimumReceive = 2048;

    // Not readonly: a parked client connection gives its reader back (EpollConnection.TryPark) for another to reuse.
    private EpollConnection _connection;
    private int _fd;

    private ReadChain _chain;

    private bool _ended;
    private SocketError _error;
    private bool _completed;
    // Bytes the last receive brought: small messages are read with one recv, big ones with a scatter read (Receive).
    private int _lastReceived;
    // The input-event count at which the socket was last found drained is the connection's (ReadDrainedAt): it must
    // outlive a reader given back while the connection is parked.
    private EdgeWait<ReadResult> _wait;
    private int _cancelRequested;

    private EpollPipeReader(EpollConnection connection, int fd)
    {
        _connection = connection;
        _fd = fd;
    }

    /// <summary>A reader for <paramref name="connection"/>: one given back on this loop thread, else a new one.</summary>
    internal static EpollPipeReader Rent(EpollConnection connection, int fd)
    {
        if (LoopPool<EpollPipeReader>.TryRent(connection.Loop) is { } reader)
        {
            reader._connection = connection;
            reader._fd = fd;
            reader._cancelRequested = 0; // a stale cancel that reached it during the quarantine
            reader._lastReceived = 0;
            return reader;
        }
        return new EpollPipeReader(connection, fd);
    }

    /// <summary>Nothing buffered, nothing waiting, not ended: the connection can do without a reader for now.</summary>
    /// <summary>No operation waiting (the state a closed connection's reader is in).</summary>
    internal bool IsIdle => !_wait.IsParked && !_wait.HasRegistration;

    internal bool CanGiveBack => !_wait.IsParked && !_wait.HasRegistration && Unconsumed == 0 && !_ended && !_completed;

    /// <summary>Resets and keeps it for reuse (after <see cref="CanGiveBack"/>, on the connection's loop thread).</summary>
    internal void GiveBack()
    {
        ReleaseBlocks();
        _chain = default;
        _cancelRequested = 0;
        _error = default;
        _ended = false;
        _completed = false;
        LoopPool<EpollPipeReader>.Return(this);
    }

    /// <summary>FIN received, the connection failed or was aborted: no more input.</summary>
    public bool Ended => Volatile.Read(ref _ended);

    public SocketError Error => _error;

    /// <summary>Bytes buffered and not consumed, or an input event since the socket was last found drained.</summary>
    public bool HasPendingInput => Unconsumed > 0 || Volatile.Read(ref _connection.ReadEvents) != _connection.ReadDrainedAt;

    private long Unconsumed => _chain.Unconsumed;

    // ---- PipeReader -------------------------------------------------------------------------------------------

    public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        if (_completed)
        {
            throw new InvalidOperationException("Reading is not allowed after the reader was completed.");
        }
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<ReadResult>(cancellationToken); // as Pipe does
        }
        while (true)
        {
            if (TryComplete(out var result))
            {
                return new(result);
            }
            int seen = Volatile.Read(ref _connection.ReadEvents);
            if (seen != _connection.ReadDrainedAt && Receive(seen))
            {
                return new(Result(canceled: false));
            }
            cancellationToken.ThrowIfCancellationRequested();
            if (Unconsumed == 0)
            {
                ReleaseBlocks(); // an idle connection holds no buffer while it waits
            }
            _wait.Park();
            if (Volatile.Read(ref _connection.ReadEvents) == seen && Volatile.Read(ref _cancelRequested) == 0 && !_connection.IsAborted)
            {
                break;
            }
            if (!TakeWaiting())
            {
                break; // the loop thread took the read over and completes it
            }
        }
        if (cancellationToken.CanBeCanceled)
        {
            _wait.Register(cancellationToken, static state => ((EpollPipeReader)state!).OnTokenCancelled(), this);
        }
        return new(this, _wait.Version);
    }

    public override bool TryRead(out ReadResult result)
    {
        if (_completed)
        {
            throw new InvalidOperationException("Reading is not allowed after the reader was completed.");
        }
        if (Volatile.Read(ref _cancelRequested) != 0 && Interlocked.Exchange(ref _cancelRequested, 0) != 0)
        {
            result = Result(canceled: true);
            return true;
        }
        if (_connection.IsAborted && !_ended)
        {
            // Aborted: the input has ended whether or not the loop has counted the shutdown's event yet.
            _ended = true;
            _error = SocketError.OperationAborted;
        }
        if (Unconsumed > 0 || _ended)
        {
            result = Result(canceled: false);
            return true;
        }
        // Bytes may wait in the kernel (an input event came since the socket was last drained): take them.
        int seen = Volatile.Read(ref _connection.ReadEvents);
        if (seen != _connection.ReadDrainedAt && Receive(seen))
        {
            result = Result(canceled: false);
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
        if (TakeWaiting())
        {
            _connection.PostWork(EpollConnection.ReadWake);
        }
    }

    public override void Complete(Exception? exception = null) => _completed = true;

    // ---- The loop's side ----------------------------------------------------------------------------------------

    /// <summary>An input event: a waiting read is taken over and completed here, on the loop thread.</summary>
    internal void OnReadable()
    {
        if (_wait.IsParked && TakeWaiting())
        {
            ResumeWaiting();
        }
    }

    /// <summary>Takes a parked operation over; true for exactly one caller per wait.</summary>
    internal bool TakeWaiting() => _wait.Take();

    /// <summary>Completes the read taken over, or waits again when the event was spurious.</summary>
    internal void ResumeWaiting()
    {
        while (true)
        {
            if (_wait.TryCompleteCancelled())
            {
                return;
            }
            if (TryComplete(out var result))
            {
                _wait.Source.SetResult(result);
                return;
            }
            int seen = Volatile.Read(ref _connection.ReadEvents);
            if (Receive(seen))
            {
                _wait.Source.SetResult(Result(canceled: false));
                return;
            }
            _wait.Repark();
            if (Volatile.Read(ref _connection.ReadEvents) == seen && Volatile.Read(ref _cancelRequested) == 0
                && !_wait.TokenCancelled && !_connection.IsAborted)
            {
                return;
            }
            if (!TakeWaiting())
            {
                return;
            }
        }
    }

    private void OnTokenCancelled()
    {
        if (_wait.OnTokenCancelled())
        {
            _connection.PostWork(EpollConnection.ReadWake);
        }
    }

    ReadResult IValueTaskSource<ReadResult>.GetResult(short token) => _wait.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<ReadResult>.GetStatus(short token) => _wait.GetStatus(token);

    void IValueTaskSource<ReadResult>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _wait.OnCompleted(continuation, state, token, flags);

    // ---- Receiving ----------------------------------------------------------------------------------------------

    /// <summary>A result available without receiving: a cancellation, the end of input, or bytes not yet examined.</summary>
    private bool TryComplete(out ReadResult result)
    {
        if (Volatile.Read(ref _cancelRequested) != 0 && Interlocked.Exchange(ref _cancelRequested, 0) != 0)
        {
            result = Result(canceled: true);
            return true;
        }
        if (_connection.IsAborted && !_ended)
        {
            _ended = true;
            _error = SocketError.OperationAborted;
        }
        if (_ended || (!_chain.ExaminedAll && Unconsumed > 0))
        {
            result = Result(canceled: false);
            return true;
        }
        result = default;
        return false;
    }

    /// <summary>
    /// One recv into the tail block. True when bytes came or input ended; false when the socket had nothing (EAGAIN).
    /// A short read marks the socket drained at <paramref name="seen"/> (nginx with EPOLLRDHUP does the same): any
    /// byte that arrives later raises a new edge, so no event is lost and no EAGAIN round trip is spent.
    /// </summary>
    private bool Receive(int seen)
    {
        if (_connection.IsAborted)
        {
            _ended = true;
            _error = SocketError.OperationAborted;
            return true;
        }
        var tail = _chain.Tail;
        if (tail is null || tail.Free < MinimumReceive)
        {
            if (tail is not null && Unconsumed == 0)
            {
                _chain.Release();
            }
            tail = BufferSegment.Rent();
            _chain.Append(tail);
        }
        // Small messages (the last receive used at most half of what the tail has free) take one recv into the tail;
        // bigger ones two vectors, as nginx's readv into its buffer chain: the rest of the tail block and a spare one,
        // so a response bigger than what is left (a 16 KiB body behind its head) comes in one syscall and can go out
        // in one send, one packet, instead of being cut at the block's edge. recvmsg, not readv: the same scatter read
        // without the file layer's per-call checks; recv for one buffer, as nginx's ngx_unix_recv (recvmsg copies
        // and checks a message header besides: ~0.1 µs a call).
        int inTail = tail.Free;
        bool single = _lastReceived <= inTail / 2;
        BufferSegment? spare = null;
        var vectors = stackalloc IoVec[2];
        int want;
        nint received;
        while (true)
        {
            if (single)
            {
                want = inTail;
                received = recv(_fd, tail.Pointer + tail.End, inTail, 0);
            }
            else
            {
                spare ??= BufferSegment.Rent();
                vectors[0].Base = tail.Pointer + tail.End;
                vectors[0].Length = (nuint)inTail;
                vectors[1].Base = spare.Pointer;
                vectors[1].Length = (nuint)spare.Capacity;
                want = inTail + spare.Capacity;
                var message = new MsgHdr { Iov = vectors, IovLength = 2 };
                received = recvmsg(_fd, &message, 0);
            }
            if (received >= 0 || Errno != EINTR)
            {
                break;
            }
        }
        if (received > 0)
        {
            _lastReceived = (int)received;
            if (received <= inTail)
            {
                tail.Grow((int)received);
                if (spare is not null)
                {
                    BufferSegment.Return(spare);
                }
            }
            else
            {
                tail.Grow(inTail);
                spare!.Grow((int)received - inTail);
                _chain.Append(spare);
            }
            _chain.ExaminedAll = false;
            if (received < want && !_connection.PeerClosed)
            {
                // Unless the peer's FIN (or an error) was already announced: that edge has come and gone, and only
                // another recv tells it (nginx's pending_eof).
                _connection.ReadDrainedAt = seen;
            }
            return true;
        }
        if (spare is not null)
        {
            BufferSegment.Return(spare);
        }
        if (received == 0)
        {
            Volatile.Write(ref _ended, true);
            return true;
        }
        int errno = Errno;
        if (errno == EAGAIN)
        {
            _connection.ReadDrainedAt = seen;
            return false;
        }
        _error = ToSocketError(errno);
        Volatile.Write(ref _ended, true);
        return true;
    }

    private ReadResult Result(bool canceled) => _chain.Result(canceled, _ended);

    private void ReleaseBlocks() => _chain.Release();

    /// <summary>At close: every block back to the pool.</summary>
    internal void Release()
    {
        _completed = true;
        ReleaseBlocks();
    }
}

/// <summary>The async part, outside the unsafe context (C# does not allow await there).</summary>
internal sealed partial class EpollPipeReader
{
    /// <summary>Lingering close: reads and drops input until the peer's FIN, an error, or <paramref name="linger"/>.</summary>
    internal async ValueTask DrainAsync(TimeSpan linger)
    {
        _completed = false;
        using var timer = new Timer(static state => ((EpollPipeReader)state!).CancelPendingRead(), this, linger, Timeout.InfiniteTimeSpan);
        while (true)
        {
            var result = await ReadAsync();
            AdvanceTo(result.Buffer.End);
            if (result.IsCompleted || result.IsCanceled)
            {
                return;
            }
        }
    }
}
