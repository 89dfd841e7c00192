namespace FastProxy.Infrastructure.Tests;

public sealed class HeartbeatTests
{
    /// <summary>A clock of any frequency (Stopwatch's differs by platform; tests inject their own).</summary>
    private sealed class FixedClock(long frequency, long now) : TimeProvider
    {
        public override long TimestampFrequency => frequency;

        public override long GetTimestamp() => now;
    }

    [Theory]
    [InlineData(1_000_000_000L)] // Stopwatch on Linux: nanoseconds
    [InlineData(TimeSpan.TicksPerSecond)]
    [InlineData(1_000L)]
    public void ToTicks_Timeout_InTheClocksUnits(long frequency)
    {
        using var heartbeat = new Heartbeat(new FixedClock(frequency, 0), TimeSpan.FromSeconds(1));

        Assert.Equal(frequency, heartbeat.ToTicks(TimeSpan.FromSeconds(1)));
        Assert.Equal(frequency * 75, heartbeat.ToTicks(TimeSpan.FromSeconds(75)));
        Assert.Equal(frequency / 4, heartbeat.ToTicks(TimeSpan.FromMilliseconds(250)));
    }

    [Fact]
    public void ToTicks_ZeroOrNegative_Zero()
    {
        using var heartbeat = new Heartbeat(new FixedClock(1_000_000_000L, 0), TimeSpan.FromSeconds(1));

        Assert.Equal(0, heartbeat.ToTicks(TimeSpan.Zero));
        Assert.Equal(0, heartbeat.ToTicks(TimeSpan.FromSeconds(-1)));
    }

    [Fact]
    public void DeadlineAfter_Forever_SaturatesWithoutOverflow()
    {
        long now = 123_456_789;
        using var heartbeat = new Heartbeat(new FixedClock(1_000_000_000L, now), TimeSpan.FromSeconds(1));

        long deadline = heartbeat.DeadlineAfter(TimeSpan.MaxValue);

        Assert.Equal(now + long.MaxValue / 4, deadline);
        Assert.NotEqual(Deadline.None, deadline);
        Assert.Equal(now + 1_000_000_000L, heartbeat.DeadlineAfter(TimeSpan.FromSeconds(1)));
    }
}
