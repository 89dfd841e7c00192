using System.Buffers;

namespace FastProxy.Http1;

/// <summary>
/// Resumable decoder of the chunked transfer coding (RFC 9112 §7.1). It validates chunk-size lines, extensions and
/// trailers, and hands the caller each run of chunk data as a slice of the input so that it can be re-framed or
/// passed on without copying. One instance per message body; <see cref="Reset"/> before reuse.
/// </summary>
/// <remarks>
/// Usage: call <see cref="Decode"/> on the unread input. It returns the next run of chunk data available in the
/// input (possibly empty) and how far it consumed (framing plus the returned data). On
/// <see cref="Http1Status.Incomplete"/> with non-empty data the caller forwards the data and calls again on the rest;
/// with empty data it needs more input (advance to consumed/examined, read, call again). On
/// <see cref="Http1Status.Complete"/> the last chunk and the trailer section were consumed. Any other value is a
/// framing error: the connection must be closed.
/// </remarks>
public struct ChunkedDecoder
{
    public readonly bool IsComplete => throw new NotImplementedException();

    public void Reset() => throw new NotImplementedException();

    public Http1Status Decode(
        in ReadOnlySequence<byte> input,
        out ReadOnlySequence<byte> data,
        out SequencePosition consumed,
        out SequencePosition examined)
    {
        throw new NotImplementedException();
    }
}
