using System.IO.Pipelines;
using System.Net;
using System.Runtime.CompilerServices;
using FastProxy.Infrastructure;
using FastProxy.Runtime;
using FastProxy.Tls;
using FastProxy.Transport;

namespace FastProxy.Http;

/// <summary>
/// One accepted client connection for its whole life. While a request is read or served, an
/// <see cref="Http1Connection"/> does the work; an idle keep-alive connection parks: its Http1Connection (request
/// context, parsed head, log state, the suspended request loop) goes back to a pool, and on the event loops the
/// transport gives its reader and writer back too, so only this object and the socket's registration remain (a TLS
/// connection, or one on .NET's sockets, waits with one read instead). The next bytes start a fresh Http1Connection
/// on them; the idle deadline (keepalive_timeout, or client_header_timeout before the first request), a graceful stop,
/// an abort or the client's close end a parked connection here, without one.
/// </summary>
/// <remarks>
/// nginx does the same in ngx_http_set_keepalive: an idle keep-alive connection frees its request and buffers and
/// keeps only the connection, a read event and a small pool. FastProxy parks after a heartbeat tick idle (250 ms with
/// the default timeouts), or at once when many connections are active (<see cref="ConnectionManager.Crowded"/>), so a
/// connection in steady use never pays for giving its state back and taking it again.
/// </remarks>
internal sealed class ClientConnection : IParkedWaiter
{
    private const int Running = 0;
    private const int Parked = 1;
    private const int Closing = 2;

    private readonly ServerServices _services;
    private Http1Connection? _active;
    private int _state;
    private volatile bool _stopping;
    private volatile bool _timedOut;
    private long _parkDeadline = Deadline.None;
    // Parked in the transport itself (the event loops: reader and writer given back, nothing pending), else with a
    // read on its pipe (TLS, .NET sockets, or an event loop that could not park it there).
    private volatile bool _parkedOnTransport;
    private PipeWait? _pipeWait;
    // The connection's lifetime, made only when a graceful stop asks for it (a parked connection has no task).
    private TaskCompletionSource? _lifetime;
    private volatile bool _closed;

    public ClientConnection(ServerServices services, TransportConnection transport, IPEndPoint listenEndPoint, TlsServerContext? tls)
    {
        _services = services;
        Transport = transport;
        ListenEndPoint = listenEndPoint;
        TlsContext = tls;
        Id = services.NextConnectionSerial();
    }

    public long Id { get; }

    /// <summary>Where the connection sits in <see cref="ConnectionManager"/>'s table; -1 once out of it.</summary>
    internal int Slot { get; set; } = -1;

    public TransportConnection Transport { get; }

    public IPEndPoint ListenEndPoint { get; }

    /// <summary>The TLS context of the listen address (taken at accept); null for plain connections.</summary>
    public TlsServerContext? TlsContext { get; }

    // What outlives an Http1Connection: the pipes requests are read from (the TLS layer's once it is up), the
    // request count (keepalive_requests, $connection_requests) and the snapshot the connection serves with.
    internal PipeReader Input => Tls?.Input ?? Transport.Input;
    internal PipeWriter Output => Tls?.Output ?? Transport.Output;
    internal TlsConnection? Tls { get; set; }
    internal int Requests { get; set; }
    internal ProxySnapshot? Snapshot { get; set; }
    internal ListenRuntime? Listen { get; set; }

    /// <summary>The deadline of the idle wait a parked connection resumes in (client_header_timeout before its first request).</summary>
    internal long ParkDeadline => Volatile.Read(ref _parkDeadline);

    internal bool Stopping => _stopping;

    /// <summary>Parked: no Http1Connection, one read pending.</summary>
    internal bool IsParked => Volatile.Read(ref _state) == Parked;

    /// <summary>Parked in the transport itself (reader and writer given back), for tests.</summary>
    internal bool IsParkedOnTransport => IsParked && _parkedOnTransport;

