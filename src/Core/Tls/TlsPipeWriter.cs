using System.IO.Pipelines;
using System.Net.Security;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Security.Authentication;
using FastProxy.Infrastructure;
using FastProxy.Transport.Epoll;

namespace FastProxy.Tls;

/// <summary>
/// The plaintext output of a TLS connection: what the HTTP code writes is buffered in pooled blocks and a flush
/// encrypts it straight into the <see cref="SslStream"/> (no intermediate pipe, no write loop). As on a socket, a broken
/// connection is a value: the flush reports <see cref="FlushResult.IsCompleted"/>, never an exception.
/// </summary>
/// <remarks>
/// Several blocks are gathered into records of up to 16 KiB of plaintext (RFC 8446 §5.1), so a response head and its
/// body leave as one record rather than one per block. One flush at a time, as PipeWriter's contract says.
/// </remarks>
internal sealed class TlsPipeWriter(SslStream stream) : BlockPipeWriter
{
    /// <summary>Writes are gathered into records of up to 16 KiB of plaintext.</summary>
    private const int MaxRecordPlaintext = 16 * 1024;

    private volatile bool _failed;
    private int _cancelRequested;

    /// <summary>The stream failed (a reset, a send timeout, an abort): nothing more can be sent.</summary>
    public bool Failed => _failed;

    public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
    {
        _unflushed = 0;
        if (Volatile.Read(ref _cancelRequested) != 0 && Interlocked.Exchange(ref _cancelRequested, 0) != 0)
        {
            return new(new FlushResult(isCanceled: true, isCompleted: false));
        }
        if (_failed)
        {
            ReleaseBlocks();
            return new(new FlushResult(isCanceled: false, isCompleted: true));
        }
        if (!HasBuffered)
        {
            return default;
        }
        return WriteBufferedAsync();
    }

    /// <summary>A write in progress cannot be interrupted (SslStream has no partial write); the next flush reports it.</summary>
    public override void CancelPendingFlush() => Volatile.Write(ref _cancelRequested, 1);

    public override void Complete(Exception? exception = null)
    {
        // The TLS connection's close sends what is still buffered, then close_notify.
    }

    /// <summary>Encrypts and sends everything buffered; failures become a completed result.</summary>
    [AsyncMethodBuilder(typeof(PooledValueTaskMethodBuilder<>))]
    internal async ValueTask<FlushResult> WriteBufferedAsync()
    {
        try
        {
            var head = _buffer.Head!;
            if (head.Next is null)
            {
                await stream.WriteAsync(head.Memory);
            }
            else
            {
                var scratch = BufferSegment.Rent();
                try
                {
                    var segment = head;
                    int offset = 0;
                    while (segment is not null)
                    {
                        // Fill one record's worth of plaintext from as many blocks as it takes.
                        int filled = 0;
                        var room = scratch.FreeMemory.Slice(0, MaxRecordPlaintext);
                        while (segment is not null && filled < room.Length)
                        {
                            int take = Math.Min(segment.End - offset, room.Length - filled);
                            segment.Memory.Span.Slice(offset, take).CopyTo(room.Span.Slice(filled));
                            filled += take;
                            offset += take;
                            if (offset == segment.End)
                            {
                                segment = segment.NextSegment;
                                offset = 0;
                            }
                        }
                        if (filled > 0)
                        {
                            await stream.WriteAsync(room.Slice(0, filled));
                        }
                    }
                }
                finally
                {
                    BufferSegment.Return(scratch);
                }
            }
        }
        catch (Exception e) when (e is IOException or AuthenticationException or SocketException or ObjectDisposedException
                                      or InvalidOperationException or OperationCanceledException or NotSupportedException)
        {
            // The transport is gone: from now on every flush reports it, as a socket's does.
            _failed = true;
        }
        ReleaseBlocks();
        return _failed ? new FlushResult(isCanceled: false, isCompleted: true) : default;
    }

    /// <summary>At close: nothing more goes out.</summary>
    internal void MarkFailed() => _failed = true;
}
