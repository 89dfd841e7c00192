using System.Buffers.Binary;
using System.Text;
using static FastProxy.Http1.HttpCharacters;

namespace FastProxy.Http1;

public static partial class Http1Parser
{
    // "HTTP/1.1" and "HTTP/1.0" read as little-endian 64-bit integers: one compare matches the whole version.
    private static readonly ulong Http11Bytes = BinaryPrimitives.ReadUInt64LittleEndian("HTTP/1.1"u8);
    private static readonly ulong Http10Bytes = BinaryPrimitives.ReadUInt64LittleEndian("HTTP/1.0"u8);

    /// <summary>A whole request head (start line through the final empty line), offsets relative to its start.</summary>
    private static Http1Status ParseRequest(ReadOnlySpan<byte> h, HttpRequestHead head, Http1ParserOptions options)
    {
        int lf = h.IndexOf(LF); // h ends with LF
        Http1Status status = ParseRequestLine(h, lf, head, options);
        if (status != Http1Status.Complete)
        {
            return status;
        }
        status = ParseFields<RequestKind>(h, lf + 1, head, options);
        if (status != Http1Status.Complete)
        {
            return status;
        }

        // RFC 9112 §6.3: Content-Length with Transfer-Encoding "ought to be handled as an error" — a request
        // smuggling vector when two parsers pick different ones. Reject, whatever the order of the fields.
        if (head.IsChunked && head.ContentLength >= 0)
        {
            return Http1Status.ContentLengthWithTransferEncoding;
        }
        // RFC 9112 §3.2: "A server MUST respond with a 400 (Bad Request) status code to any HTTP/1.1 request message
        // that lacks a Host header field" (more than one was rejected when the second arrived).
        if (head.HostFieldIndex < 0 && head.Version == Http1Version.Http11)
        {
            return Http1Status.MissingHost;
        }
        // RFC 9110 §9.3.6: "A CONNECT request message does not have content": bytes after it belong to the tunnel.
        if (head.Method == Http1Method.Connect && (head.IsChunked || head.ContentLength > 0))
        {
            return Http1Status.ConnectWithBody;
        }
        return Http1Status.Complete;
    }

    /// <summary>A whole response head.</summary>
    private static Http1Status ParseResponse(ReadOnlySpan<byte> h, HttpResponseHead head, Http1ParserOptions options)
    {
        int lf = h.IndexOf(LF);
        Http1Status status = ParseStatusLine(h, lf, head, options);
        if (status != Http1Status.Complete)
        {
            return status;
        }
        status = ParseFields<ResponseKind>(h, lf + 1, head, options);
        if (status != Http1Status.Complete)
        {
            return status;
        }
        // RFC 9112 §6.3 says Transfer-Encoding overrides Content-Length in a response, but "ought to be handled as
        // an error"; a proxy that forwarded both would hand the ambiguity to its client. Reject (502).
        if (head.IsChunked && head.ContentLength >= 0)
        {
            return Http1Status.ContentLengthWithTransferEncoding;
        }
        return Http1Status.Complete;
    }

    /// <summary>request-line = method SP request-target SP HTTP-version (RFC 9112 §3), ending at <paramref name="lf"/>.</summary>
    private static Http1Status ParseRequestLine(ReadOnlySpan<byte> h, int lf, HttpRequestHead head, Http1ParserOptions options)
    {
        int end = LineContentEnd(h, 0, lf, options.AllowBareLf);
        if (end > options.MaxRequestLineLength || (end < 0 && lf > options.MaxRequestLineLength))
        {
            return Http1Status.RequestLineTooLong;
        }
        if (end < 0)
        {
            return Http1Status.BareLF;
        }
        ReadOnlySpan<byte> line = h[..end];
        if (line.Contains(CR))
        {
            return Http1Status.BareCR;
        }

        // The method is a token ended by exactly one SP (RFC 9112 §3: no other whitespace, no leading space).
        int sp = line.IndexOfAnyExcept(Tchar);
        if ((uint)sp >= (uint)line.Length)
        {
            return Http1Status.InvalidRequestLine; // -1 → uint.MaxValue: one token, no target, no version
        }
        if (line[sp] == HTAB)
        {
            return Http1Status.InvalidRequestLine; // RFC 9112 §3: the separator is one SP; we do not split on other whitespace
        }
        if (sp == 0 || line[sp] != SP)
        {
            return Http1Status.InvalidMethod;
        }
        int last = line.LastIndexOf(SP);
        if (last == sp || last == line.Length - 1)
        {
            return Http1Status.InvalidRequestLine; // two parts (HTTP/0.9 "GET /", or no target), or a trailing SP
        }
        Http1Status status = ParseVersion(line[(last + 1)..], out Http1Version version);
        if (status != Http1Status.Complete)
        {
            return status;
        }
        ReadOnlySpan<byte> target = line[(sp + 1)..last];
        if (target.IsEmpty || target[0] == SP || target[^1] == SP)
        {
            return Http1Status.InvalidRequestLine; // a doubled SP: "GET  / HTTP/1.1", "GET /  HTTP/1.1"
        }

        head.Method = IdentifyMethod(line[..sp]);
        head.MethodLength = sp;
        head.Version = version;
        head.TargetOffset = sp + 1;
        head.TargetLength = target.Length;
        return ParseTarget(target, sp + 1, head);
    }

