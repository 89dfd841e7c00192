namespace FastProxy.Infrastructure;

/// <summary>Something the heartbeat visits on every tick.</summary>
internal interface IHeartbeatHandler
{
    void OnHeartbeat(long now);
}

/// <summary>
/// One timer per server (Kestrel's Heartbeat): every tick it refreshes the cached clock and visits the handlers,
/// which compare per-connection deadlines with it and abort what is late. Setting a timeout on the hot path is then
/// a field write (<c>deadline = Now + ticks</c>): no timer, no CancellationTokenSource, no allocation per request.
/// The price is resolution: a timeout fires up to one interval late (nginx's timers are exact; documented).
/// </summary>
internal sealed class Heartbeat : IDisposable
{
    private readonly TimeProvider _time;
    // Timestamp units per TimeSpan tick, read once: deadlines are computed several times per request.
    private readonly double _unitsPerTick;
    private readonly IHeartbeatHandler[] _handlers;
    private TimeSpan _interval;
    private ITimer? _timer;
    private long _now;
    private int _inTick;

    public Heartbeat(TimeProvider time, TimeSpan interval, params IHeartbeatHandler[] handlers)
    {
        _time = time;
        _unitsPerTick = (double)time.TimestampFrequency / TimeSpan.TicksPerSecond;
        _interval = interval;
        _handlers = handlers;
        _now = time.GetTimestamp();
    }

    /// <summary>The clock as of the last tick, in <see cref="TimeProvider.GetTimestamp"/> units.</summary>
    public long Now => Volatile.Read(ref _now);

    public TimeProvider Time => _time;

    public TimeSpan Interval => _interval;

    /// <summary>Converts a timeout to timestamp units, saturating so that "forever" never overflows a deadline.</summary>
    public long ToTicks(TimeSpan timeout)
    {
        if (timeout <= TimeSpan.Zero)
        {
            return 0;
        }
        double ticks = timeout.Ticks * _unitsPerTick;
        return ticks >= long.MaxValue / 4 ? long.MaxValue / 4 : (long)ticks;
    }

    /// <summary>A deadline <paramref name="timeout"/> from the cached now (never the "no deadline" value).</summary>
    public long DeadlineAfter(TimeSpan timeout) => Now + ToTicks(timeout);

    public void Start()
    {
        _timer = _time.CreateTimer(static s => ((Heartbeat)s!).Tick(), this, _interval, _interval);
    }

    /// <summary>A reload with shorter timeouts ticks faster.</summary>
    public void ChangeInterval(TimeSpan interval)
    {
        if (interval != _interval)
        {
            _interval = interval;
            _timer?.Change(interval, interval);
        }
    }

    /// <summary>Runs one tick now (tests and shutdown use it).</summary>
    public void Tick()
    {
        // A slow tick must not overlap the next one: handlers assume a single visitor.
        if (Interlocked.Exchange(ref _inTick, 1) != 0)
        {
            return;
        }
        try
        {
            long now = _time.GetTimestamp();
            Volatile.Write(ref _now, now);
            foreach (var handler in _handlers)
            {
                handler.OnHeartbeat(now);
            }
        }
        finally
        {
            Volatile.Write(ref _inTick, 0);
        }
    }

    public void Dispose() => _timer?.Dispose();

    /// <summary>
    /// The tick interval for a configuration: a quarter of the shortest configured timeout, between 50 ms and 1 s,
    /// so that a 200 ms test timeout fires within ~250 ms while production (60 s timeouts) ticks once a second.
    /// </summary>
    public static TimeSpan IntervalFor(TimeSpan shortestTimeout)
    {
        var quarter = shortestTimeout / 4;
        if (quarter < TimeSpan.FromMilliseconds(50))
        {
            return TimeSpan.FromMilliseconds(50);
        }
        return quarter > TimeSpan.FromSeconds(1) ? TimeSpan.FromSeconds(1) : quarter;
    }
}

/// <summary>
/// Deadline helpers. A deadline is a long: <see cref="None"/> when nothing is timed, <see cref="Fired"/> once the
/// heartbeat has claimed it (by compare-exchange, so the owner and the heartbeat never both act on one deadline).
/// </summary>
internal static class Deadline
{
    public const long None = long.MaxValue;
    public const long Fired = long.MinValue;

    /// <summary>Heartbeat side: true when the deadline passed and this call claimed it.</summary>
    public static bool TryFire(ref long deadline, long now)
    {
        long d = Volatile.Read(ref deadline);
        return d != None && d != Fired && d <= now && Interlocked.CompareExchange(ref deadline, Fired, d) == d;
    }

    /// <summary>Owner side: clears the deadline; true when it had fired.</summary>
    public static bool Clear(ref long deadline) => Interlocked.Exchange(ref deadline, None) == Fired;
}
