using System.Text;

namespace FastProxy.LoadBalancing;

/// <summary>
/// nginx's <c>hash KEY consistent</c>: a ketama ring compatible with Cache::Memcached::Fast. Each <c>server</c> line
/// (by its address as written, so a name resolving to several addresses is one point set) puts 160 × weight points
/// on a 32-bit circle, point j being <c>crc32(HOST "\0" PORT prev_hash)</c> with prev_hash the previous point's
/// value as 4 little-endian bytes (0 for the first). A key goes to the first point at or after <c>crc32(KEY)</c>;
/// when that server cannot be used, to the next point; after 20 points, to round-robin. Removing one of N servers
/// moves only the keys of its points, about 1/N of them.
/// </summary>
/// <remarks>
/// Since the points are computed exactly as nginx does, a key maps to the same server line as in nginx given the
/// same <c>server</c> lines. Among the addresses of that line (all of the same weight) the pick rotates.
/// </remarks>
internal sealed class ConsistentHashLoadBalancingPolicy : ILoadBalancingPolicy
{
    internal const int PointsPerWeight = 160;

    private readonly ClusterState _cluster;
    private readonly uint[] _pointHashes;
    private readonly int[] _pointGroups;
    private readonly DestinationState[][] _groups;
    private readonly int[] _groupCounters;
    private readonly RoundRobinLoadBalancingPolicy _fallback;

    public ConsistentHashLoadBalancingPolicy(ClusterState cluster)
    {
        _cluster = cluster;
        _fallback = new RoundRobinLoadBalancingPolicy(cluster);

        // Group the primary addresses by their server line's address text, as nginx compares peer->server.
        var byAddress = new Dictionary<string, (List<DestinationState> Members, int Weight)>(StringComparer.Ordinal);
        var order = new List<string>();
        foreach (DestinationState member in cluster.PrimaryTier.Members)
        {
            string address = member.Config.Address;
            if (!byAddress.TryGetValue(address, out var group))
            {
                group = ([], 0);
                order.Add(address);
            }
            group.Members.Add(member);
            byAddress[address] = (group.Members, Math.Max(group.Weight, member.Weight));
        }
        _groups = new DestinationState[order.Count][];
        _groupCounters = new int[order.Count];
        var points = new List<(uint Hash, int Group)>();
        for (int g = 0; g < order.Count; g++)
        {
            var (members, weight) = byAddress[order[g]];
            _groups[g] = [.. members];
            AddPoints(order[g], weight, g, points);
        }
        points.Sort();   // by hash, then by group: deterministic where nginx's qsort is not
        var hashes = new List<uint>(points.Count);
        var groups = new List<int>(points.Count);
        foreach (var (hash, group) in points)
        {
            if (hashes.Count > 0 && hashes[^1] == hash)
            {
                continue;   // equal points: the first one stays (nginx drops duplicates the same way)
            }
            hashes.Add(hash);
            groups.Add(group);
        }
        _pointHashes = [.. hashes];
        _pointGroups = [.. groups];
    }

    public string Name => LoadBalancingPolicies.Hash;

    internal int PointCount => _pointHashes.Length;

    public DestinationState? PickDestination(ref LoadBalancingContext context, ClusterState cluster)
    {
        if (_cluster.PrimaryTier.Members.Length < 2 || _pointHashes.Length == 0)
        {
            return _fallback.PickDestination(ref context, cluster);
        }
        long now = _cluster.ReadClock(ref context);
        uint point = FindPoint(Crc32.Compute(context.HashKey));
        for (int tries = 0; ; point++)
        {
            int group = _pointGroups[point % (uint)_pointHashes.Length];
            if (PickInGroup(group, ref context, now) is { } picked)
            {
                return picked;
            }
            if (++tries > IpHashLoadBalancingPolicy.MaxTries)
            {
                return _fallback.PickDestination(ref context, cluster);
            }
        }
    }

    private DestinationState? PickInGroup(int group, ref LoadBalancingContext context, long now)
    {
        DestinationState[] members = _groups[group];
        if (members.Length == 1)
        {
            return ClusterState.IsEligible(members[0], ref context, now) ? members[0] : null;
        }
        uint start = (uint)Interlocked.Increment(ref _groupCounters[group]);
        for (int i = 0; i < members.Length; i++)
        {
            DestinationState candidate = members[(start + (uint)i) % (uint)members.Length];
            if (ClusterState.IsEligible(candidate, ref context, now))
            {
                return candidate;
            }
        }
        return null;
    }

    /// <summary>The index of the first point whose hash is &gt;= <paramref name="hash"/> (may be the count: wraps).</summary>
    private uint FindPoint(uint hash)
    {
        int lo = 0;
        int hi = _pointHashes.Length;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (_pointHashes[mid] < hash)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }
        return (uint)lo;
    }

    private static void AddPoints(string address, int weight, int group, List<(uint, int)> points)
    {
        // nginx splits peer->server into host and port: "unix:PATH" has no port; otherwise the port is the run of
        // digits after the last ':' (no such run: no port).
        ReadOnlySpan<byte> text = Encoding.UTF8.GetBytes(address);
        ReadOnlySpan<byte> host = text;
        ReadOnlySpan<byte> port = default;
        if (text.Length >= 5 && Encoding.ASCII.GetString(text[..5]).Equals("unix:", StringComparison.OrdinalIgnoreCase))
        {
            host = text[5..];
        }
        else
        {
            for (int j = 0; j < text.Length; j++)
            {
                byte c = text[text.Length - j - 1];
                if (c == (byte)':')
                {
                    host = text[..(text.Length - j - 1)];
                    port = text[(text.Length - j)..];
                    break;
                }
                if (c is < (byte)'0' or > (byte)'9')
                {
                    break;
                }
            }
        }
        uint baseHash = Crc32.Update(Crc32.Init, host);
        baseHash = Crc32.Update(baseHash, [0]);
        baseHash = Crc32.Update(baseHash, port);
        Span<byte> previous = stackalloc byte[4];
        uint previousHash = 0;
        long count = (long)weight * PointsPerWeight;
        for (long j = 0; j < count; j++)
        {
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(previous, previousHash);
            uint hash = Crc32.Final(Crc32.Update(baseHash, previous));
            points.Add((hash, group));
            previousHash = hash;
        }
    }
}
