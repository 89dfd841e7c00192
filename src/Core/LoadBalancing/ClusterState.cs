using FastProxy.Config;
using Microsoft.Extensions.Logging;

namespace FastProxy.LoadBalancing;

/// <summary>
/// The runtime state of one upstream group: its destinations (one per resolved address of each <c>server</c>), its
/// policy, and the health bookkeeping shared by all threads. Built once per configuration snapshot.
/// </summary>
/// <remarks>
/// One attempt of one request, as the engine drives it:
/// <code>
/// var ctx = new LoadBalancingContext(hashKey, clientAddress, state.Tried, state.TriedOverflow);
/// DestinationState? d = cluster.AcquireDestination(ref ctx);   // picks, reserves a max_conns slot, marks it tried
/// state.Tried = ctx.Tried;
/// if (d is null) { /* 502 "no live upstreams"; or, when ctx.Saturated, wait on WhenCapacityReleased() */ }
/// try { ok = await Forward(d); } finally { d.EndRequest(); }
/// if (ok) d.ReportSuccess(timeProvider.GetTimestamp()); else d.ReportFailure(timeProvider.GetTimestamp());
/// </code>
/// </remarks>
public sealed class ClusterState
{
    private readonly DestinationState[] _destinations;
    private int _healthVersion;
    private TaskCompletionSource? _capacityWaiters;

    internal ClusterState(UpstreamConfig config, ILoadBalancingPolicy? policy = null, ClusterStateOptions? options = null)
    {
        options ??= ClusterStateOptions.Default;
        Config = config;
        TimeProvider = options.TimeProvider;
        Random = options.Random;
        Logger = options.Logger;
        RoundRobinStripes = options.RoundRobinStripes;

        int count = 0;
        foreach (UpstreamServerConfig server in config.Servers)
        {
            count += server.EndPoints.Count;
        }
        // nginx: a group of exactly one address and no backup ("single") ignores max_fails and fail_timeout.
        IsSingle = count == 1;

        var all = new DestinationState[count];
        var primaries = new List<DestinationState>(count);
        var backups = new List<DestinationState>();
        int index = 0;
        for (int s = 0; s < config.Servers.Count; s++)
        {
            UpstreamServerConfig server = config.Servers[s];
            foreach (System.Net.IPEndPoint endPoint in server.EndPoints)
            {
                var destination = new DestinationState(index, endPoint, server, this, s);
                all[index++] = destination;
                (server.Backup ? backups : primaries).Add(destination);
            }
        }
        _destinations = all;
        PrimaryTier = new DestinationTier([.. primaries], isBackup: false);
        BackupTier = new DestinationTier([.. backups], isBackup: true);

        Policy = policy ?? (options.Policies ?? LoadBalancingPolicyRegistry.BuiltIn).Create(this);
    }

    public string Name => Config.Name;

    public UpstreamConfig Config { get; }

    /// <summary>Every destination, in configuration order (primaries and backups); <see cref="DestinationState.Index"/> is the position here.</summary>
    public IReadOnlyList<DestinationState> Destinations => _destinations;

    /// <summary>The non-backup destinations, in configuration order.</summary>
    public IReadOnlyList<DestinationState> Primaries => PrimaryTier.Members;

    /// <summary>The <c>backup</c> destinations: used only when no primary is available.</summary>
    public IReadOnlyList<DestinationState> Backups => BackupTier.Members;

    public ILoadBalancingPolicy Policy { get; }

    public TimeProvider TimeProvider { get; }

    /// <summary>Changes whenever a destination enters or leaves service (health); policies rebuild derived data on change.</summary>
    public int HealthVersion => Volatile.Read(ref _healthVersion);

    /// <summary>How many <see cref="ulong"/> words <see cref="LoadBalancingContext.TriedOverflow"/> needs (0 for 64 destinations or fewer).</summary>
    public int TriedOverflowLength => _destinations.Length <= 64 ? 0 : (_destinations.Length - 1) / 64;

    internal DestinationTier PrimaryTier { get; }

    internal DestinationTier BackupTier { get; }

    internal IRandom Random { get; }

    internal ILogger Logger { get; }

    internal int RoundRobinStripes { get; }

    /// <summary>One address and no backup: nginx's "single" group (no passive health, no slow_start).</summary>
    internal bool IsSingle { get; }

