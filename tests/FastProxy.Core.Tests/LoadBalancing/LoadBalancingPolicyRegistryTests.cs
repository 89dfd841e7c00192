using FastProxy.Config;
using static FastProxy.LoadBalancing.Tests.TestClusters;

namespace FastProxy.LoadBalancing.Tests;

public class LoadBalancingPolicyRegistryTests
{
    /// <summary>An embedder's policy: the first eligible destination in order.</summary>
    private sealed class FirstAvailablePolicy : ILoadBalancingPolicy
    {
        public string Name => "first";

        public DestinationState? PickDestination(ref LoadBalancingContext context, ClusterState cluster)
        {
            foreach (DestinationState destination in cluster.Destinations)
            {
                if (cluster.IsEligible(destination, ref context))
                {
                    return destination;
                }
            }
            return null;
        }
    }

    /// <summary>A broken embedder policy that ignores eligibility.</summary>
    private sealed class AlwaysFirstPolicy : ILoadBalancingPolicy
    {
        public string Name => "always_first";

        public DestinationState? PickDestination(ref LoadBalancingContext context, ClusterState cluster) => cluster.Destinations[0];
    }

    [Theory]
    [InlineData(LoadBalancingPolicies.RoundRobin, typeof(RoundRobinLoadBalancingPolicy))]
    [InlineData(LoadBalancingPolicies.LeastConnections, typeof(LeastConnectionsLoadBalancingPolicy))]
    [InlineData(LoadBalancingPolicies.IpHash, typeof(IpHashLoadBalancingPolicy))]
    [InlineData(LoadBalancingPolicies.Hash, typeof(HashLoadBalancingPolicy))]
    [InlineData(LoadBalancingPolicies.Random, typeof(RandomLoadBalancingPolicy))]
    [InlineData(LoadBalancingPolicies.RandomTwo, typeof(PowerOfTwoChoicesLoadBalancingPolicy))]
    public void Create_BuiltInName_CreatesItsPolicy(string name, Type expected)
    {
        var cluster = Create(name, [Server(1), Server(2)]);

        Assert.IsType(expected, cluster.Policy);
        Assert.Equal(name, cluster.Policy.Name);
    }

    [Fact]
    public void Create_HashConsistent_CreatesTheRing()
    {
        var cluster = Create(LoadBalancingPolicies.Hash, [Server(1), Server(2)], consistent: true);

        Assert.IsType<ConsistentHashLoadBalancingPolicy>(cluster.Policy);
    }

    [Fact]
    public void Create_UnknownName_Throws()
    {
        var error = Assert.Throws<InvalidOperationException>(() => Create("fastest", [Server(1)]));

        Assert.Contains("unknown load balancing method \"fastest\"", error.Message);
    }

    [Fact]
    public void Register_Factory_IsUsedOncePerCluster()
    {
        var registry = new LoadBalancingPolicyRegistry();
        int created = 0;
        registry.Register("first", _ =>
        {
            created++;
            return new FirstAvailablePolicy();
        });

        var one = Create("first", [Server(1), Server(2)], registry: registry);
        var two = Create("first", [Server(1), Server(2)], registry: registry);

        Assert.Equal(2, created);
        Assert.NotSame(one.Policy, two.Policy);
        Assert.Equal([10, 0], one.Distribution(10));
    }

    [Fact]
    public void Register_SharedInstance_IsSharedAndHonoursTried()
    {
        var registry = new LoadBalancingPolicyRegistry();
        var policy = new FirstAvailablePolicy();
        registry.Register(policy);
        var cluster = Create("first", [Server(1), Server(2)], registry: registry);
        var context = new LoadBalancingContext();

        Assert.Same(policy, cluster.Policy);
        Assert.Same(cluster.Destinations[0], cluster.AcquireDestination(ref context));
        Assert.Same(cluster.Destinations[1], cluster.AcquireDestination(ref context));
        Assert.Null(cluster.AcquireDestination(ref context));
    }

    [Fact]
    public void PickDestination_PolicyReturnsIneligibleDestination_ClusterRefusesIt()
    {
        var registry = new LoadBalancingPolicyRegistry();
        registry.Register(new AlwaysFirstPolicy());
        var cluster = Create("always_first", [Server(1, maxConns: 1), Server(2)], registry: registry);
        cluster.Destinations[0].BeginRequest();

        var context = new LoadBalancingContext();
        Assert.Null(cluster.AcquireDestination(ref context));
        Assert.True(context.Saturated);
    }

    [Fact]
    public void Register_BuiltInRegistry_IsReadOnly()
    {
        Assert.Throws<InvalidOperationException>(() => LoadBalancingPolicyRegistry.BuiltIn.Register(new FirstAvailablePolicy()));
        Assert.True(new LoadBalancingPolicyRegistry().IsRegistered(LoadBalancingPolicies.RoundRobin));
    }

    [Fact]
    public void Validate_GoodUpstream_HasNoErrors()
    {
        var upstream = Upstream(LoadBalancingPolicies.LeastConnections,
            [Server(1, slowStartSeconds: 30), Server(2, backup: true)],
            healthCheck: new HealthCheckConfig { Uri = "/health?full=1", Fails = 3, Passes = 2 });

        Assert.Empty(new LoadBalancingPolicyRegistry().Validate(upstream));
    }

    [Theory]
    [InlineData(LoadBalancingPolicies.IpHash)]
    [InlineData(LoadBalancingPolicies.Hash)]
    [InlineData(LoadBalancingPolicies.Random)]
    [InlineData(LoadBalancingPolicies.RandomTwo)]
    public void Validate_BackupOrSlowStartWithHashOrRandom_IsAnError(string policy)
    {
        var upstream = Upstream(policy, [Server(1), Server(2, slowStartSeconds: 5), Server(3, backup: true)]);

        IReadOnlyList<string> errors = new LoadBalancingPolicyRegistry().Validate(upstream);

        Assert.Contains(errors, e => e.Contains("does not support parameter \"backup\""));
        Assert.Contains(errors, e => e.Contains("does not support parameter \"slow_start\""));
    }

    [Fact]
    public void Validate_EveryProblem_IsReportedAtOnce()
    {
        var upstream = new UpstreamConfig
        {
            Name = "bad",
            Policy = LoadBalancingPolicies.Hash,
            Servers = [Server(1, weight: 0, backup: true) with { MaxFails = -1 }],
            HealthCheck = new HealthCheckConfig { Uri = "health", Interval = TimeSpan.Zero, Fails = 0, MinStatus = 500, MaxStatus = 200 },
        };

        IReadOnlyList<string> errors = new LoadBalancingPolicyRegistry().Validate(upstream);

        Assert.Contains(errors, e => e.Contains("needs a key"));
        Assert.Contains(errors, e => e.Contains("weight=0"));
        Assert.Contains(errors, e => e.Contains("max_fails=-1"));
        Assert.Contains(errors, e => e.Contains("no servers are inside upstream"));
        Assert.Contains(errors, e => e.Contains("interval"));
        Assert.Contains(errors, e => e.Contains("fails and passes"));
        Assert.Contains(errors, e => e.Contains("status range"));
        Assert.Contains(errors, e => e.Contains("uri \"health\""));
    }

    [Fact]
    public void Validate_UnknownPolicy_IsAnErrorUnlessRegistered()
    {
        var upstream = Upstream("first", [Server(1)]);
        var registry = new LoadBalancingPolicyRegistry();

        Assert.Contains(registry.Validate(upstream), e => e.Contains("unknown load balancing method \"first\""));
        registry.Register(new FirstAvailablePolicy());
        Assert.Empty(registry.Validate(upstream));
    }
}
