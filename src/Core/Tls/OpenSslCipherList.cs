using System.Net.Security;

namespace FastProxy.Tls;

// ssl_ciphers is an OpenSSL cipher string; .NET takes an ordered list of TlsCipherSuite values (CipherSuitesPolicy).
// This file evaluates the string the way OpenSSL's ssl_create_cipher_list does (ssl/ssl_ciph.c): a list of all
// ciphers in OpenSSL's default order, then each element of the string adds (X), deletes (-X), kills (!X) or moves to
// the end (+X) the ciphers it matches; "A+B" matches ciphers matching both; @STRENGTH sorts by key bits. Unknown names
// are skipped as OpenSSL skips them (we also warn); a string that leaves no cipher is an error, as
// SSL_CTX_set_cipher_list fails and nginx refuses to start. The table is OpenSSL 3.0's (`openssl ciphers -V -stdname
// ALL:COMPLEMENTOFALL` on Debian 12) with its HIGH and DEFAULT memberships, in OpenSSL's initial order (recovered from
// the order `openssl ciphers` lists each single alias in, which the cipher-string tests check against the real command); TLS 1.3 suites are not set by ssl_ciphers
// (nginx sets them with ssl_conf_command Ciphersuites), so they are kept at OpenSSL's default.

internal enum Kx : byte { Ecdhe, Dhe, Rsa, Psk, EcdhePsk, DhePsk, RsaPsk, Srp }

internal enum Au : byte { Rsa, Ecdsa, Dss, Null, Psk, Srp }

internal enum Enc : byte { AesGcm, AesCcm, AesCcm8, Aes, Camellia, AriaGcm, ChaCha20, Null }

internal enum Mac : byte { Aead, Sha1, Sha256, Sha384, Md5 }

internal enum MinVersion : byte { Ssl3, Tls1, Tls12 }

[Flags]
internal enum CipherFlags : byte { None = 0, High = 1, Default = 2 }

/// <summary>One TLS 1.2-and-below cipher suite as OpenSSL describes it.</summary>
internal sealed record OpenSslCipher(ushort Code, string Name, Kx Kx, Au Au, Enc Enc, int Bits, Mac Mac, MinVersion MinVersion, CipherFlags Flags)
{
    public TlsCipherSuite Suite => (TlsCipherSuite)Code;
}

/// <summary>Turns an OpenSSL cipher string into the ordered suites .NET's <see cref="CipherSuitesPolicy"/> takes.</summary>
internal static class OpenSslCipherList
{
    /// <summary>OpenSSL's TLS 1.3 default (TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256).</summary>
    public static readonly TlsCipherSuite[] Tls13Defaults =
    [
        TlsCipherSuite.TLS_AES_256_GCM_SHA384,
        TlsCipherSuite.TLS_CHACHA20_POLY1305_SHA256,
        TlsCipherSuite.TLS_AES_128_GCM_SHA256,
    ];

    /// <summary>
    /// The TLS 1.2 list .NET on Linux applies when no CipherSuitesPolicy is set and openssl.cnf has no CipherString
    /// (DOTNET_DEFAULT_CIPHERSTRING in the runtime's pal_ssl.c). Used to predict which certificate a TLS 1.2 client
    /// will be served when ssl_ciphers is not set.
    /// </summary>
    public static readonly string[] DotNetDefaultTls12 =
    [
        "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-SHA384", "ECDHE-ECDSA-AES128-SHA256",
        "ECDHE-RSA-AES256-SHA384", "ECDHE-RSA-AES128-SHA256",
    ];

    // Aliases OpenSSL knows that select nothing in OpenSSL 3.0 (removed algorithms): not worth a warning.
    private static readonly HashSet<string> EmptyAliases = new(StringComparer.Ordinal)
    {
        "EXPORT", "EXP", "EXPORT40", "EXPORT56", "LOW", "MEDIUM", "DES", "3DES", "RC4", "RC2", "IDEA", "SEED",
        "kGOST", "aGOST", "aGOST01", "GOST89MAC", "GOST94", "GOST2012", "kECDH", "kDH", "aECDH", "aDH", "kKRB5", "KRB5",
        "aKRB5", "kFZA", "aFZA", "eFZA", "FZA", "kDHr", "kDHd", "kECDHr", "kECDHe", "SSLv2",
    };

