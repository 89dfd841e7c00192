using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using FastProxy.Config;
using Microsoft.Extensions.Logging;

namespace FastProxy.Tls;

/// <summary>Why a TLS handshake with an upstream failed (nginx logs these and tries the next upstream: "error").</summary>
internal enum UpstreamTlsError : byte
{
    None = 0,
    /// <summary>proxy_ssl_verify on: the chain does not lead to a proxy_ssl_trusted_certificate (nginx: "upstream SSL certificate verify error").</summary>
    CertificateUntrusted,
    /// <summary>proxy_ssl_verify on: the certificate is not for proxy_ssl_name (nginx: "upstream SSL certificate does not match").</summary>
    CertificateNameMismatch,
    /// <summary>The chain has more intermediates than proxy_ssl_verify_depth allows.</summary>
    ChainTooLong,
    /// <summary>No protocol version in common.</summary>
    ProtocolMismatch,
    /// <summary>The handshake did not finish within the timeout (nginx counts it in proxy_connect_timeout).</summary>
    Timeout,
    /// <summary>The upstream closed or reset the connection.</summary>
    Closed,
    /// <summary>The caller's token was cancelled.</summary>
    Cancelled,
    /// <summary>Anything else; the detail has OpenSSL's message.</summary>
    Failed,
}

/// <summary>The outcome of <see cref="UpstreamTlsContext.AuthenticateAsync"/>.</summary>
internal readonly struct UpstreamTlsResult
{
    private UpstreamTlsResult(SslStream? stream, UpstreamTlsError error, string? detail)
    {
        Stream = stream;
        Error = error;
        Detail = detail;
    }

    public bool Succeeded => Error == UpstreamTlsError.None;

    /// <summary>The authenticated stream (owns the connection's stream); null on failure.</summary>
    public SslStream? Stream { get; }

    public UpstreamTlsError Error { get; }

    public string? Detail { get; }

    internal static UpstreamTlsResult Success(SslStream stream) => new(stream, UpstreamTlsError.None, null);

    internal static UpstreamTlsResult Failure(UpstreamTlsError error, string? detail) => new(null, error, detail);
}

/// <summary>
/// What makes two TLS upstream connections interchangeable (Pingora's rule: address, SNI, verification and client
/// certificate must all match). The engine keys its keep-alive pools with it, so a connection opened for one
/// location's proxy_ssl_* settings never serves another's.
/// </summary>
internal readonly record struct UpstreamTlsPoolKey(
    IPEndPoint EndPoint,
    string? ServerName,
    string VerifyName,
    bool Verify,
    int VerifyDepth,
    string? TrustedCertificatesThumbprint,
    string? ClientCertificateThumbprint,
    SslProtocols Protocols);

/// <summary>
/// The client side of TLS to upstreams (<c>proxy_pass https://...</c>) for one location's proxy_ssl_* settings, built
/// with the configuration snapshot. nginx's defaults hold: no SNI unless proxy_ssl_server_name on, no verification
/// unless proxy_ssl_verify on (any certificate is accepted), proxy_ssl_name = the proxy_pass host without port.
/// </summary>
internal sealed class UpstreamTlsContext
{
    private readonly UpstreamTlsConfig _config;
    private readonly X509Certificate2Collection? _trusted;
    private readonly string? _trustedThumbprint;
    private readonly LoadedCertificate? _clientCertificate;
    private readonly string? _staticName;
    private readonly ILogger _logger;

    private UpstreamTlsContext(UpstreamTlsConfig config, string? staticName, SslProtocols protocols, X509Certificate2Collection? trusted,
        string? trustedThumbprint, LoadedCertificate? clientCertificate, ILogger logger)
    {
        _config = config;
        _staticName = staticName;
        Protocols = protocols;
        _trusted = trusted;
        _trustedThumbprint = trustedThumbprint;
        _clientCertificate = clientCertificate;
        _logger = logger;
    }

    public SslProtocols Protocols { get; }

    /// <summary>
    /// True when proxy_ssl_name has variables: the engine evaluates it per request and passes the result to
    /// <see cref="GetPoolKey"/> and <see cref="AuthenticateAsync"/>.
    /// </summary>
    public bool NameIsDynamic => _staticName is null;