    /// <summary>HTTP-version = "HTTP/" DIGIT "." DIGIT (RFC 9112 §2.3), case-sensitive.</summary>
    private static Http1Status ParseVersion(ReadOnlySpan<byte> v, out Http1Version version)
    {
        version = Http1Version.Http11;
        if (v.Length == 8)
        {
            ulong bytes = BinaryPrimitives.ReadUInt64LittleEndian(v);
            if (bytes == Http11Bytes)
            {
                return Http1Status.Complete;
            }
            if (bytes == Http10Bytes)
            {
                version = Http1Version.Http10;
                return Http1Status.Complete;
            }
            // Well-formed but not ours: HTTP/0.9, HTTP/1.2, HTTP/2.0 (an HTTP/2 preface is "PRI * HTTP/2.0").
            if (v.StartsWith("HTTP/"u8) && IsDigit(v[5]) && v[6] == '.' && IsDigit(v[7]))
            {
                return Http1Status.HttpVersionNotSupported;
            }
        }
        return Http1Status.InvalidVersion;
    }

    /// <summary>Methods are case-sensitive (RFC 9110 §9.1): "get" is a custom method.</summary>
    private static Http1Method IdentifyMethod(ReadOnlySpan<byte> m) => m.Length switch
    {
        3 when m.SequenceEqual("GET"u8) => Http1Method.Get,
        3 when m.SequenceEqual("PUT"u8) => Http1Method.Put,
        4 when m.SequenceEqual("POST"u8) => Http1Method.Post,
        4 when m.SequenceEqual("HEAD"u8) => Http1Method.Head,
        5 when m.SequenceEqual("PATCH"u8) => Http1Method.Patch,
        5 when m.SequenceEqual("TRACE"u8) => Http1Method.Trace,
        6 when m.SequenceEqual("DELETE"u8) => Http1Method.Delete,
        7 when m.SequenceEqual("OPTIONS"u8) => Http1Method.Options,
        7 when m.SequenceEqual("CONNECT"u8) => Http1Method.Connect,
        _ => Http1Method.Custom,
    };

