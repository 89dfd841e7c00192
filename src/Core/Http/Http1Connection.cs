using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Runtime.CompilerServices;
using FastProxy.Diagnostics;
using FastProxy.Forwarding;
using FastProxy.Http1;
using FastProxy.Infrastructure;
using FastProxy.Routing;
using FastProxy.Runtime;
using FastProxy.Transport;

namespace FastProxy.Http;

/// <summary>What the client-side deadline currently guards.</summary>
internal enum ClientTimeout
{
    None,
    /// <summary>keepalive_timeout: idle between requests; closes silently.</summary>
    KeepAlive,
    /// <summary>client_header_timeout: the whole head; 408 once any byte came.</summary>
    Header,
    /// <summary>client_body_timeout: between two reads of the body; 408.</summary>
    Body,
    /// <summary>send_timeout: a write to the client stalled; the connection is aborted.</summary>
    Send,
}

/// <summary>
/// The HTTP/1.1 work of a client connection: reads request heads with the parser, routes, answers what FastProxy
/// answers itself, and forwards the rest (Http1Connection.Forward.cs), one request after the other so that pipelined
/// responses go out in request order. Every per-request async step uses the pooling builder, so a keep-alive
/// connection in steady state allocates nothing per request. A connection idle across a heartbeat tick unwinds and
/// hands itself back to its <see cref="ClientConnection"/> (parks); the next request gets a new instance.
/// </summary>
internal sealed partial class Http1Connection
{
    // _idle: what an idle connection waits for.
    private const int NotIdle = 0;
    private const int IdleInHandshake = 1;
    private const int IdleForRequest = 2;

    /// <summary>ReadRequestHeadAsync's answer when the heartbeat asked an idle connection to park.</summary>
    private const int ParkHead = -2;

    private readonly ServerServices _services;
    // The connection this instance serves now: set by Bind, cleared when it goes back to the pool.
    private ClientConnection _client = null!;
    private TransportConnection _transport = null!;
    // Not readonly: a TLS connection switches them to its plaintext pipes after the handshake (Http1Connection.Tls.cs).
    private PipeReader _input = null!;
    private PipeWriter _output = null!;
    private IPEndPoint _listenEndPoint = null!;
    private readonly RequestContext _context = new();
    // The field list starts small and doubles on demand up to the parser's limit (100): 100 fields reserved per
    // connection were 2.4 KiB of every idle keep-alive connection, for heads that mostly carry under 16 fields.
    private readonly HttpRequestHead _head = new(InitialFieldCapacity);
    private const int InitialFieldCapacity = 16;

    private ProxySnapshot? _snapshot;
    private ListenRuntime? _listen;
    private int _requests;

    // Client-side deadline (heartbeat-checked) and what it guards; _fired is set when it went off.
    private long _deadline = Deadline.None;
    private ClientTimeout _timeoutKind;
    private volatile ClientTimeout _fired;

    // Graceful stop: _idle is set while waiting for the next request (or the TLS handshake) with nothing buffered.
    private volatile bool _stopping;
    private int _idle;
    // Parking: a generation per idle wait; the heartbeat asks for parking when it sees the same wait on two ticks.
    private int _idleGeneration;
    private int _heartbeatGeneration = -1;
    private int _parkRequested;
    private long _parkDeadline;
    private bool _linger = true;
    // The client may still be sending bytes nobody read (a request body not read to its end, or the rest of a
    // malformed request): then a close lingers. Otherwise it lingers only if input is already waiting, as nginx's
    // lingering_close on: r->lingering_close, unread header bytes, or a ready read event.
    private bool _inputMayFollow;

    /// <summary>A pooled instance (<see cref="ServerServices.HttpConnections"/>): <see cref="Bind"/> gives it a connection.</summary>
    public Http1Connection(ServerServices services)
    {
        _services = services;
    }

    public long Id { get; private set; }

    /// <summary>An instance from the pool, serving <paramref name="client"/> (new, or resuming after parking).</summary>
    public static Http1Connection Rent(ServerServices services, ClientConnection client)
    {
        var connection = services.HttpConnections.Get();
        connection.Bind(client);
        return connection;
    }

