using System.Buffers.Text;

namespace FastProxy.Http;

/// <summary>
/// $upstream_addr and $upstream_status of the current request: one entry per attempt, joined with ", " as nginx
/// joins them ("10.0.0.1:80, 10.0.0.2:80" and "502, 200"). An attempt that got no status shows "-" (nginx's 0), one
/// that found no server to try shows the group's name with 502 (nginx's "no live upstreams"). Kept as bytes, so
/// logging and headers read them without formatting, in two small buffers of the connection's (pooled) HTTP state,
/// made on its first proxied request and grown only for a request that tried many servers.
/// </summary>
internal sealed class UpstreamAttempts
{
    private byte[]? _addresses;
    private byte[]? _statuses;
    private int _addressLength;
    private int _statusLength;
    private int _count;
    private bool _open;

    /// <summary>$upstream_addr: empty when the request went to no upstream.</summary>
    public ReadOnlySpan<byte> Addresses => _addresses.AsSpan(0, _addressLength);

    /// <summary>$upstream_status.</summary>
    public ReadOnlySpan<byte> Statuses => _statuses.AsSpan(0, _statusLength);

    /// <summary>Attempts recorded for this request.</summary>
    public int Count => _count;

    /// <summary>An attempt starts on <paramref name="address"/> (its status follows with <see cref="End"/>).</summary>
    public void Begin(ReadOnlySpan<byte> address)
    {
        if (_open)
        {
            End(0);
        }
        if (_count > 0)
        {
            Append(ref _addresses, ref _addressLength, ", "u8);
        }
        Append(ref _addresses, ref _addressLength, address);
        _count++;
        _open = true;
    }

    /// <summary>The attempt's status: the backend's, or 502/504 for a failure; 0 writes "-". Later calls are ignored.</summary>
    public void End(int status)
    {
        if (!_open)
        {
            return;
        }
        _open = false;
        if (_count > 1)
        {
            Append(ref _statuses, ref _statusLength, ", "u8);
        }
        Span<byte> digits = stackalloc byte[11];
        int n = 1;
        if (status <= 0)
        {
            digits[0] = (byte)'-';
        }
        else
        {
            Utf8Formatter.TryFormat(status, digits, out n);
        }
        Append(ref _statuses, ref _statusLength, digits[..n]);
    }

    /// <summary>A new request: forget the previous one's attempts (the buffers stay for the connection's next request).</summary>
    public void Clear()
    {
        _addressLength = _statusLength = _count = 0;
        _open = false;
    }

    /// <summary>
    /// The request is over. The buffers stay: they belong to an Http1Connection, which a parked or closed connection
    /// gives back to its pool (renting them per request from ArrayPool.Shared took its per-core lock: the second
    /// rental of the same size misses the thread's one-slot cache).
    /// </summary>
    public void Release() => Clear();

    private static void Append(ref byte[]? buffer, ref int length, ReadOnlySpan<byte> bytes)
    {
        int needed = length + bytes.Length;
        if (buffer is null || buffer.Length < needed)
        {
            var bigger = new byte[Math.Max(needed, Math.Max(64, (buffer?.Length ?? 0) * 2))];
            buffer?.AsSpan(0, length).CopyTo(bigger);
            buffer = bigger;
        }
        bytes.CopyTo(buffer.AsSpan(length));
        length = needed;
    }
}
