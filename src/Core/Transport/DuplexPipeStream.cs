using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
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
internal sealed class DuplexPipeStream(IDuplexPipe transport) : Stream
{
    private readonly PipeReader _input = transport.Input;
    private readonly PipeWriter _output = transport.Output;

    public override bool CanRead => true;
    public override bool CanWrite => true;
    public override bool CanSeek => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override ValueTask<int> ReadAsync(Memory<byte> destination, CancellationToken cancellationToken = default)
    {
        // SslStream reads a record's bytes right after its zero-byte read saw them arrive: those complete here,
        // without an async method in between.
        if (_input.TryRead(out var result))
        {
            var buffer = result.Buffer;
            if (!buffer.IsEmpty)
            {
                return new(Take(buffer, destination.Span));
            }
            _input.AdvanceTo(buffer.End);
            if (result.IsCompleted || result.IsCanceled)
            {
                return new(0);
            }
        }
        return ReadCoreAsync(destination, cancellationToken);
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadCoreAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <summary>
    /// Copies what the transport has received. A zero-byte read (SslStream's way to wait for data without holding a
    /// buffer) returns once data is there, consuming nothing. The end of input (FIN, reset, abort, or a cancelled
    /// read at close) reads as 0.
    /// </summary>
    [AsyncMethodBuilder(typeof(PooledValueTaskMethodBuilder<>))]
    private async ValueTask<int> ReadCoreAsync(Memory<byte> destination, CancellationToken cancellationToken)
    {
        while (true)
        {
            var result = await _input.ReadAsync(cancellationToken);
            var buffer = result.Buffer;
            if (buffer.IsEmpty)
            {
                _input.AdvanceTo(buffer.End);
                if (result.IsCompleted || result.IsCanceled)
                {
                    return 0;
                }
                continue;
            }
            return Take(buffer, destination.Span);
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
        var slice = buffer.Slice(0, count);
        slice.CopyTo(destination);
        _input.AdvanceTo(slice.End);
        return count;
    }

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
