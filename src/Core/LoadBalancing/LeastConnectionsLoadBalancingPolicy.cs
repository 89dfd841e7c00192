namespace FastProxy.LoadBalancing;

/// <summary>
/// nginx's <c>least_conn</c>: the eligible server with the fewest in-flight requests relative to its weight, compared
/// without division (<c>a.conns × b.weight &lt; b.conns × a.weight</c>); several equally good ones are chosen between
/// by smooth weighted round-robin, as nginx does. Backups only when no primary is eligible.
/// </summary>
/// <remarks>
/// The scan is O(servers) per pick, as in nginx; in-flight counts are read without a lock, so under concurrency two
/// pickers may both see the same server as least loaded (nginx workers without a shared zone see even less). A
/// server due for its probe request (fail_timeout passed) is returned at once: it has no connections and nginx would
/// pick it too. Weights follow slow_start.
/// </remarks>
internal sealed class LeastConnectionsLoadBalancingPolicy : ILoadBalancingPolicy
{
    private readonly ClusterState _cluster;
    private readonly SmoothWeightedRoundRobin _primaries;
    private readonly SmoothWeightedRoundRobin? _backups;

    public LeastConnectionsLoadBalancingPolicy(ClusterState cluster)
    {
        _cluster = cluster;
        _primaries = new SmoothWeightedRoundRobin(cluster, cluster.PrimaryTier);
        _backups = cluster.BackupTier.Members.Length == 0 ? null : new SmoothWeightedRoundRobin(cluster, cluster.BackupTier);
    }

    public string Name => LoadBalancingPolicies.LeastConnections;

    public DestinationState? PickDestination(ref LoadBalancingContext context, ClusterState cluster)
    {
        long now = _cluster.ReadClock(ref context);
        return PickFrom(_cluster.PrimaryTier, _primaries, ref context, now)
            ?? (_backups is null ? null : PickFrom(_cluster.BackupTier, _backups, ref context, now));
    }

    private static DestinationState? PickFrom(DestinationTier tier, SmoothWeightedRoundRobin schedule, ref LoadBalancingContext context, long now)
    {
        DestinationState? best = null;
        long bestConns = 0;
        long bestWeight = 0;
        bool many = false;
        foreach (DestinationState candidate in tier.Members)
        {
            if (!ClusterState.IsEligible(candidate, ref context, now))
            {
                continue;
            }
            if (candidate.Flags != 0)
            {
                return candidate;   // due for its probe request
            }
            long conns = candidate.InFlight;
            long weight = candidate.GetScaledWeight(now);
            if (best is null || conns * bestWeight < bestConns * weight)
            {
                best = candidate;
                bestConns = conns;
                bestWeight = weight;
                many = false;
            }
            else if (conns * bestWeight == bestConns * weight)
            {
                many = true;
            }
        }
        if (best is not null && many)
        {
            // Ties: the next of the tied servers in the smooth weighted sequence.
            return schedule.Pick(ref context, now, new TiedWith(bestConns, bestWeight, now)) ?? best;
        }
        return best;
    }

    private readonly struct TiedWith(long conns, long weight, long now) : IDestinationFilter
    {
        public bool Accept(DestinationState destination) =>
            destination.InFlight * weight == conns * destination.GetScaledWeight(now);
    }
}
