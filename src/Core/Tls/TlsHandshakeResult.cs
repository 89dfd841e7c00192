using System.Net.Security;
using System.Security.Authentication;
using FastProxy.Config;

namespace FastProxy.Tls;

/// <summary>Why a TLS handshake did not complete. Expected failures are values, logged at info as nginx does.</summary>
internal enum TlsHandshakeError : byte
{
    None = 0,
    /// <summary>The client offered no protocol version the server enables (nginx: "unsupported protocol").</summary>
    ProtocolMismatch,
    /// <summary>No cipher suite or signature algorithm both sides accept (nginx: "no shared cipher").</summary>
    NoSharedCipher,
    /// <summary>The handshake did not finish within ssl_handshake_timeout (a client that connects and sends nothing).</summary>
    Timeout,
    /// <summary>The client closed or reset the connection during the handshake.</summary>
    ClientClosed,
    /// <summary>A plain HTTP request arrived on an ssl port (nginx answers 400 "The plain HTTP request was sent to HTTPS port").</summary>
    PlainHttp,
    /// <summary>The server chosen by SNI has no certificate (nginx: "no ssl_certificate is defined").</summary>
    NoCertificate,
    /// <summary>The client sent an alert, typically rejecting the certificate (unknown CA, bad certificate).</summary>
    ClientAlert,
    /// <summary>The client offered only application protocols the server does not speak (ALPN, RFC 7301 §3.2).</summary>
    NoApplicationProtocol,
    /// <summary>The caller's token was cancelled (server stopping).</summary>
    Cancelled,
    /// <summary>Anything else (malformed handshake and such): the detail says what OpenSSL reported.</summary>
    Failed,
}

/// <summary>
/// What <see cref="TlsServerContext.AuthenticateAsync"/> produced: the authenticated stream and what the engine needs
/// from the handshake ($ssl_server_name, $ssl_protocol, $ssl_cipher, the virtual server chosen by SNI), or the reason
/// it failed. On failure the connection's stream has already been disposed.
/// </summary>
internal readonly struct TlsHandshakeResult
{
    private TlsHandshakeResult(SslStream? stream, TlsHandshakeError error, string? detail, string? serverName, ServerConfig? server)
    {
        Stream = stream;
        Error = error;
        Detail = detail;
        ServerName = serverName;
        Server = server;
    }

    public bool Succeeded => Error == TlsHandshakeError.None;

    /// <summary>The authenticated stream (owns the connection's stream); null on failure.</summary>
    public SslStream? Stream { get; }

    public TlsHandshakeError Error { get; }

    /// <summary>OpenSSL's or the runtime's message for a failure, for the info log.</summary>
    public string? Detail { get; }

    /// <summary>$ssl_server_name: the SNI host name (lower-case), null when the client sent none.</summary>
    public string? ServerName { get; }

    /// <summary>
    /// The virtual server whose certificate was presented: the one matching SNI, else the default server of the listen
    /// address. nginx selects the server for the request by Host afterwards; this is the TLS-time choice.
    /// </summary>
    public ServerConfig? Server { get; }

    /// <summary>$ssl_protocol as nginx spells it ("TLSv1.3").</summary>
    public string? ProtocolName => Stream is null ? null : TlsProtocols.Name(Stream.SslProtocol);

    public SslProtocols Protocol => Stream?.SslProtocol ?? SslProtocols.None;

    /// <summary>$ssl_cipher in IANA form (OpenSSL names for TLS 1.2 suites via <see cref="OpenSslCipherList.Find(TlsCipherSuite)"/>).</summary>
    public TlsCipherSuite CipherSuite => Stream?.NegotiatedCipherSuite ?? default;

    public SslApplicationProtocol ApplicationProtocol => Stream?.NegotiatedApplicationProtocol ?? default;

    internal static TlsHandshakeResult Success(SslStream stream, string? serverName, ServerConfig server) =>
        new(stream, TlsHandshakeError.None, null, serverName, server);

    internal static TlsHandshakeResult Failure(TlsHandshakeError error, string? detail, string? serverName) =>
        new(null, error, detail, serverName, null);
}
