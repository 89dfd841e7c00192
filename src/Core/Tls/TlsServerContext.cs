using System.Buffers;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using FastProxy.Config;
using Microsoft.Extensions.Logging;

namespace FastProxy.Tls;

/// <summary>
/// TLS termination for one listen address, built once per configuration snapshot from the servers on that address and
/// called by the transport for every accepted connection. A reload builds a new context (cheap: certificates come from
/// <see cref="TlsCertificateCache"/>); connections keep the one they started with.
/// </summary>
/// <remarks>
/// Per connection: read the ClientHello without consuming it (<see cref="ClientHello"/>), pick the server by SNI
/// (exact, wildcard, regex as server_name; else the default server), pick that server's certificate the client can use
/// (ECDSA when the client supports it, else RSA: what OpenSSL does in nginx with both configured), then let SslStream
/// run the handshake over the replayed bytes, within ssl_handshake_timeout. Failures come back as values.
/// </remarks>
internal sealed class TlsServerContext
{
    private static readonly List<SslApplicationProtocol> Http11Only = [SslApplicationProtocol.Http11];

    private readonly VirtualServer[] _servers;
    private readonly VirtualServer _default;
    private readonly ServerNameMatcher<VirtualServer> _names = new();
    private readonly ILogger _logger;
    private readonly string _endPointText;

    private TlsServerContext(IPEndPoint endPoint, VirtualServer[] servers, VirtualServer defaultServer, ILogger logger, List<string> warnings)
    {
        EndPoint = endPoint;
        _endPointText = endPoint.ToString();
        _servers = servers;
        _default = defaultServer;
        _logger = logger;
        Warnings = warnings;
        HandshakeTimeout = defaultServer.Config.Tls?.HandshakeTimeout ?? new ServerTlsConfig().HandshakeTimeout;
        foreach (var server in servers)
        {
            _names.Add(server.Config.ServerNames, server);
        }
    }

    public IPEndPoint EndPoint { get; }

    /// <summary>
    /// ssl_handshake_timeout of the default server (nginx reads it before SNI is known). A connection that has not
    /// completed the handshake by then is closed.
    /// </summary>
    public TimeSpan HandshakeTimeout { get; }

    /// <summary>Settings accepted but not applied as written (logged at build; <c>fastproxy -t</c> can list them).</summary>
    public IReadOnlyList<string> Warnings { get; }

    /// <summary>
    /// Builds the context for <paramref name="endPoint"/> from the servers listening on it, in file order. The default
    /// server is the one whose listen says default_server, else the first. Throws
    /// <see cref="TlsConfigurationException"/> for what nginx refuses at start (missing or unreadable certificate, key
    /// mismatch, cipher list that selects nothing).
    /// </summary>
    public static TlsServerContext Create(IPEndPoint endPoint, IReadOnlyList<ServerConfig> servers, TlsCertificateCache certificates, ILogger logger)
    {
        if (servers.Count == 0)
        {
            throw new ArgumentException("no server listens on " + endPoint, nameof(servers));
        }
        var warnings = new List<string>();
        var built = new VirtualServer[servers.Count];
        VirtualServer? defaultServer = null;
        bool http2 = false;
        for (int i = 0; i < servers.Count; i++)
        {
            var server = servers[i];
            var listen = FindListen(server, endPoint);
            built[i] = VirtualServer.Build(server, i, certificates, warnings);
            if (built[i].Certificates.Length == 0 && listen?.Ssl == true)
            {
                // nginx: no "ssl_certificate" is defined for the "listen ... ssl" directive in FILE:LINE.
                throw new TlsConfigurationException(
                    $"no \"ssl_certificate\" is defined for the \"listen {endPoint} ssl\" directive{At(server)}");
            }
            if (listen?.DefaultServer == true && defaultServer is null)
            {
                defaultServer = built[i];
            }
            http2 |= listen?.Http2 == true;
        }
        defaultServer ??= built[0];
        if (defaultServer.Certificates.Length == 0)
        {
            throw new TlsConfigurationException($"no \"ssl_certificate\" is defined for the default server of {endPoint}{At(defaultServer.Config)}");
        }

        foreach (var warning in warnings)
        {
            TlsLog.ConfigurationWarning(logger, warning);
        }
        if (http2)
        {
            TlsLog.Http2NotServed(logger, endPoint.ToString());
        }
        return new TlsServerContext(endPoint, built, defaultServer, logger, warnings);
    }