    /// <summary>
    /// Completes when the connection is closed and gone from the connection set. Made on demand (a graceful stop
    /// waits on it): an idle connection carries no task.
    /// </summary>
    public Task Completion
    {
        get
        {
            if (_closed)
            {
                return Task.CompletedTask;
            }
            var created = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var lifetime = Interlocked.CompareExchange(ref _lifetime, created, null) ?? created;
            if (_closed)
            {
                lifetime.TrySetResult();
            }
            return lifetime.Task;
        }
    }

    public void Start()
    {
        var connection = Http1Connection.Rent(_services, this);
        Volatile.Write(ref _active, connection);
        connection.Start();
    }

    /// <summary>The last step of every connection's life: out of the connection set, and its lifetime completes.</summary>
    internal void OnClosed()
    {
        _services.Connections.Remove(this);
        _closed = true;
        Interlocked.MemoryBarrier();
        Volatile.Read(ref _lifetime)?.TrySetResult();
    }

    // ---- Heartbeat and stop ------------------------------------------------------------------------------------

    public void OnHeartbeat(long now)
    {
        switch (Volatile.Read(ref _state))
        {
            case Running:
                Volatile.Read(ref _active)?.OnHeartbeat(this, now);
                break;
            case Parked:
                if (Deadline.TryFire(ref _parkDeadline, now))
                {
                    _timedOut = true;
                    WakeParked();
                }
                break;
        }
    }

    /// <summary>Graceful stop: the request in progress finishes, then the connection closes; an idle one closes now.</summary>
    public void RequestStop()
    {
        _stopping = true;
        Interlocked.MemoryBarrier();
        if (Volatile.Read(ref _state) == Parked)
        {
            WakeParked();
        }
        else
        {
            Volatile.Read(ref _active)?.RequestStop(this);
        }
    }

    /// <summary>Ends a parked connection's wait (its deadline, a stop): the wake-up then decides.</summary>
    private void WakeParked()
    {
        // Pairs with WaitForInput's fence after it gave up parking in the transport: either this sees the read it
        // waits with instead, or it sees the flag this set before.
        Interlocked.MemoryBarrier();
        if (_parkedOnTransport)
        {
            Transport.WakeParked();
        }
        else
        {
            Input.CancelPendingRead();
        }
    }

    public void Abort()
    {
        _stopping = true;
        Interlocked.MemoryBarrier();
        Transport.Abort();
        if (Volatile.Read(ref _state) == Parked)
        {
            WakeParked();
        }
        else
        {
            Volatile.Read(ref _active)?.Abort(this);
        }
    }

    /// <summary>The Http1Connection is about to go back to its pool: nothing here calls it any more.</summary>
    internal void Detach() => Volatile.Write(ref _active, null);

    // ---- Parking -----------------------------------------------------------------------------------------------

    /// <summary>
    /// The Http1Connection found the connection idle and unwound: from now on a pending read stands for it. Called
    /// on its thread as its last act; <paramref name="deadline"/> is the idle wait's deadline, still in force.
    /// </summary>
    internal void Park(long deadline)
    {
        Volatile.Write(ref _parkDeadline, deadline);
        _services.Connections.CountParked(+1);
        Volatile.Write(ref _state, Parked);
        // Pairs with RequestStop's fence: either it sees Parked and cancels the read, or this sees the stop.
        Interlocked.MemoryBarrier();
        WaitForInput();
    }