    /// <summary>Takes over the connection's state from <paramref name="client"/>; everything else starts as new.</summary>
    private void Bind(ClientConnection client)
    {
        _client = client;
        _transport = client.Transport;
        _input = client.Input;
        _output = client.Output;
        _listenEndPoint = client.ListenEndPoint;
        _tlsContext = client.TlsContext;
        _tls = client.Tls;
        _requests = client.Requests;
        _snapshot = client.Snapshot;
        _listen = client.Listen;
        _stopping = client.Stopping;
        Id = client.Id;
        _context.BindConnection(_transport, Id, https: _tls is not null);
        _deadline = Deadline.None;
        _timeoutKind = ClientTimeout.None;
        _fired = ClientTimeout.None;
        _idle = NotIdle;
        _heartbeatGeneration = -1;
        _parkRequested = 0;
        _parkDeadline = 0;
        _linger = true;
        _inputMayFollow = false;
        _aborted = false;
        if (_delayCancel is { IsCancellationRequested: true })
        {
            _delayCancel = null;
        }
        if (_abortWait is { Task.IsCompleted: true })
        {
            _abortWait = null;
        }
    }

    /// <summary>
    /// Back to the pool, as the last act of the request loop: nothing of the connection stays reachable from here
    /// (a reused instance must not see its previous connection's data).
    /// </summary>
    private void Recycle()
    {
        _context.UnbindConnection();
        _client = null!;
        _transport = null!;
        _input = null!;
        _output = null!;
        _listenEndPoint = null!;
        _tlsContext = null;
        _tls = null;
        _snapshot = null;
        _listen = null;
        _upstream = null;
        _held = null;
        _heldDestination = null;
        _heldPool = null;
        _replay.Release();
        _services.HttpConnections.Return(this);
    }

    /// <summary>
    /// Starts a new connection. A TLS one on .NET's sockets starts on the thread pool, so its handshake never holds
    /// up that transport's accept loop; on the event loops every connection starts inline (a TLS handshake's CPU work
    /// then runs on the loop, as in nginx's worker).
    /// </summary>
    public void Start()
    {
        if (_tlsContext is null || _transport.StartsInline)
        {
            _ = RunAsync(resumed: false);
        }
        else
        {
            ThreadPool.UnsafeQueueUserWorkItem(static connection => _ = connection.RunAsync(resumed: false), this, preferLocal: false);
        }
    }

    /// <summary>Continues a parked connection whose next request's first bytes have come.</summary>
    public void Resume() => _ = RunAsync(resumed: true);

    /// <summary>
    /// The request loop, once per connection and again after each parking; nobody awaits it (a <see cref="Detached"/>
    /// method: its suspended state comes from a pool, so starting and resuming allocate nothing).
    /// </summary>
    private async Detached RunAsync(bool resumed)
    {
        bool parked = false;
        try
        {
            if (!resumed)
            {
                _transport.Start();
                if (_tlsContext is not null && !await AuthenticateTlsAsync())
                {
                    return;
                }
            }
            if (!RefreshSnapshot())
            {
                return;
            }
            // The first request's head must arrive within client_header_timeout of the accept (nginx arms it in
            // ngx_http_init_connection); later ones get keepalive_timeout while idle, then the header timeout.
            long headDeadline = !resumed ? _services.Heartbeat.DeadlineAfter(_listen!.DefaultServer.ClientHeaderTimeout)
                : _requests == 0 ? ResumedHeadDeadline() : 0;
            while (true)
            {
                int head = await ReadRequestHeadAsync(headDeadline);
                if (head == ParkHead)
                {
                    parked = true;
                    return;
                }
                if (head != 0)
                {
                    if (head > 0)
                    {
                        _inputMayFollow = true;
                        WriteError(head, keepAlive: false, headOnly: false);
                        await FlushClientAsync();
                    }
                    // A head that failed or was cut off is a request too (nginx logs it, 400 when cut off).
                    _context.ConnectionRequests = _requests + 1;
                    WriteAccessLog(400);
                    break;
                }
                _log.HasHead = true;
                _log.RequestLength = _context.HeadBytes.Length;
                // The snapshot is read once per request, when its head is complete: a reload applies to every
                // request whose head arrives after it, also on connections opened before.
                RefreshSnapshot();
                bool keepAlive = await ProcessRequest();
                WriteAccessLog(499);
                _context.EndRequest();
                if (!keepAlive || _stopping)
                {
                    break;
                }
                headDeadline = 0;
            }
        }
        catch (Exception e)
        {
            // Expected failures are values; an exception here is a bug. Log it and drop the connection.
            Log.ConnectionError(_services.Logger, e);
            _transport.Abort();
        }
        finally
        {
            TryWriteAccessLog(500);
            _context.EndRequest();
            var client = _client;
            if (parked)
            {
                // Idle with nothing buffered: what outlives this instance goes back to the client connection, and a
                // pending read stands for the connection from now on.
                client.Requests = _requests;
                client.Snapshot = _snapshot;
                client.Listen = _listen;
                long deadline = _parkDeadline;
                client.Detach();
                Recycle();
                client.Park(deadline);
            }
            else
            {
                if (_tls is not null)
                {
                    await _tls.CloseAsync(TimeSpan.FromSeconds(5));
                }
                bool linger = _linger && !_stopping && (_inputMayFollow || _transport.HasPendingInput());
                await _transport.CloseAsync(TimeSpan.FromSeconds(5), linger ? _services.LingerTimeout : TimeSpan.Zero);
                client.Detach();
                Recycle();
                client.OnClosed();
            }
        }
    }

