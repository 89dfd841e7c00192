namespace FastProxy.FunctionalTests.Infrastructure;

/// <summary>
/// A TimeProvider whose time moves only when a test says so. Timestamps are TimeSpan ticks starting at one hour
/// (never 0, which the balancing code reads as "no timestamp yet"). Timers fire synchronously inside
/// <see cref="Advance"/>, in due order, outside the provider's lock.
/// </summary>
public sealed class ManualTimeProvider : TimeProvider
{
    private static readonly DateTimeOffset Epoch = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private readonly Lock _lock = new();
    private readonly List<ManualTimer> _timers = [];
    private long _now = TimeSpan.FromHours(1).Ticks;

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override long GetTimestamp() => Volatile.Read(ref _now);

    public override DateTimeOffset GetUtcNow() => Epoch.AddTicks(GetTimestamp());

    /// <summary>How many timers are active (created and not disposed, with a due time).</summary>
    public int ActiveTimers
    {
        get
        {
            lock (_lock)
            {
                return _timers.Count(t => t.DueAt != long.MaxValue);
            }
        }
    }

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = new ManualTimer(this, callback, state);
        lock (_lock)
        {
            _timers.Add(timer);
        }
        timer.Change(dueTime, period);
        return timer;
    }

    public void Advance(TimeSpan by)
    {
        long target;
        lock (_lock)
        {
            target = _now + by.Ticks;
        }
        while (true)
        {
            ManualTimer? due = null;
            lock (_lock)
            {
                foreach (ManualTimer timer in _timers)
                {
                    if (timer.DueAt <= target && (due is null || timer.DueAt < due.DueAt))
                    {
                        due = timer;
                    }
                }
                if (due is null)
                {
                    Volatile.Write(ref _now, target);
                    return;
                }
                Volatile.Write(ref _now, Math.Max(_now, due.DueAt));
                due.DueAt = due.Period > 0 ? due.DueAt + due.Period : long.MaxValue;
            }
            due.Callback(due.State);
        }
    }

    private sealed class ManualTimer(ManualTimeProvider owner, TimerCallback callback, object? state) : ITimer
    {
        public TimerCallback Callback { get; } = callback;
        public object? State { get; } = state;
        public long DueAt { get; set; } = long.MaxValue;
        public long Period { get; set; }

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            lock (owner._lock)
            {
                if (!owner._timers.Contains(this))
                {
                    return false;
                }
                DueAt = dueTime == Timeout.InfiniteTimeSpan ? long.MaxValue : owner._now + Math.Max(0, dueTime.Ticks);
                Period = period == Timeout.InfiniteTimeSpan || period <= TimeSpan.Zero ? 0 : period.Ticks;
                return true;
            }
        }

        public void Dispose()
        {
            lock (owner._lock)
            {
                owner._timers.Remove(this);
            }
        }

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
