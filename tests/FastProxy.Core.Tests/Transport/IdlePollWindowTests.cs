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
        var window = new IdlePollWindow(Max);
        for (int i = 0; i < 4; i++)
        {
            window.OnSlept(1);
        }
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
    public void NextPoll_CreditNegative_PollsAgainAfterRegainingItOneCreditPerSixteenTurns()
    {
        var window = Grown();
        window.OnPolled(found: false); // credit -2: two credits to earn back
        int turnsWithoutPolling = 0;

        while (window.NextPoll() == 0)
        {
            turnsWithoutPolling++;
            Assert.True(turnsWithoutPolling <= 100, "never polled again");
        }

        Assert.Equal(IdlePollWindow.MissPenalty * IdlePollWindow.TurnsPerRegainedCredit, turnsWithoutPolling);
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