    /// <summary>A connection parked before its first request keeps the header deadline it got at accept.</summary>
    private long ResumedHeadDeadline()
    {
        long deadline = _client.ParkDeadline;
        return deadline is Deadline.None or Deadline.Fired
            ? _services.Heartbeat.DeadlineAfter(_listen!.DefaultServer.ClientHeaderTimeout)
            : deadline;
    }

    /// <summary>
    /// Takes the current snapshot for the next request. A reload that removed this connection's listen address keeps
    /// the connection on the snapshot it had (nginx's old workers serve their connections with the old config).
    /// </summary>
    private bool RefreshSnapshot()
    {
        var snapshot = _services.Snapshot;
        if (ReferenceEquals(snapshot, _snapshot))
        {
            return true;
        }
        var listen = snapshot.GetListen(_listenEndPoint);
        if (listen is null)
        {
            return _snapshot is not null;
        }
        _snapshot = snapshot;
        _listen = listen;
        return true;
    }

    // ---- Timeouts -------------------------------------------------------------------------------------------

    private void SetClientTimeout(ClientTimeout kind, long deadline)
    {
        _timeoutKind = kind;
        Volatile.Write(ref _deadline, deadline);
    }

    /// <summary>Clears the client deadline; true when it fired (the caller treats the wait as timed out).</summary>
    private bool ClearClientTimeout() => Deadline.Clear(ref _deadline) || _fired != ClientTimeout.None;

    /// <summary>Heartbeat: fires the client deadline and the current upstream's, and parks a connection idle since the last tick.</summary>
    public void OnHeartbeat(ClientConnection caller, long now)
    {
        // The caller read its reference before this instance may have gone back to the pool: act only for it (the
        // fields are read once, into locals, as a recycled instance has none).
        if (!ReferenceEquals(Volatile.Read(ref _client), caller) || Volatile.Read(ref _input) is not { } input)
        {
            return;
        }
        if (Volatile.Read(ref _idle) == IdleForRequest)
        {
            int generation = Volatile.Read(ref _idleGeneration);
            if (generation != _heartbeatGeneration)
            {
                _heartbeatGeneration = generation;
            }
            else if (Interlocked.Exchange(ref _parkRequested, 1) == 0)
            {
                input.CancelPendingRead();
            }
        }
        if (Deadline.TryFire(ref _deadline, now))
        {
            var kind = _timeoutKind;
            _fired = kind;
            if (kind == ClientTimeout.Send)
            {
                // A client that does not read: nothing more can be sent to it.
                caller.Transport.Abort();
            }
            else
            {
                // Wake the read; the loop sees _fired and answers 408 or closes.
                input.CancelPendingRead();
            }
        }
        Volatile.Read(ref _upstream)?.CheckDeadline(now);
    }

