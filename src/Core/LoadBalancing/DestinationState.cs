using System.Diagnostics;
using System.Net;
using FastProxy.Config;

namespace FastProxy.LoadBalancing;

/// <summary>Why a destination does or does not take requests, as seen from outside.</summary>
public enum DestinationHealth
{
    /// <summary>Takes requests (subject to <c>max_conns</c>).</summary>
    Healthy,

    /// <summary>Passive health: <c>max_fails</c> failures within <c>fail_timeout</c>; one probe request per <c>fail_timeout</c>.</summary>
    Unavailable,

    /// <summary>Active health: <c>fails</c> consecutive failed checks; back after <c>passes</c> consecutive good ones.</summary>
    Unhealthy,

    /// <summary>Marked <c>down</c> in the configuration.</summary>
    Down,
}

/// <summary>
/// The runtime state of one upstream server address: its in-flight count and health. Shared by all threads; the
/// pick path only reads it (volatile reads), requests update the in-flight count with Interlocked, and health
/// transitions (rare) take a per-destination lock.
/// </summary>
public sealed class DestinationState
{
    internal const int FlagDown = 1;
    internal const int FlagUnavailable = 2;   // passive: max_fails failures within fail_timeout
    internal const int FlagUnhealthy = 4;     // active: health_check fails=N

    /// <summary>slow_start ramps a weight in this many equal steps (so a round-robin schedule is rebuilt 16 times).</summary>
    internal const int SlowStartSteps = 16;

    /// <summary>Weights are clamped to this so that weight × SlowStartSteps × in-flight counts cannot overflow.</summary>
    internal const int MaxWeight = 1_000_000;

    private const long NotRamping = long.MinValue;

    private readonly ClusterState? _cluster;
    private readonly Lock _healthLock = new();

    // Written by every request. Picks of other destinations do not read it, so it shares the object with the
    // read-mostly fields; least_conn reads it anyway.
    private long _inFlight;

    // FlagDown | FlagUnavailable | FlagUnhealthy; 0 = selectable. Read by every pick.
    private int _flags;

    // Passive health (nginx's fails/accessed/checked), guarded by _healthLock for writes.
    private int _fails;
    private long _windowStart;   // first failure of the current max_fails window
    private long _lastFailure;   // nginx's "accessed"
    private long _checked;       // nginx's "checked": when marked unavailable, then when the last probe was claimed

    // slow_start: when the destination last came back (NotRamping when it did not, or slow_start is off).
    private long _recoveredAt = NotRamping;

    internal DestinationState(int index, IPEndPoint endPoint, UpstreamServerConfig config, ClusterState? cluster = null, int serverIndex = 0)
    {
        Index = index;
        EndPoint = endPoint;
        Config = config;
        _cluster = cluster;
        ServerIndex = serverIndex;
        Weight = Math.Clamp(config.Weight, 1, MaxWeight);
        MaxFails = Math.Max(0, config.MaxFails);
        MaxConns = Math.Max(0, config.MaxConns);
        long frequency = cluster?.TimeProvider.TimestampFrequency ?? Stopwatch.Frequency;
        FailTimeoutTicks = ToTicks(config.FailTimeout, frequency);
        SlowStartTicks = ToTicks(config.SlowStart, frequency);
        if (config.Down)
        {
            _flags = FlagDown;
        }
    }

    /// <summary>Position in <see cref="ClusterState.Destinations"/> (and the bit in the tried set).</summary>
    public int Index { get; }

    /// <summary>Position of the <c>server</c> line in <see cref="UpstreamConfig.Servers"/> this address came from.</summary>
    public int ServerIndex { get; }

    public IPEndPoint EndPoint { get; }

    public UpstreamServerConfig Config { get; }

    /// <summary>The configured weight (clamped to 1..1,000,000).</summary>
    public int Weight { get; }

    public bool IsBackup => Config.Backup;

    /// <summary>Requests currently using this destination.</summary>
    public long InFlight => Volatile.Read(ref _inFlight);

    /// <summary>Health as of now (see <see cref="DestinationHealth"/>).</summary>
    public DestinationHealth Health
    {
        get
        {
            int flags = Volatile.Read(ref _flags);
            return (flags & FlagDown) != 0 ? DestinationHealth.Down
                : (flags & FlagUnhealthy) != 0 ? DestinationHealth.Unhealthy
                : (flags & FlagUnavailable) != 0 ? DestinationHealth.Unavailable
                : DestinationHealth.Healthy;
        }
    }

    /// <summary>Passive failures counted in the current <c>fail_timeout</c> window.</summary>
    public int Failures => Volatile.Read(ref _fails);

    public ClusterState? Cluster => _cluster;

    internal int MaxFails { get; }

    internal int MaxConns { get; }

