using System.Text;
using FastProxy.Config;
using FastProxy.Health;
using FastProxy.Infrastructure;
using FastProxy.LoadBalancing;
using FastProxy.Upstreams;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace FastProxy.Runtime;

/// <summary>What building a snapshot's upstream groups needs besides the configuration.</summary>
internal sealed class ClusterBuildOptions
{
    /// <summary>Where policy names are looked up (the embedder's, with the built-ins); null = built-ins only.</summary>
    public LoadBalancingPolicyRegistry? Policies { get; init; }

    public ILogger Logger { get; init; } = NullLogger.Instance;

    /// <summary>The snapshot being replaced: its groups' passive and active health carry over (reload).</summary>
    public ProxySnapshot? Previous { get; init; }
}

internal sealed partial class ClusterRuntime
{
    /// <summary>The upstream group's name ($upstream_addr shows it when no server could be tried, as nginx does).</summary>
    public byte[] NameBytes { get; init; } = [];

    /// <summary>Each destination's address as $upstream_addr shows it ("127.0.0.1:8080", "[::1]:8080"), by index.</summary>
    public byte[][] Addresses { get; init; } = [];

    /// <summary><c>hash KEY</c> compiled against the snapshot's maps; null for the other methods.</summary>
    public CompiledTemplate? HashKey { get; init; }

    /// <summary>The group's <c>health_check</c>, started when the snapshot goes live and stopped when it is retired.</summary>
    public ActiveHealthChecker? HealthChecker { get; init; }

    /// <summary>
    /// nginx's initial <c>peer.tries</c>: every server of the group, backups included; proxy_next_upstream_tries
    /// lowers it.
    /// </summary>
    public int MaxTries => State.Destinations.Count;
}

internal sealed partial class ProxySnapshot
{
    // 0 = not started, 1 = running, 2 = stopped (a stopped snapshot never starts again).
    private int _healthChecks;

    /// <summary>
    /// One upstream group: its <see cref="ClusterState"/> with the policy the registry names (an unknown name is a
    /// configuration error here: the nginx loader only knows the built-ins, an embedder's own are registered in
    /// code), health carried over from the previous snapshot, one pool per destination, its active checker.
    /// </summary>
    private static ClusterRuntime? BuildCluster(string name, UpstreamConfig group, UpstreamPoolRegistry pools, Heartbeat heartbeat,
        HashSet<UpstreamPool> poolsInUse, IReadOnlyDictionary<string, MapRuntime> maps, ClusterBuildOptions? options, List<string> errors)
    {
        var registry = options?.Policies ?? LoadBalancingPolicyRegistry.BuiltIn;
        var problems = registry.Validate(group);
        if (problems.Count > 0)
        {
            string where = group.Source is null ? string.Empty : group.Source + ": ";
            foreach (var problem in problems)
            {
                errors.Add(where + problem);
            }
            if (!registry.IsRegistered(group.Policy))
            {
                errors.Add($"load balancing method \"{group.Policy}\" of upstream \"{name}\" is not registered: add it to "
                    + "ProxyServerOptions.LoadBalancingPolicies before creating the ProxyServer");
            }
            return null;
        }
        var logger = options?.Logger ?? NullLogger.Instance;
        var state = new ClusterState(group, policy: null, new ClusterStateOptions
        {
            TimeProvider = heartbeat.Time,
            Policies = registry,
            Logger = logger,
        });
        if (options?.Previous?.Clusters.GetValueOrDefault(name) is { } previous)
        {
            state.CopyHealthFrom(previous.State);
        }
        var clusterPools = new UpstreamPool[state.Destinations.Count];
        var addresses = new byte[state.Destinations.Count][];
        foreach (var destination in state.Destinations)
        {
            var pool = pools.GetOrCreate(name, destination.EndPoint, group.Keepalive,
                heartbeat.ToTicks(group.KeepaliveTimeout), group.KeepaliveRequests);
            clusterPools[destination.Index] = pool;
            poolsInUse.Add(pool);
            addresses[destination.Index] = Encoding.ASCII.GetBytes(destination.EndPoint.ToString());
        }
        return new ClusterRuntime(state, clusterPools)
        {
            NameBytes = Encoding.UTF8.GetBytes(name),
            Addresses = addresses,
            HashKey = group.HashKey is { } key ? CompiledTemplate.Compile(key, maps) : null,
            HealthChecker = ActiveHealthChecker.CreateFor(state, logger),
        };
    }

    /// <summary>Starts every group's active health checks (once): the snapshot went live.</summary>
    public void StartHealthChecks()
    {
        if (Interlocked.CompareExchange(ref _healthChecks, 1, 0) != 0)
        {
            return;
        }
        foreach (var cluster in Clusters.Values)
        {
            cluster.HealthChecker?.Start();
        }
    }

    /// <summary>Stops every group's active health checks: the snapshot was replaced (reload) or the server stops.</summary>
    public Task StopHealthChecksAsync()
    {
        Interlocked.Exchange(ref _healthChecks, 2);
        List<Task>? stopping = null;
        foreach (var cluster in Clusters.Values)
        {
            if (cluster.HealthChecker is { } checker)
            {
                (stopping ??= []).Add(checker.StopAsync());
            }
        }
        return stopping is null ? Task.CompletedTask : Task.WhenAll(stopping);
    }
}
