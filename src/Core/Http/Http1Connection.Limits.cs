using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using System.Text;
using FastProxy.Diagnostics;
using FastProxy.Forwarding;
using FastProxy.Http1;
using FastProxy.Infrastructure;
using FastProxy.RateLimiting;
using FastProxy.RealIp;
using FastProxy.Runtime;
using Microsoft.Extensions.Logging;

namespace FastProxy.Http;

/// <summary>
/// nginx's realip, limit_req and limit_conn handlers in the request path.
/// </summary>
/// <remarks>
/// Order, as nginx runs them: realip in the post-read phase with the server's settings (<see cref="ApplyRealIp"/>,
/// before the server-level <c>return</c>), then, once the location is known and its <c>return</c> did not answer, the
/// preaccess phase. Three modules register preaccess handlers: limit_conn, limit_req and realip, in that order in
/// ngx_modules (auto/modules), and ngx_http_init_phase_handlers installs each phase's handlers last-registered first,
/// so the order is realip (if post-read did not already set the address), limit_req, limit_conn. A delayed request
/// therefore takes its limit_conn place only after the delay, and a request limit_req rejects never counts against
/// limit_conn. The places are given back by <see cref="RequestContext.EndRequest"/>, which the connection loop runs
/// whatever way the request ended (response done, client gone, upstream error, tunnel closed, exception).
/// </remarks>
internal sealed partial class Http1Connection
{
    // Keys up to this size are evaluated on the stack; longer ones in a rented buffer.
    private const int StackKeyBytes = 256;
    private const int StackKeyCount = 16;

    private CancellationTokenSource? _delayCancel;
    private volatile bool _aborted;

    /// <summary>ngx_http_realip_handler: the client address from a trusted peer's header, once per request.</summary>
    private void ApplyRealIp(LimitRuntime limits)
    {
        if (limits.RealIp is not { } resolver || _context.RealIpSet)
        {
            return;
        }
        var peer = _context.Peer;
        if (!resolver.Trusted.Contains(in peer))
        {
            // Only a trusted peer may name the client: an untrusted one's header is not even read.
            return;
        }
        bool found;
        ClientAddress client;
        if (resolver.Source == RealIpSource.XForwardedFor)
        {
            found = ResolveForwardedFor(resolver, in peer, out client);
        }
        else
        {
            // X-Real-IP or another header: its first line (nginx's headers_in.x_real_ip, or the first match).
            int index = _context.FindField(limits.RealIpHeader);
            if (index < 0)
            {
                return;
            }
            found = resolver.TryResolve(in peer, _context.GetValue(_context.Head.Fields[index]), out client);
        }
        if (found)
        {
            _context.SetRealIp(in client);
        }
    }

    /// <summary>Every X-Forwarded-For line, in the order received (nginx walks them from the last).</summary>
    [SkipLocalsInit]
    private bool ResolveForwardedFor(RealIpResolver resolver, in ClientAddress peer, out ClientAddress client)
    {
        Span<Range> lines = stackalloc Range[StackKeyCount];
        int n = 0;
        var fields = _context.Head.Fields;
        for (int i = 0; i < fields.Length; i++)
        {
            ref readonly var field = ref fields[i];
            if (field.NameLength != 15 || !Ascii.EqualsIgnoreCase(_context.GetName(field), "x-forwarded-for"u8))
            {
                continue;
            }
            if (n == lines.Length)
            {
                // More lines than we keep: the walk starts from the last one, so drop the first.
                lines[1..].CopyTo(lines);
                n--;
            }
            lines[n++] = new Range(field.ValueOffset, field.ValueOffset + field.ValueLength);
        }
        if (n == 0)
        {
            client = peer;
            return false;
        }
        return resolver.TryResolve(in peer, _context.HeadBytes, lines[..n], out client);
    }

