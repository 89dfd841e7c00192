using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text;
using static FastProxy.Http1.HttpCharacters;

namespace FastProxy.Http1;

public static partial class Http1Parser
{
    /// <summary>
    /// field-line = field-name ":" OWS field-value OWS, each ended by CRLF, until the empty line (RFC 9112 §5).
    /// <paramref name="pos"/> is the first byte after the start line; <paramref name="h"/> ends with the empty line.
    /// </summary>
    // Kept out of line: it is one loop run once per head, so inlining gains nothing, and when dynamic PGO inlined it
    // into ParseResponse the response path ran 2.5x slower (361 vs 148 ns for the benchmark response head).
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static Http1Status ParseFields<TKind>(ReadOnlySpan<byte> h, int pos, HttpHead head, Http1ParserOptions options)
        where TKind : struct, IHeadKind
    {
        bool allowBareLf = options.AllowBareLf;
        int maxFieldCount = options.MaxFieldCount;
        bool firstLine = true;
        while (true)
        {
            int lf = h[pos..].IndexOf(LF);
            Debug.Assert(lf >= 0, "the head ends with an empty line");
            lf += pos;
            int end = LineContentEnd(h, pos, lf, allowBareLf);
            if (end < 0)
            {
                return Http1Status.BareLF;
            }
            if (end == pos)
            {
                Debug.Assert(lf + 1 == h.Length, "the first empty line ends the head");
                return Http1Status.Complete;
            }
            ReadOnlySpan<byte> line = h[pos..end];

            // RFC 9112 §2.2: whitespace between the start line and the first field "MUST" be rejected or the line
            // ignored; §5.2: obs-fold in a request must be rejected or replaced. We reject both.
            if (IsWhitespace(line[0]))
            {
                return firstLine ? Http1Status.WhitespaceAfterStartLine : Http1Status.ObsoleteLineFolding;
            }

            int colon = line.IndexOfAnyExcept(Tchar);
            if ((uint)colon >= (uint)line.Length)
            {
                return Http1Status.MissingFieldColon; // -1 → uint.MaxValue: the whole line is a token
            }
            if (line[colon] != ':')
            {
                return FieldNameError(line, colon);
            }
            if (colon == 0)
            {
                return Http1Status.EmptyFieldName;
            }

            // Trim OWS on both sides (RFC 9112 §5.1); what is left must be field-content (RFC 9110 §5.5). OWS is
            // usually one SP or none, so scalar loops beat a vectorized search here.
            int valueStart = colon + 1;
            int valueEnd = line.Length;
            while ((uint)valueStart < (uint)valueEnd && IsWhitespace(line[valueStart]))
            {
                valueStart++;
            }
            while (valueEnd > valueStart && IsWhitespace(line[valueEnd - 1]))
            {
                valueEnd--;
            }
            ReadOnlySpan<byte> value = line[valueStart..valueEnd];
            int bad = value.IndexOfAny(InvalidFieldValue);
            if (bad >= 0)
            {
                return value[bad] == CR ? Http1Status.BareCR : Http1Status.InvalidFieldValue;
            }
            int valueOffset = pos + valueStart;

            KnownField known = IdentifyField(line[..colon]);
            int index = head.FieldCount;
            if (!head.TryAddField(new HttpField(pos, colon, valueOffset, value.Length, known, line.Length), maxFieldCount))
            {
                return Http1Status.TooManyFields;
            }
            if (known != KnownField.Other)
            {
                Http1Status status = OnKnownField<TKind>(head, known, value, index);
                if (status != Http1Status.Complete)
                {
                    return status;
                }
            }
            firstLine = false;
            pos = lf + 1;
        }
    }

    /// <summary>Why a field name stopped at a byte that is neither a tchar nor the colon.</summary>
    private static Http1Status FieldNameError(ReadOnlySpan<byte> line, int at)
    {
        byte b = line[at];
        if (b == CR)
        {
            return Http1Status.BareCR;
        }
        if (IsWhitespace(b))
        {
            // RFC 9112 §5.1: "No whitespace is allowed between the field name and colon" (and a server MUST reject
            // it with 400: "Transfer-Encoding : chunked" is a classic smuggling trick).
            int next = line[at..].IndexOfAnyExcept(Whitespace);
            if (next >= 0 && line[at + next] == ':')
            {
                return Http1Status.WhitespaceBeforeColon;
            }
        }
        return Http1Status.InvalidFieldName;
    }

