using System.Buffers;
using System.IO.Pipelines;
using System.Net.Security;

namespace FastProxy.Tls;

/// <summary>
/// An authenticated <see cref="SslStream"/> as the <see cref="IDuplexPipe"/> the HTTP code reads and writes, so it
/// never knows about TLS (Kestrel's connection-middleware shape). Reads start with a zero-byte read, so an idle
/// connection holds no pipe buffer (SslStream also frees its own buffer on a zero-byte read); segments come from
/// <paramref name="pool"/> and are recycled, and SslStream's async reads and writes complete through pooled
/// ValueTask sources: nothing is allocated per read or write in steady state.
/// </summary>
internal sealed class TlsDuplexPipe : IDuplexPipe, IAsyncDisposable
{
    /// <summary>A TLS record carries at most 16 KiB of plaintext (RFC 8446 §5.1): one read can take a whole record.</summary>
    public const int ReadBufferSize = 16 * 1024;

    /// <summary>Smallest free space asked of a segment before a read (StreamPipeReader's minimumReadSize).</summary>
    public const int MinimumReadSize = 1024;

    /// <summary>
    /// Writer segment size: writes are gathered until FlushAsync and SslStream cuts them into records of up to 16 KiB,
    /// so 16 KiB segments produce full records for large bodies and one record for a typical response head.
    /// </summary>
    public const int WriteBufferSize = 16 * 1024;

    private int _disposed;

    public TlsDuplexPipe(SslStream stream, MemoryPool<byte>? pool = null)
    {
        Stream = stream;
        Input = PipeReader.Create(stream, new StreamPipeReaderOptions(
            pool: pool, bufferSize: ReadBufferSize, minimumReadSize: MinimumReadSize, leaveOpen: true, useZeroByteReads: true));
        Output = PipeWriter.Create(stream, new StreamPipeWriterOptions(
            pool: pool, minimumBufferSize: WriteBufferSize, leaveOpen: true));
    }

    public SslStream Stream { get; }

    public PipeReader Input { get; }

    public PipeWriter Output { get; }

    /// <summary>Completes both pipes, then closes the TLS stream and the connection under it.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        await Input.CompleteAsync().ConfigureAwait(false);
        await Output.CompleteAsync().ConfigureAwait(false);
        await Stream.DisposeAsync().ConfigureAwait(false);
    }
}