    /// <summary>
    /// The preaccess phase of a location that has limits. Returns 0 to go on with the request, or, when the request
    /// was answered here (or the connection was aborted during a delay), 1 to keep the connection and -1 to close it.
    /// </summary>
    [AsyncMethodBuilder(typeof(PooledValueTaskMethodBuilder<>))]
    private async ValueTask<int> ApplyLimitsAsync(LimitRuntime limits, LocationRuntime runtime, BodyKind bodyKind, long contentLength, bool keepAlive)
    {
        ApplyRealIp(limits);

        // nginx runs the limit handlers once per main request; here a request runs this once.
        if (limits.Req is { } req)
        {
            var decision = EvaluateLimitReq(req, limits.ReqKeys!);
            _context.LimitReqStatus = decision.Status;
            if (decision.Status is not (LimitReqStatus.None or LimitReqStatus.Passed))
            {
                LogLimitReq(limits, req, in decision);
            }
            if (decision.Action == LimitAction.Reject)
            {
                return await RejectAsync(runtime, decision.StatusCode, decision.RetryAfterSeconds, keepAlive, bodyKind, contentLength) ? 1 : -1;
            }
            if (decision.Action == LimitAction.Delay && !await DelayAsync(decision.DelayMs))
            {
                _linger = false;
                return -1;
            }
        }

        if (limits.Conn is { } conn)
        {
            var decision = AcquireLimitConn(conn, limits.ConnKeys!);
            _context.LimitConnStatus = decision.Status;
            if (decision.Status is LimitConnStatus.Rejected or LimitConnStatus.RejectedDryRun)
            {
                LogLimitConn(limits, conn, in decision);
            }
            if (decision.Action == LimitAction.Reject)
            {
                return await RejectAsync(runtime, decision.StatusCode, 0, keepAlive, bodyKind, contentLength) ? 1 : -1;
            }
        }
        return 0;
    }