    /// <summary>Every cipher OpenSSL 3.0 knows below TLS 1.3, in OpenSSL's default order.</summary>
    public static readonly OpenSslCipher[] All =
    [
        new(0xC02C, "ECDHE-ECDSA-AES256-GCM-SHA384", Kx.Ecdhe, Au.Ecdsa, Enc.AesGcm, 256, Mac.Aead, MinVersion.Tls12, CipherFlags.High | CipherFlags.Default),
        new(0xC030, "ECDHE-RSA-AES256-GCM-SHA384", Kx.Ecdhe, Au.Rsa, Enc.AesGcm, 256, Mac.Aead, MinVersion.Tls12, CipherFlags.High | CipherFlags.Default),
        new(0x00A3, "DHE-DSS-AES256-GCM-SHA384", Kx.Dhe, Au.Dss, Enc.AesGcm, 256, Mac.Aead, MinVersion.Tls12, CipherFlags.High),
        new(0x009F, "DHE-RSA-AES256-GCM-SHA384", Kx.Dhe, Au.Rsa, Enc.AesGcm, 256, Mac.Aead, MinVersion.Tls12, CipherFlags.High | CipherFlags.Default),
        new(0xCCA9, "ECDHE-ECDSA-CHACHA20-POLY1305", Kx.Ecdhe, Au.Ecdsa, Enc.ChaCha20, 256, Mac.Aead, MinVersion.Tls12, CipherFlags.High | CipherFlags.Default),
        new(0xCCA8, "ECDHE-RSA-CHACHA20-POLY1305", Kx.Ecdhe, Au.Rsa, Enc.ChaCha20, 256, Mac.Aead, MinVersion.Tls12, CipherFlags.High | CipherFlags.Default),
        new(0xCCAA, "DHE-RSA-CHACHA20-POLY1305", Kx.Dhe, Au.Rsa, Enc.ChaCha20, 256, Mac.Aead, MinVersion.Tls12, CipherFlags.High | CipherFlags.Default),
        new(0xC0AF, "ECDHE-ECDSA-AES256-CCM8", Kx.Ecdhe, Au.Ecdsa, Enc.AesCcm8, 256, Mac.Aead, MinVersion.Tls12, CipherFlags.High),
        new(0xC0AD, "ECDHE-ECDSA-AES256-CCM", Kx.Ecdhe, Au.Ecdsa, Enc.AesCcm, 256, Mac.Aead, MinVersion.Tls12, CipherFlags.High),
        new(0xC0A3, "DHE-RSA-AES256-CCM8", Kx.Dhe, Au.Rsa, Enc.AesCcm8, 256, Mac.Aead, MinVersion.Tls12, CipherFlags.High),
        new(0xC09F, "DHE-RSA-AES256-CCM", Kx.Dhe, Au.Rsa, Enc.AesCcm, 256, Mac.Aead, MinVersion.Tls12, CipherFlags.High),
        new(0xC05D, "ECDHE-ECDSA-ARIA256-GCM-SHA384", Kx.Ecdhe, Au.Ecdsa, Enc.AriaGcm, 256, Mac.Aead, MinVersion.Tls12, CipherFlags.High),
        new(0xC061, "ECDHE-ARIA256-GCM-SHA384", Kx.Ecdhe, Au.Rsa, Enc.AriaGcm, 256, Mac.Aead, MinVersion.Tls12, CipherFlags.High),
        new(0xC057, "DHE-DSS-ARIA256-GCM-SHA384", Kx.Dhe, Au.Dss, Enc.AriaGcm, 256, Mac.Aead, MinVersion.Tls12, CipherFlags.High),
        new(0xC053, "DHE-RSA-ARIA256-GCM-SHA384", Kx.Dhe, Au.Rsa, Enc.AriaGcm, 256, Mac.Aead, MinVersion.Tls12, CipherFlags.High),
        new(0x00A7, "ADH-AES256-GCM-SHA384", Kx.Dhe, Au.Null, Enc.AesGcm, 256, Mac.Aead, MinVersion.Tls12, CipherFlags.High),
        new(0xC02B, "ECDHE-ECDSA-AES128-GCM-SHA256", Kx.Ecdhe, Au.Ecdsa, Enc.AesGcm, 128, Mac.Aead, MinVersion.Tls12, CipherFlags.High | CipherFlags.Default),
        new(0xC02F, "ECDHE-RSA-AES128-GCM-SHA256", Kx.Ecdhe, Au.Rsa, Enc.AesGcm, 128, Mac.Aead, MinVersion.Tls12, CipherFlags.High | CipherFlags.Default),
        new(0x00A2, "DHE-DSS-AES128-GCM-SHA256", Kx.Dhe, Au.Dss, Enc.AesGcm, 128, Mac.Aead, MinVersion.Tls12, CipherFlags.High),
        new(0x009E, "DHE-RSA-AES128-GCM-SHA256", Kx.Dhe, Au.Rsa, Enc.AesGcm, 128, Mac.Aead, MinVersion.Tls12, CipherFlags.High | CipherFlags.Default),
        new(0xC0AE, "ECDHE-ECDSA-AES128-CCM8", Kx.Ecdhe, Au.Ecdsa, Enc.AesCcm8, 128, Mac.Aead, MinVersion.Tls12, CipherFlags.High),
        new(0xC0AC, "ECDHE-ECDSA-AES128-CCM", Kx.Ecdhe, Au.Ecdsa, Enc.AesCcm, 128, Mac.Aead, MinVersion.Tls12, CipherFlags.High),
        new(0xC0A2, "DHE-RSA-AES128-CCM8", Kx.Dhe, Au.Rsa, Enc.AesCcm8, 128, Mac.Aead, MinVersion.Tls12, CipherFlags.High),
        new(0xC09E, "DHE-RSA-AES128-CCM", Kx.Dhe, Au.Rsa, Enc.AesCcm, 128, Mac.Aead, MinVersion.Tls12, CipherFlags.High),
        new(0xC05C, "ECDHE-ECDSA-ARIA128-GCM-SHA256", Kx.Ecdhe, Au.Ecdsa, Enc.AriaGcm, 128, Mac.Aead, MinVersion.Tls12, CipherFlags.High),
        new(0xC060, "ECDHE-ARIA128-GCM-SHA256", Kx.Ecdhe, Au.Rsa, Enc.AriaGcm, 128, Mac.Aead, MinVersion.Tls12, CipherFlags.High),
        new(0xC056, "DHE-DSS-ARIA128-GCM-SHA256", Kx.Dhe, Au.Dss, Enc.AriaGcm, 128, Mac.Aead, MinVersion.Tls12, CipherFlags.High),
        new(0xC052, "DHE-RSA-ARIA128-GCM-SHA256", Kx.Dhe, Au.Rsa, Enc.AriaGcm, 128, Mac.Aead, MinVersion.Tls12, CipherFlags.High),
        new(0x00A6, "ADH-AES128-GCM-SHA256", Kx.Dhe, Au.Null, Enc.AesGcm, 128, Mac.Aead, MinVersion.Tls12, CipherFlags.High),
        new(0xC024, "ECDHE-ECDSA-AES256-SHA384", Kx.Ecdhe, Au.Ecdsa, Enc.Aes, 256, Mac.Sha384, MinVersion.Tls12, CipherFlags.High | CipherFlags.Default),
        new(0xC028, "ECDHE-RSA-AES256-SHA384", Kx.Ecdhe, Au.Rsa, Enc.Aes, 256, Mac.Sha384, MinVersion.Tls12, CipherFlags.High | CipherFlags.Default),
        new(0x006B, "DHE-RSA-AES256-SHA256", Kx.Dhe, Au.Rsa, Enc.Aes, 256, Mac.Sha256, MinVersion.Tls12, CipherFlags.High | CipherFlags.Default),
        new(0x006A, "DHE-DSS-AES256-SHA256", Kx.Dhe, Au.Dss, Enc.Aes, 256, Mac.Sha256, MinVersion.Tls12, CipherFlags.High),
        new(0xC073, "ECDHE-ECDSA-CAMELLIA256-SHA384", Kx.Ecdhe, Au.Ecdsa, Enc.Camellia, 256, Mac.Sha384, MinVersion.Tls12, CipherFlags.High),
        new(0xC077, "ECDHE-RSA-CAMELLIA256-SHA384", Kx.Ecdhe, Au.Rsa, Enc.Camellia, 256, Mac.Sha384, MinVersion.Tls12, CipherFlags.High),
        new(0x00C4, "DHE-RSA-CAMELLIA256-SHA256", Kx.Dhe, Au.Rsa, Enc.Camellia, 256, Mac.Sha256, MinVersion.Tls12, CipherFlags.High),
        new(0x00C3, "DHE-DSS-CAMELLIA256-SHA256", Kx.Dhe, Au.Dss, Enc.Camellia, 256, Mac.Sha256, MinVersion.Tls12, CipherFlags.High),
        new(0x006D, "ADH-AES256-SHA256", Kx.Dhe, Au.Null, Enc.Aes, 256, Mac.Sha256, MinVersion.Tls12, CipherFlags.High),
        new(0x00C5, "ADH-CAMELLIA256-SHA256", Kx.Dhe, Au.Null, Enc.Camellia, 256, Mac.Sha256, MinVersion.Tls12, CipherFlags.High),
        new(0xC023, "ECDHE-ECDSA-AES128-SHA256", Kx.Ecdhe, Au.Ecdsa, Enc.Aes, 128, Mac.Sha256, MinVersion.Tls12, CipherFlags.High | CipherFlags.Default),
        new(0xC027, "ECDHE-RSA-AES128-SHA256", Kx.Ecdhe, Au.Rsa, Enc.Aes, 128, Mac.Sha256, MinVersion.Tls12, CipherFlags.High | CipherFlags.Default),
        new(0x0067, "DHE-RSA-AES128-SHA256", Kx.Dhe, Au.Rsa, Enc.Aes, 128, Mac.Sha256, MinVersion.Tls12, CipherFlags.High | CipherFlags.Default),
        new(0x0040, "DHE-DSS-AES128-SHA256", Kx.Dhe, Au.Dss, Enc.Aes, 128, Mac.Sha256, MinVersion.Tls12, CipherFlags.High),
        new(0xC072, "ECDHE-ECDSA-CAMELLIA128-SHA256", Kx.Ecdhe, Au.Ecdsa, Enc.Camellia, 128, Mac.Sha256, MinVersion.Tls12, CipherFlags.High),
        new(0xC076, "ECDHE-RSA-CAMELLIA128-SHA256", Kx.Ecdhe, Au.Rsa, Enc.Camellia, 128, Mac.Sha256, MinVersion.Tls12, CipherFlags.High),
        new(0x00BE, "DHE-RSA-CAMELLIA128-SHA256", Kx.Dhe, Au.Rsa, Enc.Camellia, 128, Mac.Sha256, MinVersion.Tls12, CipherFlags.High),
        new(0x00BD, "DHE-DSS-CAMELLIA128-SHA256", Kx.Dhe, Au.Dss, Enc.Camellia, 128, Mac.Sha256, MinVersion.Tls12, CipherFlags.High),
        new(0x006C, "ADH-AES128-SHA256", Kx.Dhe, Au.Null, Enc.Aes, 128, Mac.Sha256, MinVersion.Tls12, CipherFlags.High),
        new(0x00BF, "ADH-CAMELLIA128-SHA256", Kx.Dhe, Au.Null, Enc.Camellia, 128, Mac.Sha256, MinVersion.Tls12, CipherFlags.High),
        new(0xC00A, "ECDHE-ECDSA-AES256-SHA", Kx.Ecdhe, Au.Ecdsa, Enc.Aes, 256, Mac.Sha1, MinVersion.Tls1, CipherFlags.High | CipherFlags.Default),
        new(0xC014, "ECDHE-RSA-AES256-SHA", Kx.Ecdhe, Au.Rsa, Enc.Aes, 256, Mac.Sha1, MinVersion.Tls1, CipherFlags.High | CipherFlags.Default),
        new(0x0039, "DHE-RSA-AES256-SHA", Kx.Dhe, Au.Rsa, Enc.Aes, 256, Mac.Sha1, MinVersion.Ssl3, CipherFlags.High | CipherFlags.Default),
        new(0x0038, "DHE-DSS-AES256-SHA", Kx.Dhe, Au.Dss, Enc.Aes, 256, Mac.Sha1, MinVersion.Ssl3, CipherFlags.High),
        new(0x0088, "DHE-RSA-CAMELLIA256-SHA", Kx.Dhe, Au.Rsa, Enc.Camellia, 256, Mac.Sha1, MinVersion.Ssl3, CipherFlags.High),
        new(0x0087, "DHE-DSS-CAMELLIA256-SHA", Kx.Dhe, Au.Dss, Enc.Camellia, 256, Mac.Sha1, MinVersion.Ssl3, CipherFlags.High),
        new(0xC019, "AECDH-AES256-SHA", Kx.Ecdhe, Au.Null, Enc.Aes, 256, Mac.Sha1, MinVersion.Tls1, CipherFlags.High),
        new(0x003A, "ADH-AES256-SHA", Kx.Dhe, Au.Null, Enc.Aes, 256, Mac.Sha1, MinVersion.Ssl3, CipherFlags.High),
        new(0x0089, "ADH-CAMELLIA256-SHA", Kx.Dhe, Au.Null, Enc.Camellia, 256, Mac.Sha1, MinVersion.Ssl3, CipherFlags.High),
        new(0xC009, "ECDHE-ECDSA-AES128-SHA", Kx.Ecdhe, Au.Ecdsa, Enc.Aes, 128, Mac.Sha1, MinVersion.Tls1, CipherFlags.High | CipherFlags.Default),
        new(0xC013, "ECDHE-RSA-AES128-SHA", Kx.Ecdhe, Au.Rsa, Enc.Aes, 128, Mac.Sha1, MinVersion.Tls1, CipherFlags.High | CipherFlags.Default),
        new(0x0033, "DHE-RSA-AES128-SHA", Kx.Dhe, Au.Rsa, Enc.Aes, 128, Mac.Sha1, MinVersion.Ssl3, CipherFlags.High | CipherFlags.Default),
        new(0x0032, "DHE-DSS-AES128-SHA", Kx.Dhe, Au.Dss, Enc.Aes, 128, Mac.Sha1, MinVersion.Ssl3, CipherFlags.High),
        new(0x0045, "DHE-RSA-CAMELLIA128-SHA", Kx.Dhe, Au.Rsa, Enc.Camellia, 128, Mac.Sha1, MinVersion.Ssl3, CipherFlags.High),
        new(0x0044, "DHE-DSS-CAMELLIA128-SHA", Kx.Dhe, Au.Dss, Enc.Camellia, 128, Mac.Sha1, MinVersion.Ssl3, CipherFlags.High),
        new(0xC018, "AECDH-AES128-SHA", Kx.Ecdhe, Au.Null, Enc.Aes, 128, Mac.Sha1, MinVersion.Tls1, CipherFlags.High),
        new(0x0034, "ADH-AES128-SHA", Kx.Dhe, Au.Null, Enc.Aes, 128, Mac.Sha1, MinVersion.Ssl3, CipherFlags.High),
        new(0x0046, "ADH-CAMELLIA128-SHA", Kx.Dhe, Au.Null, Enc.Camellia, 128, Mac.Sha1, MinVersion.Ssl3, CipherFlags.High),
        new(0xC006, "ECDHE-ECDSA-NULL-SHA", Kx.Ecdhe, Au.Ecdsa, Enc.Null, 0, Mac.Sha1, MinVersion.Tls1, CipherFlags.None),
        new(0xC010, "ECDHE-RSA-NULL-SHA", Kx.Ecdhe, Au.Rsa, Enc.Null, 0, Mac.Sha1, MinVersion.Tls1, CipherFlags.None),
        new(0x00AD, "RSA-PSK-AES256-GCM-SHA384", Kx.RsaPsk, Au.Rsa, Enc.AesGcm, 256, Mac.Aead, MinVersion.Tls12, CipherFlags.High | CipherFlags.Default),
        new(0x00AB, "DHE-PSK-AES256-GCM-SHA384", Kx.DhePsk, Au.Psk, Enc.AesGcm, 256, Mac.Aead, MinVersion.Tls12, CipherFlags.High | CipherFlags.Default),
        new(0xCCAE, "RSA-PSK-CHACHA20-POLY1305", Kx.RsaPsk, Au.Rsa, Enc.ChaCha20, 256, Mac.Aead, MinVersion.Tls12, CipherFlags.High | CipherFlags.Default),
        new(0xCCAD, "DHE-PSK-CHACHA20-POLY1305", Kx.DhePsk, Au.Psk, Enc.ChaCha20, 256, Mac.Aead, MinVersion.Tls12, CipherFlags.High | CipherFlags.Default),
        new(0xCCAC, "ECDHE-PSK-CHACHA20-POLY1305", Kx.EcdhePsk, Au.Psk, Enc.ChaCha20, 256, Mac.Aead, MinVersion.Tls12, CipherFlags.High | CipherFlags.Default),
        new(0xC0AB, "DHE-PSK-AES256-CCM8", Kx.DhePsk, Au.Psk, Enc.AesCcm8, 256, Mac.Aead, MinVersion.Tls12, CipherFlags.High),
        new(0xC0A7, "DHE-PSK-AES256-CCM", Kx.DhePsk, Au.Psk, Enc.AesCcm, 256, Mac.Aead, MinVersion.Tls12, CipherFlags.High),
        new(0xC06F, "RSA-PSK-ARIA256-GCM-SHA384", Kx.RsaPsk, Au.Rsa, Enc.AriaGcm, 256, Mac.Aead, MinVersion.Tls12, CipherFlags.High),
        new(0xC06D, "DHE-PSK-ARIA256-GCM-SHA384", Kx.DhePsk, Au.Psk, Enc.AriaGcm, 256, Mac.Aead, MinVersion.Tls12, CipherFlags.High),
        new(0x009D, "AES256-GCM-SHA384", Kx.Rsa, Au.Rsa, Enc.AesGcm, 256, Mac.Aead, MinVersion.Tls12, CipherFlags.High | CipherFlags.Default),
        new(0xC0A1, "AES256-CCM8", Kx.Rsa, Au.Rsa, Enc.AesCcm8, 256, Mac.Aead, MinVersion.Tls12, CipherFlags.High),
        new(0xC09D, "AES256-CCM", Kx.Rsa, Au.Rsa, Enc.AesCcm, 256, Mac.Aead, MinVersion.Tls12, CipherFlags.High),
        new(0xC051, "ARIA256-GCM-SHA384", Kx.Rsa, Au.Rsa, Enc.AriaGcm, 256, Mac.Aead, MinVersion.Tls12, CipherFlags.High),
        new(0x00A9, "PSK-AES256-GCM-SHA384", Kx.Psk, Au.Psk, Enc.AesGcm, 256, Mac.Aead, MinVersion.Tls12, CipherFlags.High | CipherFlags.Default),
        new(0xCCAB, "PSK-CHACHA20-POLY1305", Kx.Psk, Au.Psk, Enc.ChaCha20, 256, Mac.Aead, MinVersion.Tls12, CipherFlags.High | CipherFlags.Default),
        new(0xC0A9, "PSK-AES256-CCM8", Kx.Psk, Au.Psk, Enc.AesCcm8, 256, Mac.Aead, MinVersion.Tls12, CipherFlags.High),
        new(0xC0A5, "PSK-AES256-CCM", Kx.Psk, Au.Psk, Enc.AesCcm, 256, Mac.Aead, MinVersion.Tls12, CipherFlags.High),
        new(0xC06B, "PSK-ARIA256-GCM-SHA384", Kx.Psk, Au.Psk, Enc.AriaGcm, 256, Mac.Aead, MinVersion.Tls12, CipherFlags.High),
        new(0x00AC, "RSA-PSK-AES128-GCM-SHA256", Kx.RsaPsk, Au.Rsa, Enc.AesGcm, 128, Mac.Aead, MinVersion.Tls12, CipherFlags.High | CipherFlags.Default),
        new(0x00AA, "DHE-PSK-AES128-GCM-SHA256", Kx.DhePsk, Au.Psk, Enc.AesGcm, 128, Mac.Aead, MinVersion.Tls12, CipherFlags.High | CipherFlags.Default),
        new(0xC0AA, "DHE-PSK-AES128-CCM8", Kx.DhePsk, Au.Psk, Enc.AesCcm8, 128, Mac.Aead, MinVersion.Tls12, CipherFlags.High),
        new(0xC0A6, "DHE-PSK-AES128-CCM", Kx.DhePsk, Au.Psk, Enc.AesCcm, 128, Mac.Aead, MinVersion.Tls12, CipherFlags.High),
        new(0xC06E, "RSA-PSK-ARIA128-GCM-SHA256", Kx.RsaPsk, Au.Rsa, Enc.AriaGcm, 128, Mac.Aead, MinVersion.Tls12, CipherFlags.High),
        new(0xC06C, "DHE-PSK-ARIA128-GCM-SHA256", Kx.DhePsk, Au.Psk, Enc.AriaGcm, 128, Mac.Aead, MinVersion.Tls12, CipherFlags.High),
        new(0x009C, "AES128-GCM-SHA256", Kx.Rsa, Au.Rsa, Enc.AesGcm, 128, Mac.Aead, MinVersion.Tls12, CipherFlags.High | CipherFlags.Default),
        new(0xC0A0, "AES128-CCM8", Kx.Rsa, Au.Rsa, Enc.AesCcm8, 128, Mac.Aead, MinVersion.Tls12, CipherFlags.High),
        new(0xC09C, "AES128-CCM", Kx.Rsa, Au.Rsa, Enc.AesCcm, 128, Mac.Aead, MinVersion.Tls12, CipherFlags.High),
        new(0xC050, "ARIA128-GCM-SHA256", Kx.Rsa, Au.Rsa, Enc.AriaGcm, 128, Mac.Aead, MinVersion.Tls12, CipherFlags.High),
        new(0x00A8, "PSK-AES128-GCM-SHA256", Kx.Psk, Au.Psk, Enc.AesGcm, 128, Mac.Aead, MinVersion.Tls12, CipherFlags.High | CipherFlags.Default),
        new(0xC0A8, "PSK-AES128-CCM8", Kx.Psk, Au.Psk, Enc.AesCcm8, 128, Mac.Aead, MinVersion.Tls12, CipherFlags.High),
        new(0xC0A4, "PSK-AES128-CCM", Kx.Psk, Au.Psk, Enc.AesCcm, 128, Mac.Aead, MinVersion.Tls12, CipherFlags.High),
        new(0xC06A, "PSK-ARIA128-GCM-SHA256", Kx.Psk, Au.Psk, Enc.AriaGcm, 128, Mac.Aead, MinVersion.Tls12, CipherFlags.High),
        new(0x003D, "AES256-SHA256", Kx.Rsa, Au.Rsa, Enc.Aes, 256, Mac.Sha256, MinVersion.Tls12, CipherFlags.High | CipherFlags.Default),
        new(0x00C0, "CAMELLIA256-SHA256", Kx.Rsa, Au.Rsa, Enc.Camellia, 256, Mac.Sha256, MinVersion.Tls12, CipherFlags.High),
        new(0x003C, "AES128-SHA256", Kx.Rsa, Au.Rsa, Enc.Aes, 128, Mac.Sha256, MinVersion.Tls12, CipherFlags.High | CipherFlags.Default),
        new(0x00BA, "CAMELLIA128-SHA256", Kx.Rsa, Au.Rsa, Enc.Camellia, 128, Mac.Sha256, MinVersion.Tls12, CipherFlags.High),
        new(0xC015, "AECDH-NULL-SHA", Kx.Ecdhe, Au.Null, Enc.Null, 0, Mac.Sha1, MinVersion.Tls1, CipherFlags.None),
        new(0xC038, "ECDHE-PSK-AES256-CBC-SHA384", Kx.EcdhePsk, Au.Psk, Enc.Aes, 256, Mac.Sha384, MinVersion.Tls1, CipherFlags.High | CipherFlags.Default),
        new(0xC036, "ECDHE-PSK-AES256-CBC-SHA", Kx.EcdhePsk, Au.Psk, Enc.Aes, 256, Mac.Sha1, MinVersion.Tls1, CipherFlags.High | CipherFlags.Default),
        new(0xC022, "SRP-DSS-AES-256-CBC-SHA", Kx.Srp, Au.Dss, Enc.Aes, 256, Mac.Sha1, MinVersion.Ssl3, CipherFlags.High),
        new(0x003B, "NULL-SHA256", Kx.Rsa, Au.Rsa, Enc.Null, 0, Mac.Sha256, MinVersion.Tls12, CipherFlags.None),
        new(0xC021, "SRP-RSA-AES-256-CBC-SHA", Kx.Srp, Au.Rsa, Enc.Aes, 256, Mac.Sha1, MinVersion.Ssl3, CipherFlags.High | CipherFlags.Default),
        new(0xC020, "SRP-AES-256-CBC-SHA", Kx.Srp, Au.Srp, Enc.Aes, 256, Mac.Sha1, MinVersion.Ssl3, CipherFlags.High | CipherFlags.Default),
        new(0x00B7, "RSA-PSK-AES256-CBC-SHA384", Kx.RsaPsk, Au.Rsa, Enc.Aes, 256, Mac.Sha384, MinVersion.Tls1, CipherFlags.High | CipherFlags.Default),
        new(0x00B3, "DHE-PSK-AES256-CBC-SHA384", Kx.DhePsk, Au.Psk, Enc.Aes, 256, Mac.Sha384, MinVersion.Tls1, CipherFlags.High | CipherFlags.Default),
        new(0x0095, "RSA-PSK-AES256-CBC-SHA", Kx.RsaPsk, Au.Rsa, Enc.Aes, 256, Mac.Sha1, MinVersion.Ssl3, CipherFlags.High | CipherFlags.Default),
        new(0x0091, "DHE-PSK-AES256-CBC-SHA", Kx.DhePsk, Au.Psk, Enc.Aes, 256, Mac.Sha1, MinVersion.Ssl3, CipherFlags.High | CipherFlags.Default),
        new(0xC09B, "ECDHE-PSK-CAMELLIA256-SHA384", Kx.EcdhePsk, Au.Psk, Enc.Camellia, 256, Mac.Sha384, MinVersion.Tls1, CipherFlags.High),
        new(0xC099, "RSA-PSK-CAMELLIA256-SHA384", Kx.RsaPsk, Au.Rsa, Enc.Camellia, 256, Mac.Sha384, MinVersion.Tls1, CipherFlags.High),
        new(0xC097, "DHE-PSK-CAMELLIA256-SHA384", Kx.DhePsk, Au.Psk, Enc.Camellia, 256, Mac.Sha384, MinVersion.Tls1, CipherFlags.High),
        new(0x0035, "AES256-SHA", Kx.Rsa, Au.Rsa, Enc.Aes, 256, Mac.Sha1, MinVersion.Ssl3, CipherFlags.High | CipherFlags.Default),
        new(0x0084, "CAMELLIA256-SHA", Kx.Rsa, Au.Rsa, Enc.Camellia, 256, Mac.Sha1, MinVersion.Ssl3, CipherFlags.High),
        new(0x00AF, "PSK-AES256-CBC-SHA384", Kx.Psk, Au.Psk, Enc.Aes, 256, Mac.Sha384, MinVersion.Tls1, CipherFlags.High | CipherFlags.Default),
        new(0x008D, "PSK-AES256-CBC-SHA", Kx.Psk, Au.Psk, Enc.Aes, 256, Mac.Sha1, MinVersion.Ssl3, CipherFlags.High | CipherFlags.Default),
        new(0xC095, "PSK-CAMELLIA256-SHA384", Kx.Psk, Au.Psk, Enc.Camellia, 256, Mac.Sha384, MinVersion.Tls1, CipherFlags.High),
        new(0xC037, "ECDHE-PSK-AES128-CBC-SHA256", Kx.EcdhePsk, Au.Psk, Enc.Aes, 128, Mac.Sha256, MinVersion.Tls1, CipherFlags.High | CipherFlags.Default),
        new(0xC035, "ECDHE-PSK-AES128-CBC-SHA", Kx.EcdhePsk, Au.Psk, Enc.Aes, 128, Mac.Sha1, MinVersion.Tls1, CipherFlags.High | CipherFlags.Default),
        new(0xC01F, "SRP-DSS-AES-128-CBC-SHA", Kx.Srp, Au.Dss, Enc.Aes, 128, Mac.Sha1, MinVersion.Ssl3, CipherFlags.High),
        new(0xC01E, "SRP-RSA-AES-128-CBC-SHA", Kx.Srp, Au.Rsa, Enc.Aes, 128, Mac.Sha1, MinVersion.Ssl3, CipherFlags.High | CipherFlags.Default),
        new(0xC01D, "SRP-AES-128-CBC-SHA", Kx.Srp, Au.Srp, Enc.Aes, 128, Mac.Sha1, MinVersion.Ssl3, CipherFlags.High | CipherFlags.Default),
        new(0x00B6, "RSA-PSK-AES128-CBC-SHA256", Kx.RsaPsk, Au.Rsa, Enc.Aes, 128, Mac.Sha256, MinVersion.Tls1, CipherFlags.High | CipherFlags.Default),
        new(0x00B2, "DHE-PSK-AES128-CBC-SHA256", Kx.DhePsk, Au.Psk, Enc.Aes, 128, Mac.Sha256, MinVersion.Tls1, CipherFlags.High | CipherFlags.Default),
        new(0x0094, "RSA-PSK-AES128-CBC-SHA", Kx.RsaPsk, Au.Rsa, Enc.Aes, 128, Mac.Sha1, MinVersion.Ssl3, CipherFlags.High | CipherFlags.Default),
        new(0x0090, "DHE-PSK-AES128-CBC-SHA", Kx.DhePsk, Au.Psk, Enc.Aes, 128, Mac.Sha1, MinVersion.Ssl3, CipherFlags.High | CipherFlags.Default),
        new(0xC09A, "ECDHE-PSK-CAMELLIA128-SHA256", Kx.EcdhePsk, Au.Psk, Enc.Camellia, 128, Mac.Sha256, MinVersion.Tls1, CipherFlags.High),
        new(0xC098, "RSA-PSK-CAMELLIA128-SHA256", Kx.RsaPsk, Au.Rsa, Enc.Camellia, 128, Mac.Sha256, MinVersion.Tls1, CipherFlags.High),
        new(0xC096, "DHE-PSK-CAMELLIA128-SHA256", Kx.DhePsk, Au.Psk, Enc.Camellia, 128, Mac.Sha256, MinVersion.Tls1, CipherFlags.High),
        new(0x002F, "AES128-SHA", Kx.Rsa, Au.Rsa, Enc.Aes, 128, Mac.Sha1, MinVersion.Ssl3, CipherFlags.High | CipherFlags.Default),
        new(0x0041, "CAMELLIA128-SHA", Kx.Rsa, Au.Rsa, Enc.Camellia, 128, Mac.Sha1, MinVersion.Ssl3, CipherFlags.High),
        new(0x00AE, "PSK-AES128-CBC-SHA256", Kx.Psk, Au.Psk, Enc.Aes, 128, Mac.Sha256, MinVersion.Tls1, CipherFlags.High | CipherFlags.Default),
        new(0x008C, "PSK-AES128-CBC-SHA", Kx.Psk, Au.Psk, Enc.Aes, 128, Mac.Sha1, MinVersion.Ssl3, CipherFlags.High | CipherFlags.Default),
        new(0xC094, "PSK-CAMELLIA128-SHA256", Kx.Psk, Au.Psk, Enc.Camellia, 128, Mac.Sha256, MinVersion.Tls1, CipherFlags.High),
        new(0xC03B, "ECDHE-PSK-NULL-SHA384", Kx.EcdhePsk, Au.Psk, Enc.Null, 0, Mac.Sha384, MinVersion.Tls1, CipherFlags.None),
        new(0xC03A, "ECDHE-PSK-NULL-SHA256", Kx.EcdhePsk, Au.Psk, Enc.Null, 0, Mac.Sha256, MinVersion.Tls1, CipherFlags.None),
        new(0xC039, "ECDHE-PSK-NULL-SHA", Kx.EcdhePsk, Au.Psk, Enc.Null, 0, Mac.Sha1, MinVersion.Tls1, CipherFlags.None),
        new(0x00B9, "RSA-PSK-NULL-SHA384", Kx.RsaPsk, Au.Rsa, Enc.Null, 0, Mac.Sha384, MinVersion.Tls1, CipherFlags.None),
        new(0x00B8, "RSA-PSK-NULL-SHA256", Kx.RsaPsk, Au.Rsa, Enc.Null, 0, Mac.Sha256, MinVersion.Tls1, CipherFlags.None),
        new(0x00B5, "DHE-PSK-NULL-SHA384", Kx.DhePsk, Au.Psk, Enc.Null, 0, Mac.Sha384, MinVersion.Tls1, CipherFlags.None),
        new(0x00B4, "DHE-PSK-NULL-SHA256", Kx.DhePsk, Au.Psk, Enc.Null, 0, Mac.Sha256, MinVersion.Tls1, CipherFlags.None),
        new(0x002E, "RSA-PSK-NULL-SHA", Kx.RsaPsk, Au.Rsa, Enc.Null, 0, Mac.Sha1, MinVersion.Ssl3, CipherFlags.None),
        new(0x002D, "DHE-PSK-NULL-SHA", Kx.DhePsk, Au.Psk, Enc.Null, 0, Mac.Sha1, MinVersion.Ssl3, CipherFlags.None),
        new(0x0002, "NULL-SHA", Kx.Rsa, Au.Rsa, Enc.Null, 0, Mac.Sha1, MinVersion.Ssl3, CipherFlags.None),
        new(0x0001, "NULL-MD5", Kx.Rsa, Au.Rsa, Enc.Null, 0, Mac.Md5, MinVersion.Ssl3, CipherFlags.None),
        new(0x00B1, "PSK-NULL-SHA384", Kx.Psk, Au.Psk, Enc.Null, 0, Mac.Sha384, MinVersion.Tls1, CipherFlags.None),
        new(0x00B0, "PSK-NULL-SHA256", Kx.Psk, Au.Psk, Enc.Null, 0, Mac.Sha256, MinVersion.Tls1, CipherFlags.None),
        new(0x002C, "PSK-NULL-SHA", Kx.Psk, Au.Psk, Enc.Null, 0, Mac.Sha1, MinVersion.Ssl3, CipherFlags.None),
    ];

