namespace FastProxy.Http1;

/// <summary>Limits and leniencies. Defaults follow nginx (large_client_header_buffers 4 8k) and strict RFC 9112.</summary>
public sealed class Http1ParserOptions
{
    public const int DefaultMaxFieldCount = 100;

    public static Http1ParserOptions Default { get; } = new();

    /// <summary>Longest request line; beyond it the request is rejected with 414.</summary>
    public int MaxRequestLineLength { get; init; } = 8 * 1024;

    /// <summary>Largest whole head (start line + fields); beyond it 431 (494 in nginx's own terms).</summary>
    public int MaxHeadSize { get; init; } = 32 * 1024;

    /// <summary>Most fields in one head; beyond it 431.</summary>
    public int MaxFieldCount { get; init; } = DefaultMaxFieldCount;

    /// <summary>RFC 9112 §2.2 lets a recipient accept a bare LF as a line terminator; off by default.</summary>
    public bool AllowBareLf { get; init; }
}
