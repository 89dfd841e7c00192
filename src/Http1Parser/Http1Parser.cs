using System.Buffers;
using System.Runtime.CompilerServices;
using static FastProxy.Http1.HttpCharacters;

namespace FastProxy.Http1;

/// <summary>
/// Strict, zero-copy HTTP/1.1 head parser (RFC 9112). Parsing is all-or-nothing per head: until the whole head is
/// present the result is <see cref="Http1Status.Incomplete"/>, <c>consumed</c> is the start of the input and
/// <c>examined</c> its end, so the caller resumes with more bytes. Errors are values, never exceptions.
/// </summary>
/// <remarks>
/// <para>How it works: first find the end of the head (a vectorized search for CRLF CRLF, or for an empty line when
/// bare LF is allowed), then parse the start line and every field line once. While the head is incomplete, a start
/// line and lines already complete are still checked, so garbage (a TLS hello on a plaintext port, a bare LF) is
/// rejected at once instead of after <see cref="Http1ParserOptions.MaxHeadSize"/> bytes.</para>
/// <para>A head within the first segment of the input is parsed in place (<see cref="HttpHead.Raw"/> is a slice of
/// it); a head that straddles segments is copied once into the head object's own buffer and parsed there. Only the
/// first <see cref="Http1ParserOptions.MaxHeadSize"/> bytes are ever looked at.</para>
/// <para>On any result other than <see cref="Http1Status.Complete"/> the head is left reset.</para>
/// </remarks>
public static partial class Http1Parser
{
    /// <summary>
    /// RFC 9112 §2.2: a server "SHOULD ignore at least one empty line (CRLF) received prior to the request-line".
    /// We ignore a few, not an unbounded number: each is skipped again on every call while the head is incomplete.
    /// </summary>
    internal const int MaxLeadingEmptyLines = 4;

    /// <summary>Parses one request head from the start of <paramref name="input"/> into <paramref name="head"/>.</summary>
    public static Http1Status ParseRequestHead(
        in ReadOnlySequence<byte> input,
        HttpRequestHead head,
        Http1ParserOptions options,
        out SequencePosition consumed,
        out SequencePosition examined)
        => ParseRequestHead(input, head, options, previouslyExamined: 0, out consumed, out examined);

    /// <summary>
    /// Parses one request head, resuming the search for its end where the previous call stopped, so that a head
    /// arriving in many small reads costs linear, not quadratic, time.
    /// </summary>
    /// <param name="previouslyExamined">The length of the input passed to the previous call for this same head,
    /// which returned <see cref="Http1Status.Incomplete"/> (its <c>examined</c> was the end of that input); 0 for a
    /// new head. The input must start with the same bytes as then. A wrong value can only delay finding the end of
    /// the head (at worst until <see cref="Http1ParserOptions.MaxHeadSize"/>), never change what is parsed.</param>
    public static Http1Status ParseRequestHead(
        in ReadOnlySequence<byte> input,
        HttpRequestHead head,
        Http1ParserOptions options,
        long previouslyExamined,
        out SequencePosition consumed,
        out SequencePosition examined)
    {
        ArgumentNullException.ThrowIfNull(head);
        ArgumentNullException.ThrowIfNull(options);
        return Parse<RequestKind>(input, head, options, previouslyExamined, out consumed, out examined);
    }

    /// <summary>Parses one response head from the start of <paramref name="input"/> into <paramref name="head"/>.</summary>
    /// <remarks>Any rejection of a response is answered 502 to the client (<see cref="Http1StatusExtensions.ToUpstreamStatusCode"/>).</remarks>
    public static Http1Status ParseResponseHead(
        in ReadOnlySequence<byte> input,
        HttpResponseHead head,
        Http1ParserOptions options,
        out SequencePosition consumed,
        out SequencePosition examined)
        => ParseResponseHead(input, head, options, previouslyExamined: 0, out consumed, out examined);