    /// <summary>Graceful stop: finish the request in progress, then close; an idle connection closes now.</summary>
    public void RequestStop(ClientConnection caller)
    {
        if (!ReferenceEquals(Volatile.Read(ref _client), caller))
        {
            return;
        }
        _stopping = true;
        Interlocked.MemoryBarrier();
        if (Volatile.Read(ref _idle) != NotIdle)
        {
            Volatile.Read(ref _input)?.CancelPendingRead();
        }
    }

    public void Abort(ClientConnection caller)
    {
        if (!ReferenceEquals(Volatile.Read(ref _client), caller))
        {
            return;
        }
        _stopping = true;
        CancelLimitDelay();
        caller.Transport.Abort();
        Volatile.Read(ref _upstream)?.Transport.Abort();
        Volatile.Read(ref _abortWait)?.TrySetResult();   // a request waiting for a max_conns slot
    }

    // ---- Request head -------------------------------------------------------------------------------------

    /// <summary>
    /// Reads and parses the next request head. Returns 0 when a head is ready (copied into the request context and
    /// consumed from the input), a status code to answer before closing, -1 to close silently, or
    /// <see cref="ParkHead"/> when the heartbeat found the connection idle and it should park.
    /// </summary>
    [AsyncMethodBuilder(typeof(PooledValueTaskMethodBuilder<>))]
    private async ValueTask<int> ReadRequestHeadAsync(long headDeadline)
    {
        var heartbeat = _services.Heartbeat;
        var server = _listen!.DefaultServer;
        bool started = false;
        bool first = headDeadline != 0;
        long examinedLength = 0;
        long idleDeadline = 0;
        while (true)
        {
            if (!started)
            {
                idleDeadline = first ? headDeadline : heartbeat.DeadlineAfter(server.KeepaliveTimeout);
                SetClientTimeout(first ? ClientTimeout.Header : ClientTimeout.KeepAlive, idleDeadline);
                Volatile.Write(ref _idleGeneration, _idleGeneration + 1);
                Volatile.Write(ref _idle, IdleForRequest);
                Interlocked.MemoryBarrier();
                if (_stopping)
                {
                    Volatile.Write(ref _idle, NotIdle);
                    ClearClientTimeout();
                    // Nothing of a next request has come: a clean close (RFC 9112 §9.6).
                    if (!_input.TryRead(out var pending) || pending.Buffer.IsEmpty)
                    {
                        _linger = false;
                        return -1;
                    }
                    _input.AdvanceTo(pending.Buffer.Start);
                }
                else if (_services.Connections.Crowded && ParkNow())
                {
                    // Many connections open and active: this idle one gives its state back now rather than at the
                    // next heartbeat tick, so the memory of idle connections stays bounded under a burst of them.
                    Volatile.Write(ref _idle, NotIdle);
                    ClearClientTimeout();
                    _parkDeadline = idleDeadline;
                    return ParkHead;
                }
            }
            else
            {
                SetClientTimeout(ClientTimeout.Header, headDeadline);
            }

            var result = await _input.ReadAsync();
            Volatile.Write(ref _idle, NotIdle);
            if (ClearClientTimeout())
            {
                if (!started && !result.Buffer.IsEmpty)
                {
                    StartRequestLog();
                }
                CaptureFailedHead(result.Buffer);
                _input.AdvanceTo(result.Buffer.Start);
                // nginx closes without a response when nothing came; with a partial head it logs 408 and closes. We
                // answer 408 then (RFC 9110 §15.5.9), so the client knows why.
                _linger = false;
                return started || !result.Buffer.IsEmpty ? 408 : -1;
            }
            var buffer = result.Buffer;
            if (result.IsCanceled && buffer.IsEmpty)
            {
                _input.AdvanceTo(buffer.Start);
                if (_stopping && !started)
                {
                    _linger = false;
                    return -1;
                }
                if (!started && Interlocked.Exchange(ref _parkRequested, 0) != 0)
                {
                    // Idle since the last heartbeat tick: give the HTTP state back, keep the connection (nginx's
                    // keep-alive state); the idle deadline stays in force while parked.
                    _parkDeadline = idleDeadline;
                    return ParkHead;
                }
                continue;
            }
            if (!started && !buffer.IsEmpty)
            {
                started = true;
                Volatile.Write(ref _parkRequested, 0);
                StartRequestLog();
                if (headDeadline == 0)
                {
                    headDeadline = heartbeat.DeadlineAfter(server.ClientHeaderTimeout);
                }
            }

            var status = Http1Parser.ParseRequestHead(buffer, _head, _listen.ParserOptions, examinedLength, out var consumed, out var examined);
            if (status == Http1Status.Complete)
            {
                _context.BeginRequest(_head);
                _input.AdvanceTo(consumed);
                return 0;
            }
            if (status.IsError())
            {
                // Nothing of a malformed request goes anywhere: answer and close (the rest of the input is discarded
                // by the lingering close).
                CaptureFailedHead(buffer);
                _input.AdvanceTo(buffer.End);
                return status.ToStatusCode();
            }
            if (result.IsCompleted)
            {
                // The client closed mid-head (or between requests): nothing to answer.
                CaptureFailedHead(buffer);
                _input.AdvanceTo(buffer.End);
                _linger = false;
                return -1;
            }
            // Everything was examined: the next parse resumes its search for the end of the head from here.
            examinedLength = buffer.Length;
            _input.AdvanceTo(consumed, examined);
        }
    }

