using System.Collections.Concurrent;
using FastProxy.Config;

namespace FastProxy.LoadBalancing;

/// <summary>
/// Maps policy names (<see cref="UpstreamConfig.Policy"/>) to policies. The built-ins are registered by the
/// constructor; an embedder registers its own before building the proxy:
/// <code>
/// var policies = new LoadBalancingPolicyRegistry();
/// policies.Register("first", cluster => new FirstAvailablePolicy());   // one instance per upstream group
/// policies.Register(new MySharedPolicy());                           // or one shared instance
/// </code>
/// and configuration then says <c>Policy = "first"</c>. An unknown name is a configuration error at load
/// (<see cref="Validate(UpstreamConfig)"/>), never a failure per request.
/// </summary>
public sealed class LoadBalancingPolicyRegistry
{
    /// <summary>The built-ins only (what a cluster uses when no registry is given).</summary>
    internal static LoadBalancingPolicyRegistry BuiltIn { get; } = new();

    // Policies that, as in nginx, take no "backup" servers and (as in NGINX Plus) no "slow_start".
    private static readonly HashSet<string> HashLike = new(StringComparer.Ordinal)
    {
        LoadBalancingPolicies.IpHash, LoadBalancingPolicies.Hash, LoadBalancingPolicies.Random, LoadBalancingPolicies.RandomTwo,
    };

    private readonly ConcurrentDictionary<string, Func<ClusterState, ILoadBalancingPolicy>> _factories = new(StringComparer.Ordinal);

    public LoadBalancingPolicyRegistry()
    {
        _factories[LoadBalancingPolicies.RoundRobin] = static c => new RoundRobinLoadBalancingPolicy(c);
        _factories[LoadBalancingPolicies.LeastConnections] = static c => new LeastConnectionsLoadBalancingPolicy(c);
        _factories[LoadBalancingPolicies.IpHash] = static c => new IpHashLoadBalancingPolicy(c);
        _factories[LoadBalancingPolicies.Hash] = static c => c.Config.HashConsistent
            ? new ConsistentHashLoadBalancingPolicy(c)
            : new HashLoadBalancingPolicy(c);
        _factories[LoadBalancingPolicies.Random] = static c => new RandomLoadBalancingPolicy(c);
        _factories[LoadBalancingPolicies.RandomTwo] = static c => new PowerOfTwoChoicesLoadBalancingPolicy(c);
    }

    /// <summary>The registered names.</summary>
    public IReadOnlyCollection<string> Names => [.. _factories.Keys];

    /// <summary>
    /// Registers (or replaces) a policy created once per upstream group by <paramref name="factory"/>, which may keep
    /// per-group state (a schedule, a ring) in the instance.
    /// </summary>
    public void Register(string name, Func<ClusterState, ILoadBalancingPolicy> factory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(factory);
        if (ReferenceEquals(this, BuiltIn))
        {
            throw new InvalidOperationException("The built-in registry is read-only; create a LoadBalancingPolicyRegistry.");
        }
        _factories[name] = factory;
    }

    /// <summary>Registers (or replaces) one policy instance shared by every group that names it.</summary>
    public void Register(ILoadBalancingPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(policy);
        Register(policy.Name, _ => policy);
    }

    public bool IsRegistered(string name) => _factories.ContainsKey(name);

    /// <summary>Creates the policy a cluster's configuration names; throws for an unknown name.</summary>
    internal ILoadBalancingPolicy Create(ClusterState cluster)
    {
        string name = cluster.Config.Policy;
        if (!_factories.TryGetValue(name, out var factory))
        {
            throw new InvalidOperationException($"upstream \"{cluster.Name}\": unknown load balancing method \"{name}\"");
        }
        return factory(cluster) ?? throw new InvalidOperationException($"The factory of load balancing method \"{name}\" returned null.");
    }

    /// <summary>
    /// Checks an upstream group the way nginx checks its directives, and returns every problem (empty = fine): an
    /// unknown policy, <c>backup</c> or <c>slow_start</c> with a hash or random method, <c>hash</c> without a key,
    /// out-of-range server parameters, and an invalid <c>health_check</c>. The loader turns each into a
    /// file:line error.
    /// </summary>
    public IReadOnlyList<string> Validate(UpstreamConfig upstream)
    {
        ArgumentNullException.ThrowIfNull(upstream);
        var problems = new List<UpstreamProblem>();
        Validate(upstream, problems);
        var errors = new List<string>(problems.Count);
        foreach (UpstreamProblem problem in problems)
        {
            errors.Add(problem.Message);
        }
        return errors;
    }