    internal long FailTimeoutTicks { get; }

    internal long SlowStartTicks { get; }

    /// <summary>0 when the destination may be scheduled; otherwise why not (Flag* bits).</summary>
    internal int Flags => Volatile.Read(ref _flags);

    /// <summary>At <c>max_conns</c>: a pick must not return it.</summary>
    internal bool IsSaturated => MaxConns != 0 && Volatile.Read(ref _inFlight) >= MaxConns;

    /// <summary>Active-health bookkeeping, touched only by the one round of its checker that runs at a time.</summary>
    internal int ActiveConsecutiveFails;
    internal int ActiveConsecutivePasses;

    // ---- requests -------------------------------------------------------------------------------------------

    /// <summary>The engine calls this when an attempt starts using the destination (no <c>max_conns</c> check)...</summary>
    internal void BeginRequest() => Interlocked.Increment(ref _inFlight);

    /// <summary>
    /// ...or this, which reserves a slot only while below <c>max_conns</c> (a compare-and-swap loop), so concurrent
    /// pickers cannot overshoot it. <see cref="ClusterState.AcquireDestination"/> uses it.
    /// </summary>
    internal bool TryBeginRequest()
    {
        if (MaxConns == 0)
        {
            Interlocked.Increment(ref _inFlight);
            return true;
        }
        long current = Volatile.Read(ref _inFlight);
        while (current < MaxConns)
        {
            long seen = Interlocked.CompareExchange(ref _inFlight, current + 1, current);
            if (seen == current)
            {
                return true;
            }
            current = seen;
        }
        return false;
    }

    /// <summary>...and this when the attempt ends, whatever way it ends.</summary>
    internal void EndRequest()
    {
        long now = Interlocked.Decrement(ref _inFlight);
        if (MaxConns != 0 && now < MaxConns)
        {
            _cluster?.SignalCapacity();   // one volatile read unless someone waits for a slot
        }
    }

    // ---- passive health -------------------------------------------------------------------------------------

    /// <summary>
    /// An attempt failed in a way nginx counts toward max_fails (error, timeout, invalid header, or a
    /// proxy_next_upstream http_* status). <paramref name="nowTimestamp"/> is the cluster TimeProvider's timestamp.
    /// </summary>
    internal void ReportFailure(long nowTimestamp)
    {
        // nginx: max_fails=0 disables accounting, and a group of one server is never marked unavailable.
        if (MaxFails == 0 || _cluster is null || _cluster.IsSingle)
        {
            return;
        }
        bool disabled = false;
        int fails;
        lock (_healthLock)
        {
            _lastFailure = nowTimestamp;
            if ((_flags & FlagUnavailable) != 0)
            {
                // The probe failed (or a request started before the server was disabled): another fail_timeout.
                _fails++;
                _checked = nowTimestamp;
                return;
            }
            if (_fails == 0 || nowTimestamp - _windowStart > FailTimeoutTicks)
            {
                _fails = 0;
                _windowStart = nowTimestamp;
            }
            fails = ++_fails;
            if (fails >= MaxFails)
            {
                _checked = nowTimestamp;
                _recoveredAt = NotRamping;
                Interlocked.Or(ref _flags, FlagUnavailable);
                disabled = true;
            }
        }
        if (disabled)
        {
            _cluster.OnPassiveUnavailable(this, fails, nowTimestamp);
        }
    }

    /// <summary>An attempt completed well.</summary>
    internal void ReportSuccess(long nowTimestamp)
    {
        if ((Volatile.Read(ref _flags) & FlagUnavailable) == 0)
        {
            return;   // the common case: nothing to undo (failures below max_fails expire with their window)
        }
        bool recovered = false;
        lock (_healthLock)
        {
            // nginx: "mark peer live if check passed" (accessed < checked): a probe was claimed after the last
            // failure, so this success is news about the server now and not a request older than its failure.
            if ((_flags & FlagUnavailable) != 0 && _lastFailure < _checked)
            {
                _fails = 0;
                StartSlowStart(nowTimestamp);
                Interlocked.And(ref _flags, ~FlagUnavailable);
                recovered = true;
            }
        }
        if (recovered)
        {
            _cluster?.OnPassiveRecovered(this);
        }
    }

    /// <summary>When the next probe may be claimed (nginx: <c>now - checked &gt; fail_timeout</c>).</summary>
    internal long ProbeDueAt => Volatile.Read(ref _checked) + FailTimeoutTicks + 1;

    /// <summary>Passively unavailable and its fail_timeout has passed since it was disabled or last probed.</summary>
    internal bool IsProbeDue(long now) => now - Volatile.Read(ref _checked) > FailTimeoutTicks;

