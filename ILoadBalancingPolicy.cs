namespace FastProxy.LoadBalancing;

/// <summary>
/// A load-balancing policy (round-robin, least_conn, ip_hash, hash, random, or an embedder's own). The
/// <see cref="LoadBalancingPolicyRegistry"/> creates one instance per cluster (a factory) or shares one instance
/// between clusters; either way <see cref="PickDestination"/> is called concurrently from many threads.
/// </summary>
/// <remarks>
/// A policy returns a destination that is eligible (<see cref="ClusterState.IsEligible"/>: not tried by this request,
/// not <c>down</c>, not taken out by health, below <c>max_conns</c>), or null when none is. The cluster re-checks what
/// the policy returns, claims the single probe of a destination whose <c>fail_timeout</c> has passed, and handles
/// "nothing available" (nginx's reset of failure counts); a policy only chooses.
/// </remarks>
public interface ILoadBalancingPolicy
{
    /// <summary>The name used in configuration (see <see cref="LoadBalancingPolicies"/>).</summary>
    string Name { get; }

    /// <summary>Picks an eligible destination, or null when none is. Must not allocate or block.</summary>
    DestinationState? PickDestination(ref LoadBalancingContext context, ClusterState cluster);
}
