using System.Buffers;
using System.Text.RegularExpressions;
using FastProxy.Runtime;

namespace FastProxy.Http;

/// <summary>
/// The per-request state of nginx's rewrite module: the rewritten $uri and $args, whether the URI was changed
/// (r->internal, !r->valid_unparsed_uri) and whether <c>break</c> invalidated the location (!r->valid_location), and
/// the regex captures ($1..$9 and named ones) of the last matching regex. The buffers are rented on the first rewrite
/// or capture of a request and returned with the request, so requests without rewrites touch none of this.
/// </summary>
internal sealed partial class RequestContext
{
    private const int MaxNumberedCaptures = 10; // $0..$9

    // [uri][args] of the current rewritten URI, and the buffer the next rewrite is evaluated into (then swapped).
    private byte[]? _rewrite;
    private byte[]? _rewriteScratch;
    private int _rewriteUriLength = -1;
    private int _rewriteArgsLength;

    // Numbered captures: offsets into a copy of the subject they were taken from (nginx keeps r->captures_data).
    private byte[]? _captureSubject;
    // Made on the first regex match with captures: most connections never meet one, and an idle connection's memory
    // is what nginx is measured against.
    private int[]? _captures;
    private int _captureCount;

    // Named captures are variables in nginx: each keeps the value of the last regex that defined it.
    private byte[]? _namedBytes;
    private int _namedBytesLength;
    private NamedCapture[]? _named;
    private int _namedCount;

    private int _quotedUri = -1;

    // While a map's value is evaluated, the captures of the map's regex key (see BeginMapCaptures).
    private byte[]? _mapSubject;
    private int[]? _mapCaptures;
    private int _mapCaptureCount;
    private RegexCaptures? _mapInfo;
    private int _mapScope;

    private struct NamedCapture
    {
        public byte[] Name;
        public int Offset;
        public int Length;
    }

    /// <summary>True once a rewrite changed the URI: the upstream target is built from $uri, escaped (nginx's r->internal).</summary>
    public bool UriRewritten => _rewriteUriLength >= 0;

    /// <summary>
    /// True after <c>rewrite ... break</c> changed the URI (nginx's !r->valid_location): proxy_pass then sends the whole
    /// rewritten URI and ignores its own URI part.
    /// </summary>
    public bool LocationInvalidated { get; set; }

    /// <summary>$args: the query of the request, or the arguments a rewrite left.</summary>
    public ReadOnlySpan<byte> Args
    {
        get
        {
            if (_rewriteUriLength >= 0)
            {
                return _rewrite.AsSpan(_rewriteUriLength, _rewriteArgsLength);
            }
            var head = Head;
            return head.QueryOffset < 0 ? default : HeadBytes.Slice(head.QueryOffset, head.QueryLength);
        }
    }

    /// <summary>nginx's r->quoted_uri || r->plus_in_uri: the client's path had a "%" escape or a "+".</summary>
    public bool QuotedUri
    {
        get
        {
            if (_quotedUri < 0)
            {
                var head = Head;
                var path = head.PathLength == 0 ? default : HeadBytes.Slice(head.PathOffset, head.PathLength);
                int end = path.IndexOfAny((byte)'?', (byte)'#');
                _quotedUri = (end < 0 ? path : path[..end]).IndexOfAny((byte)'%', (byte)'+') >= 0 ? 1 : 0;
            }
            return _quotedUri == 1;
        }
    }

    /// <summary>A buffer of at least <paramref name="length"/> bytes to evaluate a rewrite into (see <see cref="CommitRewrite"/>).</summary>
    public Span<byte> RewriteScratch(int length)
    {
        if (_rewriteScratch is null || _rewriteScratch.Length < length)
        {
            if (_rewriteScratch is not null)
            {
                ArrayPool<byte>.Shared.Return(_rewriteScratch);
            }
            _rewriteScratch = ArrayPool<byte>.Shared.Rent(Math.Max(length, 256));
        }
        return _rewriteScratch.AsSpan(0, length);
    }

    /// <summary>The scratch buffer now holds [uri][args]: it becomes $uri and $args.</summary>
    public void CommitRewrite(int uriLength, int argsLength)
    {
        (_rewrite, _rewriteScratch) = (_rewriteScratch, _rewrite);
        _rewriteUriLength = uriLength;
        _rewriteArgsLength = argsLength;
    }

    /// <summary>The first <paramref name="length"/> bytes of the scratch buffer (a redirect's Location built there).</summary>
    public ReadOnlySpan<byte> ScratchBytes(int length) => _rewriteScratch.AsSpan(0, length);

    /// <summary>$N: the Nth group of the last matching regex (empty when it did not take part or does not exist).</summary>
    public ReadOnlySpan<byte> Capture(int n)
    {
        if (_mapScope > 0)
        {
            if ((uint)n >= (uint)_mapCaptureCount || _mapCaptures![2 * n] < 0)
            {
                return default;
            }
            return _mapSubject.AsSpan(_mapCaptures[2 * n], _mapCaptures[2 * n + 1]);
        }
        if ((uint)n >= (uint)_captureCount)
        {
            return default;
        }
        int start = _captures![2 * n];
        return start < 0 ? default : _captureSubject.AsSpan(start, _captures[2 * n + 1]);
    }

