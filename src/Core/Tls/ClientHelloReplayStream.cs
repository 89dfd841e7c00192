using System.Buffers;

namespace FastProxy.Tls;

/// <summary>
/// The connection's stream with the bytes already read to inspect the ClientHello put back in front, so SslStream
/// reads them first. The buffer is rented and goes back to the pool as soon as it has been replayed. Reads after
/// that go straight to the inner stream (the ValueTask is passed through: no allocation per read).
/// </summary>
internal sealed class ClientHelloReplayStream : Stream
{
    private readonly Stream _inner;
    private byte[]? _buffer;
    private int _offset;
    private readonly int _length;

    public ClientHelloReplayStream(Stream inner, byte[] rentedBuffer, int length)
    {
        _inner = inner;
        _buffer = rentedBuffer;
        _length = length;
        if (length == 0)
        {
            ReleaseBuffer();
        }
    }

    public Stream Inner => _inner;

    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override ValueTask<int> ReadAsync(Memory<byte> destination, CancellationToken cancellationToken = default)
    {
        if (_buffer is null)
        {
            return _inner.ReadAsync(destination, cancellationToken);
        }
        if (destination.IsEmpty)
        {
            return new ValueTask<int>(0); // zero-byte read: data is available now
        }
        return new ValueTask<int>(Replay(destination.Span));
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> destination)
    {
        if (_buffer is null)
        {
            return _inner.Read(destination);
        }
        return destination.IsEmpty ? 0 : Replay(destination);
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> source, CancellationToken cancellationToken = default) =>
        _inner.WriteAsync(source, cancellationToken);

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        _inner.WriteAsync(buffer, offset, count, cancellationToken);

    public override void Write(byte[] buffer, int offset, int count) => _inner.Write(buffer, offset, count);

    public override void Write(ReadOnlySpan<byte> source) => _inner.Write(source);

    public override Task FlushAsync(CancellationToken cancellationToken) => _inner.FlushAsync(cancellationToken);

    public override void Flush() => _inner.Flush();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            ReleaseBuffer();
            _inner.Dispose();
        }
        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        ReleaseBuffer();
        await _inner.DisposeAsync().ConfigureAwait(false);
        GC.SuppressFinalize(this);
    }

    private int Replay(Span<byte> destination)
    {
        int n = Math.Min(destination.Length, _length - _offset);
        _buffer.AsSpan(_offset, n).CopyTo(destination);
        _offset += n;
        if (_offset == _length)
        {
            ReleaseBuffer();
        }
        return n;
    }

    private void ReleaseBuffer()
    {
        var buffer = Interlocked.Exchange(ref _buffer, null);
        if (buffer is not null)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
