using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using FastProxy.Config;

namespace FastProxy.Tls.Tests;

public sealed class PemCertificateLoaderTests : IDisposable
{
    private readonly TestPki _pki = new();

    public void Dispose() => _pki.Dispose();

    [Theory]
    [InlineData(KeyFormat.Pkcs8, false)]
    [InlineData(KeyFormat.Traditional, false)]
    [InlineData(KeyFormat.Pkcs8, true)]
    [InlineData(KeyFormat.Traditional, true)]
    public void Load_KeyFormats_AttachesKeyAndChain(KeyFormat format, bool ecdsa)
    {
        var files = ecdsa ? _pki.IssueEcdsa("leaf", ["a.test"], format) : _pki.IssueRsa("leaf", ["a.test"], format);

        var loaded = PemCertificateLoader.Load(files.CertificatePath, files.KeyPath, null);

        Assert.True(loaded.Leaf.HasPrivateKey);
        Assert.Equal(ecdsa ? TlsKeyKind.EcdsaP256 : TlsKeyKind.Rsa, loaded.KeyKind);
        Assert.Single(loaded.Intermediates);
        Assert.Equal(_pki.Intermediate.Thumbprint, loaded.Intermediates[0].Thumbprint);
    }

    [Fact]
    public void Load_EncryptedPkcs8_TriesEachPasswordLine()
    {
        var files = _pki.IssueEcdsa("enc", ["a.test"], KeyFormat.EncryptedPkcs8, "right");
        var passwords = _pki.Write("pw", "wrong\nalso-wrong\r\n\nright\n");

        var loaded = PemCertificateLoader.Load(files.CertificatePath, files.KeyPath, passwords);

        Assert.True(loaded.Leaf.HasPrivateKey);
    }

    [Fact]
    public void Load_EncryptedKeyWithoutPasswordFile_Throws()
    {
        var files = _pki.IssueRsa("enc", ["a.test"], KeyFormat.EncryptedPkcs8, "right");

        var e = Assert.Throws<TlsConfigurationException>(() => PemCertificateLoader.Load(files.CertificatePath, files.KeyPath, null));

        Assert.Contains("ssl_password_file", e.Message);
    }

    [Fact]
    public void Load_NoPasswordMatches_Throws()
    {
        var files = _pki.IssueRsa("enc", ["a.test"], KeyFormat.EncryptedPkcs8, "right");
        var passwords = _pki.Write("pw", "wrong\n");

        var e = Assert.Throws<TlsConfigurationException>(() => PemCertificateLoader.Load(files.CertificatePath, files.KeyPath, passwords));

        Assert.Contains("no password", e.Message);
    }

    [Fact]
    public void Load_KeyOfAnotherCertificate_Throws()
    {
        var a = _pki.IssueRsa("a", ["a.test"]);
        var b = _pki.IssueRsa("b", ["b.test"]);

        var e = Assert.Throws<TlsConfigurationException>(() => PemCertificateLoader.Load(a.CertificatePath, b.KeyPath, null));

        Assert.Contains("does not match", e.Message);
    }

    [Fact]
    public void Load_CertificateAndKeyInOneFile_Works()
    {
        var files = _pki.IssueEcdsa("combined", ["a.test"]);
        var combined = _pki.Write("combined.pem", File.ReadAllText(files.CertificatePath) + File.ReadAllText(files.KeyPath));

        var loaded = PemCertificateLoader.Load(combined, combined, null);

        Assert.True(loaded.Leaf.HasPrivateKey);
    }

    public static TheoryData<string, string> OpenSslCliKeys => new()
    {
        // OpenSSL 3's traditional (legacy) encrypted PEM: Proc-Type/DEK-Info headers, EVP_BytesToKey.
        { "rsa-aes256-traditional", "genrsa -aes256 -traditional -passout pass:{0} 2048" },
        { "rsa-des3-traditional", "genrsa -des3 -traditional -passout pass:{0} 2048" },
        { "rsa-aes128-pkcs8", "genrsa -aes128 -passout pass:{0} 2048" },
        { "ec-traditional-plain", "ecparam -name prime256v1 -genkey" },
    };

