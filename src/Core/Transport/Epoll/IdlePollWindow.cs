using System.Diagnostics;

namespace FastProxy.Transport.Epoll;

/// <summary>
/// Whether, and how long, an event loop polls for new events before it sleeps in epoll_wait.
/// <para>
/// Why poll at all: a loop that sleeps must be woken by whoever makes its next event, and the waker pays for it (a
/// scheduler wake-up; on a virtual machine an inter-processor interrupt). Behind a proxy the waker is the backend or
/// the client sending their next bytes, on their own core; when that core is the busy one (as in bench/load B, where
/// wrk and the backend share a core), every wake-up of the proxy is throughput lost there. A loop whose next event
/// is microseconds away is cheaper awake: in B, 97% of polls that waited (up to 50 µs) found events, after 3.3 µs on
/// average.
/// </para>
/// <para>
/// How long: KVM's rule for polling a halted virtual CPU (virt/kvm/kvm_main.c, halt_poll_ns grow and shrink). The
/// window starts at zero. When the loop slept and its next events came no later than the maximum after its turn
/// ended, polling would have caught them: the window grows (to a fifth of the maximum, then doubling, up to the
/// maximum). When they came later, polling was wasted: it halves, and falls to zero below the start value.
/// </para>
/// <para>
/// Whether: polls must pay off. A poll that found events after waiting saves a wake-up, one that found none cost its
/// window for nothing; a credit counts hits up and misses down <see cref="MissPenalty"/> times as much, and the loop
/// polls only while the credit is not negative, so only where at least two of three polls find something. When it
/// is negative, the loop sleeps at once and earns one credit back every <see cref="TurnsPerRegainedCredit"/> turns,
/// then polls again: a probe. A miss that leaves the credit negative doubles that period (up to
/// <see cref="MaxTurnsPerRegainedCredit"/>), a hit restores it, so where polls keep missing the probes become rare
/// and a change of load is still noticed within a few thousand turns. (In bench/load C, a new connection per
/// request, the next events mostly came 24-32 µs after a turn: polls of up to 10 µs that waited mostly found
/// nothing, and with a fixed period of 16 turns the probes alone cost 2% of the CPU per request.)
/// </para>
/// So polling costs CPU only on a busy loop and never more than the maximum per turn; an idle or lightly loaded
/// proxy sleeps at once, as nginx does.
/// </summary>
internal struct IdlePollWindow
{
    /// <summary>The default maximum. Measured (docs/benchmarks-load.md, "Polling before sleeping, adaptive"): the
    /// events worth waiting for came within a few microseconds; a 50 µs maximum also caught those of a new connection
    /// per request, 24-32 µs away, at half again the CPU per request.</summary>
    public const int DefaultMaxMicroseconds = 10;

    public const int MissPenalty = 2;
    public const int CreditLimit = 16;
    public const int TurnsPerRegainedCredit = 16;
    public const int MaxTurnsPerRegainedCredit = 1024;

    private readonly long _max;
    private readonly long _start;
    private long _window;
    private int _credit;
    private int _turnsWithoutPolling;
    private int _turnsPerCredit;

    public IdlePollWindow(long maxTicks)
    {
        _max = Math.Max(0, maxTicks);
        _start = _max / 5;
        _turnsPerCredit = TurnsPerRegainedCredit;
    }

    /// <summary>The current window (Stopwatch ticks), whether or not the credit allows polling.</summary>
    public readonly long Window => _window;

    /// <summary>How long to poll before this turn's sleep (Stopwatch ticks); 0 is not at all.</summary>
    public long NextPoll()
    {
        if (_window == 0)
        {
            return 0;
        }
        if (_credit >= 0)
        {
            return _window;
        }
        if (++_turnsWithoutPolling >= _turnsPerCredit)
        {
            _turnsWithoutPolling = 0;
            _credit++;
        }
        return 0;
    }

    /// <summary>A poll ended: <paramref name="found"/> whether events came while it waited (events already there at
    /// its first look count for nothing: sleeping would not have waited for them either).</summary>
    public void OnPolled(bool found)
    {
        if (found)
        {
            _credit = Math.Min(_credit + 1, CreditLimit);
            _turnsPerCredit = TurnsPerRegainedCredit;
            return;
        }
        _credit = Math.Max(_credit - MissPenalty, -CreditLimit);
        if (_credit < 0)
        {
            _turnsPerCredit = Math.Min(_turnsPerCredit * 2, MaxTurnsPerRegainedCredit);
        }
    }

    /// <summary>The loop slept; its idle time (from the end of its turn to the events that woke it, polling
    /// included) was <paramref name="idleTicks"/>.</summary>
    public void OnSlept(long idleTicks)
    {
        if (_max == 0)
        {
            return;
        }
        if (idleTicks <= _max)
        {
            _window = _window == 0 ? _start : Math.Min(_window * 2, _max);
        }
        else
        {
            long halved = _window / 2;
            _window = halved < _start ? 0 : halved;
        }
    }

    /// <summary>The maximum in Stopwatch ticks from <c>FASTPROXY_POLL_US</c>'s value: the default when absent or not
    /// a number, 0 (off) when 0, at most 1 ms.</summary>
    public static long MaxFromEnvironment(string? value)
    {
        long microseconds = long.TryParse(value, out long parsed) && parsed >= 0 ? Math.Min(parsed, 1000) : DefaultMaxMicroseconds;
        return Stopwatch.Frequency * microseconds / 1_000_000;
    }
}