    private static readonly Dictionary<string, int> ByName = BuildIndex();

    private static Dictionary<string, int> BuildIndex()
    {
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < All.Length; i++)
        {
            index[All[i].Name] = i;
        }
        return index;
    }

    /// <summary>Finds a cipher by its OpenSSL name (case-sensitive, as OpenSSL matches it).</summary>
    public static OpenSslCipher? Find(string name) => ByName.TryGetValue(name, out int i) ? All[i] : null;

    /// <summary>Finds a cipher by its IANA code.</summary>
    public static OpenSslCipher? Find(TlsCipherSuite suite)
    {
        foreach (var cipher in All)
        {
            if (cipher.Code == (ushort)suite)
            {
                return cipher;
            }
        }
        return null;
    }

    /// <summary>
    /// Evaluates <paramref name="cipherString"/> and returns the selected ciphers in preference order. Skipped
    /// elements are reported through <paramref name="warnings"/>; the result may be empty (the caller decides).
    /// </summary>
    public static List<OpenSslCipher> Evaluate(string cipherString, List<string> warnings)
    {
        // OpenSSL: a string starting with DEFAULT has it replaced by the default list ("ALL:!COMPLEMENTOFDEFAULT:!eNULL").
        if (cipherString.StartsWith("DEFAULT", StringComparison.Ordinal))
        {
            cipherString = "ALL:!COMPLEMENTOFDEFAULT:!eNULL" + cipherString.Substring("DEFAULT".Length);
        }

        var order = new LinkedList<int>();
        var nodes = new LinkedListNode<int>[All.Length];
        for (int i = 0; i < All.Length; i++)
        {
            nodes[i] = order.AddLast(i);
        }
        var active = new bool[All.Length];

        foreach (var rawElement in cipherString.Split([':', ' ', ',', ';'], StringSplitOptions.RemoveEmptyEntries))
        {
            string element = rawElement;
            if (element.StartsWith('@'))
            {
                if (element == "@STRENGTH")
                {
                    SortByStrength(order, active);
                }
                else
                {
                    // @SECLEVEL=n changes OpenSSL's security level; .NET has no API for it.
                    warnings.Add($"ssl_ciphers: \"{element}\" is not applied (no .NET equivalent)");
                }
                continue;
            }

            char op = element[0];
            if (op is '!' or '-' or '+')
            {
                element = element.Substring(1);
            }
            else
            {
                op = ' ';
            }

            Func<OpenSslCipher, bool>? match = null;
            bool known = element.Length > 0;
            foreach (var part in element.Split('+'))
            {
                var partMatch = Matcher(part);
                if (partMatch is null)
                {
                    known = false;
                    break;
                }
                var previous = match;
                match = previous is null ? partMatch : c => previous(c) && partMatch(c);
            }
            if (!known || match is null)
            {
                warnings.Add(element.StartsWith("TLS_", StringComparison.Ordinal)
                    ? $"ssl_ciphers: \"{rawElement}\" is a TLS 1.3 suite; ssl_ciphers sets TLS 1.2 and below only (as in nginx), skipped"
                    : $"ssl_ciphers: unknown cipher or alias \"{rawElement}\", skipped");
                continue;
            }

            Apply(op, match, order, nodes, active);
        }

        var result = new List<OpenSslCipher>();
        foreach (int i in order)
        {
            if (active[i])
            {
                result.Add(All[i]);
            }
        }
        return result;
    }

    /// <summary>
    /// The policy for <c>ssl_ciphers</c>: OpenSSL's TLS 1.3 defaults followed by the evaluated TLS 1.2 list. Null
    /// when <paramref name="cipherString"/> is null (.NET's defaults then apply, and TLS resumption stays possible:
    /// .NET only caches the OpenSSL context, which holds the session cache and ticket keys, when no policy is set).
    /// </summary>
    public static CipherSuitesPolicy? CreatePolicy(string? cipherString, List<string> warnings, out List<OpenSslCipher> tls12)
    {
        tls12 = [];
        if (cipherString is null)
        {
            foreach (var name in DotNetDefaultTls12)
            {
                tls12.Add(Find(name)!);
            }
            return null;
        }
        tls12 = Evaluate(cipherString, warnings);
        if (tls12.Count == 0)
        {
            throw new TlsConfigurationException($"ssl_ciphers \"{cipherString}\" selects no cipher (SSL_CTX_set_cipher_list would fail)");
        }
        if (OperatingSystem.IsWindows())
        {
            // SChannel takes no per-connection cipher list (CipherSuitesPolicy throws PlatformNotSupportedException).
            warnings.Add("ssl_ciphers is not applied on Windows (SChannel uses the system's cipher configuration)");
            return null;
        }
        var suites = new List<TlsCipherSuite>(Tls13Defaults.Length + tls12.Count);
        suites.AddRange(Tls13Defaults);
        foreach (var cipher in tls12)
        {
            suites.Add(cipher.Suite);
        }
        return new CipherSuitesPolicy(suites);
    }

    private static void Apply(char op, Func<OpenSslCipher, bool> match, LinkedList<int> order, LinkedListNode<int>[] nodes, bool[] active)
    {
        // Snapshot the nodes to visit in current order: moving a node while walking must not revisit it.
        var visit = new List<LinkedListNode<int>>();
        for (var node = order.First; node is not null; node = node.Next)
        {
            if (match(All[node.Value]))
            {
                visit.Add(node);
            }
        }
        switch (op)
        {
            case ' ':
                // CIPHER_ADD: an inactive match becomes active and goes to the end.
                foreach (var node in visit)
                {
                    if (!active[node.Value])
                    {
                        order.Remove(node);
                        order.AddLast(node);
                        active[node.Value] = true;
                    }
                }
                break;
            case '+':
                // CIPHER_ORD: active matches move to the end, keeping their relative order.
                foreach (var node in visit)
                {
                    if (active[node.Value])
                    {
                        order.Remove(node);
                        order.AddLast(node);
                    }
                }
                break;
            case '-':
                // CIPHER_DEL: active matches are deactivated and go to the head (walked in reverse so their order
                // is kept): the most recently deleted get the best places if added again.
                for (int k = visit.Count - 1; k >= 0; k--)
                {
                    var node = visit[k];
                    if (active[node.Value])
                    {
                        order.Remove(node);
                        order.AddFirst(node);
                        active[node.Value] = false;
                    }
                }
                break;
            case '!':
                // CIPHER_KILL: gone for good; later elements cannot add it back.
                foreach (var node in visit)
                {
                    order.Remove(node);
                    active[node.Value] = false;
                }
                break;
        }
    }

    private static void SortByStrength(LinkedList<int> order, bool[] active)
    {
        // ssl_cipher_strength_sort: for each strength from the highest down, move the active ciphers of that
        // strength to the end: a stable sort of the active ciphers by descending key bits.
        var strengths = new SortedSet<int>();
        foreach (int i in order)
        {
            if (active[i])
            {
                strengths.Add(All[i].Bits);
            }
        }
        foreach (int bits in strengths.Reverse())
        {
            var move = new List<LinkedListNode<int>>();
            for (var node = order.First; node is not null; node = node.Next)
            {
                if (active[node.Value] && All[node.Value].Bits == bits)
                {
                    move.Add(node);
                }
            }
            foreach (var node in move)
            {
                order.Remove(node);
                order.AddLast(node);
            }
        }
    }

    private static Func<OpenSslCipher, bool>? Matcher(string name)
    {
        if (ByName.TryGetValue(name, out int index))
        {
            var cipher = All[index];
            return c => ReferenceEquals(c, cipher);
        }
        if (EmptyAliases.Contains(name))
        {
            return static _ => false;
        }
        return name switch
        {
            "ALL" => static c => c.Enc != Enc.Null,
            "COMPLEMENTOFALL" => static c => c.Enc == Enc.Null,
            "COMPLEMENTOFDEFAULT" => static c => (c.Flags & CipherFlags.Default) == 0 && c.Enc != Enc.Null,
            "HIGH" => static c => (c.Flags & CipherFlags.High) != 0,
            "kRSA" or "RSA" => static c => c.Kx == Kx.Rsa,
            "aRSA" => static c => c.Au == Au.Rsa,
            "kEDH" or "kDHE" => static c => c.Kx == Kx.Dhe,
            "EDH" or "DHE" => static c => c.Kx == Kx.Dhe && c.Au != Au.Null,
            "ADH" => static c => c.Kx == Kx.Dhe && c.Au == Au.Null,
            "kEECDH" or "kECDHE" or "ECDH" => static c => c.Kx == Kx.Ecdhe,
            "EECDH" or "ECDHE" => static c => c.Kx == Kx.Ecdhe && c.Au != Au.Null,
            "AECDH" => static c => c.Kx == Kx.Ecdhe && c.Au == Au.Null,
            "aDSS" or "DSS" => static c => c.Au == Au.Dss,
            "aECDSA" or "ECDSA" => static c => c.Au == Au.Ecdsa,
            "aNULL" => static c => c.Au == Au.Null,
            "eNULL" or "NULL" => static c => c.Enc == Enc.Null,
            "kPSK" => static c => c.Kx == Kx.Psk,
            "kECDHEPSK" => static c => c.Kx == Kx.EcdhePsk,
            "kDHEPSK" => static c => c.Kx == Kx.DhePsk,
            "kRSAPSK" => static c => c.Kx == Kx.RsaPsk,
            "PSK" => static c => c.Kx is Kx.Psk or Kx.EcdhePsk or Kx.DhePsk or Kx.RsaPsk,
            "aPSK" => static c => c.Au == Au.Psk,
            "kSRP" or "SRP" => static c => c.Kx == Kx.Srp,
            "aSRP" => static c => c.Au == Au.Srp,
            "AES128" => static c => IsAes(c.Enc) && c.Bits == 128,
            "AES256" => static c => IsAes(c.Enc) && c.Bits == 256,
            "AES" => static c => IsAes(c.Enc),
            "AESGCM" => static c => c.Enc == Enc.AesGcm,
            "AESCCM" => static c => c.Enc is Enc.AesCcm or Enc.AesCcm8,
            "AESCCM8" => static c => c.Enc == Enc.AesCcm8,
            "CAMELLIA128" => static c => c.Enc == Enc.Camellia && c.Bits == 128,
            "CAMELLIA256" => static c => c.Enc == Enc.Camellia && c.Bits == 256,
            "CAMELLIA" => static c => c.Enc == Enc.Camellia,
            "CHACHA20" => static c => c.Enc == Enc.ChaCha20,
            "ARIA128" => static c => c.Enc == Enc.AriaGcm && c.Bits == 128,
            "ARIA256" => static c => c.Enc == Enc.AriaGcm && c.Bits == 256,
            "ARIA" or "ARIAGCM" => static c => c.Enc == Enc.AriaGcm,
            "MD5" => static c => c.Mac == Mac.Md5,
            "SHA1" or "SHA" => static c => c.Mac == Mac.Sha1,
            "SHA256" => static c => c.Mac == Mac.Sha256,
            "SHA384" => static c => c.Mac == Mac.Sha384,
            "SSLv3" => static c => c.MinVersion == MinVersion.Ssl3,
            "TLSv1" or "TLSv1.0" => static c => c.MinVersion == MinVersion.Tls1,
            "TLSv1.2" => static c => c.MinVersion == MinVersion.Tls12,
            _ => null,
        };
    }

    private static bool IsAes(Enc enc) => enc is Enc.AesGcm or Enc.AesCcm or Enc.AesCcm8 or Enc.Aes;
}
