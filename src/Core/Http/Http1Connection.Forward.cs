using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using FastProxy.Config;
using FastProxy.Diagnostics;
using FastProxy.Forwarding;
using FastProxy.Http1;
using FastProxy.Infrastructure;
using FastProxy.LoadBalancing;
using FastProxy.Routing;
using FastProxy.Runtime;
using FastProxy.Transport;
using FastProxy.Upstreams;

namespace FastProxy.Http;

/// <summary>How one attempt at a backend ended.</summary>
internal enum ExchangeOutcome : byte
{
    /// <summary>The whole response went to the client; the client connection may continue.</summary>
    Completed,
    /// <summary>The response (or part of it) went to the client and the client connection must close.</summary>
    CompletedClose,
    /// <summary>The request body failed on the client's side (gone, too slow, too large, badly framed).</summary>
    ClientFailed,
    // Upstream failures before any response byte reached the client: candidates for next-upstream.
    ConnectFailed,
    ConnectTimeout,
    SendFailed,
    SendTimeout,
    /// <summary>Closed or reset before any response byte.</summary>
    NoResponse,
    ReadTimeout,
    InvalidResponse,
    /// <summary>A reused connection the backend had closed while idle (no response byte): retried once on a fresh one.</summary>
    Stale,
    /// <summary>The status matched proxy_next_upstream http_* and another try is allowed: the response is held (not relayed yet).</summary>
    RetryableStatus,
    /// <summary>The response head went to the client, then the backend failed mid-body: the client connection closes.</summary>
    ResponseCut,
    /// <summary>The TLS handshake with an HTTPS upstream failed (verification, protocol): nothing was sent; nginx's "error".</summary>
    TlsHandshakeFailed,
    /// <summary>The backend answered before it had the whole request body: relay its answer, then close the client.</summary>
    EarlyResponse,
}

internal sealed partial class Http1Connection
{
    /// <summary>The upstream connection a request is using now; the heartbeat checks its deadline.</summary>
    private UpstreamConnection? _upstream;

    private ChunkedDecoder _bodyDecoder;
    private SequencePosition _responseHeadEnd;
    private int _clientFailureStatus;
    private bool _requestBodyComplete;
    private bool _bodyStarted;
    private bool _sentContinue;
    private bool _exchangeKeepAlive;

