using System.IO.Pipelines;

namespace FastProxy.Transport.Tests;

/// <summary>
/// <see cref="DuplexPipeStream"/> handing its reader one TLS record at a time (<see cref="DuplexPipeStream.RecordFramed"/>),
/// over an in-memory pipe: reads stop at record ends wherever the transport's writes split them, bytes that are not
/// TLS records end the framing, and the wait for input consumes nothing.
/// </summary>
public class DuplexPipeStreamFramingTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task ReadAsync_TwoRecordsBuffered_OneRecordPerRead()
    {
        var (stream, peer) = Create(recordFramed: true);
        await peer.WriteAsync(Concat(Record(23, 10), Record(23, 4)));

        var buffer = new byte[100];
        Assert.Equal(15, await stream.ReadAsync(buffer).AsTask().WaitAsync(Bound));
        Assert.True(stream.AtRecordBoundary);
        Assert.Equal(9, await stream.ReadAsync(buffer).AsTask().WaitAsync(Bound));
        Assert.True(stream.AtRecordBoundary);
    }

    [Fact]
    public async Task ReadAsync_RecordSplitAcrossWrites_StopsAtItsEndAndBoundaryOnlyThere()
    {
        var (stream, peer) = Create(recordFramed: true);
        var first = Record(22, 300);
        var second = Record(23, 20);
        var buffer = new byte[1000];

        await peer.WriteAsync(first.AsMemory(0, 3)); // part of the header
        Assert.Equal(3, await stream.ReadAsync(buffer).AsTask().WaitAsync(Bound));
        Assert.False(stream.AtRecordBoundary);
        await peer.WriteAsync(Concat(first[3..100], first[100..], second));
        Assert.Equal(2, await stream.ReadAsync(buffer).AsTask().WaitAsync(Bound)); // the header's rest
        Assert.False(stream.AtRecordBoundary);
        Assert.Equal(300, await stream.ReadAsync(buffer).AsTask().WaitAsync(Bound)); // the payload, not the next record
        Assert.True(stream.AtRecordBoundary);
        Assert.Equal(25, await stream.ReadAsync(buffer).AsTask().WaitAsync(Bound));
        Assert.True(stream.AtRecordBoundary);
    }

    [Fact]
    public async Task ReadAsync_SmallDestination_RecordTakenInPiecesBoundaryAtItsEnd()
    {
        var (stream, peer) = Create(recordFramed: true);
        await peer.WriteAsync(Concat(Record(23, 30), Record(23, 1)));
        var buffer = new byte[16];

        Assert.Equal(16, await stream.ReadAsync(buffer).AsTask().WaitAsync(Bound));
        Assert.False(stream.AtRecordBoundary);
        Assert.Equal(16, await stream.ReadAsync(buffer).AsTask().WaitAsync(Bound));
        Assert.False(stream.AtRecordBoundary);
        Assert.Equal(3, await stream.ReadAsync(buffer).AsTask().WaitAsync(Bound));
        Assert.True(stream.AtRecordBoundary);
    }

    [Fact]
    public async Task ReadAsync_NotTlsRecords_FramingEndsAndReadsTakeEverything()
    {
        var (stream, peer) = Create(recordFramed: true);
        var request = "GET / HTTP/1.1\r\nHost: a\r\n\r\n"u8.ToArray();
        await peer.WriteAsync(request);

        Assert.Equal(request.Length, await stream.ReadAsync(new byte[100]).AsTask().WaitAsync(Bound));
        Assert.False(stream.RecordFramed);
        Assert.False(stream.AtRecordBoundary);
    }

    [Fact]
    public async Task ReadAsync_BadVersionInASplitHeader_FramingEnds()
    {
        var (stream, peer) = Create(recordFramed: true);
        await peer.WriteAsync(new byte[] { 23, 9 });

        Assert.Equal(2, await stream.ReadAsync(new byte[100]).AsTask().WaitAsync(Bound));
        Assert.False(stream.RecordFramed);
    }

    [Fact]
    public async Task ReadAsync_NotFramed_TakesEverythingAvailable()
    {
        var (stream, peer) = Create(recordFramed: false);
        await peer.WriteAsync(Concat(Record(23, 10), Record(23, 4)));

        Assert.Equal(24, await stream.ReadAsync(new byte[100]).AsTask().WaitAsync(Bound));
        Assert.False(stream.AtRecordBoundary);
    }

    [Fact]
    public async Task WaitForInputAsync_BytesArrive_TrueAndTheReadGetsThem()
    {
        var (stream, peer) = Create(recordFramed: true);
        var wait = stream.WaitForInputAsync().AsTask();
        Assert.False(wait.IsCompleted);

        await peer.WriteAsync(Record(23, 7));

        Assert.True(await wait.WaitAsync(Bound));
        Assert.Equal(12, await stream.ReadAsync(new byte[100]).AsTask().WaitAsync(Bound));
    }

    [Fact]
    public async Task WaitForInputAsync_TransportEnds_False()
    {
        var (stream, peer) = Create(recordFramed: true);
        var wait = stream.WaitForInputAsync().AsTask();

        await peer.CompleteAsync();

        Assert.False(await wait.WaitAsync(Bound));
    }

    /// <summary>A TLS record header (version 3.3) and <paramref name="length"/> payload bytes.</summary>
    internal static byte[] Record(byte type, int length)
    {
        var record = new byte[5 + length];
        record[0] = type;
        record[1] = 3;
        record[2] = 3;
        record[3] = (byte)(length >> 8);
        record[4] = (byte)length;
        for (int i = 0; i < length; i++)
        {
            record[5 + i] = (byte)(i % 251);
        }
        return record;
    }

    private static byte[] Concat(params byte[][] parts) => parts.SelectMany(p => p).ToArray();

    private static (DuplexPipeStream Stream, PipeWriter Peer) Create(bool recordFramed)
    {
        var incoming = new Pipe();
        var outgoing = new Pipe();
        return (new DuplexPipeStream(new DuplexPipe(incoming.Reader, outgoing.Writer), recordFramed), incoming.Writer);
    }

    internal sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input => input;

        public PipeWriter Output => output;
    }
}
