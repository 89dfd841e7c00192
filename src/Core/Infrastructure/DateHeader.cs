using System.Buffers.Text;

namespace FastProxy.Infrastructure;

/// <summary>
/// The "Date: ...\r\n" line, formatted once per second on the heartbeat (RFC 9110 §6.6.1: an origin server with a
/// clock must send Date; nginx adds it to every response it sends, proxied or not). Readers take the current array
/// reference; the swap is a single reference write.
/// </summary>
internal sealed class DateHeader : IHeartbeatHandler
{
    private static readonly byte[] s_prefix = "Date: "u8.ToArray();
    private readonly TimeProvider _time;
    private byte[] _line = [];
    private long _second = -1;

    public DateHeader(TimeProvider time)
    {
        _time = time;
        Update();
    }

    /// <summary>"Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n".</summary>
    public ReadOnlySpan<byte> Line => Volatile.Read(ref _line);

    /// <summary>Just the date value (for $time_* style uses).</summary>
    public ReadOnlySpan<byte> Value => Line[s_prefix.Length..^2];

    public void OnHeartbeat(long now) => Update();

    private void Update()
    {
        var utc = _time.GetUtcNow();
        long second = utc.ToUnixTimeSeconds();
        if (second == Volatile.Read(ref _second))
        {
            return;
        }
        var line = new byte[s_prefix.Length + 29 + 2];
        s_prefix.CopyTo(line, 0);
        Utf8Formatter.TryFormat(utc, line.AsSpan(s_prefix.Length), out int written, new System.Buffers.StandardFormat('R'));
        line[s_prefix.Length + written] = (byte)'\r';
        line[s_prefix.Length + written + 1] = (byte)'\n';
        Volatile.Write(ref _line, line);
        Volatile.Write(ref _second, second);
    }
}