    /// <summary>
    /// Forwards the request: picks a destination (Http1Connection.Upstream.cs: the group's policy, max_conns, hash
    /// keys), leases or opens a connection, sends head and body, relays the response. Failures move on to the next
    /// destination per proxy_next_upstream, _tries and _timeout (nginx's ngx_http_upstream_next): a request that
    /// failed to connect always may; once request bytes may have reached a backend only when the method is
    /// idempotent (or non_idempotent is set) and the body is replayable; once response bytes reached the client
    /// never. Each attempt is reported to passive health and listed in $upstream_addr / $upstream_status.
    /// </summary>
    [AsyncMethodBuilder(typeof(PooledValueTaskMethodBuilder<>))]
    private async ValueTask<bool> ForwardAsync(LocationRoute? location, LocationRuntime runtime, BodyKind bodyKind, long contentLength, bool keepAlive)
    {
        var head = _head;
        var cluster = runtime.Cluster!;
        bool hasBody = bodyKind != BodyKind.None;
        // RFC 9110 §7.8: an upgrade needs "Connection: upgrade" next to Upgrade, and only HTTP/1.1 can switch.
        bool upgrade = head.UpgradeFieldIndex >= 0 && (head.Connection & ConnectionOptions.Upgrade) != 0
            && head.Version == Http1Version.Http11;
        if (bodyKind == BodyKind.Chunked && runtime.UpstreamHttp10)
        {
            // An HTTP/1.0 backend cannot take chunked and FastProxy does not buffer bodies to count them.
            return await RespondAsync(411, false, bodyKind, contentLength);
        }
        _requestBodyComplete = !hasBody;
        _bodyStarted = false;
        _sentContinue = false;
        _clientFailureStatus = 0;
        BeginUpstreamRequest(cluster, runtime.Settings, bodyKind, contentLength);
        try
        {
            var attempts = _context.Upstream;
            var failure = ExchangeOutcome.NoResponse;

            while (true)
            {
                var destination = TryAcquireDestination(cluster, out bool saturated);
                if (destination is null && saturated && _held is null)
                {
                    destination = await WaitForDestinationAsync(cluster, runtime.Settings);
                }
                else if (destination is null && _held is null)
                {
                    LoadBalancingLog.NoLiveUpstream(_services.Logger, cluster.State.Name);
                }
                if (destination is null)
                {
                    if (_held is not null)
                    {
                        // Nothing else can take the request: the answer kept back goes to the client as it is (nginx
                        // passes the last try's response through).
                        return await RelayHeldAsync(runtime, keepAlive);
                    }
                    // nginx's "no live upstreams": $upstream_addr names the group.
                    attempts.Begin(cluster.NameBytes);
                    attempts.End(502);
                    _log.BeginUpstream(Timestamp());
                    _log.EndUpstream(Timestamp());
                    failure = ExchangeOutcome.NoResponse;
                    break;
                }
                DiscardHeld();
                _attempts++;
                var pool = (runtime.UpstreamTls?.Pools ?? cluster.Pools)[destination.Index];
                var upstream = pool.TryLease(_services.Heartbeat.Now);
                bool staleRetryAllowed = upstream is not null;
                attempts.Begin(cluster.Addresses[destination.Index]);
                _log.BeginUpstream(Timestamp());

                ExchangeOutcome outcome;
                try
                {
                    while (true)
                    {
                        outcome = await ExchangeAsync(destination, pool, upstream, location, runtime, bodyKind, contentLength, upgrade, keepAlive);
                        // A reused connection the backend had closed: once more on a fresh one, only while nothing of the
                        // request is lost (no body, or a body kept whole for replay).
                        if (outcome == ExchangeOutcome.Stale && staleRetryAllowed
                            && (bodyKind == BodyKind.None || _replay.CanReplay(_requestBodyComplete)))
                        {
                            staleRetryAllowed = false;
                            upstream = null;
                            continue;
                        }
                        break;
                    }
                }
                finally
                {
                    if (_held is null)
                    {
                        destination.EndRequest();   // a held answer keeps its slot until it is relayed or dropped
                    }
                }
                if (outcome == ExchangeOutcome.Stale)
                {
                    outcome = ExchangeOutcome.NoResponse;
                }
                _log.EndUpstream(Timestamp());
                long now = Transport.Epoll.EpollLoop.CachedTimestamp(cluster.State.TimeProvider);

                switch (outcome)
                {
                    case ExchangeOutcome.Completed:
                    case ExchangeOutcome.CompletedClose:
                        // nginx counts a listed http_* status as a failure even when it could not move on ("remember that
                        // the peer failed"); 403 and 404 never count.
                        if (CountsAsFailure(runtime.Settings.NextUpstream.Conditions, _upstreamStatus))
                        {
                            destination.ReportFailure(now);
                        }
                        else
                        {
                            destination.ReportSuccess(now);
                        }
                        return outcome == ExchangeOutcome.Completed && _exchangeKeepAlive;
                    case ExchangeOutcome.ResponseCut:
                        // The head went out and the body broke: the client connection closes. Not a failure (nginx does not
                        // count it either), and not the success a recovering server's probe needs.
                        return false;
                    case ExchangeOutcome.ClientFailed:
                        attempts.End(0);
                        if (_clientFailureStatus > 0)
                        {
                            WriteError(_clientFailureStatus, keepAlive: false, headOnly: false);
                            await FlushClientAsync();
                        }
                        return false;
                    case ExchangeOutcome.RetryableStatus:
                        if (CountsAsFailure(runtime.Settings.NextUpstream.Conditions, _upstreamStatus))
                        {
                            destination.ReportFailure(now);
                        }
                        // Kept back (_held) until another server takes the request.
                        continue;
                }

                // error, timeout, invalid_header: nginx counts them as failures whether or not they are listed.
                destination.ReportFailure(now);
                attempts.End(IsTimeout(outcome) ? 504 : 502);
                failure = outcome;
                LogFailure(destination, outcome);
                bool requestSent = outcome is not (ExchangeOutcome.ConnectFailed or ExchangeOutcome.ConnectTimeout or ExchangeOutcome.TlsHandshakeFailed);
                if (!CanRetry(outcome, requestSent))
                {
                    break;
                }
            }

            int status = IsTimeout(failure) ? 504 : 502;
            // A half-read body cannot be resynchronised: close. An unread one is discarded by RespondAsync (unless the
            // client waits for 100 Continue, then it closes too).
            if (!_requestBodyComplete && _bodyStarted)
            {
                keepAlive = false;
            }
            return await RespondAsync(status, keepAlive, _requestBodyComplete ? BodyKind.None : bodyKind, contentLength);
        }
        finally
        {
            EndUpstreamRequest();
        }
    }

    /// <summary>
    /// Makes the backend connection visible to <see cref="Abort"/> before any I/O on it; false when the server already
    /// aborted this connection (a stop whose drain ended): nothing may start then, or a read nobody aborts would hold
    /// the stop until the backend answers. Abort() aborts the client transport (an Interlocked exchange) before it
    /// reads _upstream, and this exchange is a full fence before IsAborted is read: one of the two always sees the other.
    /// </summary>
    private bool PublishUpstream(UpstreamConnection upstream)
    {
        Interlocked.Exchange(ref _upstream, upstream);
        return !_transport.IsAborted;
    }

