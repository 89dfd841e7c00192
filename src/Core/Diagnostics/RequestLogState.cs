namespace FastProxy.Diagnostics;

/// <summary>
/// What the access log needs to know about one request beyond its head: when it started, the status and byte counts
/// sent to the client, and the timings of each upstream attempt for <c>$upstream_response_time</c>,
/// <c>$upstream_connect_time</c> and <c>$upstream_header_time</c>, which nginx lists comma-separated when
/// next-upstream tried several servers (the attempts' addresses and statuses are the request context's
/// <see cref="Http.UpstreamAttempts"/>, one entry each, in the same order). One instance per client connection,
/// reset per request; plain fields, written only by the connection's own flow.
/// </summary>
internal sealed class RequestLogState
{
    /// <summary>Attempts kept for <c>$upstream_*</c>; later ones are counted but not listed.</summary>
    public const int MaxAttempts = 8;

    // Made on the connection's first proxied request (a connection that only gets FastProxy's own answers needs none).
    private Attempt[]? _attempts;
    private byte[]? _rawRequestLine;

    /// <summary>A request has started (a byte of its head came) and has not been logged yet.</summary>
    public bool Active { get; private set; }

    /// <summary>The head was parsed: the request's variables can be evaluated.</summary>
    public bool HasHead { get; set; }

    /// <summary>The request's virtual server was chosen (its server-level access_log applies if no location was).</summary>
    public bool HasServer { get; set; }

    /// <summary>When the first byte of the request came (<see cref="LogTime.Timestamp"/>), nginx's r->start_msec.</summary>
    public long StartTimestamp { get; private set; }

    /// <summary>The status sent to the client (0 = none yet).</summary>
    public int Status { get; set; }

    /// <summary>Bytes handed to the client's connection for this request: <c>$bytes_sent</c>.</summary>
    public long BytesSent { get; set; }

    /// <summary>The response head's share of <see cref="BytesSent"/>; the rest is <c>$body_bytes_sent</c>.</summary>
    public long HeaderBytes { get; set; }

    /// <summary><c>$request_length</c>: head plus request body bytes read.</summary>
    public long RequestLength { get; set; }

    public int UpstreamAttempts { get; private set; }

    /// <summary>The first line of a head that could not be parsed (for <c>$request</c>), else empty.</summary>
    public ReadOnlySpan<byte> RawRequestLine => _rawRequestLine.AsSpan(0, RawRequestLineLength);

    private int RawRequestLineLength { get; set; }

    public void Start(long timestamp)
    {
        Active = true;
        HasHead = false;
        HasServer = false;
        StartTimestamp = timestamp;
        Status = 0;
        BytesSent = 0;
        HeaderBytes = 0;
        RequestLength = 0;
        UpstreamAttempts = 0;
        RawRequestLineLength = 0;
    }

    public void Finish()
    {
        Active = false;
        HasHead = false;
        HasServer = false;
    }

    /// <summary>Keeps the first line of a head that failed, for <c>$request</c> (nginx logs what it got).</summary>
    public void CaptureRequestLine(in System.Buffers.ReadOnlySequence<byte> buffer)
    {
        const int Max = 2048;
        var reader = new System.Buffers.SequenceReader<byte>(buffer);
        _rawRequestLine ??= new byte[Max];
        int n = 0;
        while (n < Max && reader.TryRead(out byte b) && b != (byte)'\r' && b != (byte)'\n')
        {
            _rawRequestLine[n++] = b;
        }
        RawRequestLineLength = n;
    }

    public void BeginUpstream(long timestamp)
    {
        int i = UpstreamAttempts++;
        if (i < MaxAttempts)
        {
            _attempts ??= new Attempt[MaxAttempts];
            _attempts[i] = new Attempt { Start = timestamp, Connect = -1, Header = -1, End = -1 };
        }
    }

    private int Current => UpstreamAttempts - 1 is var i && i >= 0 && i < MaxAttempts ? i : -1;

    public void UpstreamConnected(long timestamp)
    {
        if (Current is var i and >= 0)
        {
            _attempts![i].Connect = timestamp;
        }
    }

    public void UpstreamHeader(long timestamp)
    {
        if (Current is var i and >= 0)
        {
            _attempts![i].Header = timestamp;
        }
    }

    /// <summary>The attempt is over (its response relayed, or it failed).</summary>
    public void EndUpstream(long timestamp)
    {
        if (Current is var i and >= 0)
        {
            _attempts![i].End = timestamp;
        }
    }

    public int ListedAttempts => Math.Min(UpstreamAttempts, MaxAttempts);

    public long AttemptStart(int i) => _attempts![i].Start;

    /// <summary>The timestamp of the attempt's connect, response head or end; -1 when it did not happen.</summary>
    public long AttemptConnect(int i) => _attempts![i].Connect;

    public long AttemptHeader(int i) => _attempts![i].Header;

    public long AttemptEnd(int i) => _attempts![i].End;

    private struct Attempt
    {
        public long Start;
        public long Connect;
        public long Header;
        public long End;
    }
}
