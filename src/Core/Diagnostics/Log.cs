using System.Net;
using Microsoft.Extensions.Logging;

namespace FastProxy.Diagnostics;

/// <summary>Source-generated log messages (free when the level is off). Messages follow nginx's error_log wording.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "listening on {EndPoint}")]
    public static partial void Listening(ILogger logger, EndPoint endPoint);

    [LoggerMessage(EventId = 2, Level = LogLevel.Warning, Message = "{Limit} worker_connections are not enough, closing a new connection")]
    public static partial void ConnectionLimit(ILogger logger, int limit);

    [LoggerMessage(EventId = 3, Level = LogLevel.Error, Message = "connect() to {EndPoint} failed ({Error}) while connecting to upstream")]
    public static partial void UpstreamConnectFailed(ILogger logger, EndPoint endPoint, string error);

    [LoggerMessage(EventId = 4, Level = LogLevel.Error, Message = "upstream timed out ({Phase}) while talking to {EndPoint}")]
    public static partial void UpstreamTimedOut(ILogger logger, EndPoint endPoint, string phase);

    [LoggerMessage(EventId = 5, Level = LogLevel.Error, Message = "upstream {EndPoint} failed: {Outcome}")]
    public static partial void UpstreamFailed(ILogger logger, EndPoint endPoint, string outcome);

    [LoggerMessage(EventId = 6, Level = LogLevel.Error, Message = "unexpected error on a client connection")]
    public static partial void ConnectionError(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 7, Level = LogLevel.Information, Message = "reloaded configuration")]
    public static partial void Reloaded(ILogger logger);

    [LoggerMessage(EventId = 8, Level = LogLevel.Error, Message = "reload failed, keeping the running configuration: {Error}")]
    public static partial void ReloadFailed(ILogger logger, string error);

    [LoggerMessage(EventId = 9, Level = LogLevel.Information, Message = "stopping: {Remaining} connections still open")]
    public static partial void Stopping(ILogger logger, int remaining);

    [LoggerMessage(EventId = 10, Level = LogLevel.Error, Message = "accept() on {EndPoint} failed: {Error}")]
    public static partial void AcceptFailed(ILogger logger, EndPoint endPoint, string error);

    [LoggerMessage(EventId = 11, Level = LogLevel.Error, Message = "https upstreams are not supported yet: {Upstream}")]
    public static partial void HttpsUpstreamUnsupported(ILogger logger, string upstream);
}