    private static bool IsTimeout(ExchangeOutcome outcome) =>
        outcome is ExchangeOutcome.ConnectTimeout or ExchangeOutcome.SendTimeout or ExchangeOutcome.ReadTimeout;

    private void LogFailure(DestinationState destination, ExchangeOutcome outcome)
    {
        var logger = _services.Logger;
        switch (outcome)
        {
            case ExchangeOutcome.ConnectFailed:
                Log.UpstreamConnectFailed(logger, destination.EndPoint, "refused or unreachable");
                break;
            case ExchangeOutcome.ConnectTimeout:
                Log.UpstreamTimedOut(logger, destination.EndPoint, "connect");
                break;
            case ExchangeOutcome.SendTimeout:
                Log.UpstreamTimedOut(logger, destination.EndPoint, "send");
                break;
            case ExchangeOutcome.ReadTimeout:
                Log.UpstreamTimedOut(logger, destination.EndPoint, "read");
                break;
            default:
                Log.UpstreamFailed(logger, destination.EndPoint, outcome.ToString());
                break;
        }
    }

    /// <summary>One attempt on one backend connection (leased, or opened here).</summary>
    [AsyncMethodBuilder(typeof(PooledValueTaskMethodBuilder<>))]
    private async ValueTask<ExchangeOutcome> ExchangeAsync(DestinationState destination, UpstreamPool pool, UpstreamConnection? upstream,
        LocationRoute? location, LocationRuntime runtime, BodyKind bodyKind, long contentLength, bool upgrade, bool clientKeepAlive)
    {
        var settings = runtime.Settings;
        var heartbeat = _services.Heartbeat;
        bool reused = upstream is not null;
        try
        {
            if (upstream is null)
            {
                TransportConnection transport;
                try
                {
                    transport = _services.Transport.CreateOutbound(destination.EndPoint.AddressFamily);
                }
                catch (SocketException)
                {
                    // No socket to be had (out of descriptors): nginx's "socket() failed", an error for next-upstream.
                    return ExchangeOutcome.ConnectFailed;
                }
                upstream = new UpstreamConnection(transport, pool, destination);
                pool.CountCreated();
                if (!PublishUpstream(upstream))
                {
                    upstream.Discard();
                    return ExchangeOutcome.ClientFailed;
                }
                upstream.SetDeadline(heartbeat.DeadlineAfter(settings.ProxyConnectTimeout));
                var connect = await upstream.Transport.ConnectAsync(destination.EndPoint);
                if (upstream.ClearDeadline() || upstream.TimedOut)
                {
                    upstream.Discard();
                    return ExchangeOutcome.ConnectTimeout;
                }
                if (connect.HasError)
                {
                    upstream.Discard();
                    return ExchangeOutcome.ConnectFailed;
                }
                upstream.Transport.Start();
                if (runtime.UpstreamTls is { } upstreamTls)
                {
                    var handshake = await ConnectUpstreamTlsAsync(upstream, upstreamTls, settings);
                    if (handshake != ExchangeOutcome.Completed)
                    {
                        upstream.Discard();
                        return handshake;
                    }
                }
                // nginx's $upstream_connect_time includes the TLS handshake.
                _log.UpstreamConnected(Timestamp());
            }
            else if (!PublishUpstream(upstream))
            {
                upstream.Discard();
                return ExchangeOutcome.ClientFailed;
            }
            upstream.Requests++;

            var framing = bodyKind switch
            {
                BodyKind.ContentLength => UpstreamBodyFraming.ContentLength,
                BodyKind.Chunked => UpstreamBodyFraming.Chunked,
                // "Content-Length: 0" is kept (nginx's $proxy_internal_body_length gives "0"): some backends answer
                // a POST without any length with 411.
                _ => _head.ContentLength == 0 ? UpstreamBodyFraming.ContentLength : UpstreamBodyFraming.None,
            };
            bool upstreamKeepAlive = WriteRequestHead(upstream, location, runtime, framing, contentLength, upgrade, pool.MaxIdle > 0);

            if (bodyKind != BodyKind.None)
            {
                // nginx answers Expect: 100-continue itself when it starts reading the body, and never forwards the
                // Expect (its default proxy_set_header Expect ""). So does FastProxy: the backend sees a plain request.
                if (_head.ExpectContinue && _head.Version == Http1Version.Http11 && !_sentContinue)
                {
                    _output.Write(StatusResponses.Continue100);
                    _log.HeaderBytes += StatusResponses.Continue100.Length; // an interim head, not body
                    _sentContinue = true;
                    if (!await FlushClientAsync())
                    {
                        upstream.Discard();
                        return ExchangeOutcome.ClientFailed;
                    }
                }
                var body = await SendRequestBodyAsync(upstream, bodyKind, contentLength, settings);
                if (body == ExchangeOutcome.EarlyResponse)
                {
                    // RFC 9112 §9.3: a server may answer before the request is complete (a 413, a 401); relay that
                    // answer. The rest of the client's body is never read, so its connection closes afterwards, and
                    // the backend connection, which got a partial request, is not reused.
                    upstreamKeepAlive = false;
                    clientKeepAlive = false;
                    upstream.ForgetTimeout();
                }
                else if (body != ExchangeOutcome.Completed)
                {
                    upstream.Discard();
                    return body;
                }
            }
            else if (!await FlushUpstreamAsync(upstream, settings.ProxySendTimeout))
            {
                bool timedOut = upstream.TimedOut;
                upstream.Discard();
                return timedOut ? ExchangeOutcome.SendTimeout : reused ? ExchangeOutcome.Stale : ExchangeOutcome.SendFailed;
            }

            // The head's first read is awaited here, not in ReadResponseHeadAsync: the usual head arrives in one read,
            // and then it costs no suspended method of its own and no continuation hop back into this one.
            upstream.SetDeadline(heartbeat.DeadlineAfter(settings.ProxyReadTimeout));
            var firstRead = await upstream.Input.ReadAsync();
            bool anyResponse = false;
            if (!TakeResponseHead(upstream, firstRead, ref anyResponse, out var headResult))
            {
                headResult = await ReadResponseHeadAsync(upstream, settings.ProxyReadTimeout, anyResponse);
            }
            if (headResult != ExchangeOutcome.Completed)
            {
                upstream.Discard();
                return headResult == ExchangeOutcome.NoResponse && reused ? ExchangeOutcome.Stale : headResult;
            }

            var response = upstream.ResponseHead;
            int status = response.StatusCode;
            if (status == 101 && !upgrade)
            {
                // A switch the client did not ask for cannot be relayed: the client would not speak the protocol.
                upstream.Discard();
                return ExchangeOutcome.InvalidResponse;
            }
            _upstreamStatus = status;
            _context.Upstream.End(status);
            _log.UpstreamHeader(Timestamp());
            if (status == 101)
            {
                return await TunnelAsync(upstream, runtime);
            }
            if (MatchesNextUpstreamStatus(settings.NextUpstream.Conditions, status) && CanRetry(ExchangeOutcome.RetryableStatus, requestSent: true))
            {
                // Kept, not dropped yet: if no other server can take the request, this answer goes to the client as
                // it is (nginx passes the last try's answer through); otherwise it is discarded unread.
                Hold(upstream, destination, pool, upstreamKeepAlive);
                return ExchangeOutcome.RetryableStatus;
            }
            return await RelayResponseAsync(upstream, destination, pool, runtime, clientKeepAlive, upstreamKeepAlive);
        }
        finally
        {
            Volatile.Write(ref _upstream, null);
        }
    }

