using System.Buffers;
using System.IO.Pipelines;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using FastProxy.Transport;

namespace FastProxy.Tls;

/// <summary>
/// The plaintext side of an authenticated <see cref="SslStream"/>: <see cref="Input"/> (<see cref="TlsPipeReader"/>)
/// decrypts a record when the HTTP code needs more bytes, and <see cref="Output"/> (<see cref="TlsPipeWriter"/>)
/// encrypts straight into the stream when the HTTP code flushes. The HTTP code reads and writes them exactly as it
/// does a plain connection's, with the same semantics: no exceptions (a broken connection completes the input and
/// fails the flushes), CancelPendingRead and FlushResult.IsCompleted as on a socket. The SslStream runs over the
/// connection's <see cref="TransportConnection"/> (through <see cref="DuplexPipeStream"/>), which still owns the
/// socket, its timeouts and its close.
/// </summary>
/// <remarks>
/// Used by client connections on <c>listen ... ssl</c> and by upstream connections to <c>proxy_pass https://</c>.
/// Per connection: the reader's fill loop (one task); per read or write nothing (SslStream's async operations complete
/// through pooled sources, the reader and the writer recycle their blocks). A fill starts with a zero-byte read, so
/// an idle keep-alive connection holds neither a block nor SslStream's buffer.
/// </remarks>
internal sealed class TlsConnection : IDuplexPipe
{
    private readonly SslStream _stream;
    private readonly TransportConnection _transport;
    private readonly TlsPipeReader _input;
    private readonly TlsPipeWriter _output;
    private int _disposed;

    /// <param name="stream">The authenticated stream.</param>
    /// <param name="transport">The connection under it.</param>
    /// <param name="readAhead">An upstream connection: keep a record's read in flight (<see cref="TlsPipeReader"/>).</param>
    /// <param name="framedTransport">The stream under <paramref name="stream"/>, when it frames records (client connections).</param>
    public TlsConnection(SslStream stream, TransportConnection transport, bool readAhead = false, DuplexPipeStream? framedTransport = null)
    {
        _stream = stream;
        _transport = transport;
        _input = new TlsPipeReader(stream, readAhead, framedTransport);
        // Client connections encrypt synchronously into the transport (TlsPipeWriter); upstreams write asynchronously.
        _output = new TlsPipeWriter(stream, readAhead ? null : transport.Output);
    }

    public PipeReader Input => _input;

    public PipeWriter Output => _output;

    public SslStream Stream => _stream;

    /// <summary>The peer closed (close_notify or FIN) or the connection failed: no more plaintext will come.</summary>
    public bool InputEnded => _input.InputEnded;

    public void Start() => _input.Start();

    /// <summary>
    /// Ends the TLS layer before the transport closes: the application side is completed, what is buffered goes out
    /// followed by close_notify (waiting at most <paramref name="flushTimeout"/>, then the transport is aborted), the
    /// read loop is stopped, and the SslStream is disposed. The caller then closes the transport as for a plain
    /// connection (FIN, lingering close).
    /// </summary>
    public async ValueTask CloseAsync(TimeSpan flushTimeout)
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        _input.Complete();
        // What is still buffered, then close_notify (RFC 8446 §6.1), as nginx's SSL_shutdown does, before the transport
        // sends FIN; a client that does not read gets flushTimeout, then the transport is aborted.
        var closing = SendRestAndCloseNotifyAsync();
        if (!closing.IsCompleted)
        {
            if (flushTimeout <= TimeSpan.Zero || await Task.WhenAny(closing, Task.Delay(flushTimeout)) != closing)
            {
                _transport.Abort();
            }
            await closing;
        }
        // A fill waiting on the transport: end that read so the transport's own close can read (linger).
        await _input.StopAsync(_transport.Input.CancelPendingRead);
        _stream.Dispose();
    }

    private async Task SendRestAndCloseNotifyAsync()
    {
        if (_output.Failed || _transport.IsAborted)
        {
            _output.ReleaseBlocks();
            return;
        }
        if (_output.HasBuffered)
        {
            await _output.FlushBufferedAsync();
        }
        if (_output.Failed || _transport.IsAborted)
        {
            return;
        }
        _output.MarkFailed();
        try
        {
            await _stream.ShutdownAsync();
        }
        catch (Exception e) when (e is IOException or AuthenticationException or SocketException or ObjectDisposedException
                                      or InvalidOperationException or OperationCanceledException or NotSupportedException)
        {
        }
    }

    /// <summary>Closes without a close_notify (an aborted or broken connection).</summary>
    public async ValueTask AbortAsync()
    {
        _transport.Abort();
        await CloseAsync(TimeSpan.Zero);
    }
}
