using Microsoft.Extensions.Logging;

namespace FastProxy.Diagnostics;

// limit_req / limit_conn messages, worded as nginx's (ngx_http_limit_req_handler, ngx_http_limit_conn_handler) with the
// request context nginx's error log appends. The level is the context's limit_req_log_level / limit_conn_log_level.
// Callers check IsEnabled first: the arguments are strings made only when the message is written.
internal static partial class Log
{
    [LoggerMessage(EventId = 600, Message = "limiting requests{DryRun}, excess: {Excess} by zone \"{Zone}\", client: {Client}, server: {Server}, request: \"{Request}\", host: \"{Host}\"")]
    public static partial void LimitingRequests(ILogger logger, LogLevel level, string dryRun, string excess, string zone,
        string client, string server, string request, string host);

    [LoggerMessage(EventId = 601, Message = "delaying request{DryRun}, excess: {Excess}, by zone \"{Zone}\", client: {Client}, server: {Server}, request: \"{Request}\", host: \"{Host}\"")]
    public static partial void DelayingRequest(ILogger logger, LogLevel level, string dryRun, string excess, string zone,
        string client, string server, string request, string host);

    [LoggerMessage(EventId = 602, Message = "limiting connections{DryRun} by zone \"{Zone}\", client: {Client}, server: {Server}, request: \"{Request}\", host: \"{Host}\"")]
    public static partial void LimitingConnections(ILogger logger, LogLevel level, string dryRun, string zone,
        string client, string server, string request, string host);

    [LoggerMessage(EventId = 603, Message = "could not allocate node{DryRun} in {Directive} zone \"{Zone}\", client: {Client}, server: {Server}, request: \"{Request}\", host: \"{Host}\"")]
    public static partial void LimitZoneFull(ILogger logger, LogLevel level, string dryRun, string directive, string zone,
        string client, string server, string request, string host);
}
