using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Threading.Tasks.Sources;
using static FastProxy.Transport.Epoll.LinuxInterop;

namespace FastProxy.Transport.Epoll;

/// <summary>
/// A TCP connection on FastProxy's own event loop: a non-blocking descriptor registered edge-triggered with one
/// <see cref="EpollLoop"/>, read and written directly by the code that awaits it (no receive or send loop, no
/// intermediate pipe). Reads follow nginx's ngx_unix_recv: a read that returns less than it asked for means the
/// socket is drained, so the next read waits for the next event instead of paying a syscall to learn EAGAIN.
/// </summary>
/// <remarks>
/// Ownership rule: the descriptor is used by whoever runs the connection's current operation (the awaiting code, or
/// the loop thread once it took a waiting operation over) and closed only by <see cref="CloseAsync"/>, which that same
/// code calls when it is done. Other threads (the heartbeat firing a timeout, a graceful stop) never complete an
/// operation themselves: they hand it to the loop (<see cref="IEpollWork"/>), and their only syscall, shutdown in
/// <see cref="Abort"/>, runs under a count that defers close until it returned, so it can never hit a reused number.
/// </remarks>
internal sealed unsafe partial class EpollConnection : TransportConnection, IEpollHandler, IEpollWork
{
    private const uint RegisteredEvents = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    private const int ClosedBit = 1 << 30;

    // Work handed to the loop (bits of _posted).
    internal const int ReadWake = 1;
    internal const int WriteWake = 2;
    private const int ConnectWake = 4;
    private const int ParkWake = 8;

    private readonly EpollLoop _loop;
    private readonly int _fd;
    // Made on first use and given back while a client connection is parked (TryPark): a parked connection is this
    // object, its registration and the counters below.
    private EpollPipeReader? _reader;
    private EpollPipeWriter? _writer;
    private IParkedWaiter? _parkedWaiter;
    private int _parked;
    // An accepted connection's peer, kept as a value (its IPEndPoint is made only when asked for).
    private readonly RealIp.ClientAddress _peer;
    private readonly bool _accepted;
    private IPEndPoint? _local;
    private nint _handle;
    private int _fdState;
    private int _posted;
    private int _aborted;
    private int _closing;
    private volatile bool _peerClosed;

    // Outbound connections only (made by ConnectAsync): an accepted client connection carries no connect state.
    private ConnectOperation? _connect;
    private int _connectWaiting;

    /// <summary>Counts input events (EPOLLIN, EPOLLRDHUP, EPOLLHUP, EPOLLERR); the reader compares it with the count
    /// at which it last found the socket drained.</summary>
    internal int ReadEvents;

    /// <summary>Counts output events (EPOLLOUT, EPOLLHUP, EPOLLERR), for the writer likewise.</summary>
    internal int WriteEvents;

    /// <summary>The <see cref="ReadEvents"/> count at which the socket was last found drained (the reader's).</summary>
    internal int ReadDrainedAt;

    /// <summary>The <see cref="WriteEvents"/> count at which the kernel's buffer was last found full (the writer's).</summary>
    internal int WriteDrainedAt = -1;

    /// <summary>The writer's TCP_NODELAY state (see EpollPipeWriter).</summary>
    internal bool SentOnce;
    internal bool NoDelay;

    private EpollConnection(int fd, EpollLoop loop, RealIp.ClientAddress peer, bool accepted)
    {
        _fd = fd;
        _loop = loop;
        _peer = peer;
        _accepted = accepted;
    }

    /// <summary>A connection just accepted on <paramref name="loop"/>'s thread.</summary>
    public static EpollConnection Accepted(int fd, EpollLoop loop, RealIp.ClientAddress peer)
    {
        var connection = new EpollConnection(fd, loop, peer, accepted: true);
        connection.RegisterOrFail();
        return connection;
    }

