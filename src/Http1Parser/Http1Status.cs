namespace FastProxy.Http1;

/// <summary>
/// The outcome of a parse step. <see cref="Incomplete"/> and <see cref="Complete"/> are not errors; every other
/// value is a distinct rejection that the proxy answers with the code from
/// <see cref="Http1StatusExtensions.ToStatusCode"/> (400, 414, 417, 431, 501 or 505) and a closed connection.
/// </summary>
/// <remarks>
/// The codes are those a server answers a bad <em>request</em> with. When the same rule rejects an upstream's
/// <em>response</em> head or body, the proxy answers its client 502 instead (RFC 9110 §15.6.3), whatever the value;
/// see <see cref="Http1StatusExtensions.ToUpstreamStatusCode"/>. The numeric values are stable: add new ones at the
/// end of their group, never renumber.
/// </remarks>
public enum Http1Status : byte
{
    /// <summary>More bytes are needed. A head parse consumed nothing; the chunked decoder consumed what it returned.</summary>
    Incomplete = 0,
    /// <summary>A whole head (or, for the chunked decoder, the whole body) was parsed.</summary>
    Complete = 1,

    // ---- 400 Bad Request: start line -------------------------------------------------------------------------
    /// <summary>The request line is not <c>method SP request-target SP HTTP-version</c> (RFC 9112 §3): a missing part,
    /// a doubled, leading or trailing space, or too many empty lines before it.</summary>
    InvalidRequestLine = 2,
    /// <summary>The method is empty or not a token (RFC 9110 §9.1, §5.6.2).</summary>
    InvalidMethod = 3,
    /// <summary>The request-target is none of the four forms (RFC 9112 §3.2), has a byte outside visible ASCII,
    /// a '#', a bad percent-escape in the path, userinfo, or an invalid authority.</summary>
    InvalidRequestTarget = 4,
    /// <summary>A valid form used with the wrong method: authority-form without CONNECT, CONNECT without
    /// authority-form, asterisk-form without OPTIONS (RFC 9112 §3.2.3, §3.2.4).</summary>
    TargetFormNotAllowed = 5,
    /// <summary>The HTTP-version is not <c>HTTP/DIGIT.DIGIT</c> (RFC 9112 §2.3; the name is case-sensitive).</summary>
    InvalidVersion = 6,
    /// <summary>Response only: the status line is not <c>HTTP-version SP 3DIGIT [SP reason-phrase]</c> (RFC 9112 §4).</summary>
    InvalidStatusLine = 7,
    /// <summary>Response only: the status code is outside 100-599 (RFC 9110 §15).</summary>
    InvalidStatusCode = 8,

    // ---- 400 Bad Request: line structure ---------------------------------------------------------------------
    /// <summary>A CR not followed by LF (RFC 9112 §2.2).</summary>
    BareCR = 9,
    /// <summary>An LF not preceded by CR while <see cref="Http1ParserOptions.AllowBareLf"/> is off (RFC 9112 §2.2), or
    /// anywhere in chunked framing (never accepted there).</summary>
    BareLF = 10,
    /// <summary>A field line starting with SP or HTAB: obsolete line folding (RFC 9112 §5.2).</summary>
    ObsoleteLineFolding = 11,
    /// <summary>Whitespace between the start line and the first field (RFC 9112 §2.2).</summary>
    WhitespaceAfterStartLine = 12,

    // ---- 400 Bad Request: fields -----------------------------------------------------------------------------
    /// <summary>Whitespace between a field name and its colon (RFC 9112 §5.1).</summary>
    WhitespaceBeforeColon = 13,
    /// <summary>A field line that starts with a colon (RFC 9110 §5.1: field-name = token, at least one tchar).</summary>
    EmptyFieldName = 14,
    /// <summary>A field name with a byte that is not a tchar (RFC 9110 §5.6.2).</summary>
    InvalidFieldName = 15,
    /// <summary>A field line without a colon (RFC 9112 §5).</summary>
    MissingFieldColon = 16,
    /// <summary>A field value with NUL, DEL or another control byte except HTAB (RFC 9110 §5.5).</summary>
    InvalidFieldValue = 17,
    /// <summary>An HTTP/1.1 request without Host (RFC 9112 §3.2).</summary>
    MissingHost = 18,
    /// <summary>More than one Host field line (RFC 9112 §3.2), in any version.</summary>
    MultipleHost = 19,
    /// <summary>A Host value that is not <c>uri-host [":" port]</c> (RFC 9110 §7.2, RFC 3986 §3.2.2).</summary>
    InvalidHost = 20,
    /// <summary>Content-Length is not 1*DIGIT: empty, signed, spaced, hex… (RFC 9110 §8.6).</summary>
    InvalidContentLength = 21,
    /// <summary>Content-Length sent twice, or as a list, even with identical values (stricter than RFC 9110 §8.6 allows).</summary>
    MultipleContentLength = 22,
    /// <summary>Content-Length does not fit a 63-bit integer (RFC 9110 §8.6: anticipate overflow).</summary>
    ContentLengthOverflow = 23,
    /// <summary>Both Content-Length and Transfer-Encoding (RFC 9112 §6.3: "ought to be handled as an error").</summary>
    ContentLengthWithTransferEncoding = 24,
    /// <summary>Transfer-Encoding in an HTTP/1.0 message: faulty framing (RFC 9112 §6.1).</summary>
    TransferEncodingInHttp10 = 25,
    /// <summary>Transfer-Encoding with an empty or non-token element, parameters on chunked, or chunked twice (RFC 9112 §6.1, §7).</summary>
    InvalidTransferEncoding = 26,
    /// <summary>chunked is not the final transfer coding (RFC 9112 §6.3: 400 for a request).</summary>
    ChunkedNotFinal = 27,
    /// <summary>A Connection element that is not a token (RFC 9110 §7.6.1).</summary>
    InvalidConnection = 28,
    /// <summary>A CONNECT request with Content-Length other than 0 or with Transfer-Encoding (RFC 9110 §9.3.6: it has no content).</summary>
    ConnectWithBody = 29,

