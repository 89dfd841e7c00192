namespace FastProxy.RateLimiting.Tests;

/// <summary>A clock that only moves when told to. Thread-safe, so concurrent tests can share it.</summary>
internal sealed class ManualTimeProvider : TimeProvider
{
    private readonly long _frequency;
    private long _ticks;

    public ManualTimeProvider(long frequency = 1000, long startTicks = 0)
    {
        _frequency = frequency;
        _ticks = startTicks;
    }

    public override long TimestampFrequency => _frequency;

    public override long GetTimestamp() => Volatile.Read(ref _ticks);

    public void AdvanceTicks(long ticks) => Interlocked.Add(ref _ticks, ticks);

    /// <summary>Advances by whole milliseconds (exact when the frequency is a multiple of 1000).</summary>
    public void AdvanceMs(long ms) => Interlocked.Add(ref _ticks, ms * _frequency / 1000);
}
