using System.Net;
using System.Net.Sockets;
using FastProxy.LoadBalancing;
using FastProxy.Runtime;

namespace FastProxy.FunctionalTests.Infrastructure;

/// <summary>Helpers for tests of upstream groups: named backends, test policies, the running cluster.</summary>
public static class Backends
{
    /// <summary>A backend answering 200 with its name as the body (and /health with the status <paramref name="health"/> gives).</summary>
    public static TestBackend Named(string name, int port = 0, Func<int>? health = null) => new(async (request, connection) =>
    {
        if (health is not null && request.Target == "/health")
        {
            connection.CloseAfterResponse = true;
            await connection.RespondAsync(health(), "health");
            return;
        }
        await connection.RespondAsync(200, name);
    }, port: port);

    /// <summary>A backend that reads each request (counting it) and resets the connection without answering.</summary>
    public static TestBackend Resetting() => new((_, connection) =>
    {
        connection.Abort();
        return Task.CompletedTask;
    });

    /// <summary>The built-ins plus "first" and "last" (deterministic orders for tests of retries and health).</summary>
    public static LoadBalancingPolicyRegistry TestPolicies()
    {
        var registry = new LoadBalancingPolicyRegistry();
        registry.Register(new FirstAvailablePolicy());
        registry.Register("last", _ => new LastAvailablePolicy());
        return registry;
    }

    internal static ClusterRuntime Cluster(this Proxy proxy, string name) => proxy.Server.Services.Snapshot.Clusters[name];

    public static int FreePort()
    {
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)s.LocalEndPoint!).Port;
    }
}

/// <summary>The first eligible server in configuration order (the example of docs/load-balancing.md).</summary>
public sealed class FirstAvailablePolicy : ILoadBalancingPolicy
{
    public string Name => "first";

    public DestinationState? PickDestination(ref LoadBalancingContext context, ClusterState cluster)
    {
        var all = cluster.Destinations;
        for (int i = 0; i < all.Count; i++)
        {
            if (cluster.IsEligible(all[i], ref context))
            {
                return all[i];
            }
        }
        return null;
    }
}

/// <summary>The last eligible server in configuration order.</summary>
public sealed class LastAvailablePolicy : ILoadBalancingPolicy
{
    public string Name => "last";

    public DestinationState? PickDestination(ref LoadBalancingContext context, ClusterState cluster)
    {
        var all = cluster.Destinations;
        for (int i = all.Count - 1; i >= 0; i--)
        {
            if (cluster.IsEligible(all[i], ref context))
            {
                return all[i];
            }
        }
        return null;
    }
}
