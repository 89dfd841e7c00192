using System.Buffers;
using System.Runtime.InteropServices;
using static FastProxy.Http1.HttpCharacters;

namespace FastProxy.Http1;

/// <summary>
/// Resumable decoder of the chunked transfer coding (RFC 9112 §7.1). It validates chunk-size lines, extensions and
/// trailers, and hands the caller each run of chunk data as a slice of the input so that it can be re-framed or
/// passed on without copying. One instance per message body; <see cref="Reset"/> before reuse.
/// </summary>
/// <remarks>
/// <para>Usage: call <see cref="Decode"/> on the unread input. It returns the next run of chunk data available in the
/// input (possibly empty) and how far it consumed (framing plus the returned data). On
/// <see cref="Http1Status.Incomplete"/> with non-empty data the caller forwards the data and calls again on the rest;
/// with empty data it needs more input (advance to consumed/examined, read, call again). On
/// <see cref="Http1Status.Complete"/> the last chunk and the trailer section were consumed. Any other value is a
/// framing error: the connection must be closed (and the error is returned again by every later call).</para>
/// <para>The decoder is a byte-at-a-time state machine for framing, so it resumes at any byte boundary and consumes
/// framing bytes as it validates them; data runs are sliced, never copied or scanned. Everything it consumed has been
/// validated, so a caller may either re-frame the returned data or forward the consumed bytes verbatim (which keeps
/// extensions and trailers). A caller that re-frames drops trailers (RFC 9110 §6.5.1 lets a recipient discard them).</para>
/// <para>Grammar (RFC 9112 §7.1): <c>chunk-size [ chunk-ext ] CRLF chunk-data CRLF</c> … <c>1*"0" [ chunk-ext ] CRLF
/// trailer-section CRLF</c>; <c>chunk-ext = *( BWS ";" BWS token [ BWS "=" BWS ( token / quoted-string ) ] )</c>.
/// Lines end in CRLF only: a bare LF is never accepted here (RFC 9112 §2.2 leniency covers only the head), and a
/// CR or LF inside an extension is an error (the CVE-2025-55315 and CVE-2025-22871 class). A chunk-size line is at most
/// <see cref="Http1ParserOptions.MaxChunkLineLength"/> bytes, the trailer section at most
/// <see cref="Http1ParserOptions.MaxHeadSize"/>; trailer fields follow the header field rules.</para>
/// </remarks>
[StructLayout(LayoutKind.Auto)]
public struct ChunkedDecoder
{
    private enum State : byte
    {
        // The chunk-size line (counted against the line limit). SizeStart is 0 so that default(ChunkedDecoder) works.
        SizeStart = 0,
        Size,
        SizeWhitespace,
        ExtNameStart,
        ExtName,
        ExtNameWhitespace,
        ExtValueStart,
        ExtToken,
        ExtQuoted,
        ExtQuotedPair,
        ExtQuotedEnd,
        ExtValueWhitespace,
        LineLf,
        // chunk-data and its CRLF.
        Data,
        DataCr,
        DataLf,
        // The trailer section (counted against the trailer limit).
        TrailerLineStart,
        TrailerName,
        TrailerNameWhitespace,
        TrailerNameCr,
        TrailerValue,
        TrailerLf,
        FinalLf,
        Done,
        Failed,
    }

    private State _state;
    private Http1Status _error;
    // The chunk-size being read, then the chunk-data bytes still to come.
    private long _size;
    private int _lineLength;
    private int _trailerLength;
    private readonly int _maxLineLength;
    private readonly int _maxTrailerSize;

    /// <summary>A decoder with the limits of <paramref name="options"/>. <c>default</c> uses the default limits.</summary>
    public ChunkedDecoder(Http1ParserOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _maxLineLength = options.MaxChunkLineLength;
        _maxTrailerSize = options.MaxHeadSize;
    }

    public readonly bool IsComplete => _state == State.Done;

    /// <summary>Readies the decoder for the next body; keeps the limits.</summary>
    public void Reset()
    {
        _state = State.SizeStart;
        _error = Http1Status.Incomplete;
        _size = 0;
        _lineLength = 0;
        _trailerLength = 0;
    }

    private readonly int MaxLineLength => _maxLineLength > 0 ? _maxLineLength : Http1ParserOptions.DefaultMaxChunkLineLength;

    private readonly int MaxTrailerSize => _maxTrailerSize > 0 ? _maxTrailerSize : Http1ParserOptions.DefaultMaxHeadSize;

