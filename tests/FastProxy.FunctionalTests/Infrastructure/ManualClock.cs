namespace FastProxy.FunctionalTests.Infrastructure;

/// <summary>
/// A <see cref="TimeProvider"/> that moves only when a test says so, with timers (so <c>Task.Delay(t, clock)</c>
/// completes when the clock passes it). Timers fire on the thread pool, as real ones do, never on the test's thread.
/// </summary>
public sealed class ManualClock : TimeProvider
{
    private readonly object _gate = new();
    private readonly List<Timer> _timers = [];
    private readonly DateTimeOffset _start = DateTimeOffset.UtcNow;
    private long _ticks;

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override long GetTimestamp() => Volatile.Read(ref _ticks);

    public override DateTimeOffset GetUtcNow() => _start + TimeSpan.FromTicks(GetTimestamp());

    /// <summary>Timers not yet fired or disposed (a test can wait for a delay to be armed).</summary>
    public int PendingTimers
    {
        get
        {
            lock (_gate)
            {
                return _timers.Count;
            }
        }
    }

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = new Timer(this, callback, state);
        timer.Change(dueTime, period);
        return timer;
    }

    /// <summary>Moves the clock and fires every timer that came due, in due order.</summary>
    public void Advance(TimeSpan by)
    {
        var due = new List<(long At, Timer Timer)>();
        lock (_gate)
        {
            long now = _ticks + by.Ticks;
            Volatile.Write(ref _ticks, now);
            foreach (var timer in _timers.ToArray())
            {
                while (timer.DueAt <= now)
                {
                    due.Add((timer.DueAt, timer));
                    if (timer.Period <= 0)
                    {
                        _timers.Remove(timer);
                        break;
                    }
                    timer.DueAt += timer.Period;
                }
            }
        }
        due.Sort((a, b) => a.At.CompareTo(b.At));
        foreach (var (_, timer) in due)
        {
            ThreadPool.UnsafeQueueUserWorkItem(static t => t.Fire(), timer, preferLocal: false);
        }
    }

    private sealed class Timer(ManualClock clock, TimerCallback callback, object? state) : ITimer
    {
        public long DueAt;
        public long Period;

        public void Fire() => callback(state);

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            lock (clock._gate)
            {
                clock._timers.Remove(this);
                if (dueTime == Timeout.InfiniteTimeSpan)
                {
                    return true;
                }
                DueAt = clock._ticks + Math.Max(0, dueTime.Ticks);
                Period = period == Timeout.InfiniteTimeSpan ? 0 : period.Ticks;
                clock._timers.Add(this);
                if (dueTime <= TimeSpan.Zero)
                {
                    // Due now: fire as a real timer would, without waiting for the next Advance.
                    clock._timers.Remove(this);
                    if (Period > 0)
                    {
                        DueAt = clock._ticks + Period;
                        clock._timers.Add(this);
                    }
                    ThreadPool.UnsafeQueueUserWorkItem(static t => t.Fire(), this, preferLocal: false);
                }
            }
            return true;
        }

        public void Dispose()
        {
            lock (clock._gate)
            {
                clock._timers.Remove(this);
            }
        }

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