    /// <summary>
    /// Builds the context. <paramref name="proxyHost"/> is the host of proxy_pass (an upstream block's name or a host
    /// name/address, port allowed: it is stripped as nginx does). Throws <see cref="TlsConfigurationException"/> for
    /// what nginx refuses: verification without trusted certificates, unreadable files.
    /// </summary>
    public static UpstreamTlsContext Create(UpstreamTlsConfig config, string proxyHost, TlsCertificateCache certificates, ILogger logger)
    {
        var warnings = new List<string>();
        var protocols = TlsProtocols.Parse(config.Protocols, "proxy_ssl_protocols", warnings);
        foreach (var warning in warnings)
        {
            TlsLog.ConfigurationWarning(logger, warning);
        }

        string? staticName = config.Name is null ? StripPort(proxyHost)
            : config.Name.IsLiteral ? StripPort(config.Name.Source) : null;

        X509Certificate2Collection? trusted = null;
        string? thumbprint = null;
        if (config.Verify)
        {
            if (config.TrustedCertificate is null)
            {
                // nginx: no proxy_ssl_trusted_certificate for proxy_ssl_verify.
                throw new TlsConfigurationException("no \"proxy_ssl_trusted_certificate\" is defined for the \"proxy_ssl_verify\" directive");
            }
            trusted = new X509Certificate2Collection();
            try
            {
                trusted.ImportFromPemFile(config.TrustedCertificate);
            }
            catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException)
            {
                throw new TlsConfigurationException($"cannot load proxy_ssl_trusted_certificate \"{config.TrustedCertificate}\": {e.Message}", e);
            }
            if (trusted.Count == 0)
            {
                throw new TlsConfigurationException($"proxy_ssl_trusted_certificate \"{config.TrustedCertificate}\" holds no certificate");
            }
            var hash = new IncrementalHashAccumulator();
            foreach (var certificate in trusted)
            {
                hash.Add(certificate.RawData);
            }
            thumbprint = hash.Finish();
        }