    /// <summary>
    /// <see cref="Validate(UpstreamConfig)"/> with each problem tied to the <c>server</c> line it is about (or -1 for
    /// the group), so the nginx-syntax loader can report it at that line.
    /// </summary>
    internal void Validate(UpstreamConfig upstream, List<UpstreamProblem> problems)
    {
        string policy = upstream.Policy;
        if (!_factories.ContainsKey(policy))
        {
            problems.Add(new(-1, UpstreamProblemKind.UnknownPolicy, $"unknown load balancing method \"{policy}\" in upstream \"{upstream.Name}\""));
        }
        if (policy == LoadBalancingPolicies.Hash && (upstream.HashKey is null || upstream.HashKey.Source.Length == 0))
        {
            problems.Add(new(-1, UpstreamProblemKind.Other, $"\"hash\" needs a key in upstream \"{upstream.Name}\""));
        }
        bool hashLike = HashLike.Contains(policy);
        int primaries = 0;
        for (int i = 0; i < upstream.Servers.Count; i++)
        {
            UpstreamServerConfig server = upstream.Servers[i];
            if (!server.Backup)
            {
                primaries++;
            }
            if (server.Backup && hashLike)
            {
                problems.Add(new(i, UpstreamProblemKind.BackupNotSupported, $"balancing method \"{policy}\" does not support parameter \"backup\" (server {server.Address} in upstream \"{upstream.Name}\")"));
            }
            if (server.SlowStart > TimeSpan.Zero && hashLike)
            {
                problems.Add(new(i, UpstreamProblemKind.Other, $"balancing method \"{policy}\" does not support parameter \"slow_start\" (server {server.Address} in upstream \"{upstream.Name}\")"));
            }
            if (server.Weight < 1 || server.Weight > DestinationState.MaxWeight)
            {
                problems.Add(new(i, UpstreamProblemKind.Other, $"invalid parameter \"weight={server.Weight}\" (server {server.Address} in upstream \"{upstream.Name}\"; 1..{DestinationState.MaxWeight})"));
            }
            if (server.MaxFails < 0)
            {
                problems.Add(new(i, UpstreamProblemKind.Other, $"invalid parameter \"max_fails={server.MaxFails}\" (server {server.Address} in upstream \"{upstream.Name}\")"));
            }
            if (server.MaxConns < 0)
            {
                problems.Add(new(i, UpstreamProblemKind.Other, $"invalid parameter \"max_conns={server.MaxConns}\" (server {server.Address} in upstream \"{upstream.Name}\")"));
            }
            if (server.FailTimeout < TimeSpan.Zero || server.SlowStart < TimeSpan.Zero)
            {
                problems.Add(new(i, UpstreamProblemKind.Other, $"negative time in server {server.Address} in upstream \"{upstream.Name}\""));
            }
        }
        if (primaries == 0)
        {
            problems.Add(new(-1, UpstreamProblemKind.NoPrimary, $"no servers are inside upstream \"{upstream.Name}\""));
        }
        if (upstream.HealthCheck is { } check)
        {
            var errors = new List<string>();
            ValidateHealthCheck(upstream.Name, check, errors);
            foreach (string error in errors)
            {
                problems.Add(new(-1, UpstreamProblemKind.HealthCheck, error));
            }
        }
    }

    private static void ValidateHealthCheck(string upstream, HealthCheckConfig check, List<string> errors)
    {
        if (check.Interval <= TimeSpan.Zero)
        {
            errors.Add($"health_check interval must be positive in upstream \"{upstream}\"");
        }
        if (check.Timeout <= TimeSpan.Zero)
        {
            errors.Add($"health_check timeout must be positive in upstream \"{upstream}\"");
        }
        if (check.Fails < 1 || check.Passes < 1)
        {
            errors.Add($"health_check fails and passes must be at least 1 in upstream \"{upstream}\"");
        }
        if (check.MinStatus < 100 || check.MaxStatus > 599 || check.MinStatus > check.MaxStatus)
        {
            errors.Add($"health_check status range {check.MinStatus}-{check.MaxStatus} is invalid in upstream \"{upstream}\"");
        }
        if (!Health.HttpHealthProbe.IsValidUri(check.Uri))
        {
            errors.Add($"health_check uri \"{check.Uri}\" must start with '/' and hold no spaces or control characters in upstream \"{upstream}\"");
        }
    }
}

/// <summary>What kind of problem <see cref="LoadBalancingPolicyRegistry.Validate(UpstreamConfig, List{UpstreamProblem})"/> found.</summary>
internal enum UpstreamProblemKind
{
    Other,
    UnknownPolicy,
    /// <summary><c>backup</c> with a hash or random method (the loader reports it itself, in nginx's words).</summary>
    BackupNotSupported,
    NoPrimary,
    HealthCheck,
}

/// <summary>One configuration problem of an upstream group; <see cref="ServerIndex"/> is the <c>server</c> line, -1 for the group.</summary>
internal readonly record struct UpstreamProblem(int ServerIndex, UpstreamProblemKind Kind, string Message);
