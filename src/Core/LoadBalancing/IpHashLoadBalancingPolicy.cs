namespace FastProxy.LoadBalancing;

/// <summary>
/// nginx's <c>ip_hash</c>: the key is the first three octets of an IPv4 client address (a /24 sticks together) or the
/// whole IPv6 address; <c>hash = (hash × 113 + byte) mod 6271</c> from 89, then <c>hash mod total_weight</c> picks a
/// server by weight. If that server cannot be used, the hash is iterated again; after 20 such retries the pick falls
/// back to round-robin. Backups are not allowed (configuration error), as in nginx.
/// </summary>
/// <remarks>
/// An IPv4-mapped IPv6 address (::ffff:a.b.c.d, what a dual-mode socket reports) is treated as the IPv4 address, so
/// a client hashes the same whichever way it connected. Without an address (e.g. a Unix socket) nginx hashes three
/// zero bytes; so do we.
/// </remarks>
internal sealed class IpHashLoadBalancingPolicy : ILoadBalancingPolicy
{
    internal const int MaxTries = 20;

    private readonly ClusterState _cluster;
    private readonly WeightTable _weights;
    private readonly RoundRobinLoadBalancingPolicy _fallback;

    public IpHashLoadBalancingPolicy(ClusterState cluster)
    {
        _cluster = cluster;
        _weights = new WeightTable(cluster.PrimaryTier.Members);
        _fallback = new RoundRobinLoadBalancingPolicy(cluster);
    }

    public string Name => LoadBalancingPolicies.IpHash;

    public DestinationState? PickDestination(ref LoadBalancingContext context, ClusterState cluster)
    {
        DestinationState[] members = _cluster.PrimaryTier.Members;
        if (members.Length < 2 || _weights.Total == 0)
        {
            return _fallback.PickDestination(ref context, cluster);
        }
        long now = _cluster.ReadClock(ref context);
        ReadOnlySpan<byte> address = KeyBytes(context.ClientAddress.IsEmpty ? context.HashKey : context.ClientAddress);
        uint hash = 89;
        for (int tries = 0; ; )
        {
            foreach (byte b in address)
            {
                hash = (hash * 113 + b) % 6271;
            }
            DestinationState candidate = members[_weights.Find(hash % _weights.Total)];
            if (ClusterState.IsEligible(candidate, ref context, now))
            {
                return candidate;
            }
            if (++tries > MaxTries)
            {
                return _fallback.PickDestination(ref context, cluster);
            }
        }
    }

    private static ReadOnlySpan<byte> KeyBytes(ReadOnlySpan<byte> address)
    {
        if (address.Length == 4)
        {
            return address[..3];
        }
        if (address.Length == 16 && IsV4Mapped(address))
        {
            return address.Slice(12, 3);
        }
        if (address.Length == 16)
        {
            return address;
        }
        return [0, 0, 0];   // nginx's pseudo address for non-IP clients
    }

    private static bool IsV4Mapped(ReadOnlySpan<byte> a) =>
        a[..10].IndexOfAnyExcept((byte)0) < 0 && a[10] == 0xFF && a[11] == 0xFF;
}