    /// <summary>Field names are case-insensitive (RFC 9110 §5.1); matched by length first, without allocating.</summary>
    internal static KnownField IdentifyField(ReadOnlySpan<byte> name) => name.Length switch
    {
        2 when Ascii.EqualsIgnoreCase(name, "te"u8) => KnownField.TE,
        4 when Ascii.EqualsIgnoreCase(name, "host"u8) => KnownField.Host,
        6 when Ascii.EqualsIgnoreCase(name, "expect"u8) => KnownField.Expect,
        7 when Ascii.EqualsIgnoreCase(name, "upgrade"u8) => KnownField.Upgrade,
        7 when Ascii.EqualsIgnoreCase(name, "trailer"u8) => KnownField.Trailer,
        10 when Ascii.EqualsIgnoreCase(name, "connection"u8) => KnownField.Connection,
        10 when Ascii.EqualsIgnoreCase(name, "keep-alive"u8) => KnownField.KeepAlive,
        14 when Ascii.EqualsIgnoreCase(name, "content-length"u8) => KnownField.ContentLength,
        16 when Ascii.EqualsIgnoreCase(name, "proxy-connection"u8) => KnownField.ProxyConnection,
        17 when Ascii.EqualsIgnoreCase(name, "transfer-encoding"u8) => KnownField.TransferEncoding,
        _ => KnownField.Other,
    };

    private static Http1Status OnKnownField<TKind>(HttpHead head, KnownField known, ReadOnlySpan<byte> value, int index)
        where TKind : struct, IHeadKind
    {
        switch (known)
        {
            case KnownField.Host when TKind.IsRequest:
                var request = (HttpRequestHead)head;
                // RFC 9112 §3.2: reject "more than one Host header field line or a Host header field with an
                // invalid field value". An empty value is valid (RFC 9112 §3.2: sent when the target has no authority).
                if (request.HostFieldIndex >= 0)
                {
                    return Http1Status.MultipleHost;
                }
                if (!value.IsEmpty && !IsValidHost(value, requirePort: false))
                {
                    return Http1Status.InvalidHost;
                }
                request.HostFieldIndex = index;
                return Http1Status.Complete;

            case KnownField.ContentLength:
                if (head.ContentLength >= 0)
                {
                    // RFC 9110 §8.6 allows accepting identical duplicates; we do not: two parsers disagreeing
                    // on which one counts is how Content-Length smuggling works.
                    return Http1Status.MultipleContentLength;
                }
                Http1Status status = ParseContentLength(value, out long length);
                if (status == Http1Status.Complete)
                {
                    head.ContentLength = length;
                }
                return status;

            case KnownField.TransferEncoding:
                // RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing.
                if (head.Version == Http1Version.Http10)
                {
                    return Http1Status.TransferEncodingInHttp10;
                }
                return ParseTransferEncoding(value, head);

            case KnownField.Connection:
                return ParseConnection(value, head);

            case KnownField.Upgrade:
                if (head.UpgradeFieldIndex < 0)
                {
                    head.UpgradeFieldIndex = index;
                }
                return Http1Status.Complete;

            case KnownField.Expect when TKind.IsRequest:
                return ParseExpect(value, (HttpRequestHead)head);

            default:
                return Http1Status.Complete;
        }
    }

    /// <summary>Content-Length = 1*DIGIT (RFC 9110 §8.6): no sign, no space inside, no hex, no list.</summary>
    internal static Http1Status ParseContentLength(ReadOnlySpan<byte> value, out long length)
    {
        length = 0;
        if (value.IsEmpty)
        {
            return Http1Status.InvalidContentLength;
        }
        int bad = value.IndexOfAnyExceptInRange((byte)'0', (byte)'9');
        if (bad >= 0)
        {
            return value[bad] == ',' ? Http1Status.MultipleContentLength : Http1Status.InvalidContentLength;
        }
        long n = 0;
        if (value.Length <= 18)
        {
            foreach (byte b in value)
            {
                n = n * 10 + (b - '0'); // 18 digits cannot overflow a long
            }
        }
        else
        {
            foreach (byte b in value)
            {
                int d = b - '0';
                if (n > (long.MaxValue - d) / 10)
                {
                    return Http1Status.ContentLengthOverflow;
                }
                n = n * 10 + d;
            }
        }
        length = n;
        return Http1Status.Complete;
    }

