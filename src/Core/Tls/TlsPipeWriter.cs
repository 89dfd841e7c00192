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
/// <para>
/// Several blocks are gathered into records of up to 16 KiB of plaintext (RFC 8446 §5.1), so a response head and its
/// body leave as one record rather than one per block. One flush at a time, as PipeWriter's contract says.
/// </para>
/// <para>
/// Given the <paramref name="transport"/>'s writer (client connections), a flush encrypts with SslStream's synchronous
/// Write, which over <see cref="DuplexPipeStream"/> only copies the records into the transport's buffer, then flushes
/// the transport once and waits for its backpressure there: none of SslStream's async machinery per response. A
/// synchronous Write blocks only while a renegotiation is in progress, which client connections refuse
/// (<c>AllowRenegotiation = false</c>, as nginx). Upstream connections (no transport given) write asynchronously: a
/// backend may renegotiate.
/// </para>
/// </remarks>
/// <param name="stream">The authenticated stream.</param>
/// <param name="transport">The writer under <paramref name="stream"/>'s <see cref="DuplexPipeStream"/>, for synchronous encryption.</param>
internal sealed class TlsPipeWriter(SslStream stream, PipeWriter? transport = null) : BlockPipeWriter
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
        return FlushBufferedAsync();
    }

    /// <summary>Sends what is buffered (also at close, before close_notify); failures become a completed result.</summary>
    internal ValueTask<FlushResult> FlushBufferedAsync() => transport is null ? WriteBufferedAsync() : EncryptAndFlush(transport);

    /// <summary>Encrypts everything buffered into the transport's buffer, then flushes the transport.</summary>
    private ValueTask<FlushResult> EncryptAndFlush(PipeWriter transport)
    {
        try
        {
            var segment = _buffer.Head;
            if (segment!.Next is null)
            {
                segment.Write(stream);
            }
            else
            {
                WriteGathered(segment);
            }
        }
        catch (Exception e) when (e is IOException or AuthenticationException or SocketException or ObjectDisposedException
                                      or InvalidOperationException or NotSupportedException)
        {
            _failed = true;
        }
        ReleaseBlocks();
        if (_failed)
        {
            return new(new FlushResult(isCanceled: false, isCompleted: true));
        }
        var flush = transport.FlushAsync();
        return flush.IsCompletedSuccessfully ? new(Settle(flush.Result)) : AwaitTransportAsync(flush);
    }

    /// <summary>Several blocks: records of up to 16 KiB of plaintext, each gathered in a scratch block.</summary>
    private void WriteGathered(BufferSegment? segment)
    {
        var scratch = BufferSegment.Rent();
        try
        {
            int offset = 0;
            while (segment is not null)
            {
                int filled = Gather(ref segment, ref offset, scratch.FreeMemory.Span.Slice(0, MaxRecordPlaintext));
                if (filled > 0)
                {
                    scratch.Write(stream, filled);
                }
            }
        }
        finally
        {
            BufferSegment.Return(scratch);
        }
    }

    [AsyncMethodBuilder(typeof(PooledValueTaskMethodBuilder<>))]
    private async ValueTask<FlushResult> AwaitTransportAsync(ValueTask<FlushResult> flush) => Settle(await flush);

    /// <summary>The transport's flush as this writer reports it: a completed or cancelled transport has failed for good.</summary>
    private FlushResult Settle(FlushResult result)
    {
        if (result.IsCompleted || result.IsCanceled)
        {
            _failed = true;
            return new FlushResult(isCanceled: false, isCompleted: true);
        }
        return default;
    }

    /// <summary>Copies plaintext from the chain at (<paramref name="segment"/>, <paramref name="offset"/>) into <paramref name="room"/>.</summary>
    private static int Gather(ref BufferSegment? segment, ref int offset, Span<byte> room)
    {
        int filled = 0;
        while (segment is not null && filled < room.Length)
        {
            int take = Math.Min(segment.End - offset, room.Length - filled);
            segment.Memory.Span.Slice(offset, take).CopyTo(room.Slice(filled));
            filled += take;
            offset += take;
            if (offset == segment.End)
            {
                segment = segment.NextSegment;
                offset = 0;
            }
        }
        return filled;
    }

    /// <summary>A write in progress cannot be interrupted (SslStream has no partial write); the next flush reports it.</summary>
    public override void CancelPendingFlush() => Volatile.Write(ref _cancelRequested, 1);

    public override void Complete(Exception? exception = null)
    {
        // The TLS connection's close sends what is still buffered, then close_notify.
    }

    /// <summary>Encrypts and sends everything buffered; failures become a completed result.</summary>
    [AsyncMethodBuilder(typeof(PooledValueTaskMethodBuilder<>))]
    private async ValueTask<FlushResult> WriteBufferedAsync()
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
                    BufferSegment? segment = head;
                    int offset = 0;
                    while (segment is not null)
                    {
                        // Fill one record's worth of plaintext from as many blocks as it takes.
                        var room = scratch.FreeMemory.Slice(0, MaxRecordPlaintext);
                        int filled = Gather(ref segment, ref offset, room.Span);
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
