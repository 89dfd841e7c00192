using FastProxy.LoadBalancing;
using Microsoft.Extensions.Logging;

namespace FastProxy;

/// <summary>What a <see cref="ProxyServer"/> is built with besides its configuration.</summary>
/// <example><code>
/// var policies = new LoadBalancingPolicyRegistry();            // the built-ins are preregistered
/// policies.Register("first", cluster => new FirstAvailablePolicy());
/// var server = new ProxyServer(config, new ProxyServerOptions { LoadBalancingPolicies = policies });
/// // config: new ProxyConfigBuilder().Upstream("app", u => u.Policy("first").Server(...))...
/// </code></example>
public sealed class ProxyServerOptions
{
    public ILoggerFactory? LoggerFactory { get; init; }

    /// <summary>
    /// The clock of every timeout, of passive health (fail_timeout, slow_start) and of active health checks; the
    /// system clock by default. Tests inject a manual one.
    /// </summary>
    public TimeProvider? TimeProvider { get; init; }

    /// <summary>
    /// Where <c>upstream</c> groups' policy names are looked up: the built-in methods plus the embedder's own
    /// (<see cref="LoadBalancingPolicyRegistry.Register(string, Func{ClusterState, ILoadBalancingPolicy})"/>). A name
    /// not registered makes the constructor (and <see cref="ProxyServer.TryReload"/>) fail with a message naming the
    /// group. The nginx-syntax loader knows only the built-ins: a file cannot name an embedder's policy, but an
    /// embedder may set <see cref="Config.UpstreamConfig.Policy"/> on a loaded configuration.
    /// </summary>
    public LoadBalancingPolicyRegistry? LoadBalancingPolicies { get; init; }

    /// <summary>
    /// Hands the memory a burst left behind back to the operating system once the server has had nothing in flight
    /// for two seconds: one full, compacting garbage collection per burst (a few milliseconds for a proxy's heap). It
    /// acts on the whole process, so it is off by default for an embedder, whose process has its own memory policy;
    /// the <c>fastproxy</c> binary turns it on. Pools of the server's own objects are trimmed either way.
    /// </summary>
    public bool ReturnIdleMemory { get; init; }
}
