namespace FastProxy.RateLimiting;

/// <summary>
/// The millisecond clock every limit zone of one <see cref="LimitZoneRegistry"/> reads.
/// </summary>
/// <remarks>
/// nginx keeps <c>ngx_current_msec</c>, a monotonic millisecond count refreshed once per event-loop turn, and
/// ngx_http_limit_req_module does all its arithmetic in those milliseconds. We read
/// <see cref="TimeProvider.GetTimestamp"/> (monotonic; tests inject a manual provider) and count milliseconds from
/// the moment the clock was created, so values start near zero and fit the 38-bit timestamps the tables store.
/// One clock is shared by all zones so that a request evaluated against several zones sees one "now", and so
/// that zones kept across a reload keep comparing against the same origin.
/// </remarks>
internal sealed class LimitClock
{
    private readonly TimeProvider _time;
    private readonly long _origin;
    private readonly long _ticksPerMs;   // 0 when the frequency is not a whole number of ticks per millisecond
    private readonly long _frequency;

    public LimitClock(TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(time);
        _time = time;
        _frequency = time.TimestampFrequency;
        if (_frequency <= 0)
        {
            throw new ArgumentException("The time provider reports a non-positive timestamp frequency.", nameof(time));
        }

        _ticksPerMs = _frequency % 1000 == 0 ? _frequency / 1000 : 0;
        _origin = time.GetTimestamp();
    }

    public TimeProvider TimeProvider => _time;

    /// <summary>Milliseconds since this clock was created (may be negative only if the provider goes backwards).</summary>
    public long NowMs()
    {
        long ticks = _time.GetTimestamp() - _origin;

        // Stopwatch ticks in nanoseconds on Linux and macOS, in 100 ns on Windows: constant divisors compile to a
        // multiply and a shift instead of a 64-bit division. The Int128 path avoids overflowing ticks * 1000 for
        // frequencies that are not a whole number of ticks per millisecond.
        return _ticksPerMs switch
        {
            1_000_000 => ticks / 1_000_000,
            10_000 => ticks / 10_000,
            0 => (long)((Int128)ticks * 1000 / _frequency),
            _ => ticks / _ticksPerMs,
        };
    }
}
