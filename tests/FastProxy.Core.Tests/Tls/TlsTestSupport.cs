using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Threading.Channels;
using FastProxy.Config;
using Microsoft.Extensions.Logging;

namespace FastProxy.Tls.Tests;

/// <summary>Key encodings the PEM loader must read.</summary>
public enum KeyFormat
{
    Pkcs8,
    Traditional,      // PKCS#1 for RSA, SEC1 for EC
    EncryptedPkcs8,
}

/// <summary>A certificate and key written as PEM files.</summary>
internal sealed record CertFiles(string CertificatePath, string KeyPath, X509Certificate2 Certificate)
{
    public CertificateConfig Config => new(CertificatePath, KeyPath);
}

/// <summary>
/// A throw-away PKI made at test time: a root CA, an intermediate CA signed by it, and leaf certificates signed by the
/// intermediate. Leaf files hold leaf + intermediate (a full chain, as ssl_certificate takes it); clients trust only
/// the root (<see cref="RootPath"/>), so a handshake verifies only when the server sends the intermediate.
/// </summary>
internal sealed class TestPki : IDisposable
{
    private static readonly DateTimeOffset NotBefore = DateTimeOffset.UtcNow.AddDays(-1);
    private static readonly DateTimeOffset NotAfter = DateTimeOffset.UtcNow.AddDays(30);
    private int _serial = 1;

    public TestPki()
    {
        Directory = Path.Combine(Path.GetTempPath(), "fastproxy-tls-" + Guid.NewGuid().ToString("N")[..12]);
        System.IO.Directory.CreateDirectory(Directory);

        using var rootKey = ECDsa.Create(ECCurve.NamedCurves.nistP384);
        var rootRequest = new CertificateRequest("CN=FastProxy Test Root CA", rootKey, HashAlgorithmName.SHA384);
        AddCaExtensions(rootRequest);
        Root = rootRequest.CreateSelfSigned(NotBefore, NotAfter);
        RootPath = Write("root-ca.pem", Root.ExportCertificatePem());

        using var intermediateKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var intermediateRequest = new CertificateRequest("CN=FastProxy Test Intermediate CA", intermediateKey, HashAlgorithmName.SHA256);
        AddCaExtensions(intermediateRequest);
        intermediateRequest.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(Root, true, false));
        using var intermediatePublic = intermediateRequest.Create(Root, NotBefore, NotAfter, NextSerial());
        Intermediate = intermediatePublic.CopyWithPrivateKey(intermediateKey);
    }

    public string Directory { get; }

    public X509Certificate2 Root { get; }

    public X509Certificate2 Intermediate { get; }

    /// <summary>The root CA alone: what clients trust (curl --cacert, openssl -CAfile, proxy_ssl_trusted_certificate).</summary>
    public string RootPath { get; }

    public CertFiles IssueRsa(string name, string[] dnsNames, KeyFormat format = KeyFormat.Pkcs8, string? password = null, bool selfSigned = false)
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest($"CN={dnsNames[0]}", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        AddLeafExtensions(request, dnsNames, X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment);
        var certificate = selfSigned ? request.CreateSelfSigned(NotBefore, NotAfter) : SignWithIntermediate(request);
        string keyPem = format switch
        {
            KeyFormat.Pkcs8 => key.ExportPkcs8PrivateKeyPem(),
            KeyFormat.Traditional => key.ExportRSAPrivateKeyPem(),
            _ => key.ExportEncryptedPkcs8PrivateKeyPem(password!, new PbeParameters(PbeEncryptionAlgorithm.Aes256Cbc, HashAlgorithmName.SHA256, 10_000)),
        };
        return WritePair(name, certificate, keyPem, selfSigned);
    }

    public CertFiles IssueEcdsa(string name, string[] dnsNames, KeyFormat format = KeyFormat.Pkcs8, string? password = null, bool selfSigned = false)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={dnsNames[0]}", key, HashAlgorithmName.SHA256);
        AddLeafExtensions(request, dnsNames, X509KeyUsageFlags.DigitalSignature);
        var certificate = selfSigned ? request.CreateSelfSigned(NotBefore, NotAfter) : SignWithIntermediate(request);
        string keyPem = format switch
        {
            KeyFormat.Pkcs8 => key.ExportPkcs8PrivateKeyPem(),
            KeyFormat.Traditional => key.ExportECPrivateKeyPem(),
            _ => key.ExportEncryptedPkcs8PrivateKeyPem(password!, new PbeParameters(PbeEncryptionAlgorithm.Aes256Cbc, HashAlgorithmName.SHA256, 10_000)),
        };
        return WritePair(name, certificate, keyPem, selfSigned);
    }

    public string Write(string fileName, string content)
    {
        var path = Path.Combine(Directory, fileName);
        File.WriteAllText(path, content);
        return path;
    }

    public void Dispose()
    {
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private CertFiles WritePair(string name, X509Certificate2 certificate, string keyPem, bool selfSigned)
    {
        string chain = certificate.ExportCertificatePem() + "\n" + (selfSigned ? "" : Intermediate.ExportCertificatePem() + "\n");
        var certPath = Write(name + ".crt", chain);
        var keyPath = Write(name + ".key", keyPem + "\n");
        return new CertFiles(certPath, keyPath, certificate);
    }

    private X509Certificate2 SignWithIntermediate(CertificateRequest request)
    {
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(Intermediate, true, false));
        // The intermediate's key is ECDSA while the leaf may be RSA: sign through a generator for the issuer's key.
        using var issuerKey = Intermediate.GetECDsaPrivateKey()!;
        using var signed = request.Create(Intermediate.SubjectName, X509SignatureGenerator.CreateForECDsa(issuerKey), NotBefore, NotAfter, NextSerial());
        return X509CertificateLoader.LoadCertificate(signed.RawData);
    }

    private byte[] NextSerial()
    {
        var serial = new byte[8];
        RandomNumberGenerator.Fill(serial);
        serial[0] = (byte)(0x10 | (Interlocked.Increment(ref _serial) & 0x0F));
        return serial;
    }

    private static void AddCaExtensions(CertificateRequest request)
    {
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
    }

    private static void AddLeafExtensions(CertificateRequest request, string[] dnsNames, X509KeyUsageFlags usage)
    {
        var san = new SubjectAlternativeNameBuilder();
        foreach (var name in dnsNames)
        {
            if (IPAddress.TryParse(name, out var address))
            {
                san.AddIpAddress(address);
            }
            else
            {
                san.AddDnsName(name);
            }
        }
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(usage, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
    }
}

