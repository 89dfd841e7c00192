using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using System.Threading.Tasks.Sources;
using FastProxy.Infrastructure;

namespace FastProxy.Transport;

/// <summary>
/// A connection's pipes as the <see cref="Stream"/> an <see cref="System.Net.Security.SslStream"/> runs over (Kestrel's
/// DuplexPipeStream shape): TLS sits on top of the same <see cref="SocketConnection"/> a plain connection uses, so
/// accept, backpressure, timeouts, lingering close and abort stay in one place. Only TLS connections create one.
/// </summary>
/// <remarks>
/// Disposing it does nothing: the connection's owner closes the transport. A write to a transport whose send side is
/// gone throws <see cref="IOException"/>, which is what SslStream expects of a broken stream; the TLS pumps and the
/// handshake code turn it into a value.
/// </remarks>
internal sealed class DuplexPipeStream : Stream, IValueTaskSource<int>
{
    private readonly PipeReader _input;
    private readonly PipeWriter _output;
    private readonly Action _resumeRead;

    // The read waiting for the transport: one at a time (SslStream never overlaps its reads), completed straight from
    // the transport's continuation, without an async method (and its ExecutionContext run) in between.
    private ManualResetValueTaskSourceCore<int> _read;
    private ValueTaskAwaiter<ReadResult> _transportRead;
    private Memory<byte> _destination;

    // TLS record framing of the bytes handed to the reader (see RecordFramed).
    private readonly bool _recordFramed;
    private bool _framingLost;
    private int _payloadLeft;
    private int _headerHave;
    private byte _lengthHigh;

    /// <param name="transport">The connection.</param>
    /// <param name="recordFramed">Hand the reader (an SslStream) at most one TLS record per read (<see cref="RecordFramed"/>).</param>
    public DuplexPipeStream(IDuplexPipe transport, bool recordFramed = false)
    {
        _input = transport.Input;
        _output = transport.Output;
        _resumeRead = ResumeRead;
        _read.RunContinuationsAsynchronously = false;
        _recordFramed = recordFramed;
    }

    /// <summary>
    /// Reads never cross the end of a TLS record (RFC 8446 §5.1, RFC 5246 §6.2: a 5-byte header whose last two bytes
    /// are the length). An <see cref="SslStream"/> above then never holds a second record: once it has returned a
    /// record's plaintext, nothing is pending inside it, so the TLS reader can wait for the next record on the
    /// transport (<see cref="WaitForInputAsync"/>) instead of inside SslStream, whose read methods allocate their state
    /// machines each time they wait (<c>ReadAsyncInternal</c>, <c>EnsureFullTlsFrameAsync</c>: about 270 bytes per
    /// keep-alive request). Bytes that are not TLS records (an SSLv2-style hello, plain HTTP on a TLS port) end the
    /// framing: reads are then as without it, and <see cref="AtRecordBoundary"/> stays false.
    /// </summary>
    public bool RecordFramed => _recordFramed && !_framingLost;

    /// <summary>Framed, and every record handed to the reader was handed whole: nothing of one is left in it.</summary>
    public bool AtRecordBoundary => RecordFramed && _payloadLeft == 0 && _headerHave == 0;

    /// <summary>
    /// Waits until the transport has bytes (true) or ended (false), consuming nothing. Only at a record boundary
    /// (<see cref="AtRecordBoundary"/>), when the reader holds nothing that could be read without new bytes.
    /// </summary>
    [AsyncMethodBuilder(typeof(PooledValueTaskMethodBuilder<>))]
    public async ValueTask<bool> WaitForInputAsync()
    {
        var result = await _input.ReadAsync();
        if (result.Buffer.IsEmpty)
        {
            _input.AdvanceTo(result.Buffer.End);
            return false; // the end, or a cancelled read (a close): the reader's next read would return 0 alike
        }
        _input.AdvanceTo(result.Buffer.Start); // nothing examined: the next read returns the same bytes at once
        return true;
    }

    public override bool CanRead => true;
    public override bool CanWrite => true;
    public override bool CanSeek => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    /// <summary>
    /// Copies what the transport has received. A zero-byte read (SslStream's way to wait for data without holding a
    /// buffer) returns once data is there, consuming nothing. The end of input (FIN, reset, abort, or a cancelled
    /// read at close) reads as 0.
    /// </summary>
    public override ValueTask<int> ReadAsync(Memory<byte> destination, CancellationToken cancellationToken = default)
    {
        if (cancellationToken.CanBeCanceled)
        {
            return ReadCoreAsync(destination, cancellationToken); // the handshake's reads, bounded by a token
        }
        while (true)
        {
            var pending = _input.ReadAsync();
            if (!pending.IsCompleted)
            {
                _destination = destination;
                _read.Reset();
                _transportRead = pending.GetAwaiter();
                _transportRead.UnsafeOnCompleted(_resumeRead);
                return new(this, _read.Version);
            }
            if (TryTake(pending.Result, destination.Span, out int count))
            {
                return new(count);
            }
        }
    }

    private void ResumeRead()
    {
        int count;
        try
        {
            var result = _transportRead.GetResult();
            _transportRead = default;
            while (!TryTake(result, _destination.Span, out count))
            {
                var pending = _input.ReadAsync();
                if (!pending.IsCompleted)
                {
                    _transportRead = pending.GetAwaiter();
                    _transportRead.UnsafeOnCompleted(_resumeRead);
                    return;
                }
                result = pending.Result;
            }
        }
        catch (Exception e)
        {
            _destination = default;
            _read.SetException(e);
            return;
        }
        _destination = default;
        _read.SetResult(count); // SslStream's read goes on here, and may read again
    }