    /// <summary>
    /// request-target = origin-form / absolute-form / authority-form / asterisk-form (RFC 9112 §3.2), and the form
    /// must suit the method. <paramref name="offset"/> is the target's offset in the head.
    /// </summary>
    private static Http1Status ParseTarget(ReadOnlySpan<byte> target, int offset, HttpRequestHead head)
    {
        // Visible ASCII except '#' (see HttpCharacters.TargetChar): no SP, CTL, DEL or non-ASCII byte.
        if (target.IndexOfAnyExcept(TargetChar) >= 0)
        {
            return Http1Status.InvalidRequestTarget;
        }
        Http1Method method = head.Method;

        if (target[0] == '/')
        {
            // RFC 9110 §9.3.6: CONNECT uses authority-form only.
            if (method == Http1Method.Connect)
            {
                return Http1Status.TargetFormNotAllowed;
            }
            head.TargetForm = RequestTargetForm.Origin;
            return SplitPathAndQuery(target, offset, 0, head);
        }

        if (target.Length == 1 && target[0] == '*')
        {
            // RFC 9112 §3.2.4: asterisk-form "is only used for a server-wide OPTIONS request".
            if (method != Http1Method.Options)
            {
                return Http1Status.TargetFormNotAllowed;
            }
            head.TargetForm = RequestTargetForm.Asterisk;
            head.PathOffset = offset;
            head.PathLength = 1;
            return Http1Status.Complete;
        }

        if (method == Http1Method.Connect)
        {
            // RFC 9112 §3.2.3: authority-form = uri-host ":" port; RFC 9110 §9.3.6: the port is required. No userinfo.
            if (!IsValidHost(target, requirePort: true))
            {
                return AbsoluteSchemeLength(target) > 0 ? Http1Status.TargetFormNotAllowed : Http1Status.InvalidRequestTarget;
            }
            head.TargetForm = RequestTargetForm.Authority;
            head.AuthorityOffset = offset;
            head.AuthorityLength = target.Length;
            head.PathOffset = offset + target.Length;
            head.PathLength = 0;
            return Http1Status.Complete;
        }

        // absolute-form = absolute-URI (RFC 9112 §3.2.2). We accept the http and https schemes only.
        int scheme = AbsoluteSchemeLength(target);
        if (scheme < 0)
        {
            // "host:port" with another method is authority-form in the wrong place (RFC 9112 §3.2.3).
            return IsValidHost(target, requirePort: true) ? Http1Status.TargetFormNotAllowed : Http1Status.InvalidRequestTarget;
        }
        ReadOnlySpan<byte> rest = target[scheme..];
        int authorityLength = rest.IndexOfAny((byte)'/', (byte)'?');
        if (authorityLength < 0)
        {
            authorityLength = rest.Length;
        }
        // RFC 9110 §4.2.1: an http(s) URI with an empty host is invalid; §4.2.4: userinfo is an error (and '@' is
        // not a reg-name byte, so IsValidHost refuses it).
        if (authorityLength == 0 || !IsValidHost(rest[..authorityLength], requirePort: false))
        {
            return Http1Status.InvalidRequestTarget;
        }
        head.TargetForm = RequestTargetForm.Absolute;
        head.AuthorityOffset = offset + scheme;
        head.AuthorityLength = authorityLength;
        return SplitPathAndQuery(target, offset, scheme + authorityLength, head);
    }

    /// <summary>The length of "http://" or "https://" (scheme case-insensitive, RFC 3986 §3.1) at the start, or -1.</summary>
    private static int AbsoluteSchemeLength(ReadOnlySpan<byte> target)
    {
        if (target.Length >= 7 && Ascii.EqualsIgnoreCase(target[..4], "http"u8))
        {
            if (target[4..].StartsWith("://"u8))
            {
                return 7;
            }
            if (target.Length >= 8 && (target[4] | 0x20) == 's' && target[5..].StartsWith("://"u8))
            {
                return 8;
            }
        }
        return -1;
    }

    /// <summary>Splits target[pathStart..] at the first '?' into path and query; the path's percent-escapes must be valid.</summary>
    private static Http1Status SplitPathAndQuery(ReadOnlySpan<byte> target, int offset, int pathStart, HttpRequestHead head)
    {
        ReadOnlySpan<byte> rest = target[pathStart..];
        int q = rest.IndexOf((byte)'?');
        ReadOnlySpan<byte> path = q < 0 ? rest : rest[..q];
        // RFC 3986 §2.1: pct-encoded = "%" HEXDIG HEXDIG. nginx rejects a bad escape in the path too; an origin
        // that decodes it differently from our router would see another path.
        if (!IsValidPercentEncoding(path))
        {
            return Http1Status.InvalidRequestTarget;
        }
        head.PathOffset = offset + pathStart;
        head.PathLength = path.Length;
        if (q >= 0)
        {
            head.QueryOffset = offset + pathStart + q + 1;
            head.QueryLength = rest.Length - q - 1;
        }
        return Http1Status.Complete;
    }

    private static bool IsValidPercentEncoding(ReadOnlySpan<byte> s)
    {
        int i = s.IndexOf((byte)'%');
        while (i >= 0)
        {
            if (i + 2 >= s.Length || HexValue(s[i + 1]) < 0 || HexValue(s[i + 2]) < 0)
            {
                return false;
            }
            s = s[(i + 3)..];
            i = s.IndexOf((byte)'%');
        }
        return true;
    }

