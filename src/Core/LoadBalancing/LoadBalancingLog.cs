using System.Net;
using Microsoft.Extensions.Logging;

namespace FastProxy.LoadBalancing;

/// <summary>Health transitions of the balancing components (source-generated: free when the level is off).</summary>
internal static partial class LoadBalancingLog
{
    [LoggerMessage(EventId = 5001, Level = LogLevel.Warning,
        Message = "upstream server {EndPoint} in \"{Upstream}\" temporarily disabled after {Fails} failures (for {FailTimeout})")]
    public static partial void ServerDisabled(ILogger logger, IPEndPoint endPoint, string upstream, int fails, TimeSpan failTimeout);

    [LoggerMessage(EventId = 5002, Level = LogLevel.Information,
        Message = "upstream server {EndPoint} in \"{Upstream}\" answered its probe request: back in service")]
    public static partial void ServerRecovered(ILogger logger, IPEndPoint endPoint, string upstream);

    [LoggerMessage(EventId = 5003, Level = LogLevel.Error,
        Message = "no live upstreams in \"{Upstream}\": failure counts reset so the next request tries every server")]
    public static partial void NoLiveUpstreams(ILogger logger, string upstream);

    [LoggerMessage(EventId = 5004, Level = LogLevel.Error,
        Message = "no live upstreams in \"{Upstream}\" while connecting to upstream")]
    public static partial void NoLiveUpstream(ILogger logger, string upstream);

    [LoggerMessage(EventId = 5005, Level = LogLevel.Error,
        Message = "every server of \"{Upstream}\" stayed at max_conns for {Timeout} (proxy_connect_timeout)")]
    public static partial void MaxConnsWaitTimedOut(ILogger logger, string upstream, TimeSpan timeout);
}