    /// <summary>True when nothing of a next request is here yet (a connection about to wait may park instead).</summary>
    private bool ParkNow()
    {
        if (!_input.TryRead(out var ready))
        {
            return true;
        }
        // Bytes (or the end of input) came already: leave them for the read that follows.
        _input.AdvanceTo(ready.Buffer.Start);
        return ready.Buffer.IsEmpty && !ready.IsCompleted && !ready.IsCanceled;
    }

    // ---- Request processing -------------------------------------------------------------------------------

    /// <summary>
    /// Routes the request and starts its answer. Not an async method itself: every path ends in one call whose task is
    /// returned as it is (the forwarding, or an answer FastProxy writes), so the usual request costs no suspended
    /// state of its own here, and no continuation hop when the backend's answer arrives. Only limit_req's delay, when
    /// it waits, continues in <see cref="ContinueAfterLimitsAsync"/>.
    /// </summary>
    private ValueTask<bool> ProcessRequest()
    {
        var snapshot = _snapshot!;
        var head = _head;
        _requests++;
        _context.ConnectionRequests = _requests;
        _context.Snapshot = snapshot;

        // RFC 9112 §9.3: HTTP/1.1 persists unless "close"; HTTP/1.0 only with "keep-alive".
        bool keepAlive = head.Version == Http1Version.Http11
            ? (head.Connection & ConnectionOptions.Close) == 0
            : (head.Connection & ConnectionOptions.KeepAlive) != 0;

        var bytes = _context.HeadBytes;
        var host = head.AuthorityOffset >= 0 ? bytes.Slice(head.AuthorityOffset, head.AuthorityLength)
            : head.HostFieldIndex >= 0 ? _context.GetValue(head.Fields[head.HostFieldIndex]) : default;
        _context.SetHost(host);
        var server = _listen!.Names.Select(_context.Host, snapshot.UsesCaptures ? _context : null);
        _context.Server = server;
        _log.HasServer = true;
        if (_requests >= server.Config.KeepaliveRequests)
        {
            keepAlive = false;
        }
        var bodyKind = Http1BodyFraming.ForRequest(head, out long contentLength);
        _inputMayFollow = bodyKind != BodyKind.None;

        // RFC 9112 §3.2: a 1.1 request without Host is a 400 (nginx: "client sent HTTP/1.1 request without Host").
        if (head.Version == Http1Version.Http11 && head.HostFieldIndex < 0)
        {
            return RespondAsync(400, keepAlive, bodyKind, contentLength);
        }
        // A reverse proxy is no tunnel: CONNECT is not allowed (nginx answers 405 too); "*" names no resource here.
        if (head.Method == Http1Method.Connect || head.TargetForm == RequestTargetForm.Authority)
        {
            return RespondAsync(405, keepAlive, bodyKind, contentLength);
        }
        if (head.TargetForm == RequestTargetForm.Asterisk)
        {
            return RespondAsync(400, keepAlive, bodyKind, contentLength);
        }

        var rawPath = head.PathLength == 0 ? "/"u8 : bytes.Slice(head.PathOffset, head.PathLength);
        var destination = _context.UriDestination(rawPath.Length);
        if (!UriNormalizer.TryNormalize(rawPath, destination, server.Config.MergeSlashes, out int uriLength))
        {
            return RespondAsync(400, keepAlive, bodyKind, contentLength);
        }
        _context.SetUriLength(uriLength);

        // nginx's server rewrite, find config, location rewrite and post rewrite phases (Http1Connection.Phases.cs):
        // rewrite/return at server level, location matching, client_max_body_size, the auto-redirect, rewrite/return
        // in the location.
        var serverRuntime = server.Runtime ?? snapshot.GetLocation(server.Config.Settings);
        _context.LocationRuntime = serverRuntime;
        if (serverRuntime.Limits is { } serverLimits)
        {
            ApplyRealIp(serverLimits); // nginx's post-read phase: realip with the server's settings
        }
        var phase = RunPhases(snapshot, server, serverRuntime, bodyKind, contentLength, out var location, out var runtime, out int phaseStatus);
        if (phase != PhaseOutcome.Continue)
        {
            return AnswerPhaseAsync(phase, phaseStatus, runtime, keepAlive, bodyKind, contentLength);
        }
        // nginx's preaccess phase (realip, limit_req, limit_conn): a null check when the location has none.
        if (runtime.Limits is { } limits)
        {
            var limiting = ApplyLimitsAsync(limits, runtime, bodyKind, contentLength, keepAlive);
            if (!limiting.IsCompletedSuccessfully)
            {
                return ContinueAfterLimitsAsync(limiting, location, runtime, bodyKind, contentLength, keepAlive);
            }
            int limited = limiting.Result;
            if (limited != 0)
            {
                return ValueTask.FromResult(limited > 0);
            }
        }
        return ContinueAfterLimits(location, runtime, bodyKind, contentLength, keepAlive);
    }

