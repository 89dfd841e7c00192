using System.IO.Pipelines;
using System.Threading.Tasks.Sources;
using static FastProxy.Transport.Epoll.LinuxInterop;

namespace FastProxy.Transport.Epoll;

/// <summary>
/// The output side of an <see cref="EpollConnection"/>, with <see cref="PipeWriter"/>'s contract: bytes are buffered in
/// pooled blocks and a flush sends them straight to the socket (one send, or one sendmsg for several blocks). The
/// flush completes when the kernel took everything; when its buffer is full, the flush waits for the next output
/// event and the loop thread sends the rest. That wait is the proxy's backpressure towards a slow peer.
/// </summary>
internal sealed unsafe class EpollPipeWriter : BlockPipeWriter, IValueTaskSource<FlushResult>
{
    private const int MaxIoVectors = 16;

    // Not readonly: a parked client connection gives its writer back (EpollConnection.TryPark) for another to reuse.
    private EpollConnection _connection;
    private int _fd;

    private bool _failed;
    // Nagle's algorithm is turned off (TCP_NODELAY, nginx's tcp_nodelay) before the connection's second send: the
    // first send has nothing unacknowledged ahead of it, so it never waits, and a connection that sends once and
    // closes (a new connection per request) saves the setsockopt, as nginx sets it only for keep-alive connections.
    // That state and the output-event count at which the socket was last found full are the connection's (SentOnce,
    // NoDelay, WriteDrainedAt): they must outlive a writer given back while the connection is parked.
    private volatile bool _sendStopped;

    private EdgeWait<FlushResult> _wait;
    private int _cancelRequested;

    private EpollPipeWriter(EpollConnection connection, int fd)
    {
        _connection = connection;
        _fd = fd;
    }

    /// <summary>A writer for <paramref name="connection"/>: one given back on this loop thread, else a new one.</summary>
    internal static EpollPipeWriter Rent(EpollConnection connection, int fd)
    {
        if (LoopPool<EpollPipeWriter>.TryRent(connection.Loop) is { } writer)
        {
            writer._connection = connection;
            writer._fd = fd;
            writer._cancelRequested = 0; // a stale cancel that reached it during the quarantine
            return writer;
        }
        return new EpollPipeWriter(connection, fd);
    }

    /// <summary>Nothing buffered, no flush waiting, not failed or stopped: the connection can do without a writer now.</summary>
    /// <summary>No flush waiting (the state a closed connection's writer is in).</summary>
    internal bool IsIdle => !_wait.IsParked && !_wait.HasRegistration;

    internal bool CanGiveBack => !_wait.IsParked && !_wait.HasRegistration && !_buffer.HasData && !_failed && !_sendStopped;

    /// <summary>Resets and keeps it for reuse (after <see cref="CanGiveBack"/>, on the connection's loop thread).</summary>
    internal void GiveBack()
    {
        ReleaseBlocks();
        _buffer = default;
        _unflushed = 0;
        _cancelRequested = 0;
        _failed = false;
        _sendStopped = false;
        LoopPool<EpollPipeWriter>.Return(this);
    }

    // ---- PipeWriter -------------------------------------------------------------------------------------------

    public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
    {
        _unflushed = 0;
        var flush = FlushBufferedAsync();
        if (!flush.IsCompleted && cancellationToken.CanBeCanceled)
        {
            // A flush waiting for the kernel ends when its token fires (DuplexPipeStream passes SslStream's: a TLS
            // handshake's timeout must not wait on a peer that stopped reading); what is buffered stays.
            _wait.Register(cancellationToken, static state => ((EpollPipeWriter)state!).OnTokenCancelled(), this);
        }
        return flush;
    }

    public override void CancelPendingFlush()
    {
        Volatile.Write(ref _cancelRequested, 1);
        if (TakeWaiting())
        {
            _connection.PostWork(EpollConnection.WriteWake);
        }
    }

    public override void Complete(Exception? exception = null)
    {
        // The connection's close sends what is still buffered and then FIN.
    }

    // ---- Sending ------------------------------------------------------------------------------------------------

    internal ValueTask<FlushResult> FlushBufferedAsync()
    {
        while (true)
        {
            if (TryComplete(out var result))
            {
                return new(result);
            }
            int seen = Volatile.Read(ref _connection.WriteEvents);
            if (seen != _connection.WriteDrainedAt && Send(seen))
            {
                return new(Finished());
            }
            _wait.Park();
            if (Volatile.Read(ref _connection.WriteEvents) == seen && Volatile.Read(ref _cancelRequested) == 0
                && !_connection.IsAborted && !_sendStopped)
            {
                return new(this, _wait.Version);
            }
            if (!TakeWaiting())
            {
                return new(this, _wait.Version); // the loop thread took the flush over and completes it
            }
        }
    }