    public Http1Status Decode(
        in ReadOnlySequence<byte> input,
        out ReadOnlySequence<byte> data,
        out SequencePosition consumed,
        out SequencePosition examined)
    {
        data = default;
        if (_state == State.Done)
        {
            consumed = examined = input.Start;
            return Http1Status.Complete;
        }
        if (_state == State.Failed)
        {
            consumed = input.Start;
            examined = input.End;
            return _error;
        }

        SequencePosition segmentStart = input.Start;
        SequencePosition next = input.Start;
        while (input.TryGet(ref next, out ReadOnlyMemory<byte> memory))
        {
            ReadOnlySpan<byte> span = memory.Span;
            int i = 0;
            while (i < span.Length)
            {
                if (_state == State.Data)
                {
                    // Hand out as much of this chunk as the input holds, across segments, without looking at it.
                    ReadOnlySequence<byte> rest = input.Slice(input.GetPosition(i, segmentStart));
                    long take = Math.Min(_size, rest.Length);
                    data = rest.Slice(0, take);
                    _size -= take;
                    if (_size == 0)
                    {
                        _state = State.DataCr;
                    }
                    consumed = examined = data.End;
                    return Http1Status.Incomplete;
                }

                Http1Status status = Step(span, ref i);
                if (status == Http1Status.Incomplete)
                {
                    continue; // the span ended, or chunk-data starts at i
                }
                consumed = examined = input.GetPosition(i, segmentStart);
                if (status != Http1Status.Complete)
                {
                    _error = status;
                    _state = State.Failed;
                }
                return status;
            }
            segmentStart = next;
        }
        consumed = examined = input.End;
        return Http1Status.Incomplete;
    }