    /// <summary>Limits that did not decide at once (limit_req's delay, or a rejection still being written): the rest waits.</summary>
    [AsyncMethodBuilder(typeof(PooledValueTaskMethodBuilder<>))]
    private async ValueTask<bool> ContinueAfterLimitsAsync(ValueTask<int> limiting, LocationRoute? location, LocationRuntime runtime,
        BodyKind bodyKind, long contentLength, bool keepAlive)
    {
        int limited = await limiting;
        return limited != 0 ? limited > 0 : await ContinueAfterLimits(location, runtime, bodyKind, contentLength, keepAlive);
    }

    /// <summary>nginx's access phase and the content handler: allow/deny, then proxy_pass (or 404/502 without one).</summary>
    private ValueTask<bool> ContinueAfterLimits(LocationRoute? location, LocationRuntime runtime, BodyKind bodyKind, long contentLength, bool keepAlive)
    {
        // nginx's access phase: allow/deny on the client address, after realip replaced it ($binary_remote_addr).
        if (runtime.Access is { } access && access.Denies(_context.BinaryRemoteAddr))
        {
            if (_services.Logger.IsEnabled(Microsoft.Extensions.Logging.LogLevel.Error))
            {
                Log.AccessForbidden(_services.Logger, System.Text.Encoding.ASCII.GetString(_context.RemoteAddr));
            }
            return RespondAsync(403, keepAlive, bodyKind, contentLength);
        }
        if (runtime.Cluster is null)
        {
            // No proxy_pass and no return: nginx would look for a file under root; FastProxy serves no files.
            return RespondAsync(404, keepAlive, bodyKind, contentLength);
        }
        if (runtime.IsHttpsUpstream && runtime.UpstreamTls is null)
        {
            Log.HttpsUpstreamUnsupported(_services.Logger, runtime.Settings.ProxyPass!.Host);
            return RespondAsync(502, keepAlive, bodyKind, contentLength);
        }
        return ForwardAsync(location, runtime, bodyKind, contentLength, keepAlive);
    }

