using System.Buffers;
using System.IO.Pipelines;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using FastProxy.Transport;

namespace FastProxy.Tls;

/// <summary>
/// The plaintext side of an authenticated <see cref="SslStream"/> as a pair of pipes, the same shape as
/// <see cref="SocketConnection"/>: a read loop decrypts into <see cref="Input"/>, a write loop encrypts what is
/// flushed to <see cref="Output"/>. The HTTP code reads and writes these pipes exactly as it does a plain connection's,
/// with the same semantics: no exceptions (a broken connection completes the pipes), CancelPendingRead and
/// FlushResult.IsCompleted as on a socket. The SslStream runs over the connection's <see cref="SocketConnection"/>
/// (through <see cref="DuplexPipeStream"/>), which still owns the socket, its timeouts and its close.
/// </summary>
/// <remarks>
/// Used by client connections on <c>listen ... ssl</c> and by upstream connections to <c>proxy_pass https://</c>.
/// Per connection: two pipes and two loop tasks; per read or write nothing (SslStream's async operations complete
/// through pooled sources, the pipes recycle their segments). The read loop starts with a zero-byte read, so an idle
/// keep-alive connection holds neither a pipe segment nor SslStream's buffer.
/// </remarks>
internal sealed class TlsConnection : IDuplexPipe
{
    // As SocketConnection: pause the producer at 64 KiB unconsumed, resume at 32 KiB.
    private const long PauseThreshold = 64 * 1024;
    private const long ResumeThreshold = 32 * 1024;

    /// <summary>Smallest free space asked of a segment per decrypting read (a record carries up to 16 KiB).</summary>
    private const int MinimumReadSize = 2048;

    /// <summary>Writes are gathered into records of up to 16 KiB of plaintext (RFC 8446 §5.1).</summary>
    private const int MaxRecordPlaintext = 16 * 1024;

    private readonly SslStream _stream;
    private readonly TransportConnection _transport;
    private readonly Pipe _input;
    private readonly Pipe _output;
    private Task? _readTask;
    private Task? _writeTask;
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
        _output = new Pipe(new PipeOptions(memoryPool, readerScheduler: scheduler, writerScheduler: scheduler,
            pauseWriterThreshold: PauseThreshold, resumeWriterThreshold: ResumeThreshold, useSynchronizationContext: false,
            minimumSegmentSize: memoryPool.MaxBufferSize));
    }

    public PipeReader Input => _input.Reader;

    public PipeWriter Output => _output.Writer;

    public SslStream Stream => _stream;

    /// <summary>The peer closed (close_notify or FIN) or the connection failed: no more plaintext will come.</summary>
    public bool InputEnded => _inputEnded;

    public void Start()
    {
        _readTask = ReadLoopAsync();
        _writeTask = WriteLoopAsync();
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

    private async Task WriteLoopAsync()
    {
        var reader = _output.Reader;
        bool completed = false;
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync();
                if (result.IsCanceled)
                {
                    break;
                }
                var buffer = result.Buffer;
                if (!buffer.IsEmpty)
                {
                    await WriteAsync(buffer);
                }
                reader.AdvanceTo(buffer.End);
                if (result.IsCompleted)
                {
                    completed = true;
                    break;
                }
            }
            if (completed)
            {
                // The application closed its side: end the TLS session properly (close_notify, RFC 8446 §6.1), as
                // nginx's SSL_shutdown does, before the transport sends FIN.
                await _stream.ShutdownAsync();
            }
        }
        catch (Exception e) when (e is IOException or AuthenticationException or SocketException or ObjectDisposedException
                                      or InvalidOperationException or OperationCanceledException or NotSupportedException)
        {
            // The transport is gone: the application sees FlushResult.IsCompleted from now on.
        }
        finally
        {
            await reader.CompleteAsync();
        }
    }

    /// <summary>
    /// Encrypts one flushed buffer. A single segment goes as is; several are gathered into records of up to 16 KiB
    /// so a response head and its body leave as one record rather than one per segment.
    /// </summary>
    private async ValueTask WriteAsync(ReadOnlySequence<byte> buffer)
    {
        if (buffer.IsSingleSegment)
        {
            await _stream.WriteAsync(buffer.First);
            return;
        }
        var scratch = ArrayPool<byte>.Shared.Rent(MaxRecordPlaintext);
        try
        {
            while (!buffer.IsEmpty)
            {
                int count = (int)Math.Min(buffer.Length, MaxRecordPlaintext);
                var part = buffer.Slice(0, count);
                part.CopyTo(scratch);
                await _stream.WriteAsync(scratch.AsMemory(0, count));
                buffer = buffer.Slice(part.End);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
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
        await _output.Writer.CompleteAsync();
        if (_writeTask is not null && !_writeTask.IsCompleted)
        {
            try
            {
                await _writeTask.WaitAsync(flushTimeout);
            }
            catch (TimeoutException)
            {
                // A client that does not read: nothing more can be sent.
                _transport.Abort();
                await _writeTask;
            }
        }
        if (_readTask is not null && !_readTask.IsCompleted)
        {
            // The read loop waits on the transport: end that read so the transport's own close can read (linger).
            _transport.Input.CancelPendingRead();
            await _readTask;
        }
        _stream.Dispose();
    }

    /// <summary>Closes without a close_notify (an aborted or broken connection).</summary>
    public async ValueTask AbortAsync()
    {
        _transport.Abort();
        await CloseAsync(TimeSpan.Zero);
    }
}