    /// <summary>
    /// Transfer-Encoding = #transfer-coding (RFC 9112 §6.1), all field lines together. We accept exactly one
    /// <c>chunked</c>, as the final coding, and nothing else: empty elements, parameters on chunked and chunked twice
    /// are 400; a coding after chunked is 400 (RFC 9112 §6.3); any other coding is 501 (RFC 9112 §6.1).
    /// </summary>
    private static Http1Status ParseTransferEncoding(ReadOnlySpan<byte> value, HttpHead head)
    {
        while (true)
        {
            int comma = value.IndexOf((byte)',');
            ReadOnlySpan<byte> element = TrimWhitespace(comma < 0 ? value : value[..comma]);
            int semicolon = element.IndexOf((byte)';');
            ReadOnlySpan<byte> name = semicolon < 0 ? element : TrimWhitespace(element[..semicolon]);
            if (name.IsEmpty || name.IndexOfAnyExcept(Tchar) >= 0)
            {
                return Http1Status.InvalidTransferEncoding;
            }
            // Transfer coding names are case-insensitive (RFC 9112 §7).
            bool chunked = Ascii.EqualsIgnoreCase(name, "chunked"u8);
            if (head.IsChunked)
            {
                // RFC 9112 §6.1: "A sender MUST NOT apply the chunked transfer coding more than once".
                return chunked ? Http1Status.InvalidTransferEncoding : Http1Status.ChunkedNotFinal;
            }
            if (!chunked)
            {
                return IsRegisteredTransferCoding(name) ? Http1Status.UnsupportedTransferCoding : Http1Status.UnknownTransferCoding;
            }
            if (semicolon >= 0)
            {
                return Http1Status.InvalidTransferEncoding; // chunked takes no parameters
            }
            head.IsChunked = true;
            if (comma < 0)
            {
                return Http1Status.Complete;
            }
            value = value[(comma + 1)..];
        }
    }

    /// <summary>The IANA HTTP Transfer Coding Registry, less chunked (RFC 9112 §7.2, §7.3, §18.4).</summary>
    private static bool IsRegisteredTransferCoding(ReadOnlySpan<byte> name) =>
        Ascii.EqualsIgnoreCase(name, "gzip"u8) || Ascii.EqualsIgnoreCase(name, "deflate"u8)
        || Ascii.EqualsIgnoreCase(name, "compress"u8) || Ascii.EqualsIgnoreCase(name, "x-gzip"u8)
        || Ascii.EqualsIgnoreCase(name, "x-compress"u8);

    /// <summary>
    /// Connection = #connection-option; connection-option = token (RFC 9110 §7.6.1). Empty list elements are
    /// ignored (RFC 9110 §5.6.1); anything else that is not a token is rejected.
    /// </summary>
    private static Http1Status ParseConnection(ReadOnlySpan<byte> value, HttpHead head)
    {
        ConnectionOptions options = head.Connection;
        while (true)
        {
            int comma = value.IndexOf((byte)',');
            ReadOnlySpan<byte> element = TrimWhitespace(comma < 0 ? value : value[..comma]);
            if (!element.IsEmpty)
            {
                if (element.IndexOfAnyExcept(Tchar) >= 0)
                {
                    return Http1Status.InvalidConnection;
                }
                options |= element.Length switch
                {
                    5 when Ascii.EqualsIgnoreCase(element, "close"u8) => ConnectionOptions.Close,
                    7 when Ascii.EqualsIgnoreCase(element, "upgrade"u8) => ConnectionOptions.Upgrade,
                    10 when Ascii.EqualsIgnoreCase(element, "keep-alive"u8) => ConnectionOptions.KeepAlive,
                    _ => ConnectionOptions.Other,
                };
            }
            if (comma < 0)
            {
                head.Connection = options;
                return Http1Status.Complete;
            }
            value = value[(comma + 1)..];
        }
    }

    /// <summary>
    /// Expect = #expectation; only "100-continue" is defined, case-insensitive (RFC 9110 §10.1.1). Anything else is
    /// 417. In HTTP/1.0 the 100-continue expectation is ignored ("MUST ignore").
    /// </summary>
    private static Http1Status ParseExpect(ReadOnlySpan<byte> value, HttpRequestHead head)
    {
        while (true)
        {
            int comma = value.IndexOf((byte)',');
            ReadOnlySpan<byte> element = TrimWhitespace(comma < 0 ? value : value[..comma]);
            if (!element.IsEmpty)
            {
                if (!Ascii.EqualsIgnoreCase(element, "100-continue"u8))
                {
                    return Http1Status.ExpectationFailed;
                }
                if (head.Version == Http1Version.Http11)
                {
                    head.ExpectContinue = true;
                }
            }
            if (comma < 0)
            {
                return Http1Status.Complete;
            }
            value = value[(comma + 1)..];
        }
    }
}
