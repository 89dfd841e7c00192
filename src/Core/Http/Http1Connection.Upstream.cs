using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using FastProxy.Config;
using FastProxy.Forwarding;
using FastProxy.Http1;
using FastProxy.Infrastructure;
using FastProxy.LoadBalancing;
using FastProxy.Runtime;
using FastProxy.Upstreams;

namespace FastProxy.Http;

/// <summary>
/// The load-balancing side of forwarding: which destination each attempt goes to (the group's policy, with the
/// request's hash key and client address, max_conns reserved exactly, waiting for a slot), whether a failed attempt
/// may be tried again (nginx's proxy_next_upstream / _tries / _timeout), the request body kept for a replay, and the
/// answer of a retryable status held back until another server takes the request.
/// </summary>
internal sealed partial class Http1Connection
{
    /// <summary>Keys up to this long are evaluated on the stack; longer ones in a rented buffer.</summary>
    private const int StackHashKey = 256;

    private NextUpstreamConfig _nextUpstream = NextUpstreamConfig.Default;
    private int _attempts;
    private int _maxTries;
    private long _retryDeadline;
    private bool _idempotent;
    private bool _hasBody;

    // The destinations this request tried (LoadBalancingContext is a ref struct and cannot live across awaits).
    private ulong _tried;
    private ulong[]? _triedOverflow;
    private int _triedOverflowLength;

    private RequestBodyReplay _replay;

    // Status of the last response head read from a backend (0 = none).
    private int _upstreamStatus;

    // A response whose status proxy_next_upstream lists, kept unread while the next destination is picked.
    private UpstreamConnection? _held;
    private DestinationState? _heldDestination;
    private UpstreamPool? _heldPool;
    private bool _heldUpstreamKeepAlive;

    // Completed by Abort() to end a wait for a max_conns slot (created by the first wait of the connection).
    private TaskCompletionSource? _abortWait;

    private void BeginUpstreamRequest(ClusterRuntime cluster, LocationSettings settings, BodyKind bodyKind, long contentLength)
    {
        var next = settings.NextUpstream;
        _nextUpstream = next;
        _attempts = 0;
        _upstreamStatus = 0;
        // nginx: peer.tries starts at the number of servers (backups included) and proxy_next_upstream_tries caps it.
        _maxTries = cluster.MaxTries;
        if (next.Tries > 0 && next.Tries < _maxTries)
        {
            _maxTries = next.Tries;
        }
        _retryDeadline = next.Timeout > TimeSpan.Zero ? _services.Heartbeat.DeadlineAfter(next.Timeout) : long.MaxValue;
        // RFC 9110 §9.2.2. (nginx treats every method but POST, LOCK and PATCH as idempotent; FastProxy follows the RFC.)
        _idempotent = _head.Method is Http1Method.Get or Http1Method.Head or Http1Method.Options or Http1Method.Trace
            or Http1Method.Put or Http1Method.Delete;
        _hasBody = bodyKind != BodyKind.None;

        _tried = 0;
        _triedOverflowLength = cluster.State.TriedOverflowLength;
        if (_triedOverflowLength > 0)
        {
            if (_triedOverflow is null || _triedOverflow.Length < _triedOverflowLength)
            {
                _triedOverflow = new ulong[_triedOverflowLength];   // once per connection, only for groups over 64 servers
            }
            Array.Clear(_triedOverflow, 0, _triedOverflowLength);
        }

        // Keep the body for a replay only when a retry after sending it could be allowed at all.
        const NextUpstreamConditions afterSend = NextUpstreamConditions.Error | NextUpstreamConditions.Timeout | NextUpstreamConditions.InvalidHeader
            | NextUpstreamConditions.Http500 | NextUpstreamConditions.Http502 | NextUpstreamConditions.Http503 | NextUpstreamConditions.Http504
            | NextUpstreamConditions.Http403 | NextUpstreamConditions.Http404 | NextUpstreamConditions.Http429;
        bool mayRetryAfterSend = _maxTries > 1 && (next.Conditions & afterSend) != 0
            && (_idempotent || (next.Conditions & NextUpstreamConditions.NonIdempotent) != 0);
        _replay.Begin(_hasBody && mayRetryAfterSend, bodyKind, contentLength);
    }

    private void EndUpstreamRequest()
    {
        DiscardHeld();
        _replay.Release();
    }