    [Theory]
    [MemberData(nameof(OpenSslCliKeys))]
    public async Task Load_KeyMadeByOpenSslCli_LoadsAndServesAHandshake(string name, string command)
    {
        const string password = "cli-s3cret";
        var keyPath = Path.Combine(_pki.Directory, name + ".key");
        var words = string.Format(command, password).Split(' ');
        var keyTool = await Tools.RunAsync("openssl", [words[0], "-out", keyPath, .. words[1..]]); // genrsa wants numbits last
        Assert.True(keyTool.ExitCode == 0, keyTool.All);
        bool encrypted = !name.Contains("plain");

        // A self-signed certificate for that key, also by the CLI.
        var certPath = Path.Combine(_pki.Directory, name + ".crt");
        string[] req = ["req", "-new", "-x509", "-key", keyPath, "-out", certPath, "-days", "2", "-subj", "/CN=cli.test",
            "-addext", "subjectAltName=DNS:cli.test"];
        var certTool = await Tools.RunAsync("openssl", encrypted ? [.. req, "-passin", "pass:" + password] : req);
        Assert.True(certTool.ExitCode == 0, certTool.All);
        var passwords = _pki.Write(name + ".pass", "not-it\n" + password + "\n");

        var loaded = PemCertificateLoader.Load(certPath, keyPath, encrypted ? passwords : null);

        Assert.True(loaded.Leaf.HasPrivateKey);
        if (encrypted)
        {
            Assert.Contains(name.Contains("traditional") ? "DEK-Info:" : "ENCRYPTED PRIVATE KEY", File.ReadAllText(keyPath));
        }
        await AssertHandshakeWorksAsync(loaded);
    }

    [Fact]
    public void Get_UnchangedFiles_DoesNotReadAgain()
    {
        var cache = new TlsCertificateCache();
        var files = _pki.IssueEcdsa("cached", ["a.test"]);

        var first = cache.Get(files.Config, null);
        var second = cache.Get(files.Config, null);

        Assert.Same(first, second);
        Assert.Equal(1, cache.Loads);
    }

    [Fact]
    public void Get_FileRewritten_LoadsTheNewCertificate()
    {
        var cache = new TlsCertificateCache();
        var files = _pki.IssueEcdsa("rotated", ["a.test"]);
        var first = cache.Get(files.Config, null);

        // Renew: same paths, new content; the mtime moves forward explicitly so the test does not depend on clock resolution.
        var renewed = _pki.IssueEcdsa("rotated", ["a.test"]);
        File.SetLastWriteTimeUtc(renewed.CertificatePath, DateTime.UtcNow.AddMinutes(1));
        var second = cache.Get(renewed.Config, null);

        Assert.NotSame(first, second);
        Assert.Equal(renewed.Certificate.Thumbprint, second.Leaf.Thumbprint);
        Assert.Equal(2, cache.Loads);
    }

    [Fact]
    public void Get_MissingFile_Throws()
    {
        var cache = new TlsCertificateCache();

        var e = Assert.Throws<TlsConfigurationException>(() => cache.Get(new CertificateConfig("/nonexistent/cert.pem", "/nonexistent/key.pem"), null));

        Assert.Contains("no such file", e.Message);
    }

    /// <summary>
    /// The loaded certificate, with its key as .NET holds it after a PEM import (no PKCS#12 round trip on Linux),
    /// serves a real handshake.
    /// </summary>
    private static async Task AssertHandshakeWorksAsync(LoadedCertificate loaded)
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var serverTask = Task.Run(async () =>
        {
            using var socket = await listener.AcceptAsync(cts.Token);
            await using var ssl = new SslStream(new NetworkStream(socket, ownsSocket: false));
            await ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificateContext = loaded.Context }, cts.Token);
        });
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(listener.LocalEndPoint!, cts.Token);
        await using var clientSsl = new SslStream(new NetworkStream(client, ownsSocket: false));
        X509Certificate? seen = null;
        await clientSsl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "cli.test",
            RemoteCertificateValidationCallback = (_, certificate, _, _) => { seen = certificate; return true; },
        }, cts.Token);
        await serverTask;
        Assert.Equal(loaded.Leaf.GetCertHashString(), seen!.GetCertHashString());
    }
}
