namespace FastProxy.LoadBalancing;

/// <summary>Names of the built-in policies, as <see cref="Config.UpstreamConfig.Policy"/> carries them.</summary>
public static class LoadBalancingPolicies
{
    /// <summary>nginx's default: smooth weighted round-robin.</summary>
    public const string RoundRobin = "round_robin";

    /// <summary><c>least_conn</c>: fewest in-flight requests relative to weight; ties by weighted round-robin.</summary>
    public const string LeastConnections = "least_conn";

    /// <summary><c>ip_hash</c>: by the first three octets of an IPv4 client address, or the whole IPv6 address.</summary>
    public const string IpHash = "ip_hash";

    /// <summary><c>hash KEY</c> (modulo over weights) or, with <see cref="Config.UpstreamConfig.HashConsistent"/>, <c>hash KEY consistent</c> (ketama ring).</summary>
    public const string Hash = "hash";

    /// <summary><c>random</c>: weighted random.</summary>
    public const string Random = "random";

    /// <summary><c>random two [least_conn]</c>: two weighted-random candidates, the less loaded wins (power of two choices).</summary>
    public const string RandomTwo = "random_two";
}
