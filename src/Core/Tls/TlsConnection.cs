using System.Buffers;
using System.IO.Pipelines;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using FastProxy.Transport;

namespace FastProxy.Tls;

/// <summary>
/// The plaintext side of an authenticated <see cref="SslStream"/>: a read loop decrypts into the <see cref="Input"/>
/// pipe, and <see cref="Output"/> (<see cref="TlsPipeWriter"/>) encrypts straight into the stream when the HTTP code
/// flushes. The HTTP code reads and writes them exactly as it does a plain connection's, with the same semantics: no
/// exceptions (a broken connection completes the input and fails the flushes), CancelPendingRead and
/// FlushResult.IsCompleted as on a socket. The SslStream runs over the connection's <see cref="TransportConnection"/>
/// (through <see cref="DuplexPipeStream"/>), which still owns the socket, its timeouts and its close.
/// </summary>
/// <remarks>
/// Used by client connections on <c>listen ... ssl</c> and by upstream connections to <c>proxy_pass https://</c>.
/// Per connection: one pipe and one loop task; per read or write nothing (SslStream's async operations complete
/// through pooled sources, the pipe and the writer recycle their blocks). The read loop starts with a zero-byte read,
/// so an idle keep-alive connection holds neither a pipe segment nor SslStream's buffer.
/// </remarks>
internal sealed class TlsConnection : IDuplexPipe
{
    // As SocketConnection: pause the producer at 64 KiB unconsumed, resume at 32 KiB.
    private const long PauseThreshold = 64 * 1024;
    private const long ResumeThreshold = 32 * 1024;

    /// <summary>Smallest free space asked of a segment per decrypting read (a record carries up to 16 KiB).</summary>
    private const int MinimumReadSize = 2048;


    private readonly SslStream _stream;
    private readonly TransportConnection _transport;
    private readonly Pipe _input;
    private readonly TlsPipeWriter _output;
    private Task? _readTask;
    private volatile bool _inputEnded;
    private int _disposed;

    public TlsConnection(SslStream stream, TransportConnection transport, PipeScheduler scheduler, MemoryPool<byte>? pool = null)
    {
        _stream = stream;
        _transport = transport;
        var memoryPool = pool ?? PinnedBlockMemoryPool.Shared;
        _input = new Pipe(new PipeOptions(memoryPool, readerScheduler: scheduler, writerScheduler: scheduler,
            pauseWriterThreshold: PauseThreshold, resumeWriterThreshold: ResumeThreshold, useSynchronizationContext: false,
            minimumSegmentSize: memoryPool.MaxBufferSize));
        _output = new TlsPipeWriter(stream);
    }

    public PipeReader Input => _input.Reader;

    public PipeWriter Output => _output;

    public SslStream Stream => _stream;

    /// <summary>The peer closed (close_notify or FIN) or the connection failed: no more plaintext will come.</summary>
    public bool InputEnded => _inputEnded;

    public void Start()
    {
        _readTask = ReadLoopAsync();
    }

    private async Task ReadLoopAsync()
    {
        var writer = _input.Writer;
        try
        {
            while (true)
            {
                // Wait for a record before taking a segment (SslStream releases its own buffer on a zero-byte read).
#pragma warning disable CA2022 // a zero-byte read only waits for data; its count means nothing
                await _stream.ReadAsync(Memory<byte>.Empty);
#pragma warning restore CA2022
                var memory = writer.GetMemory(MinimumReadSize);
                int read = await _stream.ReadAsync(memory);
                if (read == 0)
                {
                    break; // close_notify or the transport's end
                }
                writer.Advance(read);
                var flush = await writer.FlushAsync();
                if (flush.IsCompleted || flush.IsCanceled)
                {
                    break;
                }
            }
        }
        catch (Exception e) when (e is IOException or AuthenticationException or SocketException or ObjectDisposedException
                                      or InvalidOperationException or OperationCanceledException)
        {
            // A reset, a truncated record, a bad MAC: the input simply ends, as a socket's does.
        }
        finally
        {
            _inputEnded = true;
            await writer.CompleteAsync();
        }
    }

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
        await _input.Reader.CompleteAsync();
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
        if (_readTask is not null && !_readTask.IsCompleted)
        {
            // The read loop waits on the transport: end that read so the transport's own close can read (linger).
            _transport.Input.CancelPendingRead();
            await _readTask;
        }
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
            await _output.WriteBufferedAsync();
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