    /// <summary>
    /// May a failed attempt be tried on the next server? nginx's ngx_http_upstream_next: the failure must be listed in
    /// proxy_next_upstream, a try must be left (tries), the time not spent (timeout); once the request may have reached
    /// the backend, the method must be idempotent (or non_idempotent listed) and the body whole in the replay buffer.
    /// </summary>
    private bool CanRetry(ExchangeOutcome outcome, bool requestSent)
    {
        var conditions = _nextUpstream.Conditions;
        var needed = outcome switch
        {
            ExchangeOutcome.ConnectTimeout or ExchangeOutcome.SendTimeout or ExchangeOutcome.ReadTimeout => NextUpstreamConditions.Timeout,
            ExchangeOutcome.InvalidResponse => NextUpstreamConditions.InvalidHeader,
            // The status itself was matched by the caller.
            ExchangeOutcome.RetryableStatus => NextUpstreamConditions.Http500 | NextUpstreamConditions.Http502 | NextUpstreamConditions.Http503
                | NextUpstreamConditions.Http504 | NextUpstreamConditions.Http403 | NextUpstreamConditions.Http404 | NextUpstreamConditions.Http429,
            _ => NextUpstreamConditions.Error,
        };
        if ((conditions & needed) == 0 || _attempts >= _maxTries || _services.Heartbeat.Now > _retryDeadline)
        {
            return false;
        }
        if (requestSent)
        {
            // nginx 1.9.13+: a non-idempotent request that may have reached a backend only with non_idempotent.
            if (!_idempotent && (conditions & NextUpstreamConditions.NonIdempotent) == 0)
            {
                return false;
            }
            // The body was streamed: it can be sent again only if it was read whole and kept (RequestBodyReplay).
            if (_hasBody && !_replay.CanReplay(_requestBodyComplete))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>
    /// Passive health of a response: an http_* status counts as a failure only when proxy_next_upstream lists it,
    /// and 403/404 never do (nginx's documentation of proxy_next_upstream and ngx_http_upstream_test_next).
    /// </summary>
    private static bool CountsAsFailure(NextUpstreamConditions conditions, int status) =>
        status is not (403 or 404) && MatchesNextUpstreamStatus(conditions, status);

    /// <summary>
    /// Every untried server that could take the request is at its max_conns: waits for a slot no longer than
    /// proxy_connect_timeout (as NGINX Plus's queue does; nginx open source answers 502 at once), then picks again;
    /// null = 502. Only this slow path is asynchronous: a pick is <see cref="TryAcquireDestination"/>.
    /// </summary>
    [AsyncMethodBuilder(typeof(PooledValueTaskMethodBuilder<>))]
    private async ValueTask<DestinationState?> WaitForDestinationAsync(ClusterRuntime cluster, LocationSettings settings)
    {
        var time = cluster.State.TimeProvider;
        long start = time.GetTimestamp();
        var limit = settings.ProxyConnectTimeout;
        var aborted = _abortWait;
        if (aborted is null)
        {
            aborted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            Interlocked.Exchange(ref _abortWait, aborted);   // a full fence: Abort() either sees it or set _stopping first
            if (_stopping && _transport.IsAborted)
            {
                return null;
            }
        }
        while (true)
        {
            // Take the signal before looking again, so a slot freed in between is not missed.
            Task released = cluster.State.WhenCapacityReleased();
            // Before the pick: a stop aborting every connection frees the slot this wait is for (the aborted request
            // at the backend ends), and a connection the server gave up on must not take it and start an exchange.
            if (aborted.Task.IsCompleted)
            {
                return null;   // the server is stopping and gave up on this connection
            }
            var destination = TryAcquireDestination(cluster, out bool saturated);
            if (destination is not null || !saturated)
            {
                return destination;
            }
            var remaining = limit - time.GetElapsedTime(start);
            if (remaining <= TimeSpan.Zero)
            {
                LoadBalancingLog.MaxConnsWaitTimedOut(_services.Logger, cluster.State.Name, limit);
                return null;
            }
            // Slow path only (every server busy): the wait's timer and WhenAny allocate, a pick never does.
            await ((Task)Task.WhenAny(released, aborted.Task)).WaitAsync(remaining, time).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    /// <summary>
    /// One pick for the next attempt: the group's policy with the request's hash key (evaluated into a stack or
    /// rented buffer: no allocation) and client address; the server's max_conns slot is reserved and it is marked
    /// tried. <paramref name="saturated"/>: nothing was free only because of max_conns (waiting may help).
    /// </summary>
    private DestinationState? TryAcquireDestination(ClusterRuntime cluster, out bool saturated)
    {
        byte[]? rented = null;
        scoped Span<byte> key = default;
        if (cluster.HashKey is { } template)
        {
            int length = VariableEvaluator.Measure(template, _context);
            key = length <= StackHashKey ? stackalloc byte[StackHashKey] : (rented = ArrayPool<byte>.Shared.Rent(length));
            key = key[..VariableEvaluator.Write(template, _context, key[..length])];
        }
        try
        {
            var context = new LoadBalancingContext(key, _context.BinaryRemoteAddr, _tried,
                _triedOverflowLength == 0 ? default : _triedOverflow.AsSpan(0, _triedOverflowLength));
            var destination = cluster.State.AcquireDestination(ref context);
            _tried = context.Tried;
            saturated = context.Saturated;
            return destination;
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    private void Hold(UpstreamConnection upstream, DestinationState destination, UpstreamPool pool, bool upstreamKeepAlive)
    {
        _held = upstream;
        _heldDestination = destination;
        _heldPool = pool;
        _heldUpstreamKeepAlive = upstreamKeepAlive;
    }

    /// <summary>Another server takes the request: the held answer is dropped unread (its connection with it).</summary>
    private void DiscardHeld()
    {
        if (_held is { } held)
        {
            _held = null;
            held.Discard();
            _heldDestination!.EndRequest();
            _heldDestination = null;
            _heldPool = null;
        }
    }

    /// <summary>No other server could take the request: the held answer goes to the client as the backend sent it.</summary>
    [AsyncMethodBuilder(typeof(PooledValueTaskMethodBuilder<>))]
    private async ValueTask<bool> RelayHeldAsync(LocationRuntime runtime, bool keepAlive)
    {
        var upstream = _held!;
        var destination = _heldDestination!;
        var pool = _heldPool!;
        bool upstreamKeepAlive = _heldUpstreamKeepAlive;
        _held = null;
        _heldDestination = null;
        _heldPool = null;
        ExchangeOutcome outcome;
        try
        {
            outcome = await RelayResponseAsync(upstream, destination, pool, runtime, keepAlive, upstreamKeepAlive);
        }
        finally
        {
            destination.EndRequest();
        }
        // Its passive-health verdict was given when it was held (a listed status is a failure).
        return outcome == ExchangeOutcome.Completed && _exchangeKeepAlive;
    }

    /// <summary>A retry sends the kept body again, with the framing of the first attempt.</summary>
    [AsyncMethodBuilder(typeof(PooledValueTaskMethodBuilder<>))]
    private async ValueTask<ExchangeOutcome> ReplayRequestBodyAsync(UpstreamConnection upstream, BodyKind kind, LocationSettings settings)
    {
        if (!_replay.CanReplay(bodyComplete: true))
        {
            return ExchangeOutcome.SendFailed;   // not reachable: CanRetry refuses a retry without a kept body
        }
        WriteReplayBody(upstream.Output, kind);
        return await FlushUpstreamAsync(upstream, settings.ProxySendTimeout) ? ExchangeOutcome.Completed : await UpstreamSendFailureAsync(upstream, settings);
    }

    private void WriteReplayBody(PipeWriter output, BodyKind kind)
    {
        var body = _replay.Body;
        if (kind != BodyKind.Chunked)
        {
            output.Write(body);
            return;
        }
        if (!body.IsEmpty)
        {
            var span = output.GetSpan(18);
            System.Buffers.Text.Utf8Formatter.TryFormat((ulong)body.Length, span, out int n, new StandardFormat('x'));
            span[n++] = (byte)'\r';
            span[n++] = (byte)'\n';
            output.Advance(n);
            output.Write(body);
            output.Write("\r\n"u8);
        }
        output.Write("0\r\n\r\n"u8);
    }
}

/// <summary>
/// The first bytes of a request body, kept while it is sent so that a retry can send it again. FastProxy streams
/// bodies instead of buffering them as nginx does (client_body_buffer_size, then a temporary file), so only a body of
/// at most <see cref="MaxLength"/> bytes (nginx's default client_body_buffer_size is 8k/16k; 64 KiB covers most API
/// requests) can be retried once it was sent; a larger one is never retried after its first byte went out. The
/// buffer is rented only for requests that could be retried, and returned when the request ends.
/// </summary>
internal struct RequestBodyReplay
{
    public const int MaxLength = 64 * 1024;

    private byte[]? _buffer;
    private int _length;
    private bool _keeping;

    /// <summary>Starts a request: keeps its body when <paramref name="wanted"/> and it can fit.</summary>
    public void Begin(bool wanted, BodyKind kind, long contentLength)
    {
        _length = 0;
        _keeping = wanted && (kind == BodyKind.Chunked || (kind == BodyKind.ContentLength && contentLength <= MaxLength));
    }

    /// <summary>Appends body bytes as they are sent; past <see cref="MaxLength"/> the body stops being replayable.</summary>
    public void Capture(in ReadOnlySequence<byte> data)
    {
        if (!_keeping || data.IsEmpty)
        {
            return;
        }
        long needed = _length + data.Length;
        if (needed > MaxLength)
        {
            _keeping = false;
            Release();
            return;
        }
        if (_buffer is null || _buffer.Length < needed)
        {
            var bigger = ArrayPool<byte>.Shared.Rent((int)Math.Max(needed, Math.Min(MaxLength, Math.Max(4096, (_buffer?.Length ?? 0) * 2L))));
            if (_buffer is not null)
            {
                _buffer.AsSpan(0, _length).CopyTo(bigger);
                ArrayPool<byte>.Shared.Return(_buffer);
            }
            _buffer = bigger;
        }
        data.CopyTo(_buffer.AsSpan(_length));
        _length = (int)needed;
    }

    /// <summary>True when the whole body was read from the client and kept.</summary>
    public readonly bool CanReplay(bool bodyComplete) => bodyComplete && _keeping;

    public readonly ReadOnlySpan<byte> Body => _buffer is null ? default : _buffer.AsSpan(0, _length);

    public void Release()
    {
        if (_buffer is not null)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = null;
        }
        _length = 0;
    }
}