    /// <summary>
    /// Claims the single probe request of a passively unavailable destination: of all concurrent pickers exactly one
    /// moves <c>checked</c> to now; the others see a fresh <c>checked</c> and skip it for another fail_timeout.
    /// </summary>
    internal bool TryClaimProbe(long now)
    {
        long seen = Volatile.Read(ref _checked);
        if (now - seen <= FailTimeoutTicks)
        {
            return false;
        }
        return Interlocked.CompareExchange(ref _checked, now, seen) == seen;
    }

    /// <summary>nginx's "all peers failed, mark them as live for quick recovery": forget passive failures.</summary>
    internal bool ResetPassiveFailures()
    {
        lock (_healthLock)
        {
            _fails = 0;
            return (Interlocked.And(ref _flags, ~FlagUnavailable) & FlagUnavailable) != 0;
        }
    }

    // ---- active health --------------------------------------------------------------------------------------

    /// <summary>Sets the active-health verdict; true when it changed.</summary>
    internal bool SetActiveHealth(bool healthy, long nowTimestamp)
    {
        lock (_healthLock)
        {
            bool wasHealthy = (_flags & FlagUnhealthy) == 0;
            if (wasHealthy == healthy)
            {
                return false;
            }
            if (healthy)
            {
                StartSlowStart(nowTimestamp);
                Interlocked.And(ref _flags, ~FlagUnhealthy);
            }
            else
            {
                _recoveredAt = NotRamping;
                Interlocked.Or(ref _flags, FlagUnhealthy);
            }
            return true;
        }
    }

    // ---- reload ---------------------------------------------------------------------------------------------

    /// <summary>
    /// Takes over the health of the same server address in the snapshot being replaced (before this one is
    /// published), so a reload does not send requests to a server already known to be failing.
    /// </summary>
    internal void CopyHealthFrom(DestinationState previous, bool keepUnhealthy)
    {
        lock (previous._healthLock)
        {
            lock (_healthLock)
            {
                int carried = 0;
                if ((previous._flags & FlagUnavailable) != 0 && MaxFails > 0 && _cluster is { IsSingle: false })
                {
                    carried |= FlagUnavailable;
                }
                if ((previous._flags & FlagUnhealthy) != 0 && keepUnhealthy)
                {
                    carried |= FlagUnhealthy;
                }
                _fails = previous._fails;
                _windowStart = previous._windowStart;
                _lastFailure = previous._lastFailure;
                _checked = previous._checked;
                _recoveredAt = SlowStartTicks > 0 ? previous._recoveredAt : NotRamping;
                ActiveConsecutiveFails = previous.ActiveConsecutiveFails;
                ActiveConsecutivePasses = previous.ActiveConsecutivePasses;
                Interlocked.Or(ref _flags, carried);
            }
        }
    }

    // ---- slow start -----------------------------------------------------------------------------------------

    private void StartSlowStart(long nowTimestamp)
    {
        // NGINX Plus: slow_start is ignored in a group of one server.
        if (SlowStartTicks > 0 && _cluster is { IsSingle: false })
        {
            Volatile.Write(ref _recoveredAt, nowTimestamp);
        }
    }

    /// <summary>
    /// The weight the policies use, in 1/16 units: <see cref="Weight"/> × 16 normally; during slow_start it rises
    /// linearly in 16 steps from 1 (≈0) to the full weight.
    /// </summary>
    internal long GetScaledWeight(long now)
    {
        long full = (long)Weight * SlowStartSteps;
        long recovered = Volatile.Read(ref _recoveredAt);
        if (recovered == NotRamping)
        {
            return full;
        }
        long elapsed = now - recovered;
        if (elapsed >= SlowStartTicks)
        {
            return full;
        }
        long step = elapsed <= 0 ? 0 : (long)(elapsed * (double)SlowStartSteps / SlowStartTicks);
        return Math.Max(1, Weight * Math.Min(step, SlowStartSteps - 1));
    }

    /// <summary>When <see cref="GetScaledWeight"/> next changes; <see cref="long.MaxValue"/> when it will not.</summary>
    internal long NextWeightChange(long now)
    {
        long recovered = Volatile.Read(ref _recoveredAt);
        if (recovered == NotRamping || now - recovered >= SlowStartTicks)
        {
            return long.MaxValue;
        }
        long elapsed = Math.Max(0, now - recovered);
        long step = (long)(elapsed * (double)SlowStartSteps / SlowStartTicks);
        long next = recovered + (long)Math.Ceiling((step + 1) * (double)SlowStartTicks / SlowStartSteps);
        return Math.Max(next, now + 1);
    }

    public override string ToString() => $"{EndPoint} ({Config.Address})";

    private static long ToTicks(TimeSpan span, long frequency) =>
        span <= TimeSpan.Zero ? 0 : (long)Math.Min(long.MaxValue / 4, span.TotalSeconds * frequency);
}