    [SkipLocalsInit]
    private LimitReqDecision EvaluateLimitReq(LimitReqPolicy policy, LimitKeyPlan plan)
    {
        if (plan.SingleBinaryRemoteAddr)
        {
            // The common zone key: no evaluation, no copy.
            return policy.Evaluate(_context.BinaryRemoteAddr);
        }
        Span<int> bounds = stackalloc int[StackKeyCount + 1];
        Span<byte> stack = stackalloc byte[StackKeyBytes];
        var keys = EvaluateKeys(plan, plan.Keys.Length < StackKeyCount ? bounds : new int[plan.Keys.Length + 1], stack, out byte[]? rented);
        try
        {
            return policy.Evaluate(keys);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    [SkipLocalsInit]
    private LimitConnDecision AcquireLimitConn(LimitConnPolicy policy, LimitKeyPlan plan)
    {
        var leases = _context.LimitConnLeases(policy.LeaseCount);
        if (plan.SingleBinaryRemoteAddr)
        {
            return policy.Acquire(_context.BinaryRemoteAddr, leases);
        }
        Span<int> bounds = stackalloc int[StackKeyCount + 1];
        Span<byte> stack = stackalloc byte[StackKeyBytes];
        var keys = EvaluateKeys(plan, plan.Keys.Length < StackKeyCount ? bounds : new int[plan.Keys.Length + 1], stack, out byte[]? rented);
        try
        {
            return policy.Acquire(keys, leases);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    /// <summary>Evaluates each distinct key expression once into one buffer (the stack one when it fits).</summary>
    private EvaluatedLimitKeys EvaluateKeys(LimitKeyPlan plan, Span<int> bounds, Span<byte> stack, out byte[]? rented)
    {
        var templates = plan.Keys;
        int total = 0;
        for (int k = 0; k < templates.Length; k++)
        {
            total += plan.IsBinaryRemoteAddr[k] ? _context.BinaryRemoteAddr.Length : VariableEvaluator.Measure(templates[k], _context);
        }
        rented = null;
        Span<byte> buffer = total <= stack.Length ? stack : (rented = ArrayPool<byte>.Shared.Rent(total));
        int offset = 0;
        for (int k = 0; k < templates.Length; k++)
        {
            bounds[k] = offset;
            if (plan.IsBinaryRemoteAddr[k])
            {
                _context.BinaryRemoteAddr.CopyTo(buffer[offset..]);
                offset += _context.BinaryRemoteAddr.Length;
            }
            else
            {
                offset += VariableEvaluator.Write(templates[k], _context, buffer[offset..total]);
            }
        }
        bounds[templates.Length] = offset;
        return new EvaluatedLimitKeys(buffer, bounds, plan.RuleKey);
    }

    /// <summary>
    /// Waits out a limit_req delay on a timer of the server's clock, holding no thread (nginx: ngx_add_timer on the
    /// write event). Meanwhile the client is watched as nginx's ngx_http_test_reading does: a client that closes
    /// gives up the request (nginx finalizes it with 499), so nothing reaches a backend for it. False then, or when
    /// the connection was aborted.
    /// </summary>
    [AsyncMethodBuilder(typeof(PooledValueTaskMethodBuilder<>))]
    private async ValueTask<bool> DelayAsync(long ms)
    {
        var cancel = Volatile.Read(ref _delayCancel);
        if (cancel is null)
        {
            // Once per connection that is ever delayed; Abort cancels it.
            cancel = new CancellationTokenSource();
            Volatile.Write(ref _delayCancel, cancel);
        }
        if (_aborted)
        {
            return false;
        }
        var delay = Task.Delay(TimeSpan.FromMilliseconds(ms), _services.Heartbeat.Time, cancel.Token);
        var read = _input.ReadAsync();
        ReadResult result;
        if (read.IsCompleted)
        {
            result = read.Result;
        }
        else
        {
            var reading = read.AsTask();
            if (await Task.WhenAny(delay, reading) == delay)
            {
                // The delay is over first: stop watching and leave whatever came for the request to read.
                _input.CancelPendingRead();
                result = await reading;
                _input.AdvanceTo(result.Buffer.Start);
                if (!result.IsCanceled && _input.TryRead(out var pending))
                {
                    // The read had completed before the cancel: TryRead consumes the cancellation left pending, so
                    // the next real read is not cut short.
                    _input.AdvanceTo(pending.Buffer.Start);
                }
                return !cancel.IsCancellationRequested;
            }
            result = reading.Result;
        }
        bool gone = result.IsCompleted && result.Buffer.IsEmpty;
        // Nothing is consumed: the body or a pipelined request stays for later.
        _input.AdvanceTo(result.Buffer.Start);
        if (gone)
        {
            cancel.Cancel();
            _delayCancel = null; // a cancelled source cannot be reused
            return false;
        }
        await delay.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        return !cancel.IsCancellationRequested;
    }

    /// <summary>Abort: a request waiting out a limit_req delay gives up at once.</summary>
    private void CancelLimitDelay()
    {
        _aborted = true;
        Volatile.Read(ref _delayCancel)?.Cancel();
    }

    /// <summary>
    /// Answers a rejected request with the zone's status, before anything reached a backend. Its body is read and
    /// dropped first so the connection stays usable (nginx's ngx_http_discard_request_body); a client waiting for
    /// 100 Continue gets the answer and the connection closes (it never sends the body).
    /// </summary>
    [AsyncMethodBuilder(typeof(PooledValueTaskMethodBuilder<>))]
    private async ValueTask<bool> RejectAsync(LocationRuntime runtime, int status, int retryAfterSeconds, bool keepAlive, BodyKind bodyKind, long contentLength)
    {
        keepAlive = await PrepareAnswerAsync(status, keepAlive, bodyKind, contentLength);
        WriteRejection(runtime, status, retryAfterSeconds, keepAlive);
        return await FlushClientAsync() && keepAlive;
    }

    private void WriteRejection(LocationRuntime runtime, int status, int retryAfterSeconds, bool keepAlive)
    {
        long before = ClientUnflushed;
        var writer = new BufferWriter(_output);
        StatusResponses.WriteStatusLine(ref writer, status);
        writer.Write(_services.Date.Line);
        if (retryAfterSeconds > 0 && status is 429 or 503)
        {
            // RFC 9110 §10.2.3 / RFC 6585 §4: when the same client's bucket would admit it again. nginx sends none.
            writer.Write("Retry-After: "u8);
            writer.WriteNumber(retryAfterSeconds);
            writer.WriteCrlf();
        }
        var body = StatusResponses.PageFor(status, out var pageHeaders);
        if (pageHeaders.IsEmpty)
        {
            writer.Write("Content-Length: 0\r\n"u8);
        }
        writer.Write(pageHeaders);
        writer.Write(keepAlive ? StatusResponses.ConnectionKeepAlive : StatusResponses.ConnectionClose);
        ResponseHeadWriter.WriteAddHeaders(ref writer, runtime, _context, status);
        writer.WriteCrlf();
        if (_head.Method != Http1Method.Head)
        {
            writer.Write(body);
        }
        writer.Commit();
        CountResponseHead(status, before, _head.Method != Http1Method.Head ? body.Length : 0);
    }

    // ---- Logging (strings only when the level is on) ---------------------------------------------------------

    private void LogLimitReq(LimitRuntime limits, LimitReqPolicy policy, in LimitReqDecision decision)
    {
        var logger = _services.Logger;
        bool delayed = decision.Status is LimitReqStatus.Delayed or LimitReqStatus.DelayedDryRun;
        var level = delayed ? limits.ReqDelayLogLevel : limits.ReqLogLevel;
        if (!logger.IsEnabled(level))
        {
            return;
        }
        string dryRun = policy.DryRun ? ", dry run" : string.Empty;
        string zone = decision.RuleIndex >= 0 ? policy.Rules[decision.RuleIndex].Zone.Name : string.Empty;
        if (decision.NoSlot)
        {
            Log.LimitZoneFull(logger, level, dryRun, "limit_req", zone, Client(), Server(), RequestLine(), HostText());
            return;
        }
        long excess = decision.ExcessMilli;
        string excessText = string.Create(CultureInfo.InvariantCulture, $"{excess / 1000}.{excess % 1000:D3}");
        if (delayed)
        {
            Log.DelayingRequest(logger, level, dryRun, excessText, zone, Client(), Server(), RequestLine(), HostText());
        }
        else
        {
            Log.LimitingRequests(logger, level, dryRun, excessText, zone, Client(), Server(), RequestLine(), HostText());
        }
    }

    private void LogLimitConn(LimitRuntime limits, LimitConnPolicy policy, in LimitConnDecision decision)
    {
        var logger = _services.Logger;
        var level = limits.ConnLogLevel;
        if (!logger.IsEnabled(level))
        {
            return;
        }
        string zone = decision.RuleIndex >= 0 ? policy.Rules[decision.RuleIndex].Zone.Name : string.Empty;
        if (decision.NoSlot)
        {
            Log.LimitZoneFull(logger, level, policy.DryRun ? ", dry run" : string.Empty, "limit_conn", zone, Client(), Server(), RequestLine(), HostText());
            return;
        }
        Log.LimitingConnections(logger, level, policy.DryRun ? ", dry run," : string.Empty, zone, Client(), Server(), RequestLine(), HostText());
    }

    private string Client() => Encoding.ASCII.GetString(_context.RemoteAddr);

    private string Server() => Encoding.ASCII.GetString(_context.Server.ServerNameBytes);

    private string HostText() => Encoding.ASCII.GetString(_context.Host);

    private string RequestLine()
    {
        var bytes = _context.HeadBytes;
        int cr = bytes.IndexOf((byte)'\r');
        return Encoding.Latin1.GetString(cr < 0 ? bytes : bytes[..cr]);
    }
}

/// <summary>The evaluated keys of one request: rule → its expression's bytes in one buffer.</summary>
internal readonly ref struct EvaluatedLimitKeys : ILimitKeySource
{
    private readonly ReadOnlySpan<byte> _buffer;
    private readonly ReadOnlySpan<int> _bounds;
    private readonly int[] _ruleKey;

    public EvaluatedLimitKeys(ReadOnlySpan<byte> buffer, ReadOnlySpan<int> bounds, int[] ruleKey)
    {
        _buffer = buffer;
        _bounds = bounds;
        _ruleKey = ruleKey;
    }

    public ReadOnlySpan<byte> GetKey(int ruleIndex)
    {
        int k = _ruleKey[ruleIndex];
        return _buffer[_bounds[k].._bounds[k + 1]];
    }
}
