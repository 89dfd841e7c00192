using System.Net;
using FastProxy.Config;

namespace FastProxy.LoadBalancing;

// CONTRACT (owned by the load-balancing engineer, used by the engine): the engine builds one ClusterState per
// upstream group when a configuration snapshot is built, asks it for a destination per attempt, and reports how each
// attempt went. Everything below may grow; the members used by the engine keep their names and meaning.

/// <summary>What a policy may look at when it picks. Lives on the stack: no allocation per pick.</summary>
public ref struct LoadBalancingContext
{
    /// <summary>The evaluated <c>hash</c> key (or the client address bytes for ip_hash); empty when none.</summary>
    public ReadOnlySpan<byte> HashKey;

    /// <summary>The client's address bytes (4 for IPv4, 16 for IPv6).</summary>
    public ReadOnlySpan<byte> ClientAddress;

    /// <summary>Destinations already tried by this request (bit i = destination index i); a retry skips them.</summary>
    public ulong Tried;
}

/// <summary>A load-balancing policy (round-robin, least_conn, ip_hash, hash, random, or an embedder's own).</summary>
public interface ILoadBalancingPolicy
{
    /// <summary>The name used in configuration (see <see cref="LoadBalancingPolicies"/>).</summary>
    string Name { get; }

    /// <summary>Picks an available destination, or null when none is.</summary>
    DestinationState? PickDestination(ref LoadBalancingContext context, ClusterState cluster);
}

/// <summary>Names of the built-in policies.</summary>
public static class LoadBalancingPolicies
{
    public const string RoundRobin = "round_robin";
    public const string LeastConnections = "least_conn";
    public const string IpHash = "ip_hash";
    public const string Hash = "hash";
    public const string Random = "random";
}

/// <summary>The runtime state of one upstream server: its counters and health. Shared by all threads.</summary>
public sealed class DestinationState
{
    private long _inFlight;

    internal DestinationState(int index, IPEndPoint endPoint, UpstreamServerConfig config)
    {
        Index = index;
        EndPoint = endPoint;
        Config = config;
    }

    /// <summary>Position in <see cref="ClusterState.Destinations"/>.</summary>
    public int Index { get; }

    public IPEndPoint EndPoint { get; }

    public UpstreamServerConfig Config { get; }

    public int Weight => Config.Weight;

    public bool IsBackup => Config.Backup;

    /// <summary>Requests currently using this destination.</summary>
    public long InFlight => Volatile.Read(ref _inFlight);

    /// <summary>The engine calls this when an attempt starts using the destination...</summary>
    internal void BeginRequest() => Interlocked.Increment(ref _inFlight);

    /// <summary>...and this when the attempt ends, whatever way it ends.</summary>
    internal void EndRequest() => Interlocked.Decrement(ref _inFlight);

    /// <summary>An attempt failed in a way nginx counts toward max_fails (error, timeout, invalid header, or a proxy_next_upstream http_* status).</summary>
    internal void ReportFailure(long nowTimestamp) { }

    /// <summary>An attempt completed well.</summary>
    internal void ReportSuccess(long nowTimestamp) { }
}

/// <summary>The runtime state of one upstream group.</summary>
public sealed class ClusterState
{
    private readonly DestinationState[] _destinations;
    private int _next;

    internal ClusterState(UpstreamConfig config, ILoadBalancingPolicy? policy = null)
    {
        Config = config;
        var list = new List<DestinationState>();
        foreach (var server in config.Servers)
        {
            foreach (var endPoint in server.EndPoints)
            {
                list.Add(new DestinationState(list.Count, endPoint, server));
            }
        }
        _destinations = [.. list];
        Policy = policy;
    }

    public string Name => Config.Name;

    public UpstreamConfig Config { get; }

    public IReadOnlyList<DestinationState> Destinations => _destinations;

    public ILoadBalancingPolicy? Policy { get; }

    /// <summary>Picks the destination for one attempt; null when none is available (the engine answers 502).</summary>
    internal DestinationState? PickDestination(ref LoadBalancingContext context)
    {
        if (Policy is not null)
        {
            return Policy.PickDestination(ref context, this);
        }
        // Placeholder until the policies land: plain round-robin over untried destinations.
        for (int attempt = 0; attempt < _destinations.Length; attempt++)
        {
            int i = (int)((uint)Interlocked.Increment(ref _next) % (uint)_destinations.Length);
            if ((context.Tried & (1UL << (i & 63))) == 0)
            {
                return _destinations[i];
            }
        }
        return null;
    }
}
