using System.Diagnostics;
using FastProxy.Transport.Epoll;

namespace FastProxy.Transport.Tests;

/// <summary><see cref="IdlePollWindow"/>'s rule: how long a loop polls before sleeping, and whether polls pay off.</summary>
public class IdlePollWindowTests
{
    // A maximum of 10 ticks keeps the arithmetic readable: the window starts at 2 and doubles to 10.
    private const long Max = 10;

    [Fact]
    public void NextPoll_NewWindow_DoesNotPoll()
    {
        var window = new IdlePollWindow(Max);

        Assert.Equal(0, window.NextPoll());
    }

    [Fact]
    public void OnSlept_IdleWithinMaximum_GrowsFromStartByDoublingToMaximum()
    {
        var window = new IdlePollWindow(Max);
        var seen = new List<long>();

        for (int i = 0; i < 5; i++)
        {
            window.OnSlept(idleTicks: Max);
            seen.Add(window.NextPoll());
        }

        Assert.Equal([2, 4, 8, 10, 10], seen);
    }

    [Fact]
    public void OnSlept_IdleLongerThanMaximum_HalvesThenStops()
    {
        var window = Grown();
        var seen = new List<long>();

        for (int i = 0; i < 4; i++)
        {
            window.OnSlept(idleTicks: Max + 1);
            seen.Add(window.NextPoll());
        }

        Assert.Equal([5, 2, 0, 0], seen);
    }

    [Fact]
    public void OnSlept_MaximumZero_NeverPolls()
    {
        var window = new IdlePollWindow(0);

        window.OnSlept(0);
        window.OnSlept(0);

        Assert.Equal(0, window.NextPoll());
    }

    [Fact]
    public void OnPolled_TwoHitsPerMiss_KeepsPolling()
    {
        var window = Grown();

        for (int i = 0; i < 30; i++)
        {
            window.OnPolled(found: i % 3 != 2);
            Assert.Equal(Max, window.NextPoll());
        }
    }

    [Fact]
    public void OnPolled_OneHitPerMiss_StopsPolling()
    {
        var window = Grown();

        window.OnPolled(found: true);
        window.OnPolled(found: false);

        Assert.Equal(0, window.NextPoll());
        Assert.True(window.Window > 0); // the window itself is still sized by the sleeps
    }

    [Fact]
    public void NextPoll_CreditNegative_PollsAgainAfterRegainingIt()
    {
        var window = Grown();
        window.OnPolled(found: false); // credit -2, and the period doubled: two credits of 32 turns each

        int turns = TurnsUntilPolling(ref window);

        Assert.Equal(IdlePollWindow.MissPenalty * IdlePollWindow.TurnsPerRegainedCredit * 2, turns);
    }

    [Fact]
    public void OnPolled_ProbesKeepMissing_ProbesBecomeRarerUpToTheCap()
    {
        var window = Grown();
        var gaps = new List<int>();

        for (int probe = 0; probe < 7; probe++)
        {
            window.OnPolled(found: false);
            gaps.Add(TurnsUntilPolling(ref window));
        }

        Assert.Equal([64, 128, 256, 512, 1024, 2048, 2048], gaps);
    }

    [Fact]
    public void OnPolled_ProbeHits_PeriodRestored()
    {
        var window = Grown();
        for (int probe = 0; probe < 5; probe++)
        {
            window.OnPolled(found: false);
            TurnsUntilPolling(ref window);
        }

        window.OnPolled(found: true);  // credit 1, period back to 16
        window.OnPolled(found: false); // credit -1, period 32

        Assert.Equal(32, TurnsUntilPolling(ref window));
    }

    [Fact]
    public void OnPolled_LongRunOfHitsThenMisses_CreditCappedSoPollingStopsSoon()
    {
        var window = Grown();
        for (int i = 0; i < 1000; i++)
        {
            window.OnPolled(found: true);
        }

        int missesUntilStopped = 0;
        while (window.NextPoll() != 0)
        {
            window.OnPolled(found: false);
            missesUntilStopped++;
        }

        Assert.Equal(IdlePollWindow.CreditLimit / IdlePollWindow.MissPenalty + 1, missesUntilStopped);
    }

    [Theory]
    [InlineData(null, IdlePollWindow.DefaultMaxMicroseconds)]
    [InlineData("", IdlePollWindow.DefaultMaxMicroseconds)]
    [InlineData("ten", IdlePollWindow.DefaultMaxMicroseconds)]
    [InlineData("-1", IdlePollWindow.DefaultMaxMicroseconds)]
    [InlineData("0", 0)]
    [InlineData("25", 25)]
    [InlineData("5000", 1000)]
    public void MaxFromEnvironment_Value_MicrosecondsInStopwatchTicks(string? value, long expectedMicroseconds)
    {
        Assert.Equal(Stopwatch.Frequency * expectedMicroseconds / 1_000_000, IdlePollWindow.MaxFromEnvironment(value));
    }

    private static int TurnsUntilPolling(ref IdlePollWindow window)
    {
        int turns = 0;
        while (window.NextPoll() == 0)
        {
            turns++;
            Assert.True(turns <= 10_000, "never polled again");
        }
        return turns;
    }

    private static IdlePollWindow Grown()
    {
        var window = new IdlePollWindow(Max);
        for (int i = 0; i < 4; i++)
        {
            window.OnSlept(1);
        }
        Assert.Equal(Max, window.NextPoll());
        return window;
    }
}