    /// <summary>
    /// Builds a context for every address that has <c>ssl</c> on some server's listen (nginx: ssl is a property of
    /// the listening socket, so every server on that address takes part in SNI), with the servers listening there in
    /// file order. Addresses are compared exactly, as the listen directives wrote them.
    /// </summary>
    public static Dictionary<IPEndPoint, TlsServerContext> CreateAll(ProxyConfig config, TlsCertificateCache certificates, ILogger logger)
    {
        var byAddress = new Dictionary<IPEndPoint, (bool Ssl, List<ServerConfig> Servers)>();
        foreach (var server in config.Servers)
        {
            foreach (var listen in server.Listens)
            {
                if (!byAddress.TryGetValue(listen.EndPoint, out var entry))
                {
                    entry = (false, []);
                }
                if (!entry.Servers.Contains(server))
                {
                    entry.Servers.Add(server);
                }
                byAddress[listen.EndPoint] = (entry.Ssl || listen.Ssl, entry.Servers);
            }
        }
        var contexts = new Dictionary<IPEndPoint, TlsServerContext>();
        foreach (var (endPoint, (ssl, servers)) in byAddress)
        {
            if (ssl)
            {
                contexts[endPoint] = Create(endPoint, servers, certificates, logger);
            }
        }
        return contexts;
    }

    /// <summary>
    /// Decides what <c>listen ... http2</c> gets: accepted, not served yet (ALPN offers http/1.1 only). Returns the
    /// message to log once per listen address, or null when http2 is not asked for.
    /// </summary>
    public static string? DescribeHttp2(ListenConfig listen) =>
        listen.Http2
            ? $"listen {listen.EndPoint} http2: HTTP/2 is not served yet; the listener offers http/1.1 only (ALPN), clients use HTTP/1.1"
            : null;

