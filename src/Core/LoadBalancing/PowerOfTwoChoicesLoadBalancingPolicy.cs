namespace FastProxy.LoadBalancing;

/// <summary>
/// nginx's <c>random two least_conn</c> (the only method <c>two</c> takes, and its default): draw two different
/// usable servers by weight and keep the one with fewer in-flight requests relative to weight (cross-multiplied; on
/// a tie the second draw). Avoids scanning every server, yet rarely picks a busy one. Unusable draws count toward
/// nginx's 20 tries, then round-robin takes over.
/// </summary>
internal sealed class PowerOfTwoChoicesLoadBalancingPolicy : ILoadBalancingPolicy
{
    private readonly ClusterState _cluster;
    private readonly WeightTable _weights;
    private readonly RoundRobinLoadBalancingPolicy _fallback;

    public PowerOfTwoChoicesLoadBalancingPolicy(ClusterState cluster)
    {
        _cluster = cluster;
        _weights = new WeightTable(cluster.PrimaryTier.Members);
        _fallback = new RoundRobinLoadBalancingPolicy(cluster);
    }

    public string Name => LoadBalancingPolicies.RandomTwo;

    public DestinationState? PickDestination(ref LoadBalancingContext context, ClusterState cluster)
    {
        DestinationState[] members = _cluster.PrimaryTier.Members;
        if (members.Length < 2 || _weights.Total > int.MaxValue)
        {
            return _fallback.PickDestination(ref context, cluster);
        }
        long now = _cluster.ReadClock(ref context);
        IRandom random = _cluster.Random;
        DestinationState? first = null;
        for (int tries = 0; ; )
        {
            DestinationState candidate = members[_weights.Find(random.Next((int)_weights.Total))];
            if (!ReferenceEquals(candidate, first) && ClusterState.IsEligible(candidate, ref context, now))
            {
                if (first is null)
                {
                    first = candidate;
                }
                else
                {
                    // nginx: if (peer->conns * prev->weight > prev->conns * peer->weight) peer = prev;
                    return candidate.InFlight * first.Weight > first.InFlight * candidate.Weight ? first : candidate;
                }
            }
            if (++tries > IpHashLoadBalancingPolicy.MaxTries)
            {
                return _fallback.PickDestination(ref context, cluster);
            }
        }
    }
}