    // ---- 400 Bad Request: chunked body (RFC 9112 §7.1) -------------------------------------------------------
    /// <summary>chunk-size is not 1*HEXDIG: empty, a sign, a 0x prefix, or whitespace not followed by ';'.</summary>
    InvalidChunkSize = 30,
    /// <summary>chunk-size does not fit a 63-bit integer.</summary>
    ChunkSizeOverflow = 31,
    /// <summary>chunk-ext is not <c>*( BWS ";" BWS token [ BWS "=" BWS ( token / quoted-string ) ] )</c> (RFC 9112 §7.1.1),
    /// including a CR or LF inside a quoted-string (the CVE-2025-55315 class).</summary>
    InvalidChunkExtension = 32,
    /// <summary>The chunk-size line (size, extensions, CRLF) is longer than <see cref="Http1ParserOptions.MaxChunkLineLength"/>.</summary>
    ChunkLineTooLong = 33,
    /// <summary>chunk-data is not followed by CRLF.</summary>
    InvalidChunkDataEnd = 34,

    // ---- 414 URI Too Long -------------------------------------------------------------------------------------
    /// <summary>The request line is longer than <see cref="Http1ParserOptions.MaxRequestLineLength"/>.</summary>
    RequestLineTooLong = 35,

    // ---- 431 Request Header Fields Too Large ------------------------------------------------------------------
    /// <summary>The head is larger than <see cref="Http1ParserOptions.MaxHeadSize"/>.</summary>
    HeadTooLarge = 36,
    /// <summary>More fields than <see cref="Http1ParserOptions.MaxFieldCount"/>.</summary>
    TooManyFields = 37,
    /// <summary>The chunked trailer section is larger than <see cref="Http1ParserOptions.MaxHeadSize"/>.</summary>
    TrailerTooLarge = 38,

    // ---- 417 Expectation Failed -------------------------------------------------------------------------------
    /// <summary>An Expect value other than 100-continue (RFC 9110 §10.1.1).</summary>
    ExpectationFailed = 39,

    // ---- 501 Not Implemented ----------------------------------------------------------------------------------
    /// <summary>A transfer coding FastProxy does not know (RFC 9112 §6.1), e.g. <c>xchunked</c>, <c>identity</c>.</summary>
    UnknownTransferCoding = 40,
    /// <summary>A registered transfer coding other than chunked (gzip, deflate, compress): FastProxy decodes only chunked.</summary>
    UnsupportedTransferCoding = 41,

    // ---- 505 HTTP Version Not Supported -----------------------------------------------------------------------
    /// <summary>A well-formed version other than HTTP/1.0 and HTTP/1.1 (HTTP/0.9, HTTP/1.2, HTTP/2.0…).</summary>
    HttpVersionNotSupported = 42,
}

public static class Http1StatusExtensions
{
    /// <summary>True for every rejection value.</summary>
    public static bool IsError(this Http1Status status) => status > Http1Status.Complete;

    /// <summary>
    /// The HTTP status code the proxy answers a rejected request with (400, 414, 417, 431, 501, 505); 0 for
    /// <see cref="Http1Status.Incomplete"/> and <see cref="Http1Status.Complete"/>.
    /// </summary>
    public static int ToStatusCode(this Http1Status status) => status switch
    {
        Http1Status.Incomplete or Http1Status.Complete => 0,
        Http1Status.RequestLineTooLong => 414,
        Http1Status.HeadTooLarge or Http1Status.TooManyFields or Http1Status.TrailerTooLarge => 431,
        Http1Status.ExpectationFailed => 417,
        Http1Status.UnknownTransferCoding or Http1Status.UnsupportedTransferCoding => 501,
        Http1Status.HttpVersionNotSupported => 505,
        _ => 400,
    };

    /// <summary>
    /// The code the proxy answers its client with when an upstream's response head or body is rejected: always 502
    /// (RFC 9110 §15.6.3), 0 for non-errors. The connection to the upstream must be closed, never pooled.
    /// </summary>
    public static int ToUpstreamStatusCode(this Http1Status status) => status.IsError() ? 502 : 0;
}