    /// <summary>
    /// Runs the server side of the handshake on an accepted connection. Takes ownership of
    /// <paramref name="networkStream"/>: on success it is inside the returned SslStream, on failure it has been
    /// disposed (only this connection is closed) and the reason logged at info.
    /// </summary>
    public async ValueTask<TlsHandshakeResult> AuthenticateAsync(Stream networkStream, EndPoint? remoteEndPoint, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(HandshakeTimeout);
        byte[]? buffer = ArrayPool<byte>.Shared.Rent(4096);
        int length = 0;
        string? serverName = null;
        SslStream? ssl = null;
        try
        {
            ClientHelloStatus status;
            ClientHelloInfo hello;
            while (true)
            {
                status = ClientHello.TryParse(buffer.AsSpan(0, length), out hello);
                if (status != ClientHelloStatus.Incomplete)
                {
                    break;
                }
                if (length == buffer.Length)
                {
                    if (length >= ClientHello.MaxBufferedLength)
                    {
                        status = ClientHelloStatus.Unreadable;
                        break;
                    }
                    var larger = ArrayPool<byte>.Shared.Rent(Math.Min(buffer.Length * 2, ClientHello.MaxBufferedLength));
                    buffer.AsSpan(0, length).CopyTo(larger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = larger;
                }
                int read = await networkStream.ReadAsync(buffer.AsMemory(length), timeout.Token).ConfigureAwait(false);
                if (read == 0)
                {
                    return Fail(networkStream, TlsHandshakeError.ClientClosed, "client closed connection before ClientHello", null, remoteEndPoint);
                }
                length += read;
            }

            if (status == ClientHelloStatus.PlainHttp)
            {
                return Fail(networkStream, TlsHandshakeError.PlainHttp, "the plain HTTP request was sent to HTTPS port", null, remoteEndPoint);
            }

            VirtualServer server = _default;
            CertificateChoice? choice;
            if (status == ClientHelloStatus.Complete)
            {
                serverName = hello.ServerName;
                server = _names.Match(serverName) ?? _default;
                choice = server.Choose(buffer.AsSpan(0, length), in hello);
            }
            else
            {
                // Unreadable hello: OpenSSL sees the same bytes and answers with the proper alert.
                choice = server.Certificates.Length > 0 ? server.Certificates[0] : null;
            }
            if (choice is null)
            {
                return Fail(networkStream, TlsHandshakeError.NoCertificate,
                    $"no \"ssl_certificate\" is defined in server{At(server.Config)}", serverName, remoteEndPoint);
            }

            // A client offering TLS 1.3 negotiates it: the cipher policy (TLS 1.2 suites only) is left out, see CertificateChoice.
            bool tls13 = choice.HasTls13Variant && status == ClientHelloStatus.Complete && hello.OffersTls13;
            var replay = new ClientHelloReplayStream(networkStream, buffer, length);
            buffer = null; // the replay stream returns it to the pool
            ssl = new SslStream(replay, leaveInnerStreamOpen: false);
            await ssl.AuthenticateAsServerAsync(tls13 ? choice.Tls13Options : choice.Options, timeout.Token).ConfigureAwait(false);
            if (tls13 && ssl.SslProtocol != SslProtocols.Tls13)
            {
                // Never expected (OpenSSL picks the highest version both offer); were it TLS 1.2, it would have been
                // negotiated without ssl_ciphers: refuse it rather than serve it.
                await ssl.DisposeAsync().ConfigureAwait(false);
                ssl = null;
                return Fail(networkStream, TlsHandshakeError.ProtocolMismatch, "TLS 1.3 offered but not negotiated", serverName, remoteEndPoint);
            }
            var result = TlsHandshakeResult.Success(ssl, serverName, server.Config);
            ssl = null;
            return result;
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or AuthenticationException or SocketException or ObjectDisposedException)
        {
            var (error, detail) = timeout.IsCancellationRequested
                ? cancellationToken.IsCancellationRequested
                    ? (TlsHandshakeError.Cancelled, "server stopping")
                    : (TlsHandshakeError.Timeout, $"client timed out ({HandshakeTimeout.TotalSeconds:0.###} s ssl_handshake_timeout)")
                : Classify(e);
            if (ssl is not null)
            {
                await ssl.DisposeAsync().ConfigureAwait(false);
            }
            return Fail(networkStream, error, detail, serverName, remoteEndPoint);
        }
        finally
        {
            if (buffer is not null)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    private TlsHandshakeResult Fail(Stream networkStream, TlsHandshakeError error, string? detail, string? serverName, EndPoint? remote)
    {
        networkStream.Dispose();
        TlsLog.HandshakeFailed(_logger, error, detail, remote?.ToString(), _endPointText, serverName);
        return TlsHandshakeResult.Failure(error, detail, serverName);
    }

    /// <summary>Maps what SslStream threw to a reason, by OpenSSL's reason strings (ssl/ssl_err.c).</summary>
    internal static (TlsHandshakeError Error, string Detail) Classify(Exception exception)
    {
        string detail = exception.Message;
        for (var inner = exception.InnerException; inner is not null; inner = inner.InnerException)
        {
            detail += " -> " + inner.Message;
        }
        static bool Has(string text, string part) => text.Contains(part, StringComparison.OrdinalIgnoreCase);

        TlsHandshakeError error;
        if (Has(detail, "unsupported protocol") || Has(detail, "wrong version number") || Has(detail, "version too low") ||
            Has(detail, "alert protocol version") || Has(detail, "no protocols available"))
        {
            error = TlsHandshakeError.ProtocolMismatch;
        }
        else if (Has(detail, "no shared cipher") || Has(detail, "no suitable signature algorithm") || Has(detail, "no shared signature") ||
                 Has(detail, "no suitable key share") || Has(detail, "no shared groups"))
        {
            error = TlsHandshakeError.NoSharedCipher;
        }
        else if (Has(detail, "no application protocol"))
        {
            error = TlsHandshakeError.NoApplicationProtocol;
        }
        else if (Has(detail, "http request"))
        {
            error = TlsHandshakeError.PlainHttp;
        }
        else if (Has(detail, "alert"))
        {
            error = TlsHandshakeError.ClientAlert;
        }
        else if (exception is IOException or SocketException || exception.InnerException is SocketException ||
                 Has(detail, "unexpected EOF") || Has(detail, "0 bytes") || Has(detail, "connection reset"))
        {
            error = TlsHandshakeError.ClientClosed;
        }
        else
        {
            error = TlsHandshakeError.Failed;
        }
        return (error, detail);
    }

    private static ListenConfig? FindListen(ServerConfig server, IPEndPoint endPoint)
    {
        foreach (var listen in server.Listens)
        {
            if (listen.EndPoint.Equals(endPoint))
            {
                return listen;
            }
        }
        return null;
    }

    private static string At(ServerConfig server) => server.Source is null ? "" : " in " + server.Source;

    /// <summary>A certificate with the SslStream options that present it (shared by all connections: SslStream copies them).</summary>
    /// <remarks>
    /// <see cref="Tls13Options"/> leaves the cipher policy out when <c>ssl_ciphers</c> is set: a policy only restricts
    /// TLS 1.2 here (TLS 1.3 keeps OpenSSL's defaults, as nginx), and with one .NET builds a new OpenSSL context per
    /// connection (~200 µs of CPU) and cannot resume sessions. The handshake checks that TLS 1.3 was negotiated.
    /// </remarks>
    internal sealed class CertificateChoice(LoadedCertificate certificate, SslServerAuthenticationOptions options,
        SslServerAuthenticationOptions? tls13Options = null)
    {
        public LoadedCertificate Certificate { get; } = certificate;

        public SslServerAuthenticationOptions Options { get; } = options;

        /// <summary>For a ClientHello offering TLS 1.3 (where enabled): <see cref="Options"/> without its cipher policy.</summary>
        public SslServerAuthenticationOptions Tls13Options { get; } = tls13Options ?? options;

        public bool HasTls13Variant => !ReferenceEquals(Tls13Options, Options);
    }

    /// <summary>One server block's TLS settings on this address.</summary>
    internal sealed class VirtualServer
    {
        private VirtualServer(ServerConfig config, int index, CertificateChoice[] certificates, SslProtocols protocols, OpenSslCipher[] tls12Order)
        {
            Config = config;
            Index = index;
            Certificates = certificates;
            Protocols = protocols;
            Tls12Order = tls12Order;
        }

        public ServerConfig Config { get; }

        public int Index { get; }

        public CertificateChoice[] Certificates { get; }

        public SslProtocols Protocols { get; }

        /// <summary>The server's TLS 1.2 cipher preference (ssl_ciphers, or .NET's default list).</summary>
        public OpenSslCipher[] Tls12Order { get; }

        public static VirtualServer Build(ServerConfig config, int index, TlsCertificateCache cache, List<string> warnings)
        {
            var tls = config.Tls;
            if (tls is null || tls.Certificates.Count == 0)
            {
                return new VirtualServer(config, index, [], TlsProtocols.Default, []);
            }
            string where = config.Source is null ? "" : $" ({config.Source})";
            var local = new List<string>();
            var protocols = TlsProtocols.Parse(tls.Protocols, "ssl_protocols", local);
            var policy = OpenSslCipherList.CreatePolicy(tls.Ciphers, local, out var tls12);

            // nginx: ssl_session_cache none|off|builtin|shared and ssl_session_tickets. .NET has one switch
            // (AllowTlsResume) for the OpenSSL session cache and tickets together.
            string sessionCache = (tls.SessionCache ?? "none").Trim();
            bool cacheOn = sessionCache.StartsWith("builtin", StringComparison.Ordinal) || sessionCache.StartsWith("shared", StringComparison.Ordinal);
            bool resume = tls.SessionTickets || cacheOn;
            // ssl_ciphers lists TLS 1.2 suites only (nginx sets TLS 1.3's apart): a client offering TLS 1.3 where it is
            // enabled negotiates TLS 1.3, whose suites the policy leaves at OpenSSL's defaults, so its handshake runs
            // without the policy, on the OpenSSL context .NET shares (and resumes sessions in).
            bool tls13WithoutPolicy = policy is not null && (protocols & SslProtocols.Tls13) != 0;
            if (resume && policy is not null)
            {
                local.Add(tls13WithoutPolicy
                    ? "ssl_ciphers is set: .NET does not reuse the OpenSSL context when a cipher policy is given, so TLS 1.2 sessions are not resumed (TLS 1.3 ones are)"
                    : "ssl_ciphers is set: .NET does not reuse the OpenSSL context when a cipher policy is given, so TLS sessions are not resumed");
            }
            if (resume && !tls.SessionTickets)
            {
                local.Add("ssl_session_tickets off: .NET cannot disable tickets while keeping the session cache; both stay on");
            }
            if (resume && tls.SessionTimeout != TimeSpan.FromMinutes(5))
            {
                local.Add($"ssl_session_timeout {tls.SessionTimeout.TotalSeconds:0}s is not applied: .NET sets no session lifetime, OpenSSL's defaults are used");
            }
            // ssl_prefer_server_ciphers is not consulted: .NET on Linux always sets SSL_OP_CIPHER_SERVER_PREFERENCE
            // (as "on"); nginx's default is off, so warning here would warn for every configuration (docs/tls.md).
            foreach (var message in local)
            {
                warnings.Add(message + where);
            }

            var choices = new CertificateChoice[tls.Certificates.Count];
            for (int i = 0; i < choices.Length; i++)
            {
                var certificate = cache.Get(tls.Certificates[i], tls.PasswordFile);
                choices[i] = new CertificateChoice(certificate, Options(certificate, policy),
                    tls13WithoutPolicy ? Options(certificate, cipherPolicy: null) : null);
            }
            return new VirtualServer(config, index, choices, protocols, [.. tls12]);

            // One certificate's options, with the configured cipher policy or (for TLS 1.3 clients) without it.
            SslServerAuthenticationOptions Options(LoadedCertificate certificate, CipherSuitesPolicy? cipherPolicy) => new()
            {
                ServerCertificateContext = certificate.Context,
                EnabledSslProtocols = protocols,
                CipherSuitesPolicy = cipherPolicy,
                // h2 is not served yet: http/1.1 only (a client offering only h2 gets no ALPN answer, see docs/tls.md).
                ApplicationProtocols = Http11Only,
                ClientCertificateRequired = false,
                CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
                AllowTlsResume = resume,
                // Client-initiated renegotiation is refused, as nginx does (SSL_OP_NO_RENEGOTIATION; CVE-2009-3555);
                // TlsPipeWriter's synchronous writes rely on it.
                AllowRenegotiation = false,
            };
        }

        /// <summary>
        /// The certificate this client can use. TLS 1.3: by signature_algorithms, ECDSA (P-256, P-384, P-521) before
        /// RSA-PSS, the order of OpenSSL's default server list, which it walks with server preference. TLS 1.2: the
        /// first suite of the server's cipher order that the client offers and a certificate can serve, as OpenSSL's
        /// ssl3_choose_cipher does. Nothing fits: the first certificate (OpenSSL then fails the handshake).
        /// </summary>
        public CertificateChoice? Choose(ReadOnlySpan<byte> raw, in ClientHelloInfo hello)
        {
            if (Certificates.Length <= 1)
            {
                return Certificates.Length == 0 ? null : Certificates[0];
            }
            if (hello.OffersTls13 && (Protocols & SslProtocols.Tls13) != 0)
            {
                return Find(TlsKeyKind.EcdsaP256, hello.Signatures.HasFlag(SignatureSupport.EcdsaP256))
                    ?? Find(TlsKeyKind.EcdsaP384, hello.Signatures.HasFlag(SignatureSupport.EcdsaP384))
                    ?? Find(TlsKeyKind.EcdsaP521, hello.Signatures.HasFlag(SignatureSupport.EcdsaP521))
                    ?? Find(TlsKeyKind.Rsa, hello.Signatures.HasFlag(SignatureSupport.RsaPss))
                    ?? Certificates[0];
            }

            bool ecdsaSigns = !hello.HasSignatureAlgorithms || hello.Signatures.HasFlag(SignatureSupport.EcdsaAny);
            bool rsaSigns = !hello.HasSignatureAlgorithms || (hello.Signatures & (SignatureSupport.RsaPkcs1 | SignatureSupport.RsaPss)) != 0;
            foreach (var cipher in Tls12Order)
            {
                if (!ClientHello.OffersCipherSuite(raw, in hello, cipher.Code))
                {
                    continue;
                }
                CertificateChoice? found = cipher.Au switch
                {
                    Au.Ecdsa when ecdsaSigns => FindEcdsaForTls12(hello),
                    Au.Rsa when rsaSigns => Find(TlsKeyKind.Rsa, true),
                    _ => null,
                };
                if (found is not null)
                {
                    return found;
                }
            }
            return Certificates[0];
        }

        private CertificateChoice? FindEcdsaForTls12(in ClientHelloInfo hello)
        {
            // RFC 8422 §5.1.1: the certificate's curve must be one the client lists in supported_groups (absent: any).
            foreach (var choice in Certificates)
            {
                var group = choice.Certificate.KeyKind switch
                {
                    TlsKeyKind.EcdsaP256 => GroupSupport.P256,
                    TlsKeyKind.EcdsaP384 => GroupSupport.P384,
                    TlsKeyKind.EcdsaP521 => GroupSupport.P521,
                    _ => GroupSupport.None,
                };
                if (group != GroupSupport.None && (!hello.HasGroups || hello.Groups.HasFlag(group)))
                {
                    return choice;
                }
            }
            return null;
        }

        private CertificateChoice? Find(TlsKeyKind kind, bool clientCanUse)
        {
            if (!clientCanUse)
            {
                return null;
            }
            foreach (var choice in Certificates)
            {
                if (choice.Certificate.KeyKind == kind)
                {
                    return choice;
                }
            }
            return null;
        }
    }
}
