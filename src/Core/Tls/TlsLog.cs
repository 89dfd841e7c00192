using Microsoft.Extensions.Logging;

namespace FastProxy.Tls;

/// <summary>TLS log messages (source-generated: nothing is formatted when the level is off). Event ids 700-799.</summary>
internal static partial class TlsLog
{
    // nginx logs handshake failures at info: "SSL_do_handshake() failed (...) while SSL handshaking, client: ..., server: ...".
    [LoggerMessage(EventId = 700, Level = LogLevel.Information,
        Message = "TLS handshake failed ({Reason}: {Detail}) while SSL handshaking, client: {Client}, server: {Server}, SNI: {ServerName}")]
    public static partial void HandshakeFailed(ILogger logger, TlsHandshakeError reason, string? detail, string? client, string server, string? serverName);

    [LoggerMessage(EventId = 701, Level = LogLevel.Warning,
        Message = "listen {EndPoint} http2: HTTP/2 is not served yet; the listener offers http/1.1 only (ALPN), clients use HTTP/1.1")]
    public static partial void Http2NotServed(ILogger logger, string endPoint);

    [LoggerMessage(EventId = 702, Level = LogLevel.Warning, Message = "{Message}")]
    public static partial void ConfigurationWarning(ILogger logger, string message);

    // nginx logs upstream handshake and verification failures at error ("upstream SSL certificate verify error").
    [LoggerMessage(EventId = 703, Level = LogLevel.Error,
        Message = "upstream TLS handshake with {Upstream} failed ({Reason}: {Detail})")]
    public static partial void UpstreamHandshakeFailed(ILogger logger, string upstream, UpstreamTlsError reason, string? detail);
}
