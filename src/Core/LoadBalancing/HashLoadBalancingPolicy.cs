namespace FastProxy.LoadBalancing;

/// <summary>
/// nginx's <c>hash KEY</c> (without <c>consistent</c>): compatible with Cache::Memcached,
/// <c>hash += (crc32([REHASH] KEY) &gt;&gt; 16) &amp; 0x7fff</c> with REHASH the decimal retry number (omitted at first),
/// then <c>hash mod total_weight</c> picks a server by weight. A server that cannot be used makes it rehash; after 20
/// retries it falls back to round-robin. Adding or removing a server remaps most keys; use <c>consistent</c> for that.
/// </summary>
internal sealed class HashLoadBalancingPolicy : ILoadBalancingPolicy
{
    private readonly ClusterState _cluster;
    private readonly WeightTable _weights;
    private readonly RoundRobinLoadBalancingPolicy _fallback;

    public HashLoadBalancingPolicy(ClusterState cluster)
    {
        _cluster = cluster;
        _weights = new WeightTable(cluster.PrimaryTier.Members);
        _fallback = new RoundRobinLoadBalancingPolicy(cluster);
    }

    public string Name => LoadBalancingPolicies.Hash;

    public DestinationState? PickDestination(ref LoadBalancingContext context, ClusterState cluster)
    {
        DestinationState[] members = _cluster.PrimaryTier.Members;
        if (members.Length < 2 || _weights.Total == 0)
        {
            return _fallback.PickDestination(ref context, cluster);
        }
        long now = _cluster.ReadClock(ref context);
        uint hash = 0;
        Span<byte> digits = stackalloc byte[11];
        for (int rehash = 0; ; rehash++)
        {
            uint crc = Crc32.Init;
            if (rehash > 0)
            {
                rehash.TryFormat(digits, out int written, provider: System.Globalization.CultureInfo.InvariantCulture);
                crc = Crc32.Update(crc, digits[..written]);
            }
            crc = Crc32.Final(Crc32.Update(crc, context.HashKey));
            hash += (crc >> 16) & 0x7fff;
            DestinationState candidate = members[_weights.Find(hash % _weights.Total)];
            if (ClusterState.IsEligible(candidate, ref context, now))
            {
                return candidate;
            }
            if (rehash + 1 > IpHashLoadBalancingPolicy.MaxTries)
            {
                return _fallback.PickDestination(ref context, cluster);
            }
        }
    }
}
