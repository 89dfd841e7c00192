using System.IO.Pipelines;
using System.Net.Sockets;
using FastProxy.Http1;
using FastProxy.Infrastructure;
using FastProxy.LoadBalancing;
using FastProxy.Tls;
using FastProxy.Transport;

namespace FastProxy.Upstreams;

/// <summary>
/// One connection to a backend: its own pipes, its own response head and chunked decoder (reused for every exchange
/// on it), how many requests it carried, and the deadline the heartbeat checks while a request waits on it.
/// </summary>
internal sealed class UpstreamConnection
{
    private long _deadline = Deadline.None;
    private int _timedOut;
    private int _sendDeadline;

    public UpstreamConnection(TransportConnection transport, UpstreamPool pool, DestinationState destination)
    {
        Transport = transport;
        Pool = pool;
        Destination = destination;
        Input = Transport.Input;
        Output = Transport.Output;
    }

    public TransportConnection Transport { get; }
    public UpstreamPool Pool { get; }
    public DestinationState Destination { get; }

    /// <summary>The socket's pipes, or the plaintext pipes of <see cref="Tls"/> for an HTTPS upstream.</summary>
    public PipeReader Input { get; private set; }
    public PipeWriter Output { get; private set; }

    /// <summary>The TLS layer of a <c>proxy_pass https://</c> connection; null for plain HTTP.</summary>
    public TlsConnection? Tls { get; private set; }

    /// <summary>After a successful upstream handshake: requests and responses go through TLS from now on.</summary>
    public void AttachTls(TlsConnection tls)
    {
        tls.Start();
        Tls = tls;
        Input = tls.Input;
        Output = tls.Output;
    }

    public HttpResponseHead ResponseHead { get; } = new();

    /// <summary>The decoder of the current chunked response (a field, so callers use it by ref).</summary>
    public ChunkedDecoder Decoder;

    /// <summary>Requests sent on this connection (keepalive_requests).</summary>
    public int Requests { get; set; }

    /// <summary>When it went back to the pool (heartbeat clock), for the idle timeout.</summary>
    public long IdleSince { get; set; }

    /// <summary>True once a deadline on it fired; the operation that was waiting reports a timeout, not an error.</summary>
    public bool TimedOut => Volatile.Read(ref _timedOut) != 0;

    public void SetDeadline(long deadline)
    {
        Volatile.Write(ref _sendDeadline, 0);
        Volatile.Write(ref _deadline, deadline);
    }

    /// <summary>
    /// A proxy_send_timeout deadline: when it fires only the sending half is stopped, so that an answer the backend
    /// already sent (an early 413 while it stopped reading the body) is still read from the socket and relayed.
    /// </summary>
    public void SetSendDeadline(long deadline)
    {
        Volatile.Write(ref _sendDeadline, 1);
        Volatile.Write(ref _deadline, deadline);
    }

    /// <summary>After a send timeout that turned out to be an early answer: its buffered bytes are still read.</summary>
    public void ForgetTimeout() => Volatile.Write(ref _timedOut, 0);

    /// <summary>Clears the deadline; true when it had fired (the connection is then aborted).</summary>
    public bool ClearDeadline() => Deadline.Clear(ref _deadline);

    /// <summary>Heartbeat: aborts the connection when its deadline passed, which wakes whatever waits on it.</summary>
    public void CheckDeadline(long now)
    {
        if (Deadline.TryFire(ref _deadline, now))
        {
            Volatile.Write(ref _timedOut, 1);
            if (Volatile.Read(ref _sendDeadline) != 0 && Tls is null)
            {
                Transport.AbortSend();
            }
            else
            {
                Transport.Abort();
            }
        }
    }

    /// <summary>
    /// Usable for another request: not closed by the backend while idle and with nothing unsolicited buffered (bytes
    /// from an idle backend are a protocol violation; the connection cannot be trusted to frame the next response).
    /// </summary>
    public bool IsReusable()
    {
        if (Transport.ReceivedFin || Transport.IsAborted || (Tls is { InputEnded: true }))
        {
            return false;
        }
        if (Input.TryRead(out var result))
        {
            bool clean = result.Buffer.IsEmpty && !result.IsCompleted && !result.IsCanceled;
            Input.AdvanceTo(result.Buffer.Start);
            return clean;
        }
        return true;
    }

    /// <summary>Closes it gracefully (FIN after anything buffered) without waiting.</summary>
    public void Close()
    {
        if (Tls is null)
        {
            _ = Transport.CloseAsync(TimeSpan.FromSeconds(1), TimeSpan.Zero).AsTask();
            return;
        }
        _ = CloseTlsAsync(TimeSpan.FromSeconds(1));
    }

    /// <summary>Throws it away at once (a broken or untrusted connection).</summary>
    public void Discard()
    {
        Transport.Abort();
        if (Tls is null)
        {
            _ = Transport.CloseAsync(TimeSpan.Zero, TimeSpan.Zero).AsTask();
            return;
        }
        _ = CloseTlsAsync(TimeSpan.Zero);
    }

    /// <summary>close_notify (unless aborted), then the transport's close; per connection, never per request.</summary>
    private async Task CloseTlsAsync(TimeSpan flushTimeout)
    {
        await Tls!.CloseAsync(flushTimeout);
        await Transport.CloseAsync(flushTimeout, TimeSpan.Zero);
    }
}
