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

    public override ValueTask<int> ReadAsync(Memory<byte> destination, CancellationToken cancellationToken = default) =>
        ReadCoreAsync(destination, cancellationToken);

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
            if (destination.IsEmpty)
            {
                _input.AdvanceTo(buffer.Start);
                return 0;
            }
            int count = (int)Math.Min(buffer.Length, destination.Length);
            var slice = buffer.Slice(0, count);
            slice.CopyTo(destination.Span);
            _input.AdvanceTo(slice.End);
            return count;
        }
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> source, CancellationToken cancellationToken = default) =>
        WriteCoreAsync(source, cancellationToken);

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteCoreAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <summary>Hands the bytes (TLS records) to the send loop and waits for backpressure to allow more.</summary>
    [AsyncMethodBuilder(typeof(PooledValueTaskMethodBuilder))]
    private async ValueTask WriteCoreAsync(ReadOnlyMemory<byte> source, CancellationToken cancellationToken)
    {
        _output.Write(source.Span);
        var result = await _output.FlushAsync(cancellationToken);
        if (result.IsCompleted || result.IsCanceled)
        {
            throw new IOException("The connection was closed.");
        }
    }

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override void Flush()
    {
    }

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer, offset, count).GetAwaiter().GetResult();

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer, offset, count).GetAwaiter().GetResult();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();
}
