using System.Net;
using FastProxy.Config;
using FastProxy.Infrastructure;
using FastProxy.Tls;
using FastProxy.Upstreams;
using Microsoft.Extensions.Logging;

namespace FastProxy.Runtime;

/// <summary>
/// A location's HTTPS upstream at run time: its <see cref="UpstreamTlsContext"/> and its own keep-alive pools, one per
/// destination of the group, keyed by <see cref="UpstreamTlsPoolKey"/> (address, SNI, verification, client
/// certificate, protocols) so a connection opened under one location's proxy_ssl_* settings never serves another's.
/// </summary>
internal sealed class UpstreamTlsRuntime(UpstreamTlsContext context, UpstreamPool[] pools, CompiledTemplate? dynamicName)
{
    public UpstreamTlsContext Context { get; } = context;

    /// <summary>Indexed by <see cref="LoadBalancing.DestinationState.Index"/>, like <see cref="ClusterRuntime.Pools"/>.</summary>
    public UpstreamPool[] Pools { get; } = pools;

    /// <summary>proxy_ssl_name with variables, evaluated per new connection; such connections are not pooled.</summary>
    public CompiledTemplate? DynamicName { get; } = dynamicName;
}

internal sealed partial class ProxySnapshot
{
    private Dictionary<LocationSettings, UpstreamTlsRuntime>? _upstreamTls;

    /// <summary>
    /// Builds what TLS needs from the configuration: a <see cref="TlsServerContext"/> per <c>listen ... ssl</c> address
    /// (set on its <see cref="ListenRuntime"/>) and an <see cref="UpstreamTlsRuntime"/> per settings object with
    /// <c>proxy_pass https://</c>. Certificates come from <paramref name="certificates"/>, so a reload re-reads only
    /// the files that changed. What nginx refuses at start (missing certificate, bad key) becomes an error message.
    /// </summary>
    private static Dictionary<LocationSettings, UpstreamTlsRuntime>? BuildTls(ProxyConfig config, Dictionary<IPEndPoint, ListenRuntime> listens,
        Dictionary<string, ClusterRuntime> clusters, Dictionary<string, MapRuntime> maps, UpstreamPoolRegistry pools, Heartbeat heartbeat, HashSet<UpstreamPool> poolsInUse,
        List<string> errors, TlsCertificateCache certificates, ILogger logger)
    {
        try
        {
            foreach (var (endPoint, context) in TlsServerContext.CreateAll(config, certificates, logger))
            {
                if (listens.TryGetValue(endPoint, out var listen))
                {
                    listen.Tls = context;
                }
            }
        }
        catch (TlsConfigurationException e)
        {
            errors.Add(e.Message);
        }

        Dictionary<LocationSettings, UpstreamTlsRuntime>? result = null;
        foreach (var settings in AllSettings(config))
        {
            if (settings.ProxyPass is not { Scheme: "https" } pass || (result?.ContainsKey(settings) ?? false))
            {
                continue;
            }
            string group = ClusterName(pass, config);
            if (!clusters.TryGetValue(group, out var cluster))
            {
                continue; // already reported (unknown upstream, unresolvable host)
            }
            UpstreamTlsContext context;
            try
            {
                context = UpstreamTlsContext.Create(settings.UpstreamTls, pass.Host, certificates, logger);
            }
            catch (TlsConfigurationException e)
            {
                errors.Add(e.Message);
                continue;
            }
            var tlsPools = new UpstreamPool[cluster.Pools.Length];
            foreach (var destination in cluster.State.Destinations)
            {
                var plain = cluster.Pools[destination.Index];
                if (context.NameIsDynamic)
                {
                    // The name (SNI, verification) may differ per request: a connection is used for one request only.
                    tlsPools[destination.Index] = new UpstreamPool(destination.EndPoint, 0, plain.IdleTimeoutTicks, 1);
                    continue;
                }
                var pool = pools.GetOrCreateTls(group, context.GetPoolKey(destination.EndPoint), plain.MaxIdle, plain.IdleTimeoutTicks, plain.MaxRequests);
                tlsPools[destination.Index] = pool;
                poolsInUse.Add(pool);
            }
            var dynamicName = context.NameIsDynamic ? CompiledTemplate.Compile(settings.UpstreamTls.Name!, maps) : null;
            (result ??= new Dictionary<LocationSettings, UpstreamTlsRuntime>(ReferenceEqualityComparer.Instance))[settings] =
                new UpstreamTlsRuntime(context, tlsPools, dynamicName);
        }
        return result;
    }
}
