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
    private HttpField[] _fields;
    private int _fieldCount;

    // The copy of a head that arrived in more than one segment; grown on demand, then reused.
    private byte[]? _copyBuffer;

    /// <param name="maxFieldCount">The initial capacity of the field list. The limit is
    /// <see cref="Http1ParserOptions.MaxFieldCount"/>: the list grows to it on demand, once.</param>
    protected HttpHead(int maxFieldCount)
    {
        _fields = new HttpField[Math.Max(maxFieldCount, 1)];
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

    /// <summary>Index into <see cref="Fields"/> of the first Upgrade field, or -1.</summary>
    public int UpgradeFieldIndex { get; internal set; } = -1;

    /// <summary>
    /// Whether the connection may carry another message after this one (RFC 9112 §9.3): HTTP/1.1 unless
    /// <c>Connection: close</c>; HTTP/1.0 only with <c>Connection: keep-alive</c> and without close.
    /// </summary>
    public bool KeepAlive => (Connection & ConnectionOptions.Close) == 0
        && (Version == Http1Version.Http11 || (Connection & ConnectionOptions.KeepAlive) != 0);

    public ReadOnlySpan<HttpField> Fields => new(_fields, 0, _fieldCount);

    public int FieldCount => _fieldCount;

    public ReadOnlySpan<byte> GetName(in HttpField field) => Raw.Span.Slice(field.NameOffset, field.NameLength);

    public ReadOnlySpan<byte> GetValue(in HttpField field) => Raw.Span.Slice(field.ValueOffset, field.ValueLength);

    /// <summary>
    /// Whether a Connection field lists <paramref name="fieldName"/> (case-insensitive), which makes that field
    /// hop-by-hop: a proxy must not forward it (RFC 9110 §7.6.1). Cheap when <see cref="Connection"/> has no
    /// <see cref="ConnectionOptions.Other"/> flag: it answers false without looking.
    /// </summary>
    public bool IsListedInConnection(ReadOnlySpan<byte> fieldName)
    {
        if ((Connection & ConnectionOptions.Other) == 0 || fieldName.IsEmpty)
        {
            return false;
        }
        ReadOnlySpan<byte> raw = Raw.Span;
        foreach (ref readonly HttpField field in Fields)
        {
            if (field.Known != KnownField.Connection)
            {
                continue;
            }
            ReadOnlySpan<byte> list = raw.Slice(field.ValueOffset, field.ValueLength);
            while (!list.IsEmpty)
            {
                int comma = list.IndexOf((byte)',');
                ReadOnlySpan<byte> element = HttpCharacters.TrimWhitespace(comma < 0 ? list : list[..comma]);
                if (System.Text.Ascii.EqualsIgnoreCase(element, fieldName))
                {
                    return true;
                }
                list = comma < 0 ? default : list[(comma + 1)..];
            }
        }
        return false;
    }

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

    internal bool TryAddField(in HttpField field, int maxFieldCount)
    {
        if ((uint)_fieldCount >= (uint)_fields.Length)
        {
            if (_fieldCount >= maxFieldCount)
            {
                return false;
            }
            Grow(maxFieldCount);
        }
        _fields[_fieldCount++] = field;
        return true;
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private void Grow(int maxFieldCount)
    {
        int size = (int)Math.Min(Math.Max(_fields.Length * 2L, 16), maxFieldCount);
        Array.Resize(ref _fields, size);
    }

    /// <summary>A buffer of at least <paramref name="length"/> bytes owned by this head, for multi-segment input.</summary>
    internal byte[] GetCopyBuffer(int length)
    {
        if (_copyBuffer is null || _copyBuffer.Length < length)
        {
            _copyBuffer = new byte[Math.Max((int)Math.Min(System.Numerics.BitOperations.RoundUpToPowerOf2((uint)length), (uint)Array.MaxLength), 1024)];
        }
        return _copyBuffer;
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

    /// <summary>
    /// The path part of the target, raw (not percent-decoded): origin-form: up to '?'; absolute-form: the path after
    /// the authority, which may be empty (RFC 9112 §3.2.1: forward it as "/"); asterisk-form: "*"; authority-form:
    /// empty.
    /// </summary>
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

    /// <summary>Expect: 100-continue was sent in an HTTP/1.1 request (RFC 9110 §10.1.1: ignored in HTTP/1.0).</summary>
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
