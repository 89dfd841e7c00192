using System.Buffers;

namespace FastProxy.Http1;

/// <summary>
/// Strict, zero-copy HTTP/1.1 head parser (RFC 9112). Parsing is all-or-nothing per head: until the whole head is
/// present the result is <see cref="Http1Status.Incomplete"/>, <c>consumed</c> is the start of the input and
/// <c>examined</c> its end, so the caller resumes with more bytes. Errors are values, never exceptions.
/// </summary>
public static class Http1Parser
{
    /// <summary>Parses one request head from the start of <paramref name="input"/> into <paramref name="head"/>.</summary>
    public static Http1Status ParseRequestHead(
        in ReadOnlySequence<byte> input,
        HttpRequestHead head,
        Http1ParserOptions options,
        out SequencePosition consumed,
        out SequencePosition examined)
    {
        throw new NotImplementedException();
    }

    /// <summary>Parses one response head from the start of <paramref name="input"/> into <paramref name="head"/>.</summary>
    public static Http1Status ParseResponseHead(
        in ReadOnlySequence<byte> input,
        HttpResponseHead head,
        Http1ParserOptions options,
        out SequencePosition consumed,
        out SequencePosition examined)
    {
        throw new NotImplementedException();
    }
}