    /// <summary>Parses one response head, resuming where the previous call stopped (see the request overload).</summary>
    public static Http1Status ParseResponseHead(
        in ReadOnlySequence<byte> input,
        HttpResponseHead head,
        Http1ParserOptions options,
        long previouslyExamined,
        out SequencePosition consumed,
        out SequencePosition examined)
    {
        ArgumentNullException.ThrowIfNull(head);
        ArgumentNullException.ThrowIfNull(options);
        return Parse<ResponseKind>(input, head, options, previouslyExamined, out consumed, out examined);
    }

    private static Http1Status Parse<TKind>(in ReadOnlySequence<byte> input, HttpHead head, Http1ParserOptions options,
        long previouslyExamined, out SequencePosition consumed, out SequencePosition examined)
        where TKind : struct, IHeadKind
    {
        head.Reset();
        if ((ulong)previouslyExamined > (ulong)input.Length)
        {
            previouslyExamined = 0; // not from a previous call on this input: ignore it rather than skip bytes
        }

        ReadOnlySpan<byte> first = input.FirstSpan;
        bool moreSegments = first.Length < input.Length;
        Http1Status status = ParseHead<TKind>(first, head, options, Hint(previouslyExamined, first.Length),
            diagnoseIncomplete: !moreSegments, out int start, out int end);
        if (status == Http1Status.Complete)
        {
            head.Raw = input.First.Slice(start, end - start);
            consumed = examined = input.GetPosition(end);
            return status;
        }
        if (moreSegments && end == 0)
        {
            // The head does not end in the first segment: decide on the whole input. (The early checks of an
            // incomplete head are skipped above: they may name another rule than the full parse, and the answer
            // must not depend on where segments end. A head that did end in the first segment was fully parsed.)
            return ParseMultiSegment<TKind>(input, head, options, previouslyExamined, out consumed, out examined);
        }
        return NotParsed(input, head, status, out consumed, out examined);
    }

    /// <summary>
    /// Which kind of head a generic method parses. A struct type argument makes the JIT compile requests and responses
    /// separately, with <see cref="IHeadKind.IsRequest"/> folded to a constant (Kestrel does this with its handler).
    /// </summary>
    internal interface IHeadKind
    {
        static abstract bool IsRequest { get; }
    }

    internal readonly struct RequestKind : IHeadKind
    {
        public static bool IsRequest => true;
    }

    internal readonly struct ResponseKind : IHeadKind
    {
        public static bool IsRequest => false;
    }

    private static int Hint(long previouslyExamined, int length) => (int)Math.Clamp(previouslyExamined, 0, length);

    private static Http1Status NotParsed(in ReadOnlySequence<byte> input, HttpHead head, Http1Status status,
        out SequencePosition consumed, out SequencePosition examined)
    {
        head.Reset();
        consumed = input.Start;
        examined = input.End;
        return status;
    }