/// <summary>The result of running a real client (curl, openssl).</summary>
internal sealed record ToolResult(int ExitCode, string StdOut, string StdErr)
{
    public string All => StdOut + "\n" + StdErr;
}

/// <summary>
/// Runs curl and openssl as real clients. A missing tool fails the test with a message saying how to install it: the
/// TLS proof depends on them and must not be skipped silently (CI's .ci/run installs both).
/// </summary>
internal static class Tools
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    public static string Require(string tool)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator))
        {
            var candidate = Path.Combine(dir, tool);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        throw new InvalidOperationException(
            $"'{tool}' is not installed but the TLS tests need it as a real client: apt-get install -y {tool} (CI's .ci/run installs it)");
    }

    public static async Task<ToolResult> RunAsync(string tool, IEnumerable<string> arguments, string? stdin = null, TimeSpan? timeout = null)
    {
        var info = new ProcessStartInfo(Require(tool))
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            await process.StandardInput.WriteAsync(stdin);
        }
        process.StandardInput.Close();
        using var cts = new CancellationTokenSource(timeout ?? DefaultTimeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{tool} {string.Join(' ', info.ArgumentList)} did not finish within {(timeout ?? DefaultTimeout).TotalSeconds} s");
        }
        return new ToolResult(process.ExitCode, await stdout, await stderr);
    }

    public static Task<ToolResult> OpenSslAsync(params string[] arguments) => RunAsync("openssl", arguments);

    public static Task<ToolResult> CurlAsync(params string[] arguments) => RunAsync("curl", arguments);
}

