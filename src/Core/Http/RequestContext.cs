using System.Buffers;
using System.Net;
using System.Runtime.InteropServices;
using System.Text;
using FastProxy.Http1;
using FastProxy.Routing;
using FastProxy.Runtime;
using FastProxy.Transport;

namespace FastProxy.Http;

/// <summary>
/// What variables are evaluated against: the connection's addresses (formatted once per connection) and the current
/// request (its head copied into a rented buffer so offsets stay valid for the whole request, the lower-cased host
/// and the normalised path). One instance per client connection, reset per request; nothing here becomes a string.
/// </summary>
internal sealed partial class RequestContext
{
    // Twice a ~2 KiB head plus slack: most request heads (a browser's with a few cookies) fit.
    private const int OwnBufferSize = 4096;

    private byte[]? _buffer;
    private byte[]? _own;
    private IMemoryOwner<byte>? _block;
    private int _headLength;
    private int _hostOffset;
    private int _hostLength;
    private int _uriOffset;
    private int _uriLength;

    public RequestContext(IPEndPoint? remote, IPEndPoint? local, long connectionSerial)
    {
        BindPeer(RealIp.ClientAddress.FromEndPoint(remote));
        _local = local;
        ConnectionSerial = connectionSerial;
    }

    /// <summary>A client connection's context, reused across connections: <see cref="BindConnection"/> before use.</summary>
    public RequestContext()
    {
    }

    /// <summary>
    /// Takes a client connection: its peer address formatted once (into this context's own buffers, so a reused
    /// context allocates nothing), the local address asked of the transport only when a request uses $server_addr
    /// or $server_port (nginx too reads it lazily: one getsockname less per connection).
    /// </summary>
    public void BindConnection(Transport.TransportConnection transport, long connectionSerial, bool https)
    {
        _transport = transport;
        _local = null;
        _serverAddr = null;
        _serverPort = null;
        ConnectionSerial = connectionSerial;
        ConnectionRequests = 0;
        IsHttps = https;
        BindPeer(transport.RemoteAddress);
    }

    /// <summary>Lets go of the connection (the context goes back to a pool with its Http1Connection).</summary>
    public void UnbindConnection()
    {
        EndRequest();
        _transport = null;
        _local = null;
        Snapshot = null!;
        Server = null!;
    }

    private void BindPeer(RealIp.ClientAddress peer)
    {
        // No address (it could not be read): 255.255.255.255 as before (IPAddress.None), port 0.
        var shown = peer.Family is RealIp.ClientAddressFamily.IPv4 or RealIp.ClientAddressFamily.IPv6
            ? peer : RealIp.ClientAddress.FromIPv4(0xFFFFFFFF);
        _peerAddrLength = RealIp.IpAddressText.Format(shown, _peerAddr);
        _peerBinaryAddrLength = shown.WriteBinary(_peerBinaryAddr);
        peer.Port.TryFormat(_peerPort, out _peerPortLength, default, System.Globalization.CultureInfo.InvariantCulture);
        Peer = peer;
    }

    private Transport.TransportConnection? _transport;
    private IPEndPoint? _local;
    private byte[]? _serverAddr;
    private byte[]? _serverPort;
    // The peer as text, binary and port text: buffers of their maximal size, filled per connection.
    private readonly byte[] _peerAddr = new byte[64];
    private readonly byte[] _peerBinaryAddr = new byte[16];
    private readonly byte[] _peerPort = new byte[5];
    private int _peerAddrLength;
    private int _peerBinaryAddrLength;
    private int _peerPortLength;

    private IPEndPoint? Local => _local ??= _transport?.LocalEndPoint;

