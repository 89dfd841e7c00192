using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace FastProxy.FunctionalTests.Infrastructure;

/// <summary>
/// The reference configurations of ../shared/nginx-examples (copied into Fixtures/nginx-examples), with what a test
/// must change to run them: the backend ports (18081-18086, 18444) become the test's backends, and the certificate and
/// cache paths under /tmp become the test's own folder. The proxy's listen ports stay as written (in-process tests
/// move them to free ports with <see cref="NginxTestConfig"/>; runs of the binary replace them with free ports).
/// </summary>
public static class ReferenceConfigs
{
    public static readonly string[] All =
        ["01-basic.conf", "02-gateway.conf", "03-upstreams.conf", "04-rate-limit.conf", "05-tls.conf", "06-websocket-cache.conf"];

    public static string Text(string name) =>
        File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "nginx-examples", name));

    /// <summary>
    /// The file with <paramref name="ports"/> replaced ("18081" → "127.0.0.1:40123" style: the whole address) and the
    /// /tmp paths moved under <paramref name="directory"/>.
    /// </summary>
    public static string Rewrite(string text, string directory, params (int Port, string Address)[] ports)
    {
        foreach (var (port, address) in ports)
        {
            text = text.Replace($"127.0.0.1:{port}", address, StringComparison.Ordinal);
        }
        return text
            .Replace("/tmp/fastproxy-test-certs/", Path.Combine(directory, "certs") + "/", StringComparison.Ordinal)
            .Replace("/tmp/fastproxy-cache", Path.Combine(directory, "cache"), StringComparison.Ordinal);
    }

    /// <summary>
    /// Writes a self-signed ECDSA certificate for api.example.com (and 127.0.0.1) as fullchain.pem / privkey.pem under
    /// DIRECTORY/certs, the files 05-tls.conf names.
    /// </summary>
    public static X509Certificate2 WriteCertificates(string directory)
    {
        string certs = Directory.CreateDirectory(Path.Combine(directory, "certs")).FullName;
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=api.example.com", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("api.example.com");
        names.AddIpAddress(System.Net.IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        File.WriteAllText(Path.Combine(certs, "fullchain.pem"), certificate.ExportCertificatePem());
        File.WriteAllText(Path.Combine(certs, "privkey.pem"), key.ExportPkcs8PrivateKeyPem());
        return certificate;
    }
}