/// <summary>
/// A tiny HTTPS server over a real socket on 127.0.0.1, port 0, that runs <see cref="TlsServerContext"/> for every
/// connection, then, through <see cref="TlsDuplexPipe"/>, reads one request head and answers a fixed response
/// naming the server the handshake chose. Handshake results are queued for the test to inspect.
/// </summary>
internal sealed class TestTlsServer : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly Channel<TlsHandshakeResult> _results = Channel.CreateUnbounded<TlsHandshakeResult>();
    private readonly Task _acceptLoop;

    public TestTlsServer(Func<IPEndPoint, TlsServerContext> createContext)
    {
        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(64);
        EndPoint = (IPEndPoint)_listener.LocalEndPoint!;
        Context = createContext(EndPoint);
        _acceptLoop = AcceptLoopAsync();
    }

    public IPEndPoint EndPoint { get; }

    public int Port => EndPoint.Port;

    public TlsServerContext Context { get; }

    /// <summary>The next handshake's outcome; fails the test if none comes within <paramref name="timeout"/>.</summary>
    public async Task<TlsHandshakeResult> NextResultAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(30));
        try
        {
            return await _results.Reader.ReadAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException("no TLS handshake result within the timeout");
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Dispose();
        try
        {
            await _acceptLoop.WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
        _stop.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }
            _ = Task.Run(() => ServeAsync(socket));
        }
    }

    private async Task ServeAsync(Socket socket)
    {
        var remote = socket.RemoteEndPoint;
        var result = await Context.AuthenticateAsync(new NetworkStream(socket, ownsSocket: true), remote, _stop.Token);
        _results.Writer.TryWrite(result);
        if (!result.Succeeded)
        {
            return;
        }
        var stream = result.Stream!;
        var input = new TlsPipeReader(stream);
        var output = new TlsPipeWriter(stream);
        input.Start();
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
            timeout.CancelAfter(TimeSpan.FromSeconds(30));
            if (!await ReadHeadAsync(input, timeout.Token))
            {
                return;
            }
            string body = $"server={result.Server?.ServerNames.FirstOrDefault()} sni={result.ServerName ?? "-"} protocol={result.ProtocolName}\n";
            string response = $"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n{body}";
            await output.WriteAsync(Encoding.ASCII.GetBytes(response)).AsTask().WaitAsync(timeout.Token);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException or TimeoutException)
        {
        }
        finally
        {
            input.Complete();
            output.Complete();
            await input.StopAsync(stream.Dispose);
            await stream.DisposeAsync();
        }
    }

    private static async Task<bool> ReadHeadAsync(PipeReader input, CancellationToken token)
    {
        while (true)
        {
            var read = await input.ReadAsync().AsTask().WaitAsync(token);
            var buffer = read.Buffer;
            var position = FindEndOfHead(buffer);
            if (position is not null)
            {
                input.AdvanceTo(position.Value);
                return true;
            }
            if (read.IsCompleted || buffer.Length > 64 * 1024)
            {
                return false;
            }
            input.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    private static SequencePosition? FindEndOfHead(ReadOnlySequence<byte> buffer)
    {
        var reader = new SequenceReader<byte>(buffer);
        return reader.TryReadTo(out ReadOnlySequence<byte> _, "\r\n\r\n"u8, advancePastDelimiter: true) ? reader.Position : null;
    }
}

/// <summary>Collects log entries so tests can check what was logged, and at which level.</summary>
internal sealed class ListLogger : ILogger
{
    private readonly List<(LogLevel Level, EventId Id, string Message)> _entries = [];

    public IReadOnlyList<(LogLevel Level, EventId Id, string Message)> Entries
    {
        get
        {
            lock (_entries)
            {
                return [.. _entries];
            }
        }
    }

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        lock (_entries)
        {
            _entries.Add((logLevel, eventId, formatter(state, exception)));
        }
    }
}

/// <summary>Builders for the configuration records the TLS layer reads.</summary>
internal static class TlsConfigs
{
    public static ServerConfig Server(IPEndPoint endPoint, string[] names, ServerTlsConfig? tls, bool defaultServer = false, bool http2 = false) => new()
    {
        Listens = [new ListenConfig { EndPoint = endPoint, Ssl = tls is not null, DefaultServer = defaultServer, Http2 = http2 }],
        ServerNames = names,
        Tls = tls,
        Source = $"test.conf:{names.FirstOrDefault()}",
    };

    public static ServerTlsConfig Tls(params CertFiles[] certificates) => new()
    {
        Certificates = certificates.Select(c => c.Config).ToList(),
    };
}
