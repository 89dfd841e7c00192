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
/// <remarks>
/// Sends deferred to the end of the loop turn (<see cref="EpollLoop.DeferSend"/>): a flush made on an event loop's
/// thread with a little buffered completes at once, and the loop sends at the end of its turn (or after a batch of
/// flushes), so that a turn that answers many connections wakes each peer once rather than once per send. Who may
/// touch the buffer is then a state, <see cref="_deferState"/>: the connection's code (<see cref="Owned"/>), a loop
/// that will send it (<see cref="Deferred"/>), one sending it now (<see cref="Sending"/>), or the next output event,
/// the kernel's buffer being full (<see cref="Stalled"/>). The connection's code takes it back before it touches the
/// buffer again (<see cref="Reclaim"/>), waiting out a send in progress, so its bytes keep their order and no two
/// threads ever use the buffer at once.
/// </remarks>
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

    // Who may use the buffer (see the remarks).
    private const int Owned = 0;
    private const int Deferred = 1;
    private const int Sending = 2;
    private const int Stalled = 3;
    private int _deferState;

    /// <summary>A deferred flush sends at once instead when more than this is buffered: a turn's batch stays small, and
    /// a body relayed faster than the peer reads still meets the kernel's backpressure at every flush.</summary>
    internal const int MaxDeferredBytes = 64 * 1024;

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

    internal bool CanGiveBack => Volatile.Read(ref _deferState) == Owned && !_wait.IsParked && !_wait.HasRegistration
        && !_buffer.HasData && !_failed && !_sendStopped;

    /// <summary>Bytes flushed and handed to a loop's end-of-turn send or to the next output event, no flush waiting:
    /// a connection can park with this writer still attached (<see cref="EpollConnection.TryPark"/>).</summary>
    internal bool IsSendingLater => Volatile.Read(ref _deferState) != Owned && !_wait.IsParked && !_wait.HasRegistration;

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

    public override Memory<byte> GetMemory(int sizeHint = 0)
    {
        Reclaim();
        return base.GetMemory(sizeHint);
    }

    public override Span<byte> GetSpan(int sizeHint = 0)
    {
        Reclaim();
        return base.GetSpan(sizeHint);
    }

    public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
    {
        _unflushed = 0;
        Reclaim();
        if (EpollLoop.Current is { DefersSends: true } loop && CanDefer())
        {
            Volatile.Write(ref _deferState, Deferred);
            loop.DeferSend(this);
            return default;
        }
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

    // ---- Deferred sending -----------------------------------------------------------------------------------------

    /// <summary>
    /// A client connection's flush (an accepted one: deferring a backend connection's sends measured 1-2% slower with
    /// a new connection per request, where the backend waits for each request, and no faster elsewhere), something to
    /// send, little enough, and nothing that a flush must report now (a cancel, a failure) or wait for (the kernel's
    /// buffer last found full).
    /// </summary>
    private bool CanDefer() =>
        _connection.IsAccepted && _buffer.HasData && _buffer.Length <= MaxDeferredBytes && !_failed && !_sendStopped && !_connection.IsAborted
        && Volatile.Read(ref _cancelRequested) == 0 && Volatile.Read(ref _connection.WriteEvents) != _connection.WriteDrainedAt;

    /// <summary>
    /// The connection's code takes the buffer back before using it: a deferred send not yet made is left to the code's
    /// own next flush (bytes stay in order: they are ahead of whatever it writes now), a send in progress is waited out
    /// (one syscall).
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    internal void Reclaim()
    {
        if (Volatile.Read(ref _deferState) != Owned)
        {
            ReclaimSlow();
        }
    }

    private void ReclaimSlow()
    {
        var spin = new SpinWait();
        while (true)
        {
            int state = Volatile.Read(ref _deferState);
            if (state == Owned)
            {
                return;
            }
            if (state != Sending && Interlocked.CompareExchange(ref _deferState, Owned, state) == state)
            {
                return;
            }
            spin.SpinOnce(sleep1Threshold: -1);
        }
    }

    /// <summary>
    /// The loop's end-of-turn send (or an abort's last one): sends what a deferred flush left, unless the connection's
    /// code took it back meanwhile or another loop already sent it (the writer can be listed by two loops when its code
    /// moved threads between flushes).
    /// </summary>
    internal void SendDeferred()
    {
        if (Volatile.Read(ref _deferState) == Deferred && Interlocked.CompareExchange(ref _deferState, Sending, Deferred) == Deferred)
        {
            SendAsOwner();
        }
    }

    /// <summary>Holding <see cref="Sending"/>: sends, then gives the buffer back to its code, or leaves the rest to the
    /// next output event when the kernel's buffer is full.</summary>
    private void SendAsOwner()
    {
        var connection = _connection;
        while (true)
        {
            int seen = Volatile.Read(ref connection.WriteEvents);
            bool done;
            if (_failed || _sendStopped || connection.IsAborted)
            {
                // Nothing can be sent: the code's next flush reports the end (its deferred one already completed,
                // as a flush whose bytes the kernel took and then failed to deliver would have).
                _failed = true;
                ReleaseBlocks();
                done = true;
            }
            else
            {
                done = Send(seen);
            }
            if (done)
            {
                Volatile.Write(ref _deferState, Owned);
                connection.OnDeferredSent(this);
                return;
            }
            // The kernel's buffer is full: the next output event sends the rest (OnWritable). One that came during the
            // send, before Stalled was visible, found Sending and left it: look again.
            Interlocked.Exchange(ref _deferState, Stalled);
            if (Volatile.Read(ref connection.WriteEvents) == seen
                || Interlocked.CompareExchange(ref _deferState, Sending, Stalled) != Stalled)
            {
                return;
            }
        }
    }

    // ---- Sending ------------------------------------------------------------------------------------------------

    /// <summary>Sends now, never deferred: a flush that cannot be deferred, and a connection's close.</summary>
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
        else if (Volatile.Read(ref _deferState) == Stalled && Interlocked.CompareExchange(ref _deferState, Sending, Stalled) == Stalled)
        {
            SendAsOwner();
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