        LoadedCertificate? client = config.ClientCertificate is null ? null : certificates.Get(config.ClientCertificate, config.PasswordFile);
        return new UpstreamTlsContext(config, staticName, protocols, trusted, thumbprint, client, logger);
    }

    /// <summary>The pool key for a connection to <paramref name="endPoint"/> (<paramref name="dynamicName"/> when <see cref="NameIsDynamic"/>).</summary>
    public UpstreamTlsPoolKey GetPoolKey(IPEndPoint endPoint, string? dynamicName = null)
    {
        string name = ResolveName(dynamicName);
        return new UpstreamTlsPoolKey(endPoint, SniFor(name), name, _config.Verify, _config.Verify ? _config.VerifyDepth : 0,
            _trustedThumbprint, _clientCertificate?.Leaf.Thumbprint, Protocols);
    }

    /// <summary>
    /// Runs the client handshake on a connected upstream stream. Takes ownership of <paramref name="connectedStream"/>:
    /// inside the returned SslStream on success, disposed on failure (and the reason logged at info).
    /// <paramref name="timeout"/> bounds the handshake (nginx applies proxy_connect_timeout to it).
    /// </summary>
    public async ValueTask<UpstreamTlsResult> AuthenticateAsync(Stream connectedStream, TimeSpan timeout, CancellationToken cancellationToken,
        string? dynamicName = null)
    {
        string name = ResolveName(dynamicName);
        var verification = new Verification(this, name);
        var options = new SslClientAuthenticationOptions
        {
            // SNI is sent exactly when TargetHost is a non-empty name (never for an IP literal, RFC 6066 §3). .NET's
            // TLS session cache on Linux is keyed by TargetHost, so without SNI sessions are not resumed.
            TargetHost = SniFor(name) ?? string.Empty,
            EnabledSslProtocols = Protocols,
            ApplicationProtocols = null,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            RemoteCertificateValidationCallback = verification.Validate,
            ClientCertificateContext = _clientCertificate?.Context,
            AllowTlsResume = _config.SessionReuse,
        };

        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        var ssl = new SslStream(connectedStream, leaveInnerStreamOpen: false);
        try
        {
            await ssl.AuthenticateAsClientAsync(options, cts.Token).ConfigureAwait(false);
            return UpstreamTlsResult.Success(ssl);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or AuthenticationException or SocketException or ObjectDisposedException)
        {
            var (error, detail) = verification.Error != UpstreamTlsError.None
                ? (verification.Error, verification.Detail)
                : cts.IsCancellationRequested
                    ? cancellationToken.IsCancellationRequested ? (UpstreamTlsError.Cancelled, "cancelled") : (UpstreamTlsError.Timeout, "upstream timed out")
                    : Classify(e);
            await ssl.DisposeAsync().ConfigureAwait(false);
            TlsLog.UpstreamHandshakeFailed(_logger, name, error, detail);
            return UpstreamTlsResult.Failure(error, detail);
        }
    }

    private string ResolveName(string? dynamicName) => _staticName ?? StripPort(dynamicName ?? string.Empty);

    private string? SniFor(string name) =>
        _config.ServerName && name.Length > 0 && !IPAddress.TryParse(name.Trim('[', ']'), out _) ? name : null;

    /// <summary>"host:port" → "host", "[::1]:443" → "[::1]" (nginx strips the port from proxy_ssl_name).</summary>
    internal static string StripPort(string host)
    {
        if (host.StartsWith('['))
        {
            int close = host.IndexOf(']');
            return close < 0 ? host : host[..(close + 1)];
        }
        int colon = host.IndexOf(':');
        return colon >= 0 && host.IndexOf(':', colon + 1) < 0 ? host[..colon] : host;
    }

    private static (UpstreamTlsError, string) Classify(Exception e)
    {
        var (serverError, detail) = TlsServerContext.Classify(e);
        return (serverError switch
        {
            TlsHandshakeError.ProtocolMismatch => UpstreamTlsError.ProtocolMismatch,
            TlsHandshakeError.ClientClosed => UpstreamTlsError.Closed,
            _ => UpstreamTlsError.Failed,
        }, detail);
    }

    /// <summary>One connection's certificate check; remembers why it failed for the result.</summary>
    private sealed class Verification(UpstreamTlsContext context, string name)
    {
        public UpstreamTlsError Error { get; private set; }

        public string? Detail { get; private set; }

        public bool Validate(object sender, X509Certificate? certificate, X509Chain? presented, SslPolicyErrors errors)
        {
            var config = context._config;
            if (!config.Verify)
            {
                return true; // proxy_ssl_verify off (nginx's default): any certificate is accepted
            }
            if (certificate is not X509Certificate2 leaf)
            {
                return Reject(UpstreamTlsError.CertificateUntrusted, "upstream sent no certificate");
            }

            // Our own chain against proxy_ssl_trusted_certificate only (not the system store), with the intermediates
            // the upstream sent. Revocation is not checked (nginx needs proxy_ssl_crl for that, not supported).
            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.AddRange(context._trusted!);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            chain.ChainPolicy.DisableCertificateDownloads = true;
            if (presented is not null)
            {
                chain.ChainPolicy.ExtraStore.AddRange(presented.ChainPolicy.ExtraStore);
            }
            if (!chain.Build(leaf))
            {
                string status = string.Join(", ", chain.ChainStatus.Select(s => s.Status.ToString()));
                return Reject(UpstreamTlsError.CertificateUntrusted, $"upstream SSL certificate verify error: ({status})");
            }

            // OpenSSL's verify depth counts intermediates: depth N allows leaf + N intermediates + trust anchor
            // (X509_VERIFY_PARAM_set_depth, SSL_CTX_set_verify_depth).
            int intermediates = chain.ChainElements.Count - 2;
            if (intermediates > config.VerifyDepth)
            {
                return Reject(UpstreamTlsError.ChainTooLong,
                    $"upstream SSL certificate verify error: certificate chain too long ({intermediates} intermediates, proxy_ssl_verify_depth {config.VerifyDepth})");
            }

            // nginx checks proxy_ssl_name with X509_check_host (DNS SANs, wildcards; the CN only without DNS SANs) or
            // X509_check_ip_asc for an address.
            if (!leaf.MatchesHostname(name.Trim('[', ']'), allowWildcards: true, allowCommonName: true))
            {
                return Reject(UpstreamTlsError.CertificateNameMismatch, $"upstream SSL certificate does not match \"{name}\"");
            }
            return true;
        }

        private bool Reject(UpstreamTlsError error, string detail)
        {
            Error = error;
            Detail = detail;
            return false;
        }
    }

    /// <summary>SHA-256 over a sequence of certificates: identifies a trust store's content for the pool key.</summary>
    private sealed class IncrementalHashAccumulator
    {
        private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

        public void Add(byte[] data) => _hash.AppendData(data);

        public string Finish()
        {
            var text = Convert.ToHexString(_hash.GetHashAndReset());
            _hash.Dispose();
            return text;
        }
    }
}
