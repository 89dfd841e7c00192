namespace FastProxy.Http1;

/// <summary>Limits and leniencies. Defaults follow nginx (large_client_header_buffers 4 8k) and strict RFC 9112.</summary>
public sealed class Http1ParserOptions
{
    public const int DefaultMaxFieldCount = 100;
    public const int DefaultMaxRequestLineLength = 8 * 1024;
    public const int DefaultMaxHeadSize = 32 * 1024;
    public const int DefaultMaxChunkLineLength = 4 * 1024;

    public static Http1ParserOptions Default { get; } = new();

    /// <summary>Longest request line, without its CRLF; beyond it the request is rejected with 414.</summary>
    public int MaxRequestLineLength { get; init; } = DefaultMaxRequestLineLength;

    /// <summary>
    /// Largest whole head (start line + fields + the final empty line, and any empty lines skipped before a request
    /// line); beyond it 431 (494 in nginx's own terms). Also bounds a chunked body's trailer section.
    /// </summary>
    public int MaxHeadSize { get; init; } = DefaultMaxHeadSize;

    /// <summary>Most fields in one head; beyond it 431.</summary>
    public int MaxFieldCount { get; init; } = DefaultMaxFieldCount;

    /// <summary>Longest chunk-size line of a chunked body (size, extensions and CRLF); beyond it 400.</summary>
    public int MaxChunkLineLength { get; init; } = DefaultMaxChunkLineLength;

    /// <summary>
    /// RFC 9112 §2.2 lets a recipient accept a bare LF as the terminator of the start line and of field lines; off
    /// by default. It never applies to chunked framing, whose lines must end in CRLF.
    /// </summary>
    public bool AllowBareLf { get; init; }
}
