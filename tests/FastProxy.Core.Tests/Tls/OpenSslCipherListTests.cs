using System.Net.Security;

namespace FastProxy.Tls.Tests;

public sealed class OpenSslCipherListTests
{
    public static TheoryData<string> CipherStrings => new()
    {
        "HIGH:!aNULL:!MD5",                                        // nginx's default ssl_ciphers
        "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384", // nginx-examples/05-tls.conf
        "ECDHE+AESGCM:ECDHE+CHACHA20",
        "EECDH+AESGCM:EDH+AESGCM",
        "ALL:!RSA:!DSS:!PSK:!SRP:!aNULL",
        "AES256:-SHA1:AES128:+SHA256",
        "HIGH:!aNULL:@STRENGTH",
        "DEFAULT:!ECDSA",
        "kRSA:-AESGCM:AES",
        "ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-GCM-SHA384:!SHA1",
    };

    [Theory]
    [MemberData(nameof(CipherStrings))]
    public async Task Evaluate_CipherString_MatchesOpenSslCiphersCommand(string cipherString)
    {
        var openssl = await Tools.OpenSslAsync("ciphers", cipherString);
        Assert.True(openssl.ExitCode == 0, openssl.All);
        // openssl ciphers also prints the TLS 1.3 suites first; ssl_ciphers does not set those.
        var expected = openssl.StdOut.Trim().Split(':').Where(n => !n.StartsWith("TLS_", StringComparison.Ordinal)).ToList();

        var actual = OpenSslCipherList.Evaluate(cipherString, []).Select(c => c.Name).ToList();

        Assert.Equal(expected, actual);
    }

    [Fact]
    public void Evaluate_UnknownNameAndTls13Suite_AreSkippedWithWarnings()
    {
        var warnings = new List<string>();

        var ciphers = OpenSslCipherList.Evaluate("NO-SUCH-CIPHER:TLS_AES_128_GCM_SHA256:ECDHE-RSA-AES128-GCM-SHA256", warnings);

        Assert.Equal(["ECDHE-RSA-AES128-GCM-SHA256"], ciphers.Select(c => c.Name));
        Assert.Equal(2, warnings.Count);
        Assert.Contains(warnings, w => w.Contains("NO-SUCH-CIPHER"));
        Assert.Contains(warnings, w => w.Contains("TLS 1.3"));
    }

    [Fact]
    public void CreatePolicy_NothingSelected_Throws()
    {
        var e = Assert.Throws<TlsConfigurationException>(() => OpenSslCipherList.CreatePolicy("NO-SUCH-CIPHER:!ALL", [], out _));

        Assert.Contains("selects no cipher", e.Message);
    }

    [Fact]
    public void CreatePolicy_Null_LeavesDotNetDefaultsForResumption()
    {
        var policy = OpenSslCipherList.CreatePolicy(null, [], out var tls12);

        Assert.Null(policy);
        Assert.Equal(OpenSslCipherList.DotNetDefaultTls12, tls12.Select(c => c.Name));
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public void CreatePolicy_CipherString_PutsTls13DefaultsFirstThenTheList()
    {
        var policy = OpenSslCipherList.CreatePolicy("ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256", [], out _);

        Assert.NotNull(policy);
        Assert.Equal(
        [
            TlsCipherSuite.TLS_AES_256_GCM_SHA384, TlsCipherSuite.TLS_CHACHA20_POLY1305_SHA256, TlsCipherSuite.TLS_AES_128_GCM_SHA256,
            TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, TlsCipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        ], policy!.AllowedCipherSuites);
    }

    [Fact]
    public void Find_IanaCode_GivesOpenSslName()
    {
        Assert.Equal("ECDHE-RSA-AES256-GCM-SHA384", OpenSslCipherList.Find(TlsCipherSuite.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384)!.Name);
    }
}