    // A dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d; nginx shows them as a.b.c.d.
    private static IPAddress Normalize(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;

    /// <summary>$remote_addr as text: the peer's address, or the client's when realip replaced it for this request.</summary>
    public ReadOnlySpan<byte> RemoteAddr => _realIpSet ? _realAddr.AsSpan(0, _realAddrLength) : PeerAddr;

    /// <summary>$binary_remote_addr: 4 bytes for IPv4, 16 for IPv6 (of the realip client when set).</summary>
    public ReadOnlySpan<byte> BinaryRemoteAddr => _realIpSet ? _realBinary.AsSpan(0, _realBinaryLength) : PeerBinaryAddr;

    /// <summary>$remote_port (of the realip client when set: empty unless its header gave a port, as in nginx).</summary>
    public ReadOnlySpan<byte> RemotePort => _realIpSet ? _realPort.AsSpan(0, _realPortLength) : PeerPort;

    /// <summary>The connection's peer, whatever realip says: $realip_remote_addr, $realip_remote_port.</summary>
    public ReadOnlySpan<byte> PeerAddr => _peerAddr.AsSpan(0, _peerAddrLength);
    public ReadOnlySpan<byte> PeerBinaryAddr => _peerBinaryAddr.AsSpan(0, _peerBinaryAddrLength);
    public ReadOnlySpan<byte> PeerPort => _peerPort.AsSpan(0, _peerPortLength);
    public byte[] ServerAddr => _serverAddr ??= Encoding.ASCII.GetBytes(Normalize(Local?.Address ?? IPAddress.None).ToString());
    public byte[] ServerPort => _serverPort ??= Encoding.ASCII.GetBytes((Local?.Port ?? 0).ToString(System.Globalization.CultureInfo.InvariantCulture));
    public long ConnectionSerial { get; private set; }

    /// <summary>$connection_requests: requests served on this connection, this one included.</summary>
    public int ConnectionRequests { get; set; }

    /// <summary>"http", the scheme of a plain connection; $scheme uses <see cref="ConnectionScheme"/>.</summary>
    public static ReadOnlySpan<byte> Scheme => "http"u8;

    /// <summary>The connection came through TLS termination ($https "on", $scheme "https").</summary>
    public bool IsHttps { get; set; }

    /// <summary>$scheme: "https" on a TLS connection, else "http".</summary>
    public ReadOnlySpan<byte> ConnectionScheme => IsHttps ? "https"u8 : "http"u8;

    public HttpRequestHead Head { get; private set; } = null!;

    public ProxySnapshot Snapshot { get; set; } = null!;
    public ServerRoute Server { get; set; } = null!;
    public LocationRoute? Location { get; set; }
    public LocationRuntime? LocationRuntime { get; set; }

    /// <summary>$upstream_addr / $upstream_status: the attempts of this request.</summary>
    public UpstreamAttempts Upstream { get; } = new();

    /// <summary>The request head's bytes, stable until <see cref="EndRequest"/> (the parser's offsets index it).</summary>
    public ReadOnlySpan<byte> HeadBytes => _buffer.AsSpan(0, _headLength);

    /// <summary>$host: the host from the request line or Host field, lower case, without port.</summary>
    public ReadOnlySpan<byte> Host => _buffer.AsSpan(_hostOffset, _hostLength);

    /// <summary>$uri: the normalised path, or what <c>rewrite</c> made of it (RequestContext.Rewrite.cs).</summary>
    public ReadOnlySpan<byte> Uri => _rewriteUriLength < 0 ? _buffer.AsSpan(_uriOffset, _uriLength) : _rewrite.AsSpan(0, _rewriteUriLength);

    public ReadOnlySpan<byte> GetName(in HttpField field) => HeadBytes.Slice(field.NameOffset, field.NameLength);

    public ReadOnlySpan<byte> GetValue(in HttpField field) => HeadBytes.Slice(field.ValueOffset, field.ValueLength);

    /// <summary>The whole field line as sent, without CRLF: name, colon, whitespace, value.</summary>
    public ReadOnlySpan<byte> GetLine(in HttpField field) =>
        HeadBytes.Slice(field.NameOffset, field.ValueOffset + field.ValueLength - field.NameOffset);

    /// <summary>
    /// Starts a request: copies the head into a buffer big enough for the head, the host and the normalised path (both
    /// at most as long as what they are derived from). The usual head (up to ~2 KiB) goes into this context's own
    /// buffer, kept with it in the connection pool: a request rents nothing (renting a block per request went through
    /// the block pool's shared queue twice), and a parked or closed connection holds none. Bigger heads rent a block of
    /// the pipes' pool (16 KiB: heads up to 8 KiB) or, beyond, an ArrayPool array, for the request only.
    /// </summary>
    public void BeginRequest(HttpRequestHead head)
    {
        Head = head;
        var raw = head.Raw.Span;
        int needed = raw.Length * 2 + 64;
        if (_buffer is null || _buffer.Length < needed)
        {
            ReturnBuffer();
            if (needed <= OwnBufferSize)
            {
                _buffer = _own ??= new byte[OwnBufferSize];
            }
            else if (needed <= PinnedBlockMemoryPool.Shared.MaxBufferSize)
            {
                // ArrayPool.Shared would not do here: its caches hold a few arrays per core, so with hundreds of
                // requests in flight most rentals allocated anew (measured: ~1.5 KB per request at 200 connections).
                _block = PinnedBlockMemoryPool.Shared.Rent();
                MemoryMarshal.TryGetArray<byte>(_block.Memory, out var segment);
                _buffer = segment.Array!;
            }
            else
            {
                _buffer = ArrayPool<byte>.Shared.Rent(needed);
            }
        }
        raw.CopyTo(_buffer);
        _headLength = raw.Length;
        _hostOffset = _hostLength = _uriOffset = _uriLength = 0;
        Location = null;
        LocationRuntime = null;
        ResetRewrite();
        Upstream.Clear();
        BeginLimits();
    }

    /// <summary>Stores $host: <paramref name="host"/> without ":port", lower-cased (RFC 9110 §4.2.3: case-insensitive).</summary>
    public void SetHost(ReadOnlySpan<byte> host)
    {
        int end = host.Length;
        if (host.Length > 0 && host[0] == (byte)'[')
        {
            int close = host.IndexOf((byte)']');
            end = close < 0 ? host.Length : close + 1;
        }
        else
        {
            int colon = host.IndexOf((byte)':');
            if (colon >= 0)
            {
                end = colon;
            }
        }
        // A trailing dot names the same host (nginx strips it too).
        if (end > 0 && host[end - 1] == (byte)'.')
        {
            end--;
        }
        _hostOffset = _headLength;
        _hostLength = end;
        var destination = _buffer.AsSpan(_hostOffset, end);
        System.Text.Ascii.ToLower(host[..end], destination, out _);
    }

    /// <summary>The space where the normaliser writes $uri (as long as the raw path allows).</summary>
    public Span<byte> UriDestination(int rawPathLength)
    {
        _uriOffset = _hostOffset + _hostLength;
        if (_uriOffset == 0)
        {
            _uriOffset = _headLength;
        }
        return _buffer.AsSpan(_uriOffset, Math.Min(_buffer!.Length - _uriOffset, rawPathLength + 1));
    }

    public void SetUriLength(int length) => _uriLength = length;

    /// <summary>Index of the first field named <paramref name="lowerName"/> (ASCII case-insensitive), or -1.</summary>
    public int FindField(ReadOnlySpan<byte> lowerName)
    {
        var fields = Head.Fields;
        for (int i = 0; i < fields.Length; i++)
        {
            if (fields[i].NameLength == lowerName.Length && System.Text.Ascii.EqualsIgnoreCase(GetName(fields[i]), lowerName))
            {
                return i;
            }
        }
        return -1;
    }

    /// <summary>Ends the request; a rented head buffer (a head over ~2 KiB) goes back now, the context's own stays.</summary>
    public void EndRequest()
    {
        EndLimits();
        if (!ReferenceEquals(_buffer, _own))
        {
            ReturnBuffer();
        }
        _headLength = 0;
        Location = null;
        LocationRuntime = null;
        ReturnRewriteBuffers();
        Upstream.Release();
    }

    private void ReturnBuffer()
    {
        if (_block is not null)
        {
            _block.Dispose();
            _block = null;
        }
        else if (_buffer is not null && !ReferenceEquals(_buffer, _own)) // the own buffer stays with this context
        {
            ArrayPool<byte>.Shared.Return(_buffer);
        }
        _buffer = null;
    }
}