    /// <summary>
    /// Writes the backend's response head to the client and streams its body; the connection goes back to the pool
    /// after a complete, well-framed exchange.
    /// </summary>
    [AsyncMethodBuilder(typeof(PooledValueTaskMethodBuilder<>))]
    private async ValueTask<ExchangeOutcome> RelayResponseAsync(UpstreamConnection upstream, DestinationState destination, UpstreamPool pool,
        LocationRuntime runtime, bool clientKeepAlive, bool upstreamKeepAlive)
    {
        var settings = runtime.Settings;
        var heartbeat = _services.Heartbeat;
        var response = upstream.ResponseHead;
        try
        {
            Volatile.Write(ref _upstream, upstream);
            var responseKind = Http1BodyFraming.ForResponse(response, _head.Method, out long responseLength);
            bool client11 = _head.Version == Http1Version.Http11;
            // A chunked response to an HTTP/1.0 client is decoded and delimited by closing (1.0 has no chunked).
            bool decodeOnly = responseKind == BodyKind.Chunked && !client11;
            bool closeClient = !clientKeepAlive || responseKind == BodyKind.UntilClose || decodeOnly || _stopping;
            WriteResponseHead(response, runtime, decodeOnly, closeClient ? ClientConnectionMode.Close : ClientConnectionMode.KeepAlive);
            upstream.Input.AdvanceTo(_responseHeadEnd);

            var relayed = await RelayResponseBodyAsync(upstream, responseKind, responseLength, rechunk: responseKind == BodyKind.Chunked && client11,
                settings.ProxyReadTimeout);
            if (relayed != ExchangeOutcome.Completed)
            {
                // Cut mid-body (or the client left): closing the client connection is the only way to tell it the
                // body is incomplete when the length was not announced, and the only safe end when it was.
                if (relayed == ExchangeOutcome.ReadTimeout)
                {
                    Log.UpstreamTimedOut(_services.Logger, destination.EndPoint, "read, mid-body");
                }
                upstream.Discard();
                _linger = false;
                // The backend's FIN ending an until-close body, or the client leaving, is a complete exchange for the
                // backend; a reset, a timeout or bad chunking is a response cut short.
                return relayed is ExchangeOutcome.NoResponse or ExchangeOutcome.ReadTimeout or ExchangeOutcome.InvalidResponse
                    ? ExchangeOutcome.ResponseCut
                    : ExchangeOutcome.CompletedClose;
            }

            // Back to the pool only after a complete, well-framed exchange that both sides mean to keep.
            bool reusable = upstreamKeepAlive && responseKind != BodyKind.UntilClose
                && (response.Connection & ConnectionOptions.Close) == 0
                && (response.Version == Http1Version.Http11 || (response.Connection & ConnectionOptions.KeepAlive) != 0)
                && upstream.IsReusable();
            Volatile.Write(ref _upstream, null);
            if (reusable)
            {
                pool.Return(upstream, heartbeat.Now);
            }
            else
            {
                upstream.Close();
            }
            bool flushed = await FlushClientAsync();
            _exchangeKeepAlive = !closeClient && flushed;
            return closeClient ? ExchangeOutcome.CompletedClose : ExchangeOutcome.Completed;
        }
        finally
        {
            Volatile.Write(ref _upstream, null);
        }
    }