    /// <summary>A new outbound socket on the caller's loop (or the next one); registered once connect started.</summary>
    public static EpollConnection Outbound(AddressFamily family)
    {
        int fd = socket(family == AddressFamily.InterNetworkV6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
        {
            throw new SocketException((int)ToSocketError(Errno));
        }
        return new EpollConnection(fd, EpollLoop.Pick(), default, accepted: false);
    }

    private void RegisterOrFail()
    {
        _handle = _loop.Register(_fd, RegisteredEvents, this, out int errno);
        if (_handle == 0)
        {
            // Out of kernel memory for epoll items: the connection cannot work; its reads and flushes report the end.
            Volatile.Write(ref _aborted, 1);
            _ = errno;
        }
    }

    /// <summary>The reader, made (or taken from the loop's given-back ones) on first use by the connection's code.</summary>
    public override PipeReader Input => _reader ?? AttachReader();

    public override PipeWriter Output => _writer ?? AttachWriter();

    private EpollPipeReader AttachReader()
    {
        var reader = EpollPipeReader.Rent(this, _fd);
        Volatile.Write(ref _reader, reader);
        return reader;
    }

    private EpollPipeWriter AttachWriter()
    {
        var writer = EpollPipeWriter.Rent(this, _fd);
        Volatile.Write(ref _writer, writer);
        return writer;
    }

    /// <summary>Made on each call (logs, the TLS handshake's log line): the request path reads <see cref="RemoteAddress"/>.</summary>
    public override IPEndPoint? RemoteEndPoint =>
        _peer.ToIPAddress() is { } address ? new IPEndPoint(address, _peer.Port) : null;

    internal override RealIp.ClientAddress RemoteAddress => _peer;

    /// <summary>Read on first use (getsockname), from the code that owns the connection.</summary>
    public override IPEndPoint? LocalEndPoint
    {
        get
        {
            if (_local is null && (Volatile.Read(ref _fdState) & ClosedBit) == 0 && _accepted)
            {
                SockAddrBuffer address;
                uint length = (uint)sizeof(SockAddrBuffer);
                _local = getsockname(_fd, &address, &length) == 0 ? ReadSockAddr(&address, length) : null;
            }
            return _local;
        }
    }

    public override bool ReceivedFin => _peerClosed || (Volatile.Read(ref _reader)?.Ended ?? false);

    public override bool IsAborted => Volatile.Read(ref _aborted) != 0;

    internal EpollLoop Loop => _loop;

    /// <summary>Accepted from a listener (a client), not made by <see cref="Outbound"/>.</summary>
    internal bool IsAccepted => _accepted;

    /// <summary>A writer is attached (not given back while parked), for tests.</summary>
    internal bool HasWriter => Volatile.Read(ref _writer) is not null;

    /// <summary>The socket's descriptor, for tests that ask the kernel about it.</summary>
    internal int Descriptor => _fd;

    /// <summary>The peer's FIN, a hang-up or an error was announced by an event (it may not have been read yet).</summary>
    internal bool PeerClosed => _peerClosed;

    public override bool StartsInline => true;

    public override void Start()
    {
        // Nothing to start: bytes move when the connection's code reads and flushes.
    }

    // ---- Events from the loop -----------------------------------------------------------------------------------

    public void OnEvents(uint events)
    {
        if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0)
        {
            if ((events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0)
            {
                _peerClosed = true;
            }
            Interlocked.Increment(ref ReadEvents);
            if (_reader is { } reader)
            {
                reader.OnReadable();
            }
            else if (Volatile.Read(ref _parked) == 1 && Interlocked.Exchange(ref _parked, 0) == 1)
            {
                _parkedWaiter!.OnParkedWake(); // on the loop thread, which is where a parked connection resumes
            }
        }
        if ((events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) != 0)
        {
            Interlocked.Increment(ref WriteEvents);
            if (Volatile.Read(ref _connectWaiting) == 1 && Interlocked.Exchange(ref _connectWaiting, 0) == 1)
            {
                _connect!.Source.SetResult(FinishConnect());
            }
            else
            {
                _writer?.OnWritable();
            }
        }
    }

    /// <summary>Hands work to the loop thread; several requests before it runs are merged.</summary>
    internal void PostWork(int bits)
    {
        if (Interlocked.Or(ref _posted, bits) == 0)
        {
            _loop.Post(this);
        }
    }

    void IEpollWork.Execute()
    {
        int bits = Interlocked.Exchange(ref _posted, 0);
        if ((bits & ReadWake) != 0)
        {
            _reader?.ResumeWaiting();
        }
        if ((bits & WriteWake) != 0)
        {
            _writer?.ResumeWaiting();
        }
        if ((bits & ParkWake) != 0)
        {
            _parkedWaiter!.OnParkedWake();
        }
        if ((bits & ConnectWake) != 0)
        {
            _connect!.Source.SetResult(FinishConnect());
        }
    }

    // ---- Connect --------------------------------------------------------------------------------------------------

    public override ValueTask<SocketOperationResult> ConnectAsync(IPEndPoint endPoint)
    {
        SockAddrBuffer address;
        uint length = WriteSockAddr(endPoint, &address);
        if (connect(_fd, &address, length) != 0)
        {
            int errno = Errno;
            if (errno != EINPROGRESS)
            {
                return new(new SocketOperationResult(0, ToSocketError(errno)));
            }
        }
        // Registered only now: a socket that has not begun connecting polls as writable and hung up, which would read
        // as a finished connect.
        int seen = Volatile.Read(ref WriteEvents);
        RegisterOrFail();
        var operation = _connect ??= new ConnectOperation();
        operation.Source.Reset();
        Interlocked.Exchange(ref _connectWaiting, 1);
        if ((Volatile.Read(ref WriteEvents) != seen || IsAborted) && Interlocked.CompareExchange(ref _connectWaiting, 0, 1) == 1)
        {
            return new(FinishConnect());
        }
        return new(operation, operation.Source.Version);
    }

    private SocketOperationResult FinishConnect()
    {
        if (IsAborted)
        {
            return new(0, SocketError.OperationAborted);
        }
        int error = 0;
        uint length = sizeof(int);
        if (getsockopt(_fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0)
        {
            error = Errno;
        }
        return new(0, ToSocketError(error));
    }

    /// <summary>The wait of a non-blocking connect, completed on the loop by the socket's first output event.</summary>
    private sealed class ConnectOperation : IValueTaskSource<SocketOperationResult>
    {
        public ManualResetValueTaskSourceCore<SocketOperationResult> Source = new() { RunContinuationsAsynchronously = false };

        SocketOperationResult IValueTaskSource<SocketOperationResult>.GetResult(short token) => Source.GetResult(token);

        ValueTaskSourceStatus IValueTaskSource<SocketOperationResult>.GetStatus(short token) => Source.GetStatus(token);

        void IValueTaskSource<SocketOperationResult>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
            Source.OnCompleted(continuation, state, token, flags);
    }

    // ---- Abort and close ------------------------------------------------------------------------------------------

    public override void Abort()
    {
        if (Volatile.Read(ref _aborted) != 0)
        {
            return;
        }
        // Bytes flushed in this turn and not yet sent go out first, as they would have had the flush sent them
        // (shutdown keeps what the kernel holds): a tunnel's last frame before the other side ended, for one.
        Volatile.Read(ref _writer)?.SendDeferred();
        if (Interlocked.Exchange(ref _aborted, 1) != 0)
        {
            return;
        }
        ForeignShutdown(SHUT_RDWR);
        int bits = Volatile.Read(ref _reader)?.TakeWaiting() == true ? ReadWake : 0;
        bits |= Volatile.Read(ref _writer)?.TakeWaiting() == true ? WriteWake : 0;
        bits |= Interlocked.CompareExchange(ref _connectWaiting, 0, 1) == 1 ? ConnectWake : 0;
        bits |= Interlocked.Exchange(ref _parked, 0) == 1 ? ParkWake : 0;
        if (bits != 0)
        {
            PostWork(bits);
        }
    }

    public override void AbortSend()
    {
        if (IsAborted)
        {
            return;
        }
        var writer = Volatile.Read(ref _writer);
        if (writer is null)
        {
            return; // parked: nothing is being sent
        }
        writer.StopSending();
        ForeignShutdown(SHUT_WR);
        if (writer.TakeWaiting())
        {
            PostWork(WriteWake);
        }
    }

    /// <summary>shutdown from any thread, never on a descriptor number that close already gave back.</summary>
    private void ForeignShutdown(int how)
    {
        while (true)
        {
            int state = Volatile.Read(ref _fdState);
            if ((state & ClosedBit) != 0)
            {
                return;
            }
            if (Interlocked.CompareExchange(ref _fdState, state + 1, state) == state)
            {
                break;
            }
        }
        shutdown(_fd, how);
        if (Interlocked.Decrement(ref _fdState) == ClosedBit)
        {
            CloseDescriptor();
        }
    }

    public override bool HasPendingInput() =>
        Volatile.Read(ref _reader) is { } reader ? reader.HasPendingInput : Volatile.Read(ref ReadEvents) != ReadDrainedAt;

    // ---- Parking ---------------------------------------------------------------------------------------------------

    /// <summary>
    /// On the loop thread, with nothing buffered either way: gives the reader and writer back and waits for the next
    /// input event with <paramref name="waiter"/>; the loop calls it then (or after <see cref="WakeParked"/> or an
    /// abort), on its own thread.
    /// </summary>
    internal override ParkResult TryPark(IParkedWaiter waiter)
    {
        var reader = _reader;
        var writer = _writer;
        // A writer whose last flush a loop sends at the end of its turn stays attached; that send gives it back
        // (OnDeferredSent) when it runs on this loop.
        bool keepWriter = writer is not null && !writer.CanGiveBack;
        if (!_loop.IsCurrent || (reader is not null && !reader.CanGiveBack) || (keepWriter && !writer!.IsSendingLater))
        {
            return ParkResult.NotHere;
        }
        if (reader is not null)
        {
            Volatile.Write(ref _reader, null);
            reader.GiveBack();
        }
        if (writer is not null && !keepWriter)
        {
            Volatile.Write(ref _writer, null);
            writer.GiveBack();
        }
        _parkedWaiter = waiter;
        Interlocked.Exchange(ref _parked, 1);
        // Input already announced (or the end): no wait; the caller goes on at once. Events are dispatched on this
        // thread, so none can come between the look and the return.
        if ((Volatile.Read(ref ReadEvents) != ReadDrainedAt || _peerClosed || IsAborted) && Interlocked.Exchange(ref _parked, 0) == 1)
        {
            return ParkResult.InputReady;
        }
        return ParkResult.Parked;
    }

    /// <summary>
    /// A deferred send finished (all sent, or failed): a connection parked meanwhile gives the writer back, as parking
    /// would have, when this is its loop's thread (the only one a parked connection's writer is given back on).
    /// </summary>
    internal void OnDeferredSent(EpollPipeWriter writer)
    {
        if (Volatile.Read(ref _parked) == 1 && _loop.IsCurrent && ReferenceEquals(_writer, writer) && writer.CanGiveBack)
        {
            Volatile.Write(ref _writer, null);
            writer.GiveBack();
        }
    }

    /// <summary>Wakes a parked connection (a deadline, a stop) on its loop thread, if it is still parked.</summary>
    internal override void WakeParked()
    {
        if (Interlocked.Exchange(ref _parked, 0) == 1)
        {
            PostWork(ParkWake);
        }
    }

    public override bool HasKernelInput()
    {
        if (IsAborted || Volatile.Read(ref _closing) != 0)
        {
            return false;
        }
        byte probe;
        return recv(_fd, &probe, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
    }

    private void CloseDescriptor()
    {
        // Closing removes the descriptor from the epoll set; events already taken by the loop may still name the
        // handle, so the loop frees it after the batch it is handling.
        close(_fd);
        _loop.Unregister(_handle);
    }
}

/// <summary>The async part, outside the unsafe context (C# does not allow await there).</summary>
internal sealed partial class EpollConnection
{
    public override async ValueTask CloseAsync(TimeSpan flushTimeout, TimeSpan linger)
    {
        if (Interlocked.Exchange(ref _closing, 1) != 0)
        {
            return;
        }
        _writer?.Reclaim(); // a deferred send is made here, before the close
        if (!IsAborted && _writer is { HasBuffered: true } writer)
        {
            var flush = writer.FlushBufferedAsync();
            if (!flush.IsCompleted)
            {
                if (flushTimeout <= TimeSpan.Zero)
                {
                    Abort();
                }
                else
                {
                    // Close paths only (a client that stopped reading): one task and timer per such connection.
                    var task = flush.AsTask();
                    if (await Task.WhenAny(task, Task.Delay(flushTimeout)) != task)
                    {
                        Abort();
                    }
                    await task;
                }
            }
            else
            {
                await flush;
            }
        }
        if (linger > TimeSpan.Zero && !ReceivedFin && !IsAborted)
        {
            // FIN after everything sent, then read and drop what the peer still sends. Without lingering, close alone
            // sends the FIN (nginx closes without a shutdown too).
            shutdown(_fd, SHUT_WR);
            await ((EpollPipeReader)Input).DrainAsync(linger);
        }
        _reader?.Release();
        _writer?.Release();
        if (_accepted && _loop.IsCurrent)
        {
            // An accepted connection's reader and writer: the next connection on this loop can take them (after the
            // quarantine, for other threads' references read before now).
            if (Interlocked.Exchange(ref _reader, null) is { IsIdle: true } closedReader)
            {
                closedReader.GiveBack();
            }
            if (Interlocked.Exchange(ref _writer, null) is { IsIdle: true } closedWriter)
            {
                closedWriter.GiveBack();
            }
        }
        if ((Interlocked.Or(ref _fdState, ClosedBit) & ~ClosedBit) == 0)
        {
            CloseDescriptor();
        }
    }
}
