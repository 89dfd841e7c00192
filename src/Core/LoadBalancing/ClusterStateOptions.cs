using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace FastProxy.LoadBalancing;

/// <summary>What a <see cref="ClusterState"/> is built with besides its configuration.</summary>
public sealed record ClusterStateOptions
{
    public static ClusterStateOptions Default { get; } = new();

    /// <summary>
    /// The clock of health timing (fail_timeout, slow_start, health_check). The engine must pass timestamps of this
    /// same provider to <see cref="DestinationState.ReportFailure"/> and friends.
    /// </summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>Randomness for <c>random</c> and <c>random two</c>.</summary>
    public IRandom Random { get; init; } = SharedRandom.Instance;

    /// <summary>Where policy names are looked up; null = the built-in policies only.</summary>
    public LoadBalancingPolicyRegistry? Policies { get; init; }

    /// <summary>Health transitions are logged here.</summary>
    public ILogger Logger { get; init; } = NullLogger.Instance;

    /// <summary>
    /// How many independent counters round-robin spreads its position over (one per core, see
    /// docs/load-balancing.md). 0 = automatic (the core count rounded up to a power of two, at most 16); 1 = one
    /// global counter, which gives exactly nginx's sequence; other values are rounded up to a power of two.
    /// </summary>
    public int RoundRobinStripes { get; init; }
}