    private static bool MatchesNextUpstreamStatus(NextUpstreamConditions conditions, int status) => status switch
    {
        500 => (conditions & NextUpstreamConditions.Http500) != 0,
        502 => (conditions & NextUpstreamConditions.Http502) != 0,
        503 => (conditions & NextUpstreamConditions.Http503) != 0,
        504 => (conditions & NextUpstreamConditions.Http504) != 0,
        403 => (conditions & NextUpstreamConditions.Http403) != 0,
        404 => (conditions & NextUpstreamConditions.Http404) != 0,
        429 => (conditions & NextUpstreamConditions.Http429) != 0,
        _ => false,
    };

    private bool WriteRequestHead(UpstreamConnection upstream, LocationRoute? location, LocationRuntime runtime,
        UpstreamBodyFraming framing, long contentLength, bool upgrade, bool keepAlive)
    {
        var writer = new BufferWriter(upstream.Output);
        bool reusable = RequestHeadWriter.Write(ref writer, _context, location, runtime, framing, contentLength, upgrade, keepAlive);
        writer.Commit();
        return reusable;
    }

    private void WriteResponseHead(HttpResponseHead response, LocationRuntime runtime, bool dropTransferEncoding, ClientConnectionMode mode)
    {
        long before = ClientUnflushed;
        var writer = new BufferWriter(_output);
        ResponseHeadWriter.Write(ref writer, response, runtime, _services.Date, _context, dropTransferEncoding, mode);
        writer.Commit();
        CountResponseHead(response.StatusCode, before, 0);
    }

    /// <summary>Flushes towards the backend under proxy_send_timeout; false when it failed or timed out.</summary>
    [AsyncMethodBuilder(typeof(PooledValueTaskMethodBuilder<>))]
    private async ValueTask<bool> FlushUpstreamAsync(UpstreamConnection upstream, TimeSpan sendTimeout)
    {
        upstream.SetSendDeadline(_services.Heartbeat.DeadlineAfter(sendTimeout));
        var result = await upstream.Output.FlushAsync();
        bool fired = upstream.ClearDeadline();
        return !fired && !upstream.TimedOut && !result.IsCompleted && !result.IsCanceled;
    }