    /// <summary>A read's result: bytes copied, or the end (true); false when the transport woke with nothing new.</summary>
    private bool TryTake(in ReadResult result, Span<byte> destination, out int count)
    {
        var buffer = result.Buffer;
        if (!buffer.IsEmpty)
        {
            count = Take(buffer, destination);
            return true;
        }
        _input.AdvanceTo(buffer.End);
        count = 0;
        return result.IsCompleted || result.IsCanceled;
    }

    int IValueTaskSource<int>.GetResult(short token) => _read.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<int>.GetStatus(short token) => _read.GetStatus(token);

    void IValueTaskSource<int>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _read.OnCompleted(continuation, state, token, flags);

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadCoreAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <summary>A read with a token (the handshake's): the same, as an async method.</summary>
    [AsyncMethodBuilder(typeof(PooledValueTaskMethodBuilder<>))]
    private async ValueTask<int> ReadCoreAsync(Memory<byte> destination, CancellationToken cancellationToken)
    {
        while (true)
        {
            var result = await _input.ReadAsync(cancellationToken);
            if (TryTake(result, destination.Span, out int count))
            {
                return count;
            }
        }
    }

    /// <summary>Copies what fits of <paramref name="buffer"/> (not empty) and consumes it; a zero-byte read consumes nothing.</summary>
    private int Take(in ReadOnlySequence<byte> buffer, Span<byte> destination)
    {
        if (destination.IsEmpty)
        {
            _input.AdvanceTo(buffer.Start);
            return 0;
        }
        int count = (int)Math.Min(buffer.Length, destination.Length);
        if (_recordFramed && !_framingLost)
        {
            count = FramedCount(buffer, count);
        }
        var slice = buffer.Slice(0, count);
        slice.CopyTo(destination);
        _input.AdvanceTo(slice.End);
        if (_recordFramed && !_framingLost)
        {
            Track(destination[..count]);
        }
        return count;
    }

    /// <summary>How much of <paramref name="count"/> stays within the current record.</summary>
    private int FramedCount(in ReadOnlySequence<byte> buffer, int count)
    {
        if (_payloadLeft > 0)
        {
            return Math.Min(count, _payloadLeft);
        }
        if (_headerHave == 0 && buffer.Length >= 5)
        {
            // A whole header: the record it starts, at most.
            Span<byte> header = stackalloc byte[5];
            buffer.Slice(0, 5).CopyTo(header);
            if (!IsRecordHeader(header[0], header[1]))
            {
                _framingLost = true;
                return count;
            }
            return (int)Math.Min(count, 5L + (header[3] << 8 | header[4]));
        }
        return Math.Min(count, 5 - _headerHave); // a header split across reads: its rest first
    }

    /// <summary>Follows the records through bytes just handed over.</summary>
    private void Track(ReadOnlySpan<byte> given)
    {
        while (!given.IsEmpty)
        {
            if (_payloadLeft > 0)
            {
                int n = Math.Min(_payloadLeft, given.Length);
                _payloadLeft -= n;
                given = given[n..];
                continue;
            }
            byte b = given[0];
            given = given[1..];
            switch (_headerHave)
            {
                case 0:
                    if (!IsRecordHeader(b, 3))
                    {
                        _framingLost = true;
                        return;
                    }
                    break;
                case 1:
                    if (b != 3)
                    {
                        _framingLost = true;
                        return;
                    }
                    break;
                case 3:
                    _lengthHigh = b;
                    break;
                case 4:
                    _payloadLeft = _lengthHigh << 8 | b;
                    _headerHave = 0;
                    continue;
            }
            _headerHave++;
        }
    }

    /// <summary>A TLS record's content type (change_cipher_spec 20 to heartbeat 24) and major version 3.</summary>
    private static bool IsRecordHeader(byte contentType, byte versionMajor) => contentType is >= 20 and <= 24 && versionMajor == 3;

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> source, CancellationToken cancellationToken = default)
    {
        _output.Write(source.Span);
        var flush = _output.FlushAsync(cancellationToken);
        if (!flush.IsCompletedSuccessfully)
        {
            return AwaitFlushAsync(flush);
        }
        var result = flush.Result;
        return result.IsCompleted || result.IsCanceled ? ValueTask.FromException(ClosedException()) : default;
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <summary>Waits for backpressure to allow more after the bytes (TLS records) went to the transport.</summary>
    [AsyncMethodBuilder(typeof(PooledValueTaskMethodBuilder))]
    private static async ValueTask AwaitFlushAsync(ValueTask<FlushResult> flush)
    {
        var result = await flush;
        if (result.IsCompleted || result.IsCanceled)
        {
            throw ClosedException();
        }
    }

    private static IOException ClosedException() => new("The connection was closed.");

    /// <summary>
    /// Buffers the bytes in the transport without flushing: <see cref="System.Net.Security.SslStream"/>'s synchronous
    /// Write encrypts into this, and its caller (<see cref="Tls.TlsPipeWriter"/>) flushes the transport itself and waits
    /// for backpressure there, so a write never blocks the thread.
    /// </summary>
    public override void Write(ReadOnlySpan<byte> source) => _output.Write(source);

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override void Flush()
    {
    }

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer, offset, count).GetAwaiter().GetResult();

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();
}