    /// <summary>
    /// uri-host [ ":" port ] (RFC 9110 §7.2, RFC 3986 §3.2.2-3.2.3): an IP-literal in brackets or a reg-name (which
    /// covers IPv4), never empty; the port at most 5 digits and at most 65535, and present when
    /// <paramref name="requirePort"/>.
    /// </summary>
    internal static bool IsValidHost(ReadOnlySpan<byte> v, bool requirePort)
    {
        if (v.IsEmpty)
        {
            return false;
        }
        ReadOnlySpan<byte> rest;
        if (v[0] == '[')
        {
            int close = v.IndexOf((byte)']');
            if (close < 2)
            {
                return false;
            }
            ReadOnlySpan<byte> literal = v[1..close];
            if ((literal[0] | 0x20) == 'v')
            {
                // IPvFuture = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" )
                if (literal.IndexOfAnyExcept(IpLiteralChar) >= 0 || literal.IndexOf((byte)'.') < 2)
                {
                    return false;
                }
            }
            else if (literal.IndexOfAnyExcept("0123456789abcdefABCDEF:."u8) >= 0 || !literal.Contains((byte)':'))
            {
                return false; // IPv6address: hex groups, ':' and an optional dotted IPv4 tail
            }
            rest = v[(close + 1)..];
        }
        else
        {
            int colon = v.IndexOf((byte)':');
            ReadOnlySpan<byte> host = colon < 0 ? v : v[..colon];
            if (host.IsEmpty || host.IndexOfAnyExcept(RegNameChar) >= 0 || !IsValidPercentEncoding(host))
            {
                return false;
            }
            rest = colon < 0 ? default : v[colon..];
        }

        if (rest.IsEmpty)
        {
            return !requirePort;
        }
        if (rest[0] != ':')
        {
            return false;
        }
        ReadOnlySpan<byte> port = rest[1..];
        if (port.IsEmpty)
        {
            return !requirePort; // RFC 3986 §3.2.3: port = *DIGIT, so "host:" is valid as a Host value
        }
        if (port.Length > 5 || port.IndexOfAnyExceptInRange((byte)'0', (byte)'9') >= 0)
        {
            return false;
        }
        int value = 0;
        foreach (byte b in port)
        {
            value = value * 10 + (b - '0');
        }
        return value <= 65535;
    }

    /// <summary>status-line = HTTP-version SP status-code SP [ reason-phrase ] (RFC 9112 §4).</summary>
    private static Http1Status ParseStatusLine(ReadOnlySpan<byte> h, int lf, HttpResponseHead head, Http1ParserOptions options)
    {
        int end = LineContentEnd(h, 0, lf, options.AllowBareLf);
        if (end < 0)
        {
            return Http1Status.BareLF;
        }
        ReadOnlySpan<byte> line = h[..end];
        if (line.Contains(CR))
        {
            return Http1Status.BareCR;
        }
        int sp = line.IndexOf(SP);
        Http1Status status = ParseVersion(sp < 0 ? line : line[..sp], out Http1Version version);
        if (status != Http1Status.Complete)
        {
            return status;
        }
        if (sp < 0)
        {
            return Http1Status.InvalidStatusLine;
        }
        ReadOnlySpan<byte> rest = line[(sp + 1)..];
        if (rest.Length < 3 || !IsDigit(rest[0]) || !IsDigit(rest[1]) || !IsDigit(rest[2]))
        {
            return Http1Status.InvalidStatusLine;
        }
        // The SP before an empty reason-phrase is required by the grammar, but "HTTP/1.1 200" alone is common and
        // unambiguous: accept it (as nginx and HttpClient do).
        if (rest.Length > 3 && rest[3] != SP)
        {
            return Http1Status.InvalidStatusLine;
        }
        int code = (rest[0] - '0') * 100 + (rest[1] - '0') * 10 + (rest[2] - '0');
        // RFC 9110 §15: "Values outside the range 100..599 are invalid."
        if (code < 100 || code > 599)
        {
            return Http1Status.InvalidStatusCode;
        }
        // reason-phrase = 1*( HTAB / SP / VCHAR / obs-text ): the bytes of a field value.
        ReadOnlySpan<byte> reason = rest.Length > 3 ? rest[4..] : default;
        if (reason.IndexOfAny(InvalidFieldValue) >= 0)
        {
            return Http1Status.InvalidStatusLine;
        }
        head.Version = version;
        head.StatusCode = code;
        head.ReasonOffset = rest.Length > 3 ? sp + 5 : end;
        head.ReasonLength = reason.Length;
        return Http1Status.Complete;
    }
}
