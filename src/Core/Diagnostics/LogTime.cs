namespace FastProxy.Diagnostics;

/// <summary>
/// The clock of the access log: <c>$time_local</c> and <c>$time_iso8601</c> formatted once per second (nginx caches
/// its time strings the same way, ngx_time_update), <c>$msec</c>, and the timestamps <c>$request_time</c> and
/// <c>$upstream_*_time</c> are measured with. From a <see cref="TimeProvider"/> so tests can set the time.
/// </summary>
internal sealed class LogTime(TimeProvider time)
{
    private static readonly byte[][] s_months =
        [.. "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".Split(' ').Select(m => System.Text.Encoding.ASCII.GetBytes(m))];

    private Formatted? _current;

    public TimeProvider Provider { get; } = time;

    /// <summary>
    /// Now, in <see cref="TimeProvider.GetTimestamp"/> units; on an event loop with the system clock, the time cached
    /// at the loop's latest turn (nginx times $request_time and $upstream_*_time with its cached time too).
    /// </summary>
    public long Timestamp() => Transport.Epoll.EpollLoop.CachedTimestamp(Provider);

    /// <summary>Milliseconds between two <see cref="Timestamp"/>s.</summary>
    public long ElapsedMilliseconds(long from, long to) => (long)Provider.GetElapsedTime(from, to).TotalMilliseconds;

    /// <summary>The strings for the current second (rebuilt, one small allocation, when the second has changed).</summary>
    public Formatted Now()
    {
        var utc = Provider.GetUtcNow();
        long second = utc.ToUnixTimeSeconds();
        var current = Volatile.Read(ref _current);
        if (current is not null && current.Second == second)
        {
            return current;
        }
        current = Format(utc, Provider.LocalTimeZone.GetUtcOffset(utc));
        Volatile.Write(ref _current, current);
        return current;
    }

    /// <summary>Unix time in milliseconds (<c>$msec</c>).</summary>
    public long UnixMilliseconds() => Provider.GetUtcNow().ToUnixTimeMilliseconds();

    internal static Formatted Format(DateTimeOffset utc, TimeSpan offset)
    {
        var local = utc.ToOffset(offset);
        // "27/Nov/2026:11:41:12 +0000" (nginx's $time_local, the common log format's date).
        var common = new byte[26];
        Two(common, 0, local.Day);
        common[2] = (byte)'/';
        s_months[local.Month - 1].CopyTo(common, 3);
        common[6] = (byte)'/';
        Four(common, 7, local.Year);
        common[11] = (byte)':';
        Two(common, 12, local.Hour);
        common[14] = (byte)':';
        Two(common, 15, local.Minute);
        common[17] = (byte)':';
        Two(common, 18, local.Second);
        common[20] = (byte)' ';
        int minutes = (int)offset.TotalMinutes;
        common[21] = minutes < 0 ? (byte)'-' : (byte)'+';
        minutes = Math.Abs(minutes);
        Two(common, 22, minutes / 60);
        Two(common, 24, minutes % 60);

        // "2026-11-27T11:41:12+00:00".
        var iso = new byte[25];
        Four(iso, 0, local.Year);
        iso[4] = (byte)'-';
        Two(iso, 5, local.Month);
        iso[7] = (byte)'-';
        Two(iso, 8, local.Day);
        iso[10] = (byte)'T';
        Two(iso, 11, local.Hour);
        iso[13] = (byte)':';
        Two(iso, 14, local.Minute);
        iso[16] = (byte)':';
        Two(iso, 17, local.Second);
        iso[19] = common[21];
        Two(iso, 20, minutes / 60);
        iso[22] = (byte)':';
        Two(iso, 23, minutes % 60);
        return new Formatted(utc.ToUnixTimeSeconds(), common, iso);
    }

    private static void Two(byte[] b, int at, int v)
    {
        b[at] = (byte)('0' + v / 10);
        b[at + 1] = (byte)('0' + v % 10);
    }

    private static void Four(byte[] b, int at, int v)
    {
        Two(b, at, v / 100);
        Two(b, at + 2, v % 100);
    }

    /// <summary>One second's strings.</summary>
    internal sealed class Formatted(long second, byte[] local, byte[] iso8601)
    {
        public long Second { get; } = second;
        public byte[] Local { get; } = local;
        public byte[] Iso8601 { get; } = iso8601;
    }
}