    // ---- Answers FastProxy writes itself ------------------------------------------------------------------

    /// <summary>
    /// Answers with an error page. The request body, if any, is read and discarded first so the connection can stay
    /// open (nginx's ngx_http_discard_request_body); when that is impossible (the client waits for 100 Continue, or
    /// the body fails) the connection closes after the answer.
    /// </summary>
    [AsyncMethodBuilder(typeof(PooledValueTaskMethodBuilder<>))]
    private async ValueTask<bool> RespondAsync(int status, bool keepAlive, BodyKind bodyKind, long contentLength)
    {
        keepAlive = await PrepareAnswerAsync(status, keepAlive, bodyKind, contentLength);
        WriteError(status, keepAlive, _head.Method == Http1Method.Head);
        return await FlushClientAsync() && keepAlive;
    }

    [AsyncMethodBuilder(typeof(PooledValueTaskMethodBuilder<>))]
    private async ValueTask<bool> PrepareAnswerAsync(int status, bool keepAlive, BodyKind bodyKind, long contentLength)
    {
        keepAlive &= !StatusResponses.ClosesConnection(status) && !_stopping;
        if (keepAlive && bodyKind != BodyKind.None)
        {
            keepAlive = !_head.ExpectContinue && await DiscardBodyAsync(bodyKind, contentLength);
            _inputMayFollow = !keepAlive;
        }
        return keepAlive;
    }

    private void WriteError(int status, bool keepAlive, bool headOnly)
    {
        long before = ClientUnflushed;
        var writer = new BufferWriter(_output);
        StatusResponses.WriteErrorHead(ref writer, _services.Date, status, keepAlive);
        // add_header ... always applies to FastProxy's own error pages too (nginx runs its header filters on them).
        if (_context.LocationRuntime is { } runtime)
        {
            ResponseHeadWriter.WriteAddHeaders(ref writer, runtime, _context, status);
        }
        writer.WriteCrlf();
        if (!headOnly)
        {
            writer.Write(StatusResponses.ErrorPage(status));
        }
        writer.Commit();
        CountResponseHead(status, before, headOnly ? 0 : StatusResponses.ErrorPage(status).Length);
    }

    /// <summary>
    /// nginx's <c>return</c>: a redirect (301/302/303/307/308 with the text as Location and the status page as body),
    /// a text body (Content-Type text/plain, nginx's default_type), the status page of an error code, or 444: close
    /// without answering.
    /// </summary>
    [AsyncMethodBuilder(typeof(PooledValueTaskMethodBuilder<>))]
    private async ValueTask<bool> ReturnAsync(LocationRuntime runtime, bool keepAlive, BodyKind bodyKind, long contentLength)
    {
        int status = runtime.ReturnStatus;
        if (status == 444)
        {
            _log.Status = 444;
            _linger = false;
            return false;
        }
        // ngx_http_script_return_code: a code of 400 or more without text is finalized as an error (400, 413, 414,
        // 500 and 501 then close the connection); with text, or below 400, the response keeps it.
        bool errorPage = status >= 400 && runtime.ReturnText is null;
        keepAlive = await PrepareAnswerAsync(errorPage ? status : 200, keepAlive, bodyKind, contentLength);
        WriteReturn(runtime, status, keepAlive);
        return await FlushClientAsync() && keepAlive;
    }