    /// <summary>
    /// The first segment did not hold a whole valid head: copy what can belong to the head (at most MaxHeadSize
    /// bytes) into the head's own buffer and decide there, so that the result never depends on where segments end.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static Http1Status ParseMultiSegment<TKind>(in ReadOnlySequence<byte> input, HttpHead head, Http1ParserOptions options,
        long previouslyExamined, out SequencePosition consumed, out SequencePosition examined)
        where TKind : struct, IHeadKind
    {
        head.Reset();
        int length = (int)Math.Min(input.Length, Math.Max(options.MaxHeadSize, 0));
        byte[] buffer = head.GetCopyBuffer(length);
        input.Slice(0, length).CopyTo(buffer);

        Http1Status status = ParseHead<TKind>(buffer.AsSpan(0, length), head, options, Hint(previouslyExamined, length),
            diagnoseIncomplete: true, out int start, out int end);
        if (status == Http1Status.Complete)
        {
            head.Raw = buffer.AsMemory(start, end - start);
            consumed = examined = input.GetPosition(end);
            return status;
        }
        return NotParsed(input, head, status, out consumed, out examined);
    }

    /// <summary>Finds the end of the head in <paramref name="buf"/>, then parses it.</summary>
    /// <param name="diagnoseIncomplete">Whether to run the early checks when the head has not ended (else just
    /// Incomplete).</param>
    /// <param name="start">Where the head starts: after any skipped empty lines.</param>
    /// <param name="end">Just after the head's final LF; 0 when the end was not found.</param>
    private static Http1Status ParseHead<TKind>(ReadOnlySpan<byte> buf, HttpHead head, Http1ParserOptions options,
        int hint, bool diagnoseIncomplete, out int start, out int end)
        where TKind : struct, IHeadKind
    {
        start = 0;
        end = 0;
        if (TKind.IsRequest && !buf.IsEmpty && (buf[0] == CR || buf[0] == LF))
        {
            Http1Status skipped = SkipLeadingEmptyLines(buf, options.AllowBareLf, out start);
            if (skipped != Http1Status.Complete)
            {
                return skipped;
            }
        }

        // The head must end within the first MaxHeadSize bytes; nothing after them is looked at.
        int limit = Math.Min(buf.Length, options.MaxHeadSize);
        int headEnd;
        if (!options.AllowBareLf)
        {
            // Strict: the first empty line of a valid head is the first CRLF CRLF. Back up 3 bytes from the hint
            // in case the previous input ended inside it.
            int from = Math.Max(start, hint - 3);
            int found = from < limit ? buf[from..limit].IndexOf("\r\n\r\n"u8) : -1;
            if (found < 0)
            {
                return diagnoseIncomplete ? DiagnoseIncomplete<TKind>(buf, head, options, start, hint) : Http1Status.Incomplete;
            }
            headEnd = from + found + 4;
        }
        else
        {
            headEnd = FindEmptyLine(buf, Math.Max(start, hint), limit, start);
            if (headEnd < 0)
            {
                return diagnoseIncomplete ? DiagnoseIncomplete<TKind>(buf, head, options, start, hint) : Http1Status.Incomplete;
            }
        }

        ReadOnlySpan<byte> h = buf[start..headEnd];
        Http1Status status = TKind.IsRequest
            ? ParseRequest(h, (HttpRequestHead)head, options)
            : ParseResponse(h, (HttpResponseHead)head, options);
        head.HeadLength = h.Length;
        end = headEnd;
        return status;
    }

    /// <summary>Skips up to <see cref="MaxLeadingEmptyLines"/> empty lines before a request line.</summary>
    /// <returns>Complete with <paramref name="start"/> at the first other byte; Incomplete when only empty lines
    /// (or half of one) arrived; InvalidRequestLine for too many.</returns>
    private static Http1Status SkipLeadingEmptyLines(ReadOnlySpan<byte> buf, bool allowBareLf, out int start)
    {
        int i = 0;
        for (int lines = 0; ; lines++)
        {
            start = i;
            if ((uint)i >= (uint)buf.Length)
            {
                return Http1Status.Incomplete;
            }
            int length;
            if (buf[i] == CR)
            {
                if ((uint)(i + 1) >= (uint)buf.Length)
                {
                    return Http1Status.Incomplete;
                }
                if (buf[i + 1] != LF)
                {
                    return Http1Status.Complete; // a bare CR: the request line parser rejects it
                }
                length = 2;
            }
            else if (buf[i] == LF && allowBareLf)
            {
                length = 1;
            }
            else
            {
                return Http1Status.Complete; // a strict bare LF is rejected by the request line parser
            }
            if (lines == MaxLeadingEmptyLines)
            {
                return Http1Status.InvalidRequestLine;
            }
            i += length;
        }
    }

    /// <summary>With bare LF allowed: the index after the first empty line's LF at or after <paramref name="from"/>, or -1.</summary>
    private static int FindEmptyLine(ReadOnlySpan<byte> buf, int from, int limit, int start)
    {
        int i = from;
        while (i < limit)
        {
            int lf = buf[i..limit].IndexOf(LF);
            if (lf < 0)
            {
                return -1;
            }
            lf += i;
            // The line before this LF is empty when, after an optional CR, the previous byte is the LF ending the
            // line before (RFC 9112 §2.2: a recipient may recognize LF alone and ignore a preceding CR).
            int prev = lf - 1;
            if (prev >= start && buf[prev] == CR)
            {
                prev--;
            }
            if (prev >= start && buf[prev] == LF)
            {
                return lf + 1;
            }
            i = lf + 1;
        }
        return -1;
    }

    /// <summary>
    /// The head has not ended yet. Check what can be checked already so that garbage fails fast: the line-length
    /// and head-size limits, the start line once complete (or the method/version prefix before that), and bare LFs
    /// and bare CRs in complete lines. Lines examined by the previous call (the hint) are not checked again.
    /// </summary>
    private static Http1Status DiagnoseIncomplete<TKind>(ReadOnlySpan<byte> buf, HttpHead head, Http1ParserOptions options,
        int start, int hint)
        where TKind : struct, IHeadKind
    {
        int limit = Math.Min(buf.Length, options.MaxHeadSize);
        ReadOnlySpan<byte> h = buf[start..];
        long window = TKind.IsRequest ? (long)options.MaxRequestLineLength + 2 : long.MaxValue; // the line plus CRLF
        int firstLf = h[..(int)Math.Min(h.Length, window)].IndexOf(LF);
        if (firstLf < 0)
        {
            if (h.Length >= window)
            {
                return Http1Status.RequestLineTooLong;
            }
            Http1Status prefix = TKind.IsRequest ? CheckRequestLinePrefix(h) : CheckStatusLinePrefix(h);
            if (prefix != Http1Status.Incomplete)
            {
                return prefix;
            }
        }
        else
        {
            if (hint <= start + firstLf)
            {
                Http1Status line = TKind.IsRequest
                    ? ParseRequestLine(h, firstLf, (HttpRequestHead)head, options)
                    : ParseStatusLine(h, firstLf, (HttpResponseHead)head, options);
                if (line != Http1Status.Complete)
                {
                    return line;
                }
            }
            // Walk the field lines completed since the previous call, from the start of the line the hint falls in.
            int from = Math.Max(start + firstLf + 1, Math.Min(hint, limit));
            int i = buf[..from].LastIndexOf(LF) + 1;
            while (i < limit)
            {
                int lf = buf[i..limit].IndexOf(LF);
                if (lf < 0)
                {
                    break;
                }
                lf += i;
                int end = LineContentEnd(buf, i, lf, options.AllowBareLf);
                if (end < 0)
                {
                    return Http1Status.BareLF;
                }
                if (buf[i..end].Contains(CR))
                {
                    return Http1Status.BareCR; // in strict mode this line could otherwise hide the end of the head
                }
                i = lf + 1;
            }
        }
        return buf.Length >= options.MaxHeadSize ? Http1Status.HeadTooLarge : Http1Status.Incomplete;
    }

    /// <summary>The first line of a request has not ended: reject a method that already cannot be a token.</summary>
    private static Http1Status CheckRequestLinePrefix(ReadOnlySpan<byte> h)
    {
        int i = h.IndexOfAnyExcept(Tchar);
        if ((uint)i >= (uint)h.Length)
        {
            return Http1Status.Incomplete; // -1 → uint.MaxValue: all token so far
        }
        byte b = h[i];
        if (b == SP)
        {
            return i == 0 ? Http1Status.InvalidMethod : Http1Status.Incomplete;
        }
        return b == CR ? Http1Status.Incomplete : Http1Status.InvalidMethod;
    }

    /// <summary>The first line of a response has not ended: reject one that cannot start with "HTTP/".</summary>
    private static Http1Status CheckStatusLinePrefix(ReadOnlySpan<byte> h)
    {
        ReadOnlySpan<byte> name = "HTTP/"u8;
        int n = Math.Min(h.Length, name.Length);
        return h[..n].SequenceEqual(name[..n]) ? Http1Status.Incomplete : Http1Status.InvalidVersion;
    }

    /// <summary>
    /// The end of a line's content given the index of its LF: the CR before the LF, or the LF itself when bare LF
    /// is allowed; -1 for a bare LF that is not.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int LineContentEnd(ReadOnlySpan<byte> h, int lineStart, int lf, bool allowBareLf)
    {
        if (lf > lineStart && h[lf - 1] == CR)
        {
            return lf - 1;
        }
        return allowBareLf ? lf : -1;
    }
}