    /// <summary>
    /// True when <paramref name="destination"/> may take this request now: not tried by it, not <c>down</c>, not taken
    /// out by active health, not passively unavailable (unless its fail_timeout has passed: then it is due for its one
    /// probe), and below <c>max_conns</c>. For policies, including an embedder's own.
    /// </summary>
    public bool IsEligible(DestinationState destination, ref LoadBalancingContext context) =>
        IsEligible(destination, ref context, ReadClock(ref context));

    internal static bool IsEligible(DestinationState destination, ref LoadBalancingContext context, long now)
    {
        int flags = destination.Flags;
        if (flags != 0 && (flags != DestinationState.FlagUnavailable || !destination.IsProbeDue(now)))
        {
            return false;
        }
        return !context.IsTried(destination.Index) && !destination.IsSaturated;
    }

    /// <summary>The pick's timestamp: the context's, or the clock read once and stored in the context.</summary>
    internal long ReadClock(ref LoadBalancingContext context)
    {
        long now = context.Timestamp;
        if (now == 0)
        {
            context.Timestamp = now = TimeProvider.GetTimestamp();
        }
        return now;
    }

    /// <summary>
    /// Picks the destination for one attempt without reserving it (the caller then calls
    /// <see cref="DestinationState.BeginRequest"/>); null when none is available (the engine answers 502).
    /// Prefer <see cref="AcquireDestination"/>, which cannot overshoot <c>max_conns</c> under concurrency.
    /// </summary>
    internal DestinationState? PickDestination(ref LoadBalancingContext context)
    {
        context.SetSaturated(false);
        long now = ReadClock(ref context);
        for (int attempt = 0; attempt < 3; attempt++)
        {
            DestinationState? picked = Policy.PickDestination(ref context, this);
            if (picked is null)
            {
                break;
            }
            if ((uint)picked.Index >= (uint)_destinations.Length || !ReferenceEquals(_destinations[picked.Index], picked))
            {
                throw new InvalidOperationException($"Load-balancing policy '{Policy.Name}' returned a destination of another cluster.");
            }
            // Re-check what the policy returned: state may have moved since it looked, and an embedder's policy may err.
            if (context.IsTried(picked.Index) || picked.IsSaturated)
            {
                continue;
            }
            int flags = picked.Flags;
            if (flags == 0)
            {
                return picked;
            }
            if (flags == DestinationState.FlagUnavailable && picked.TryClaimProbe(now))
            {
                return picked;   // the one request that probes a server whose fail_timeout has passed
            }
        }
        OnNothingAvailable(ref context);
        return null;
    }

    /// <summary>
    /// Picks the destination for one attempt, reserves its slot (<see cref="DestinationState.BeginRequest"/> done,
    /// honouring <c>max_conns</c> exactly) and marks it tried in <paramref name="context"/>. Null when none is
    /// available; then <see cref="LoadBalancingContext.Saturated"/> says whether waiting for a slot could help.
    /// The caller must call <see cref="DestinationState.EndRequest"/> when the attempt ends.
    /// </summary>
    internal DestinationState? AcquireDestination(ref LoadBalancingContext context)
    {
        for (int attempt = 0; attempt < 4; attempt++)
        {
            DestinationState? picked = PickDestination(ref context);
            if (picked is null)
            {
                return null;
            }
            if (picked.TryBeginRequest())
            {
                context.MarkTried(picked.Index);
                return picked;
            }
            // Another thread took the last max_conns slot between the policy's look and our reservation; the
            // policy now sees it saturated.
        }
        context.SetSaturated(true);
        return null;
    }

    /// <summary>
    /// A task that completes the next time a destination of this cluster drops below its <c>max_conns</c>. To wait
    /// for a slot without a lock (as NGINX Plus's <c>queue</c>): get this task, acquire again (a slot may have
    /// freed in between), and only when that still fails with <see cref="LoadBalancingContext.Saturated"/> await the
    /// task with your timeout. Allocates only while someone waits.
    /// </summary>
    internal Task WhenCapacityReleased()
    {
        TaskCompletionSource? waiters = Volatile.Read(ref _capacityWaiters);
        while (waiters is null)
        {
            var created = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            waiters = Interlocked.CompareExchange(ref _capacityWaiters, created, null) ?? created;
        }
        return waiters.Task;
    }

    /// <summary>True while a request waits in <see cref="WhenCapacityReleased"/> (tests use it to know a wait began).</summary>
    internal bool HasCapacityWaiters => Volatile.Read(ref _capacityWaiters) is not null;

    internal void SignalCapacity()
    {
        if (Volatile.Read(ref _capacityWaiters) is not null)
        {
            Interlocked.Exchange(ref _capacityWaiters, null)?.TrySetResult();
        }
    }