    private void WriteReturn(LocationRuntime runtime, int status, bool keepAlive)
    {
        long before = ClientUnflushed;
        var writer = new BufferWriter(_output);
        bool headOnly = _head.Method == Http1Method.Head;
        StatusResponses.WriteStatusLine(ref writer, status);
        writer.Write(_services.Date.Line);
        var text = runtime.ReturnText;
        ReadOnlySpan<byte> body = default;
        int textLength = 0;
        if (status is 301 or 302 or 303 or 307 or 308)
        {
            if (text is not null)
            {
                WriteReturnLocation(ref writer, text);
            }
            body = StatusResponses.PageFor(status, out var pageHeaders);
            writer.Write(pageHeaders);
        }
        else if (text is not null)
        {
            textLength = VariableEvaluator.Measure(text, _context);
            writer.Write("Content-Type: text/plain\r\nContent-Length: "u8);
            writer.WriteNumber(textLength);
            writer.WriteCrlf();
        }
        else
        {
            body = StatusResponses.PageFor(status, out var pageHeaders);
            if (pageHeaders.IsEmpty && status != 204 && status != 304 && status >= 200)
            {
                writer.Write("Content-Length: 0\r\n"u8);
            }
            writer.Write(pageHeaders);
        }
        writer.Write(keepAlive ? StatusResponses.ConnectionKeepAlive : StatusResponses.ConnectionClose);
        ResponseHeadWriter.WriteAddHeaders(ref writer, runtime, _context, status);
        writer.WriteCrlf();
        if (!headOnly)
        {
            if (textLength > 0)
            {
                VariableEvaluator.Write(text!, _context, textLength, ref writer);
            }
            else
            {
                writer.Write(body);
            }
        }
        writer.Commit();
        CountResponseHead(status, before, headOnly ? 0 : textLength > 0 ? textLength : body.Length);
    }

    /// <summary>The Location of a <c>return 30x URL</c>; a URL starting with "/" is made absolute (absolute_redirect).</summary>
    private void WriteReturnLocation(ref BufferWriter writer, CompiledTemplate text)
    {
        int length = VariableEvaluator.Measure(text, _context);
        byte[] buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(Math.Max(length, 1));
        try
        {
            int n = VariableEvaluator.Write(text, _context, buffer);
            AbsoluteRedirect.WriteField(ref writer, _context, buffer.AsSpan(0, n));
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Flushes the client output under send_timeout; false when the client is gone.</summary>
    [AsyncMethodBuilder(typeof(PooledValueTaskMethodBuilder<>))]
    private async ValueTask<bool> FlushClientAsync()
    {
        // send_timeout of the location (the listen address's default server before routing).
        var sendTimeout = _context.LocationRuntime?.Settings.SendTimeout ?? _listen?.DefaultServer.Settings.SendTimeout ?? TimeSpan.FromSeconds(60);
        SetClientTimeout(ClientTimeout.Send, _services.Heartbeat.DeadlineAfter(sendTimeout));
        CountFlushed();
        var result = await _output.FlushAsync();
        bool fired = ClearClientTimeout();
        return !fired && !result.IsCompleted && !result.IsCanceled;
    }

    /// <summary>Reads and drops a request body that nobody will receive; false when it cannot be done.</summary>
    [AsyncMethodBuilder(typeof(PooledValueTaskMethodBuilder<>))]
    private async ValueTask<bool> DiscardBodyAsync(BodyKind kind, long length)
    {
        var timeout = _context.LocationRuntime?.Settings.ClientBodyTimeout ?? TimeSpan.FromSeconds(60);
        if (kind == BodyKind.Chunked)
        {
            _bodyDecoder.Reset();
        }
        long remaining = length;
        while (kind == BodyKind.Chunked || remaining > 0)
        {
            SetClientTimeout(ClientTimeout.Body, _services.Heartbeat.DeadlineAfter(timeout));
            var result = await _input.ReadAsync();
            if (ClearClientTimeout())
            {
                _input.AdvanceTo(result.Buffer.Start);
                return false;
            }
            var buffer = result.Buffer;
            if (kind == BodyKind.ContentLength)
            {
                long take = Math.Min(remaining, buffer.Length);
                _input.AdvanceTo(buffer.GetPosition(take));
                remaining -= take;
                if (remaining > 0 && result.IsCompleted)
                {
                    return false;
                }
                continue;
            }
            while (true)
            {
                var status = _bodyDecoder.Decode(buffer, out var data, out var consumed, out var examined);
                if (status == Http1Status.Complete)
                {
                    _input.AdvanceTo(consumed);
                    return true;
                }
                if (status.IsError())
                {
                    _input.AdvanceTo(consumed);
                    return false;
                }
                if (!data.IsEmpty)
                {
                    buffer = buffer.Slice(consumed);
                    continue;
                }
                _input.AdvanceTo(consumed, examined);
                break;
            }
            if (result.IsCompleted)
            {
                return false;
            }
        }
        return true;
    }
}
