namespace FastProxy.Http1;

/// <summary>Known request methods; anything else that is a valid token is <see cref="Custom"/>.</summary>
public enum Http1Method : byte
{
    Custom = 0,
    Get,
    Head,
    Post,
    Put,
    Delete,
    Connect,
    Options,
    Trace,
    Patch,
}

/// <summary>The HTTP versions FastProxy speaks on the wire (RFC 9112 §2.3).</summary>
public enum Http1Version : byte
{
    Http10 = 0,
    Http11 = 1,
}

/// <summary>RFC 9112 §3.2: the four forms of request-target.</summary>
public enum RequestTargetForm : byte
{
    Origin = 0,
    Absolute,
    Authority,
    Asterisk,
}

/// <summary>Tokens found in the Connection field(s) (RFC 9110 §7.6.1).</summary>
[Flags]
public enum ConnectionOptions : byte
{
    None = 0,
    Close = 1,
    KeepAlive = 2,
    Upgrade = 4,
    /// <summary>Some other field name is listed: the proxy must drop that field too (hop-by-hop).</summary>
    Other = 8,
}

/// <summary>Fields the parser recognises; everything else is <see cref="Other"/> and forwarded byte-exact.</summary>
public enum KnownField : byte
{
    Other = 0,
    Host,
    ContentLength,
    TransferEncoding,
    Connection,
    Upgrade,
    Expect,
    KeepAlive,
    ProxyConnection,
    TE,
    Trailer,
}

/// <summary>How a message body is delimited (RFC 9112 §6.3).</summary>
public enum BodyKind : byte
{
    /// <summary>No body at all.</summary>
    None = 0,
    /// <summary>Exactly <c>ContentLength</c> bytes follow.</summary>
    ContentLength,
    /// <summary>Chunked transfer coding; decode with <see cref="ChunkedDecoder"/>.</summary>
    Chunked,
    /// <summary>Responses only: the body runs until the server closes the connection.</summary>
    UntilClose,
}