    /// <summary>
    /// Runs the framing state machine over <paramref name="span"/> from <paramref name="index"/>. Stops after the
    /// byte that enters <see cref="State.Data"/> or <see cref="State.Done"/> (index just past it), at the end of the
    /// span, or at an invalid byte (index at it).
    /// </summary>
    private Http1Status Step(ReadOnlySpan<byte> span, ref int index)
    {
        byte[] classes = Classes;
        int maxLine = MaxLineLength;
        int maxTrailer = MaxTrailerSize;
        for (int i = index; (uint)i < (uint)span.Length; i++)
        {
            index = i;
            byte b = span[i];
            State state = _state;
            if (state <= State.LineLf)
            {
                if (++_lineLength > maxLine)
                {
                    return Http1Status.ChunkLineTooLong;
                }
            }
            else if (state >= State.TrailerLineStart && ++_trailerLength > maxTrailer)
            {
                return Http1Status.TrailerTooLarge;
            }

            switch (state)
            {
                case State.SizeStart:
                {
                    // chunk-size = 1*HEXDIG: no sign, no "0x", no leading whitespace.
                    int hex = HexValue(b);
                    if (hex < 0)
                    {
                        return Http1Status.InvalidChunkSize;
                    }
                    _size = hex;
                    _state = State.Size;
                    break;
                }
                case State.Size:
                {
                    int hex = HexValue(b);
                    if (hex >= 0)
                    {
                        // Leading zeros are fine (bounded by the line limit); a value past 63 bits is not.
                        if (_size > long.MaxValue >> 4)
                        {
                            return Http1Status.ChunkSizeOverflow;
                        }
                        _size = (_size << 4) | (uint)hex;
                    }
                    else if (b == CR)
                    {
                        _state = State.LineLf;
                    }
                    else if (b == ';')
                    {
                        _state = State.ExtNameStart;
                    }
                    else if (IsWhitespace(b))
                    {
                        _state = State.SizeWhitespace;
                    }
                    else
                    {
                        return b == LF ? Http1Status.BareLF : Http1Status.InvalidChunkSize;
                    }
                    break;
                }
                case State.SizeWhitespace:
                    // BWS is allowed only before a ';' (chunk-ext = *( BWS ";" … )): "5 \r\n" is invalid.
                    if (b == ';')
                    {
                        _state = State.ExtNameStart;
                    }
                    else if (!IsWhitespace(b))
                    {
                        return b == LF ? Http1Status.BareLF : Http1Status.InvalidChunkSize;
                    }
                    break;
                case State.ExtNameStart:
                    if ((classes[b] & ClassTchar) != 0)
                    {
                        _state = State.ExtName;
                    }
                    else if (!IsWhitespace(b))
                    {
                        return ExtensionError(b);
                    }
                    break;
                case State.ExtName:
                    if ((classes[b] & ClassTchar) != 0)
                    {
                        break;
                    }
                    if (b == CR)
                    {
                        _state = State.LineLf;
                    }
                    else if (b == ';')
                    {
                        _state = State.ExtNameStart;
                    }
                    else if (b == '=')
                    {
                        _state = State.ExtValueStart;
                    }
                    else if (IsWhitespace(b))
                    {
                        _state = State.ExtNameWhitespace;
                    }
                    else
                    {
                        return ExtensionError(b);
                    }
                    break;
                case State.ExtNameWhitespace:
                    if (b == '=')
                    {
                        _state = State.ExtValueStart;
                    }
                    else if (b == ';')
                    {
                        _state = State.ExtNameStart;
                    }
                    else if (!IsWhitespace(b))
                    {
                        return ExtensionError(b);
                    }
                    break;
                case State.ExtValueStart:
                    if ((classes[b] & ClassTchar) != 0)
                    {
                        _state = State.ExtToken;
                    }
                    else if (b == '"')
                    {
                        _state = State.ExtQuoted;
                    }
                    else if (!IsWhitespace(b))
                    {
                        return ExtensionError(b);
                    }
                    break;
                case State.ExtToken:
                    if ((classes[b] & ClassTchar) == 0)
                    {
                        Http1Status next = AfterExtensionValue(b);
                        if (next != Http1Status.Incomplete)
                        {
                            return next;
                        }
                    }
                    break;
                case State.ExtQuoted:
                    // qdtext excludes CR and LF: a line break inside a quoted extension is exactly the ambiguity of
                    // CVE-2025-55315, where one parser ends the line and another keeps reading.
                    if (b == '"')
                    {
                        _state = State.ExtQuotedEnd;
                    }
                    else if (b == '\\')
                    {
                        _state = State.ExtQuotedPair;
                    }
                    else if ((classes[b] & ClassQdtext) == 0)
                    {
                        return Http1Status.InvalidChunkExtension;
                    }
                    break;
                case State.ExtQuotedPair:
                    if ((classes[b] & ClassQuotedPair) == 0)
                    {
                        return Http1Status.InvalidChunkExtension;
                    }
                    _state = State.ExtQuoted;
                    break;
                case State.ExtQuotedEnd:
                {
                    Http1Status next = AfterExtensionValue(b);
                    if (next != Http1Status.Incomplete)
                    {
                        return next;
                    }
                    break;
                }
                case State.ExtValueWhitespace:
                    if (b == ';')
                    {
                        _state = State.ExtNameStart;
                    }
                    else if (!IsWhitespace(b))
                    {
                        return ExtensionError(b);
                    }
                    break;
                case State.LineLf:
                    if (b != LF)
                    {
                        return Http1Status.BareCR;
                    }
                    _lineLength = 0;
                    if (_size == 0)
                    {
                        // last-chunk: the trailer section follows.
                        _state = State.TrailerLineStart;
                        break;
                    }
                    _state = State.Data;
                    index = i + 1;
                    return Http1Status.Incomplete;
                case State.DataCr:
                    if (b != CR)
                    {
                        return Http1Status.InvalidChunkDataEnd;
                    }
                    _state = State.DataLf;
                    break;
                case State.DataLf:
                    if (b != LF)
                    {
                        return Http1Status.InvalidChunkDataEnd;
                    }
                    _state = State.SizeStart;
                    break;
                case State.TrailerLineStart:
                    if ((classes[b] & ClassTchar) != 0)
                    {
                        _state = State.TrailerName;
                    }
                    else if (b == CR)
                    {
                        _state = State.FinalLf;
                    }
                    else
                    {
                        return b switch
                        {
                            SP or HTAB => Http1Status.ObsoleteLineFolding,
                            LF => Http1Status.BareLF,
                            (byte)':' => Http1Status.EmptyFieldName,
                            _ => Http1Status.InvalidFieldName,
                        };
                    }
                    break;
                case State.TrailerName:
                    if ((classes[b] & ClassTchar) != 0)
                    {
                        break;
                    }
                    if (b == ':')
                    {
                        _state = State.TrailerValue;
                    }
                    else if (IsWhitespace(b))
                    {
                        _state = State.TrailerNameWhitespace;
                    }
                    else if (b == CR)
                    {
                        _state = State.TrailerNameCr;
                    }
                    else
                    {
                        return b == LF ? Http1Status.BareLF : Http1Status.InvalidFieldName;
                    }
                    break;
                case State.TrailerNameWhitespace:
                    if (b == ':')
                    {
                        return Http1Status.WhitespaceBeforeColon;
                    }
                    if (!IsWhitespace(b))
                    {
                        return Http1Status.InvalidFieldName;
                    }
                    break;
                case State.TrailerNameCr:
                    return b == LF ? Http1Status.MissingFieldColon : Http1Status.BareCR;
                case State.TrailerValue:
                    if ((classes[b] & ClassFieldValue) != 0)
                    {
                        break;
                    }
                    if (b != CR)
                    {
                        return b == LF ? Http1Status.BareLF : Http1Status.InvalidFieldValue;
                    }
                    _state = State.TrailerLf;
                    break;
                case State.TrailerLf:
                    if (b != LF)
                    {
                        return Http1Status.BareCR;
                    }
                    _state = State.TrailerLineStart;
                    break;
                case State.FinalLf:
                    if (b != LF)
                    {
                        return Http1Status.BareCR;
                    }
                    _state = State.Done;
                    index = i + 1;
                    return Http1Status.Complete;
            }
        }
        index = span.Length;
        return Http1Status.Incomplete;
    }

    /// <summary>The byte after a token or quoted-string extension value: CR, ';' or BWS before the next ';'.</summary>
    private Http1Status AfterExtensionValue(byte b)
    {
        if (b == CR)
        {
            _state = State.LineLf;
        }
        else if (b == ';')
        {
            _state = State.ExtNameStart;
        }
        else if (IsWhitespace(b))
        {
            _state = State.ExtValueWhitespace;
        }
        else
        {
            return ExtensionError(b);
        }
        return Http1Status.Incomplete;
    }

    private static Http1Status ExtensionError(byte b) => b == LF ? Http1Status.BareLF : Http1Status.InvalidChunkExtension;
}