    /// <summary>A result without sending: cancelled, failed, or nothing left to send.</summary>
    private bool TryComplete(out FlushResult result)
    {
        if (Volatile.Read(ref _cancelRequested) != 0 && Interlocked.Exchange(ref _cancelRequested, 0) != 0)
        {
            result = new FlushResult(isCanceled: true, isCompleted: false);
            return true;
        }
        if (_failed || _sendStopped || _connection.IsAborted)
        {
            _failed = true;
            ReleaseBlocks();
            result = new FlushResult(isCanceled: false, isCompleted: true);
            return true;
        }
        if (!HasBuffered)
        {
            ReleaseBlocks();
            result = default;
            return true;
        }
        result = default;
        return false;
    }

    private FlushResult Finished() => _failed ? new FlushResult(isCanceled: false, isCompleted: true) : default;

    /// <summary>
    /// Sends what is buffered. True when done (all sent, or failed); false when the kernel's buffer is full, which a
    /// short send already says (nginx's ngx_writev does not ask again to learn EAGAIN either).
    /// </summary>
    private bool Send(int seen)
    {
        var iov = stackalloc IoVec[MaxIoVectors];
        while (true)
        {
            var head = _buffer.Head;
            if (head is null || !HasBuffered)
            {
                ReleaseBlocks();
                return true;
            }
            if (_connection.SentOnce && !_connection.NoDelay)
            {
                _connection.NoDelay = true;
                SetNoDelay(_fd);
            }
            _connection.SentOnce = true;
            nint attempted;
            nint sent;
            if (ReferenceEquals(head, _buffer.Tail) || head.Next is null)
            {
                attempted = head.End - _buffer.HeadIndex;
                sent = send(_fd, head.Pointer + _buffer.HeadIndex, attempted, MSG_NOSIGNAL);
            }
            else
            {
                int count = 0;
                attempted = 0;
                for (var segment = head; segment is not null && count < MaxIoVectors; segment = segment.NextSegment)
                {
                    int start = ReferenceEquals(segment, head) ? _buffer.HeadIndex : 0;
                    int length = segment.End - start;
                    if (length == 0)
                    {
                        continue;
                    }
                    iov[count].Base = segment.Pointer + start;
                    iov[count].Length = (nuint)length;
                    attempted += length;
                    count++;
                }
                var message = new MsgHdr { Iov = iov, IovLength = (nuint)count };
                sent = sendmsg(_fd, &message, MSG_NOSIGNAL);
            }
            if (sent < 0)
            {
                int errno = Errno;
                if (errno == EINTR)
                {
                    continue;
                }
                if (errno == EAGAIN)
                {
                    _connection.WriteDrainedAt = seen;
                    return false;
                }
                _failed = true;
                ReleaseBlocks();
                return true;
            }
            Consume(sent);
            if (sent < attempted)
            {
                _connection.WriteDrainedAt = seen;
                return false;
            }
        }
    }

    private void Consume(nint count)
    {
        while (count > 0)
        {
            var head = _buffer.Head!;
            int available = head.End - _buffer.HeadIndex;
            if (count < available)
            {
                _buffer.HeadIndex += (int)count;
                return;
            }
            count -= available;
            var next = head.NextSegment;
            if (next is null)
            {
                _buffer.HeadIndex = head.End;
                return;
            }
            BufferSegment.Return(head);
            _buffer.Head = next;
            _buffer.HeadIndex = 0;
        }
    }

    // ---- The loop's side ----------------------------------------------------------------------------------------

    internal void OnWritable()
    {
        if (_wait.IsParked && TakeWaiting())
        {
            ResumeWaiting();
        }
    }

    /// <summary>Takes a parked operation over; true for exactly one caller per wait.</summary>
    internal bool TakeWaiting() => _wait.Take();

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
            int seen = Volatile.Read(ref _connection.WriteEvents);
            if (Send(seen))
            {
                _wait.Source.SetResult(Finished());
                return;
            }
            _wait.Repark();
            if (Volatile.Read(ref _connection.WriteEvents) == seen && Volatile.Read(ref _cancelRequested) == 0
                && !_wait.TokenCancelled && !_connection.IsAborted && !_sendStopped)
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
            _connection.PostWork(EpollConnection.WriteWake);
        }
    }

    /// <summary>A send timeout: nothing more goes out; a waiting flush reports the end.</summary>
    internal void StopSending() => _sendStopped = true;

    /// <summary>At close: every block back to the pool.</summary>
    internal void Release() => ReleaseBlocks();

    FlushResult IValueTaskSource<FlushResult>.GetResult(short token) => _wait.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<FlushResult>.GetStatus(short token) => _wait.GetStatus(token);

    void IValueTaskSource<FlushResult>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _wait.OnCompleted(continuation, state, token, flags);
}
