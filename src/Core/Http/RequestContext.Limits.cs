using FastProxy.RateLimiting;
using FastProxy.RealIp;

namespace FastProxy.Http;

/// <summary>
/// The per-request state of the realip, limit_req and limit_conn handlers: the client address realip chose, the
/// <c>$limit_req_status</c> / <c>$limit_conn_status</c> values, and the limit_conn places the request holds. All of it
/// lives in the connection's context, allocated at most once per connection, and is reset by
/// <see cref="BeginRequest"/> and <see cref="EndRequest"/>.
/// </summary>
internal sealed partial class RequestContext
{
    private bool _realIpSet;
    private byte[]? _realAddr;
    private byte[]? _realBinary;
    private byte[]? _realPort;
    private int _realAddrLength;
    private int _realBinaryLength;
    private int _realPortLength;
    private LimitConnLease[]? _leases;
    private ClientAddress _client;

    /// <summary>The connection's peer as realip and the limit keys see it (IPv4-mapped IPv6 as IPv4).</summary>
    public ClientAddress Peer { get; private set; }

    /// <summary>True once realip replaced the address for this request (nginx then does not run it again).</summary>
    public bool RealIpSet => _realIpSet;

    /// <summary>The client address in force: realip's, else the peer.</summary>
    public ClientAddress Client => _realIpSet ? _client : Peer;

    /// <summary><c>$limit_req_status</c> of this request (None when no limit_req applied).</summary>
    public LimitReqStatus LimitReqStatus { get; set; }

    /// <summary><c>$limit_conn_status</c> of this request (None when no limit_conn applied).</summary>
    public LimitConnStatus LimitConnStatus { get; set; }

    /// <summary>
    /// ngx_http_realip_set_addr: from now to the end of the request <c>$remote_addr</c>, <c>$binary_remote_addr</c>,
    /// <c>$remote_port</c> (and so <c>$proxy_add_x_forwarded_for</c>, ip_hash and the limit keys) are the client's.
    /// nginx restores the connection's address when the request ends (ngx_http_realip_cleanup); so does EndRequest.
    /// </summary>
    public void SetRealIp(in ClientAddress client)
    {
        _realAddr ??= new byte[IpAddressText.MaxTextLength + 3];
        _realBinary ??= new byte[16];
        _realPort ??= new byte[5];
        _realAddrLength = IpAddressText.Format(client, _realAddr);
        _realBinaryLength = client.WriteBinary(_realBinary);
        int port = client.Port;
        // ngx_http_variable_remote_port: empty unless 1..65535.
        _realPortLength = port is > 0 and < 65536 && System.Buffers.Text.Utf8Formatter.TryFormat(port, _realPort, out int n) ? n : 0;
        _client = client;
        _realIpSet = true;
    }

    /// <summary>Room for the limit_conn places of this request (at least <paramref name="count"/>, all released).</summary>
    public Span<LimitConnLease> LimitConnLeases(int count)
    {
        if (_leases is null || _leases.Length < count)
        {
            // Once per connection (or when a reload adds rules): the leases must live in stable storage, never copied.
            if (_leases is not null)
            {
                LimitConnLease.ReleaseAll(_leases);
            }
            _leases = new LimitConnLease[Math.Max(count, 2)];
        }
        return _leases.AsSpan(0, count);
    }

    private void BeginLimits()
    {
        _realIpSet = false;
        LimitReqStatus = LimitReqStatus.None;
        LimitConnStatus = LimitConnStatus.None;
    }

    /// <summary>Gives back the limit_conn places whatever way the request ended (idempotent: a lease releases once).</summary>
    private void EndLimits()
    {
        if (_leases is not null)
        {
            LimitConnLease.ReleaseAll(_leases);
        }
        _realIpSet = false;
    }
}