    /// <summary>A named capture ($name from (?&lt;name&gt;...)), empty when no regex has defined it yet.</summary>
    public ReadOnlySpan<byte> NamedCaptureValue(ReadOnlySpan<byte> name)
    {
        if (_mapScope > 0)
        {
            foreach (var (groupName, number) in _mapInfo!.Named)
            {
                if (groupName.AsSpan().SequenceEqual(name))
                {
                    int index = Array.IndexOf(_mapInfo.GroupNumbers, number);
                    return index < 0 ? default : Capture(index);
                }
            }
        }
        var named = _named;
        for (int i = 0; i < _namedCount; i++)
        {
            if (named![i].Name.AsSpan().SequenceEqual(name))
            {
                return _namedBytes.AsSpan(named[i].Offset, named[i].Length);
            }
        }
        return default;
    }

    /// <summary>nginx: a rewrite regex that does not match clears the numbered captures (named ones stay).</summary>
    public void ClearCaptures() => _captureCount = 0;

    /// <summary>Takes the groups of a successful match on <paramref name="subject"/> (the same text as bytes).</summary>
    public void SetCaptures(Match match, ReadOnlySpan<byte> subject, RegexCaptures info)
    {
        if (_captureSubject is null || _captureSubject.Length < subject.Length)
        {
            if (_captureSubject is not null)
            {
                ArrayPool<byte>.Shared.Return(_captureSubject);
            }
            _captureSubject = ArrayPool<byte>.Shared.Rent(Math.Max(subject.Length, 256));
        }
        subject.CopyTo(_captureSubject);
        var groups = match.Groups;
        int count = Math.Min(info.NumberedGroups, MaxNumberedCaptures);
        var captures = _captures ??= new int[MaxNumberedCaptures * 2];
        for (int i = 0; i < count; i++)
        {
            var group = groups[info.GroupNumbers[i]];
            captures[2 * i] = group.Success ? group.Index : -1;
            captures[2 * i + 1] = group.Success ? group.Length : 0;
        }
        _captureCount = count;
        foreach (var (name, number) in info.Named)
        {
            var group = groups[number];
            SetNamed(name, group.Success ? subject.Slice(group.Index, group.Length) : default);
        }
    }

    /// <summary>
    /// A map's regex key matched and its value reads captures: until <see cref="EndMapCaptures"/> the value sees the
    /// key's groups. They do not outlive the value (nginx leaves them in the request, but it evaluates a map once per
    /// request while FastProxy measures and then writes: both passes must see the same captures).
    /// </summary>
    public void BeginMapCaptures(Match match, ReadOnlySpan<byte> subject, RegexCaptures info)
    {
        if (_mapSubject is null || _mapSubject.Length < subject.Length)
        {
            if (_mapSubject is not null)
            {
                ArrayPool<byte>.Shared.Return(_mapSubject);
            }
            _mapSubject = ArrayPool<byte>.Shared.Rent(Math.Max(subject.Length, 256));
        }
        subject.CopyTo(_mapSubject);
        var groups = match.Groups;
        int count = Math.Min(info.NumberedGroups, MaxNumberedCaptures);
        var mapCaptures = _mapCaptures ??= new int[MaxNumberedCaptures * 2];
        for (int i = 0; i < count; i++)
        {
            var group = groups[info.GroupNumbers[i]];
            mapCaptures[2 * i] = group.Success ? group.Index : -1;
            mapCaptures[2 * i + 1] = group.Success ? group.Length : 0;
        }
        _mapCaptureCount = count;
        _mapInfo = info;
        _mapScope++;
    }

    public void EndMapCaptures() => _mapScope--;

    private void SetNamed(byte[] name, ReadOnlySpan<byte> value)
    {
        if (_namedBytes is null || _namedBytes.Length - _namedBytesLength < value.Length)
        {
            var bigger = ArrayPool<byte>.Shared.Rent(Math.Max(256, (_namedBytesLength + value.Length) * 2));
            _namedBytes?.AsSpan(0, _namedBytesLength).CopyTo(bigger);
            if (_namedBytes is not null)
            {
                ArrayPool<byte>.Shared.Return(_namedBytes);
            }
            _namedBytes = bigger;
        }
        value.CopyTo(_namedBytes.AsSpan(_namedBytesLength));
        int offset = _namedBytesLength;
        _namedBytesLength += value.Length;
        _named ??= new NamedCapture[4];
        for (int i = 0; i < _namedCount; i++)
        {
            if (ReferenceEquals(_named[i].Name, name) || _named[i].Name.AsSpan().SequenceEqual(name))
            {
                _named[i].Offset = offset;
                _named[i].Length = value.Length;
                return;
            }
        }
        if (_namedCount == _named.Length)
        {
            Array.Resize(ref _named, _named.Length * 2);
        }
        _named[_namedCount++] = new NamedCapture { Name = name, Offset = offset, Length = value.Length };
    }

    private void ResetRewrite()
    {
        _rewriteUriLength = -1;
        _rewriteArgsLength = 0;
        _captureCount = 0;
        _namedCount = 0;
        _namedBytesLength = 0;
        _quotedUri = -1;
        _mapScope = 0;
        LocationInvalidated = false;
    }

    private void ReturnRewriteBuffers()
    {
        ReturnBuffer(ref _rewrite);
        ReturnBuffer(ref _rewriteScratch);
        ReturnBuffer(ref _captureSubject);
        ReturnBuffer(ref _namedBytes);
        ReturnBuffer(ref _mapSubject);
        ResetRewrite();

        static void ReturnBuffer(ref byte[]? buffer)
        {
            if (buffer is not null)
            {
                ArrayPool<byte>.Shared.Return(buffer);
                buffer = null;
            }
        }
    }
}
