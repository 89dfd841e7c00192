namespace FastProxy.LoadBalancing;

/// <summary>
/// nginx's <c>random</c>: a server drawn with probability proportional to its weight; one that cannot be used makes
/// it draw again, and after 20 such redraws it falls back to round-robin. Backups are not allowed (configuration
/// error), as in nginx.
/// </summary>
internal sealed class RandomLoadBalancingPolicy : ILoadBalancingPolicy
{
    private readonly ClusterState _cluster;
    private readonly WeightTable _weights;
    private readonly RoundRobinLoadBalancingPolicy _fallback;

    public RandomLoadBalancingPolicy(ClusterState cluster)
    {
        _cluster = cluster;
        _weights = new WeightTable(cluster.PrimaryTier.Members);
        _fallback = new RoundRobinLoadBalancingPolicy(cluster);
    }

    public string Name => LoadBalancingPolicies.Random;

    public DestinationState? PickDestination(ref LoadBalancingContext context, ClusterState cluster)
    {
        DestinationState[] members = _cluster.PrimaryTier.Members;
        if (members.Length < 2 || _weights.Total > int.MaxValue)
        {
            return _fallback.PickDestination(ref context, cluster);
        }
        long now = _cluster.ReadClock(ref context);
        IRandom random = _cluster.Random;
        for (int tries = 0; ; )
        {
            DestinationState candidate = members[_weights.Find(random.Next((int)_weights.Total))];
            if (ClusterState.IsEligible(candidate, ref context, now))
            {
                return candidate;
            }
            if (++tries > IpHashLoadBalancingPolicy.MaxTries)
            {
                return _fallback.PickDestination(ref context, cluster);
            }
        }
    }
}