    /// <summary>
    /// Nothing could be picked. nginx then resets the failure counts of every server ("mark them as live for quick
    /// recovery") and answers this request 502; the next request tries them again. We do the same when some
    /// untried server is out only for passive health. Also tells the caller whether waiting could help.
    /// </summary>
    private void OnNothingAvailable(ref LoadBalancingContext context)
    {
        bool saturated = false;
        bool passivelyUnavailable = false;
        foreach (DestinationState destination in _destinations)
        {
            if (context.IsTried(destination.Index))
            {
                continue;
            }
            int flags = destination.Flags;
            if (flags == 0)
            {
                saturated |= destination.IsSaturated;
            }
            else if (flags == DestinationState.FlagUnavailable)
            {
                passivelyUnavailable = true;
            }
        }
        context.SetSaturated(saturated);
        if (passivelyUnavailable)
        {
            bool changed = false;
            foreach (DestinationState destination in _destinations)
            {
                changed |= destination.ResetPassiveFailures();
            }
            if (changed)
            {
                PrimaryTier.SetNextProbeDue(long.MaxValue);
                BackupTier.SetNextProbeDue(long.MaxValue);
                Interlocked.Increment(ref _healthVersion);
                LoadBalancingLog.NoLiveUpstreams(Logger, Name);
            }
        }
    }

    /// <summary>
    /// Round-robin leaves passively unavailable destinations out of its schedule; from <see cref="DestinationTier.NextProbeDue"/>
    /// on it asks here for one whose fail_timeout has passed, to send it the probe request.
    /// </summary>
    internal DestinationState? FindDueProbe(DestinationTier tier, ref LoadBalancingContext context, long now)
    {
        int healthVersion = HealthVersion;
        DestinationState? found = null;
        long next = long.MaxValue;
        foreach (DestinationState destination in tier.Members)
        {
            if (destination.Flags != DestinationState.FlagUnavailable)
            {
                continue;
            }
            long due = destination.ProbeDueAt;
            if (found is null && now >= due && !context.IsTried(destination.Index) && !destination.IsSaturated)
            {
                found = destination;
                due = now + destination.FailTimeoutTicks + 1;   // once claimed; if the claim is lost another thread probes
            }
            next = Math.Min(next, due);
        }
        tier.SetNextProbeDue(next);
        if (HealthVersion != healthVersion)
        {
            tier.SetNextProbeDue(now);   // a destination changed while we looked: look again next pick
        }
        return found;
    }

    /// <summary>
    /// Carries passive and active health over from the cluster of the same name in the snapshot being replaced:
    /// destinations match by server address as written and resolved end point. Call before the new snapshot goes
    /// live. (nginx keeps this state across reloads only with a shared <c>zone</c>; FastProxy always does.)
    /// </summary>
    internal void CopyHealthFrom(ClusterState previous)
    {
        var byKey = new Dictionary<(string, System.Net.IPEndPoint), DestinationState>();
        foreach (DestinationState old in previous._destinations)
        {
            byKey.TryAdd((old.Config.Address, old.EndPoint), old);
        }
        bool keepUnhealthy = Config.HealthCheck is not null;
        foreach (DestinationState destination in _destinations)
        {
            if (byKey.TryGetValue((destination.Config.Address, destination.EndPoint), out DestinationState? old))
            {
                destination.CopyHealthFrom(old, keepUnhealthy);
                if (destination.Flags == DestinationState.FlagUnavailable)
                {
                    (destination.IsBackup ? BackupTier : PrimaryTier).LowerNextProbeDue(destination.ProbeDueAt);
                }
            }
        }
        Interlocked.Increment(ref _healthVersion);
    }

    internal void OnPassiveUnavailable(DestinationState destination, int fails, long now)
    {
        (destination.IsBackup ? BackupTier : PrimaryTier).LowerNextProbeDue(destination.ProbeDueAt);
        Interlocked.Increment(ref _healthVersion);
        LoadBalancingLog.ServerDisabled(Logger, destination.EndPoint, Name, fails, destination.Config.FailTimeout);
    }

    internal void OnPassiveRecovered(DestinationState destination)
    {
        Interlocked.Increment(ref _healthVersion);
        LoadBalancingLog.ServerRecovered(Logger, destination.EndPoint, Name);
    }

    internal void OnActiveHealthChanged(DestinationState destination)
    {
        Interlocked.Increment(ref _healthVersion);
    }
}
