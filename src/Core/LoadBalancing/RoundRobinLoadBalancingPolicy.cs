namespace FastProxy.LoadBalancing;

/// <summary>
/// nginx's default: smooth weighted round-robin over the primary servers, then over the backups when no primary is
/// available (down, unavailable, at max_conns, or already tried by this request). See
/// <see cref="SmoothWeightedRoundRobin"/> for the lock-free schedule.
/// </summary>
internal sealed class RoundRobinLoadBalancingPolicy : ILoadBalancingPolicy
{
    private readonly ClusterState _cluster;
    private readonly SmoothWeightedRoundRobin _primaries;
    private readonly SmoothWeightedRoundRobin? _backups;

    public RoundRobinLoadBalancingPolicy(ClusterState cluster)
    {
        _cluster = cluster;
        _primaries = new SmoothWeightedRoundRobin(cluster, cluster.PrimaryTier);
        _backups = cluster.BackupTier.Members.Length == 0 ? null : new SmoothWeightedRoundRobin(cluster, cluster.BackupTier);
    }

    public string Name => LoadBalancingPolicies.RoundRobin;

    internal SmoothWeightedRoundRobin PrimarySchedule => _primaries;

    public DestinationState? PickDestination(ref LoadBalancingContext context, ClusterState cluster)
    {
        long now = _cluster.ReadClock(ref context);
        return PickFrom(_cluster.PrimaryTier, _primaries, ref context, now)
            ?? (_backups is null ? null : PickFrom(_cluster.BackupTier, _backups, ref context, now));
    }

    private DestinationState? PickFrom(DestinationTier tier, SmoothWeightedRoundRobin schedule, ref LoadBalancingContext context, long now)
    {
        // Passively unavailable servers are out of the schedule; once one's fail_timeout passes, the next pick
        // sends it the probe request (nginx gives it the probe when its turn in the weighted order comes).
        if (now >= tier.NextProbeDue && _cluster.FindDueProbe(tier, ref context, now) is { } probe)
        {
            return probe;
        }
        return schedule.Pick(ref context, now, default(AcceptAll));
    }
}
