using System.Net;
using Microsoft.Extensions.Logging;

namespace FastProxy.Health;

/// <summary>Active health check events (source-generated: free when the level is off).</summary>
internal static partial class HealthLog
{
    [LoggerMessage(EventId = 5101, Level = LogLevel.Warning,
        Message = "health check: upstream server {EndPoint} in \"{Upstream}\" is unhealthy after {Fails} failed checks (last: {Outcome} {Status})")]
    public static partial void Unhealthy(ILogger logger, IPEndPoint endPoint, string upstream, int fails, HealthProbeOutcome outcome, int status);

    [LoggerMessage(EventId = 5102, Level = LogLevel.Information,
        Message = "health check: upstream server {EndPoint} in \"{Upstream}\" is healthy again after {Passes} passed checks")]
    public static partial void Healthy(ILogger logger, IPEndPoint endPoint, string upstream, int passes);

    [LoggerMessage(EventId = 5103, Level = LogLevel.Debug,
        Message = "health check of upstream server {EndPoint} in \"{Upstream}\" failed: {Outcome} {Status}")]
    public static partial void CheckFailed(ILogger logger, IPEndPoint endPoint, string upstream, HealthProbeOutcome outcome, int status);

    [LoggerMessage(EventId = 5104, Level = LogLevel.Debug,
        Message = "health check round of \"{Upstream}\" skipped: the previous round is still running")]
    public static partial void RoundSkipped(ILogger logger, string upstream);

    [LoggerMessage(EventId = 5105, Level = LogLevel.Error,
        Message = "health check round of \"{Upstream}\" failed")]
    public static partial void RoundFailed(ILogger logger, string upstream, Exception exception);
}