    private void WaitForInput()
    {
        if (_stopping)
        {
            Close();
            return;
        }
        if (TlsContext is null)
        {
            // Set first: from now until the transport says otherwise, wakes go to the transport, and nothing touches
            // Input (which would make the reader the transport just gave back).
            _parkedOnTransport = true;
            var parked = Transport.TryPark(this);
            if (parked == ParkResult.Parked)
            {
                return;
            }
            _parkedOnTransport = false;
            if (parked == ParkResult.InputReady)
            {
                OnParkedWake();
                return;
            }
            Interlocked.MemoryBarrier();
            if (_timedOut || _stopping)
            {
                Close(); // a wake that went to the transport while this was finding out it could not park there
                return;
            }
        }
        var input = Input;
        var wait = _pipeWait ??= new PipeWait(this);
        ValueTask<ReadResult> read;
        try
        {
            read = input.ReadAsync();
        }
        catch (Exception e)
        {
            Diagnostics.Log.ConnectionError(_services.Logger, e);
            Transport.Abort();
            Close();
            return;
        }
        wait.Read = read;
        if (read.IsCompleted)
        {
            wait.Complete();
        }
        else
        {
            read.GetAwaiter().UnsafeOnCompleted(wait.OnCompleted);
        }
    }

    /// <summary>A parked read: its awaiter and the callback it resumes (made once per connection that needs it).</summary>
    private sealed class PipeWait
    {
        private readonly ClientConnection _connection;

        public PipeWait(ClientConnection connection)
        {
            _connection = connection;
            OnCompleted = Complete;
        }

        public ValueTask<ReadResult> Read;

        public Action OnCompleted { get; }

        public void Complete()
        {
            var read = Read;
            Read = default;
            ReadResult result;
            try
            {
                result = read.GetAwaiter().GetResult();
            }
            catch (Exception e)
            {
                Diagnostics.Log.ConnectionError(_connection._services.Logger, e);
                _connection.Transport.Abort();
                _connection.Close();
                return;
            }
            _connection.OnInput(result);
        }
    }

    private void OnInput(ReadResult result)
    {
        var buffer = result.Buffer;
        // Nothing consumed and nothing examined: the next read returns the same bytes at once.
        Input.AdvanceTo(buffer.Start);
        if (!buffer.IsEmpty)
        {
            Resume();
        }
        else if (result.IsCompleted || _timedOut || _stopping || Transport.IsAborted)
        {
            // The client closed, the idle deadline passed (nginx closes an idle keep-alive connection without a
            // word), or the server stops.
            Close();
        }
        else
        {
            // A cancellation meant for the Http1Connection that parked (its heartbeat raced the parking): wait on.
            WaitForInput();
        }
    }

    /// <summary>
    /// The transport's wake-up of a connection parked in it, on its loop thread: input may be there (a fresh
    /// Http1Connection reads it, or finds the end and closes), or the deadline or a stop ended the wait.
    /// </summary>
    public void OnParkedWake()
    {
        _parkedOnTransport = false;
        if (_timedOut || _stopping || Transport.IsAborted)
        {
            Close();
        }
        else
        {
            Resume();
        }
    }

    /// <summary>Bytes came: a fresh Http1Connection reads the request they start.</summary>
    private void Resume()
    {
        _services.Connections.CountParked(-1);
        var connection = Http1Connection.Rent(_services, this);
        Volatile.Write(ref _active, connection);
        Volatile.Write(ref _state, Running);
        // Pairs with RequestStop's fence: a stop that saw Parked has cancelled a read nobody waits on any more.
        Interlocked.MemoryBarrier();
        if (_stopping)
        {
            connection.RequestStop(this);
        }
        connection.Resume();
    }

    private void Close()
    {
        if (Volatile.Read(ref _state) == Parked)
        {
            _services.Connections.CountParked(-1);
        }
        Volatile.Write(ref _state, Closing);
        _ = CloseParkedAsync();
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private async Task CloseParkedAsync()
    {
        try
        {
            if (Tls is not null)
            {
                await Tls.CloseAsync(TimeSpan.FromSeconds(5));
            }
            // Nothing unread: no lingering (nginx closes an idle keep-alive connection at once).
            await Transport.CloseAsync(TimeSpan.FromSeconds(5), TimeSpan.Zero);
        }
        catch (Exception e)
        {
            Diagnostics.Log.ConnectionError(_services.Logger, e);
        }
        finally
        {
            OnClosed();
        }
    }
}