    /// <summary>
    /// Streams the request body to the backend with fresh framing: Content-Length bodies byte for byte, chunked
    /// bodies decoded and re-chunked (RFC 9112 §7.1), so nothing ambiguous the client sent reaches the backend.
    /// client_max_body_size is enforced on the fly for chunked bodies (413), client_body_timeout between reads (408).
    /// </summary>
    [AsyncMethodBuilder(typeof(PooledValueTaskMethodBuilder<>))]
    private async ValueTask<ExchangeOutcome> SendRequestBodyAsync(UpstreamConnection upstream, BodyKind kind, long length, LocationSettings settings)
    {
        var heartbeat = _services.Heartbeat;
        var output = upstream.Output;
        if (_requestBodyComplete)
        {
            // A retry: the body was read whole from the client and kept for replay (CanRetry allowed it only so).
            return await ReplayRequestBodyAsync(upstream, kind, settings);
        }
        long max = settings.ClientMaxBodySize;
        long remaining = length;
        long total = 0;
        if (kind == BodyKind.Chunked)
        {
            _bodyDecoder.Reset();
        }
        _bodyStarted = true;
        while (true)
        {
            if (HasEarlyResponse(upstream))
            {
                return ExchangeOutcome.EarlyResponse;
            }
            SetClientTimeout(ClientTimeout.Body, heartbeat.DeadlineAfter(settings.ClientBodyTimeout));
            var result = await _input.ReadAsync();
            if (ClearClientTimeout())
            {
                _input.AdvanceTo(result.Buffer.Start);
                return ClientFailure(408);
            }
            var buffer = result.Buffer;
            if (kind == BodyKind.ContentLength)
            {
                long take = Math.Min(remaining, buffer.Length);
                var slice = buffer.Slice(0, take);
                foreach (var segment in slice)
                {
                    output.Write(segment.Span);
                }
                _replay.Capture(slice);
                _input.AdvanceTo(slice.End);
                remaining -= take;
                _log.RequestLength += take;
                if (remaining == 0)
                {
                    _requestBodyComplete = true;
                    _inputMayFollow = false;
                    return await FlushUpstreamAsync(upstream, settings.ProxySendTimeout) ? ExchangeOutcome.Completed : await UpstreamSendFailureAsync(upstream, settings);
                }
                if (result.IsCompleted)
                {
                    return ClientFailure(0); // the client closed mid-body: nobody to answer
                }
            }
            else
            {
                while (true)
                {
                    var status = _bodyDecoder.Decode(buffer, out var data, out var consumed, out var examined);
                    if (!data.IsEmpty)
                    {
                        total += data.Length;
                        _log.RequestLength += data.Length;
                        if (max > 0 && total > max)
                        {
                            _input.AdvanceTo(consumed);
                            return ClientFailure(413);
                        }
                        WriteChunk(output, data);
                        _replay.Capture(data);
                    }
                    if (status == Http1Status.Complete)
                    {
                        output.Write("0\r\n\r\n"u8);
                        _input.AdvanceTo(consumed);
                        _requestBodyComplete = true;
                        _inputMayFollow = false;
                        return await FlushUpstreamAsync(upstream, settings.ProxySendTimeout) ? ExchangeOutcome.Completed : await UpstreamSendFailureAsync(upstream, settings);
                    }
                    if (status.IsError())
                    {
                        _input.AdvanceTo(consumed);
                        return ClientFailure(400);
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
                    return ClientFailure(0);
                }
            }
            if (!await FlushUpstreamAsync(upstream, settings.ProxySendTimeout))
            {
                return await UpstreamSendFailureAsync(upstream, settings);
            }
        }
    }

    private ExchangeOutcome ClientFailure(int status)
    {
        _clientFailureStatus = status;
        if (status == 0)
        {
            _linger = false;
            _log.Status = 400; // nginx logs "client prematurely closed connection" while reading the body as 400
        }
        return ExchangeOutcome.ClientFailed;
    }

    /// <summary>
    /// A failed or timed-out send is often a backend that answered early and stopped reading (or closed): when its
    /// answer is already buffered, that answer is what the client gets.
    /// </summary>
    /// <remarks>
    /// The answer may have reached the socket but not yet the input pipe when the send timeout fired (a starved
    /// receive loop): the timeout stopped only the sending half, so bytes the kernel holds are still read and relayed
    /// (nginx handles ready read events before expired timers, so an answer that arrived in time wins there too).
    /// </remarks>
    [AsyncMethodBuilder(typeof(PooledValueTaskMethodBuilder<>))]
    private async ValueTask<ExchangeOutcome> UpstreamSendFailureAsync(UpstreamConnection upstream, LocationSettings settings)
    {
        if (HasEarlyResponse(upstream))
        {
            return ExchangeOutcome.EarlyResponse;
        }
        if (!upstream.TimedOut)
        {
            return ExchangeOutcome.SendFailed;
        }
        if (upstream.Tls is null && !upstream.Transport.IsAborted && upstream.Transport.HasKernelInput())
        {
            upstream.ForgetTimeout();
            upstream.SetDeadline(_services.Heartbeat.DeadlineAfter(settings.ProxyReadTimeout));
            var result = await upstream.Input.ReadAsync();
            bool fired = upstream.ClearDeadline();
            upstream.Input.AdvanceTo(result.Buffer.Start);
            if (!fired && !result.Buffer.IsEmpty)
            {
                return ExchangeOutcome.EarlyResponse;
            }
        }
        return ExchangeOutcome.SendTimeout;
    }

    /// <summary>True when response bytes arrived while the request body is still being sent (a peek: nothing is consumed).</summary>
    private static bool HasEarlyResponse(UpstreamConnection upstream)
    {
        if (!upstream.Input.TryRead(out var result))
        {
            return false;
        }
        bool any = !result.Buffer.IsEmpty;
        upstream.Input.AdvanceTo(result.Buffer.Start);
        return any;
    }

    /// <summary>One chunk: size in hex, CRLF, data, CRLF (RFC 9112 §7.1).</summary>
    private static void WriteChunk(PipeWriter output, in ReadOnlySequence<byte> data)
    {
        var span = output.GetSpan(18);
        System.Buffers.Text.Utf8Formatter.TryFormat((ulong)data.Length, span, out int n, new StandardFormat('x'));
        span[n++] = (byte)'\r';
        span[n++] = (byte)'\n';
        output.Advance(n);
        foreach (var segment in data)
        {
            output.Write(segment.Span);
        }
        output.Write("\r\n"u8);
    }

    /// <summary>
    /// Reads the rest of the backend's response head under proxy_read_timeout (reset on every read, as nginx's), after
    /// a first read that did not complete it (<paramref name="any"/>: that read brought bytes).
    /// </summary>
    [AsyncMethodBuilder(typeof(PooledValueTaskMethodBuilder<>))]
    private async ValueTask<ExchangeOutcome> ReadResponseHeadAsync(UpstreamConnection upstream, TimeSpan readTimeout, bool any)
    {
        var heartbeat = _services.Heartbeat;
        while (true)
        {
            upstream.SetDeadline(heartbeat.DeadlineAfter(readTimeout));
            var result = await upstream.Input.ReadAsync();
            if (TakeResponseHead(upstream, result, ref any, out var outcome))
            {
                return outcome;
            }
        }
    }

    /// <summary>
    /// One read of the response head (its deadline set before the read): true with the outcome once decided, false
    /// when the head needs more bytes. Interim 1xx responses other than 101 are dropped, as nginx drops them. On
    /// success the head stays unconsumed in the backend's input (its bytes back <see cref="HttpHead.Raw"/>) until
    /// the client head is written.
    /// </summary>
    private bool TakeResponseHead(UpstreamConnection upstream, ReadResult result, ref bool any, out ExchangeOutcome outcome)
    {
        var input = upstream.Input;
        if (upstream.ClearDeadline() || upstream.TimedOut)
        {
            outcome = ExchangeOutcome.ReadTimeout;
            return true;
        }
        var buffer = result.Buffer;
        any |= !buffer.IsEmpty;
        upstream.ResponseHead.Reset();
        var status = Http1Parser.ParseResponseHead(buffer, upstream.ResponseHead, Http1ParserOptions.Default, out var consumed, out var examined);
        if (status == Http1Status.Complete)
        {
            int code = upstream.ResponseHead.StatusCode;
            if (code is >= 100 and < 200 and not 101)
            {
                input.AdvanceTo(consumed);
                outcome = default;
                return false;
            }
            _responseHeadEnd = consumed;
            outcome = ExchangeOutcome.Completed;
            return true;
        }
        if (status.IsError())
        {
            input.AdvanceTo(buffer.End);
            outcome = ExchangeOutcome.InvalidResponse;
            return true;
        }
        if (result.IsCompleted)
        {
            input.AdvanceTo(buffer.End);
            outcome = any ? ExchangeOutcome.InvalidResponse : ExchangeOutcome.NoResponse;
            return true;
        }
        input.AdvanceTo(consumed, examined);
        outcome = default;
        return false;
    }

    /// <summary>
    /// Streams the response body to the client with backpressure: each read from the backend is written and flushed
    /// before the next, so at most a pipe's worth is buffered. Returns Completed only for a whole, well-framed body,
    /// whose last bytes are written but not yet flushed: the caller pools the backend connection first, so that the
    /// client's next request (which can only follow the flush) finds it there.
    /// </summary>
    [AsyncMethodBuilder(typeof(PooledValueTaskMethodBuilder<>))]
    private async ValueTask<ExchangeOutcome> RelayResponseBodyAsync(UpstreamConnection upstream, BodyKind kind, long length, bool rechunk, TimeSpan readTimeout)
    {
        var heartbeat = _services.Heartbeat;
        var input = upstream.Input;
        if (kind == BodyKind.None)
        {
            return ExchangeOutcome.Completed;
        }
        if (kind == BodyKind.Chunked)
        {
            upstream.Decoder.Reset();
        }
        long remaining = length;
        // Flush the head now only when no body byte is at hand; otherwise head and first bytes go out together.
        while (true)
        {
            upstream.SetDeadline(heartbeat.DeadlineAfter(readTimeout));
            var result = await input.ReadAsync();
            if (upstream.ClearDeadline() || upstream.TimedOut)
            {
                return ExchangeOutcome.ReadTimeout;
            }
            var buffer = result.Buffer;
            switch (kind)
            {
                case BodyKind.ContentLength:
                {
                    long take = Math.Min(remaining, buffer.Length);
                    var slice = buffer.Slice(0, take);
                    foreach (var segment in slice)
                    {
                        _output.Write(segment.Span);
                    }
                    input.AdvanceTo(slice.End);
                    remaining -= take;
                    if (remaining == 0)
                    {
                        return ExchangeOutcome.Completed; // the caller flushes, after pooling the connection
                    }
                    if (result.IsCompleted)
                    {
                        await FlushClientAsync();
                        return ExchangeOutcome.NoResponse; // truncated
                    }
                    break;
                }
                case BodyKind.Chunked:
                {
                    while (true)
                    {
                        var status = upstream.Decoder.Decode(buffer, out var data, out var consumed, out var examined);
                        if (!data.IsEmpty)
                        {
                            if (rechunk)
                            {
                                WriteChunk(_output, data);
                            }
                            else
                            {
                                foreach (var segment in data)
                                {
                                    _output.Write(segment.Span);
                                }
                            }
                        }
                        if (status == Http1Status.Complete)
                        {
                            if (rechunk)
                            {
                                _output.Write("0\r\n\r\n"u8);
                            }
                            input.AdvanceTo(consumed);
                            return ExchangeOutcome.Completed; // the caller flushes, after pooling the connection
                        }
                        if (status.IsError())
                        {
                            input.AdvanceTo(consumed);
                            await FlushClientAsync();
                            return ExchangeOutcome.InvalidResponse;
                        }
                        if (!data.IsEmpty)
                        {
                            buffer = buffer.Slice(consumed);
                            continue;
                        }
                        input.AdvanceTo(consumed, examined);
                        break;
                    }
                    if (result.IsCompleted)
                    {
                        await FlushClientAsync();
                        return ExchangeOutcome.NoResponse; // truncated: no last chunk
                    }
                    break;
                }
                default: // until close
                {
                    foreach (var segment in buffer)
                    {
                        _output.Write(segment.Span);
                    }
                    input.AdvanceTo(buffer.End);
                    if (result.IsCompleted)
                    {
                        // The backend's FIN ends the body; our own close tells the client. A reset instead of a FIN
                        // means the body may be cut: the client cannot tell either way (HTTP/1.0 framing).
                        await FlushClientAsync();
                        return ExchangeOutcome.CompletedClose;
                    }
                    break;
                }
            }
            if (!await FlushClientAsync())
            {
                return ExchangeOutcome.CompletedClose;
            }
        }
    }

    /// <summary>
    /// After a 101: relays the 101 head, then copies bytes both ways until either side closes. proxy_read_timeout
    /// bounds the silence on the tunnel (nginx re-arms it on traffic in either direction).
    /// </summary>
    private async ValueTask<ExchangeOutcome> TunnelAsync(UpstreamConnection upstream, LocationRuntime runtime)
    {
        WriteResponseHead(upstream.ResponseHead, runtime, dropTransferEncoding: false, ClientConnectionMode.Upgrade);
        upstream.Input.AdvanceTo(_responseHeadEnd);
        _linger = false;
        if (!await FlushClientAsync())
        {
            upstream.Discard();
            return ExchangeOutcome.CompletedClose;
        }
        long idleTicks = _services.Heartbeat.ToTicks(runtime.Settings.ProxyReadTimeout);
        upstream.SetDeadline(_services.Heartbeat.Now + idleTicks);
        // Per tunnel, not per request: two tasks.
        var toBackend = PumpAsync(_input, upstream.Output, upstream, idleTicks);
        var toClient = PumpAsync(upstream.Input, _output, upstream, idleTicks);
        await Task.WhenAny(toBackend, toClient);
        // Either side ended: end the other (nginx finalizes the upgraded request when one side is done).
        upstream.Transport.Abort();
        _input.CancelPendingRead();
        await Task.WhenAll(toBackend, toClient);
        upstream.ClearDeadline();
        upstream.Discard();
        return ExchangeOutcome.CompletedClose;
    }

    private async Task PumpAsync(PipeReader from, PipeWriter to, UpstreamConnection upstream, long idleTicks)
    {
        try
        {
            while (true)
            {
                var result = await from.ReadAsync();
                var buffer = result.Buffer;
                foreach (var segment in buffer)
                {
                    to.Write(segment.Span);
                }
                if (ReferenceEquals(to, _output))
                {
                    _log.BytesSent += buffer.Length; // the tunnel's bytes count as sent, as in nginx
                }
                from.AdvanceTo(buffer.End);
                upstream.SetDeadline(_services.Heartbeat.Now + idleTicks);
                if (result.IsCompleted || result.IsCanceled || upstream.TimedOut)
                {
                    break;
                }
                var flush = await to.FlushAsync();
                if (flush.IsCompleted || flush.IsCanceled)
                {
                    break;
                }
            }
        }
        catch (InvalidOperationException)
        {
            // A pipe completed under us during teardown.
        }
    }
}
