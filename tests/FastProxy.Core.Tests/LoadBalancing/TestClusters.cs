using System.Net;
using FastProxy.Config;

namespace FastProxy.LoadBalancing.Tests;

internal static class TestClusters
{
    /// <summary>A server line at 10.0.0.N:80 (or the given address) with one resolved address.</summary>
    public static UpstreamServerConfig Server(int n, int weight = 1, int maxFails = 1, int failTimeoutSeconds = 10,
        bool backup = false, bool down = false, int maxConns = 0, int slowStartSeconds = 0, int addresses = 1)
    {
        var endPoints = new List<IPEndPoint>();
        for (int i = 0; i < addresses; i++)
        {
            endPoints.Add(new IPEndPoint(new IPAddress([10, (byte)(n >> 8), (byte)n, (byte)(i + 1)]), 80));
        }
        return new UpstreamServerConfig
        {
            Address = $"backend{n}.example:80",
            EndPoints = endPoints,
            Weight = weight,
            MaxFails = maxFails,
            FailTimeout = TimeSpan.FromSeconds(failTimeoutSeconds),
            Backup = backup,
            Down = down,
            MaxConns = maxConns,
            SlowStart = TimeSpan.FromSeconds(slowStartSeconds),
        };
    }

    public static UpstreamConfig Upstream(string policy, IEnumerable<UpstreamServerConfig> servers, bool consistent = false,
        HealthCheckConfig? healthCheck = null) => new()
    {
        Name = "backend",
        Policy = policy,
        Servers = [.. servers],
        HashKey = policy == LoadBalancingPolicies.Hash ? ValueTemplate.Parse("$request_uri") : null,
        HashConsistent = consistent,
        HealthCheck = healthCheck,
    };

    public static ClusterState Create(string policy, IEnumerable<UpstreamServerConfig> servers, ManualTimeProvider? time = null,
        IRandom? random = null, int stripes = 1, bool consistent = false, LoadBalancingPolicyRegistry? registry = null) =>
        Create(Upstream(policy, servers, consistent), time, random, stripes, registry);

    public static ClusterState Create(UpstreamConfig upstream, ManualTimeProvider? time = null, IRandom? random = null,
        int stripes = 1, LoadBalancingPolicyRegistry? registry = null) =>
        new(upstream, policy: null, new ClusterStateOptions
        {
            TimeProvider = time ?? new ManualTimeProvider(),
            Random = random ?? new TestRandom(12345),
            RoundRobinStripes = stripes,
            Policies = registry,
        });

    /// <summary>One pick (acquire + release at once, so in-flight counts stay 0) with the given key/address.</summary>
    public static DestinationState? PickAndRelease(this ClusterState cluster, ReadOnlySpan<byte> hashKey = default, ReadOnlySpan<byte> clientAddress = default)
    {
        var context = new LoadBalancingContext(hashKey, clientAddress);
        DestinationState? picked = cluster.AcquireDestination(ref context);
        picked?.EndRequest();
        return picked;
    }

    /// <summary>Picks N times (each released at once) and counts per destination index.</summary>
    public static int[] Distribution(this ClusterState cluster, int picks)
    {
        var counts = new int[cluster.Destinations.Count];
        for (int i = 0; i < picks; i++)
        {
            DestinationState? picked = cluster.PickAndRelease();
            Assert.NotNull(picked);
            counts[picked.Index]++;
        }
        return counts;
    }

    public static long Now(this ClusterState cluster) => cluster.TimeProvider.GetTimestamp();
}
