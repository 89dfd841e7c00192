namespace FastProxy.Http1;

/// <summary>
/// What the parser found in one message head. A connection owns one instance per direction and reuses it for every
/// message (<see cref="Reset"/>), so parsing allocates nothing in steady state.
/// </summary>
/// <remarks>
/// All offsets are relative to the first byte of the head. <see cref="Raw"/> is the head's bytes: a slice of the
/// caller's buffer when the head arrived in one segment, else a copy in this object's own buffer. It is valid until
/// the caller advances its reader past the head.
/// </remarks>
public abstract class HttpHead
{
    private readonly HttpField[] _fields;
    private int _fieldCount;

    protected HttpHead(int maxFieldCount)
    {
        _fields = new HttpField[maxFieldCount];
    }

    /// <summary>The head's bytes, from the first byte of the start line to the end of the empty line.</summary>
    public ReadOnlyMemory<byte> Raw { get; internal set; }

    /// <summary>Length of the head including the final CRLF CRLF.</summary>
    public int HeadLength { get; internal set; }

    public Http1Version Version { get; internal set; }

    /// <summary>Content-Length value, or -1 when absent.</summary>
    public long ContentLength { get; internal set; } = -1;

    /// <summary>Transfer-Encoding is present and its final coding is chunked.</summary>
    public bool IsChunked { get; internal set; }

    /// <summary>Tokens of all Connection fields.</summary>
    public ConnectionOptions Connection { get; internal set; }

    /// <summary>Index into <see cref="Fields"/> of the Upgrade field, or -1.</summary>
    public int UpgradeFieldIndex { get; internal set; } = -1;

    public ReadOnlySpan<HttpField> Fields => new(_fields, 0, _fieldCount);

    public int FieldCount => _fieldCount;

    public ReadOnlySpan<byte> GetName(in HttpField field) => Raw.Span.Slice(field.NameOffset, field.NameLength);

    public ReadOnlySpan<byte> GetValue(in HttpField field) => Raw.Span.Slice(field.ValueOffset, field.ValueLength);

    /// <summary>Clears everything for the next message; keeps the buffers.</summary>
    public virtual void Reset()
    {
        Raw = default;
        HeadLength = 0;
        Version = Http1Version.Http11;
        ContentLength = -1;
        IsChunked = false;
        Connection = ConnectionOptions.None;
        UpgradeFieldIndex = -1;
        _fieldCount = 0;
    }

    internal bool TryAddField(in HttpField field)
    {
        if ((uint)_fieldCount >= (uint)_fields.Length)
        {
            return false;
        }
        _fields[_fieldCount++] = field;
        return true;
    }
}

/// <summary>A parsed request head (RFC 9112 §3).</summary>
public sealed class HttpRequestHead(int maxFieldCount = Http1ParserOptions.DefaultMaxFieldCount) : HttpHead(maxFieldCount)
{
    public Http1Method Method { get; internal set; }
    public int MethodLength { get; internal set; }

    public RequestTargetForm TargetForm { get; internal set; }
    public int TargetOffset { get; internal set; }
    public int TargetLength { get; internal set; }

    /// <summary>The path part of the target (origin-form: up to '?'; absolute-form: the path after the authority).</summary>
    public int PathOffset { get; internal set; }
    public int PathLength { get; internal set; }

    /// <summary>Offset of the query after '?', or -1 when the target has no '?'.</summary>
    public int QueryOffset { get; internal set; } = -1;
    public int QueryLength { get; internal set; }

    /// <summary>Index into <see cref="HttpHead.Fields"/> of the Host field, or -1.</summary>
    public int HostFieldIndex { get; internal set; } = -1;

    /// <summary>The authority of an absolute-form or authority-form target (RFC 9112 §3.2.2: it wins over Host).</summary>
    public int AuthorityOffset { get; internal set; } = -1;
    public int AuthorityLength { get; internal set; }

    /// <summary>Expect: 100-continue was sent (RFC 9110 §10.1.1).</summary>
    public bool ExpectContinue { get; internal set; }

    public ReadOnlySpan<byte> MethodBytes => Raw.Span.Slice(0, MethodLength);
    public ReadOnlySpan<byte> Target => Raw.Span.Slice(TargetOffset, TargetLength);
    public ReadOnlySpan<byte> Path => Raw.Span.Slice(PathOffset, PathLength);
    public ReadOnlySpan<byte> Query => QueryOffset < 0 ? default : Raw.Span.Slice(QueryOffset, QueryLength);

    /// <summary>The host the request names: the target's authority if present, else the Host field's value.</summary>
    public ReadOnlySpan<byte> Host => AuthorityOffset >= 0
        ? Raw.Span.Slice(AuthorityOffset, AuthorityLength)
        : HostFieldIndex >= 0 ? GetValue(Fields[HostFieldIndex]) : default;

    public override void Reset()
    {
        base.Reset();
        Method = Http1Method.Custom;
        MethodLength = 0;
        TargetForm = RequestTargetForm.Origin;
        TargetOffset = TargetLength = PathOffset = PathLength = QueryLength = AuthorityLength = 0;
        QueryOffset = -1;
        AuthorityOffset = -1;
        HostFieldIndex = -1;
        ExpectContinue = false;
    }
}

/// <summary>A parsed response head (RFC 9112 §4).</summary>
public sealed class HttpResponseHead(int maxFieldCount = Http1ParserOptions.DefaultMaxFieldCount) : HttpHead(maxFieldCount)
{
    public int StatusCode { get; internal set; }
    public int ReasonOffset { get; internal set; }
    public int ReasonLength { get; internal set; }

    public ReadOnlySpan<byte> Reason => Raw.Span.Slice(ReasonOffset, ReasonLength);

    public override void Reset()
    {
        base.Reset();
        StatusCode = 0;
        ReasonOffset = ReasonLength = 0;
    }
}
