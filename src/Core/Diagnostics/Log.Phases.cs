using Microsoft.Extensions.Logging;

namespace FastProxy.Diagnostics;

// Event ids 400-419: the rewrite and access phases.
internal static partial class Log
{
    [LoggerMessage(EventId = 400, Level = LogLevel.Error, Message = "rewrite or internal redirection cycle while processing \"{Uri}\"")]
    public static partial void RewriteCycle(ILogger logger, string uri);

    [LoggerMessage(EventId = 401, Level = LogLevel.Error, Message = "the rewritten URI has a zero length")]
    public static partial void RewriteEmptyUri(ILogger logger);

    [LoggerMessage(EventId = 402, Level = LogLevel.Error, Message = "access forbidden by rule, client: {Client}")]
    public static partial void AccessForbidden(ILogger logger, string client);
}
