using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using FastProxy.Config;

namespace FastProxy.Tls;

/// <summary>What a certificate's key can sign with, which decides which clients it can serve.</summary>
internal enum TlsKeyKind : byte
{
    Rsa,
    EcdsaP256,
    EcdsaP384,
    EcdsaP521,
}

/// <summary>
/// One <c>ssl_certificate</c>/<c>ssl_certificate_key</c> pair, loaded: the leaf with its private key, the rest of the
/// file as the chain sent in the handshake, and the <see cref="SslStreamCertificateContext"/> SslStream uses. Immutable
/// and shared by every connection and every snapshot that names the same unchanged files.
/// </summary>
internal sealed class LoadedCertificate
{
    public LoadedCertificate(X509Certificate2 leaf, X509Certificate2Collection intermediates, TlsKeyKind keyKind, string source)
    {
        Leaf = leaf;
        Intermediates = intermediates;
        KeyKind = keyKind;
        Source = source;
        // offline: the chain is what the file holds; SslStream must not fetch missing intermediates (AIA) at start.
        Context = SslStreamCertificateContext.Create(leaf, intermediates, offline: true);
    }

    public X509Certificate2 Leaf { get; }

    public X509Certificate2Collection Intermediates { get; }

    public SslStreamCertificateContext Context { get; }

    public TlsKeyKind KeyKind { get; }

    /// <summary>"cert.pem + key.pem", for messages.</summary>
    public string Source { get; }
}

/// <summary>
/// Loads certificates from PEM files and keeps them by (paths, modification time, length), so a reload that does not
/// touch the files reuses the same objects: no file is read again, and because the same
/// <see cref="SslStreamCertificateContext"/> is reused, .NET keeps the same OpenSSL context (session cache and ticket
/// keys), so clients resume their sessions across a reload. One cache lives as long as the process.
/// </summary>
internal sealed class TlsCertificateCache
{
    private readonly record struct Key(string CertificatePath, string KeyPath, string? PasswordFile);

    private readonly record struct Stamp(DateTime WriteTimeUtc, long Length);

    private sealed record Entry(Stamp Certificate, Stamp Key, Stamp Passwords, LoadedCertificate Loaded);

    private readonly Dictionary<Key, Entry> _entries = new();
    private readonly Lock _lock = new();
    private int _loads;

    /// <summary>How many times files were actually read and parsed (tests check that a reload hits the cache).</summary>
    public int Loads => Volatile.Read(ref _loads);

    /// <summary>Returns the loaded pair, reading the files only when they changed since the last load.</summary>
    public LoadedCertificate Get(CertificateConfig config, string? passwordFile)
    {
        var key = new Key(Path.GetFullPath(config.CertificatePath), Path.GetFullPath(config.KeyPath),
            passwordFile is null ? null : Path.GetFullPath(passwordFile));
        var certStamp = StampOf(key.CertificatePath);
        var keyStamp = StampOf(key.KeyPath);
        var passwordStamp = key.PasswordFile is null ? default : StampOf(key.PasswordFile);
        lock (_lock)
        {
            if (_entries.TryGetValue(key, out var entry) &&
                entry.Certificate == certStamp && entry.Key == keyStamp && entry.Passwords == passwordStamp)
            {
                return entry.Loaded;
            }
            var loaded = PemCertificateLoader.Load(key.CertificatePath, key.KeyPath, key.PasswordFile);
            Interlocked.Increment(ref _loads);
            _entries[key] = new Entry(certStamp, keyStamp, passwordStamp, loaded);
            // The replaced entry is not disposed: connections still running on an older snapshot may use it; the
            // finalizers release it once nothing refers to it.
            return loaded;
        }
    }

    private static Stamp StampOf(string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists)
        {
            throw new TlsConfigurationException($"cannot load \"{path}\": no such file");
        }
        return new Stamp(info.LastWriteTimeUtc, info.Length);
    }
}

/// <summary>
/// Reads what nginx's ssl_certificate/ssl_certificate_key accept: a PEM file whose first certificate is the leaf and
/// whose further certificates are the chain, and a private key as PKCS#8 ("PRIVATE KEY"), encrypted PKCS#8
/// ("ENCRYPTED PRIVATE KEY"), PKCS#1 ("RSA PRIVATE KEY") or SEC1 ("EC PRIVATE KEY"), the traditional two also in
/// OpenSSL's legacy encrypted form (Proc-Type/DEK-Info headers). Encrypted keys are opened with each line of
/// ssl_password_file in turn, as nginx does. Errors throw <see cref="TlsConfigurationException"/>.
/// </summary>
internal static class PemCertificateLoader
{
    private const string RsaOid = "1.2.840.113549.1.1.1";
    private const string EcOid = "1.2.840.10045.2.1";

    public static LoadedCertificate Load(string certificatePath, string keyPath, string? passwordFile)
    {
        string source = certificatePath == keyPath ? certificatePath : $"{certificatePath} + {keyPath}";
        var certificates = new X509Certificate2Collection();
        try
        {
            certificates.ImportFromPemFile(certificatePath);
        }
        catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException)
        {
            throw new TlsConfigurationException($"cannot load certificate \"{certificatePath}\": {e.Message}", e);
        }
        if (certificates.Count == 0)
        {
            throw new TlsConfigurationException($"cannot load certificate \"{certificatePath}\": no \"BEGIN CERTIFICATE\" block");
        }

        var leafPublic = certificates[0];
        string keyText;
        try
        {
            keyText = File.ReadAllText(keyPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new TlsConfigurationException($"cannot load certificate key \"{keyPath}\": {e.Message}", e);
        }
        var passwords = passwordFile is null ? [] : ReadPasswords(passwordFile);

        X509Certificate2 leaf;
        TlsKeyKind kind;
        switch (leafPublic.PublicKey.Oid.Value)
        {
            case RsaOid:
            {
                using var rsa = RSA.Create();
                ImportKey(keyText, keyPath, passwords, passwordFile, rsa);
                leaf = Attach(leafPublic, source, () => leafPublic.CopyWithPrivateKey(rsa));
                kind = TlsKeyKind.Rsa;
                break;
            }
            case EcOid:
            {
                using var ecdsa = ECDsa.Create();
                ImportKey(keyText, keyPath, passwords, passwordFile, ecdsa);
                leaf = Attach(leafPublic, source, () => leafPublic.CopyWithPrivateKey(ecdsa));
                kind = CurveOf(leafPublic, certificatePath);
                break;
            }
            default:
                throw new TlsConfigurationException(
                    $"certificate \"{certificatePath}\": key algorithm {leafPublic.PublicKey.Oid.FriendlyName ?? leafPublic.PublicKey.Oid.Value} is not supported (RSA and ECDSA are)");
        }

        // SChannel (Windows) cannot use the ephemeral key CopyWithPrivateKey gives; a PKCS#12 round trip persists
        // it. With OpenSSL (Linux, and what FastProxy targets) the ephemeral key works as is: checked by the tests.
        if (OperatingSystem.IsWindows())
        {
            var reimported = X509CertificateLoader.LoadPkcs12(leaf.Export(X509ContentType.Pkcs12), null);
            leaf.Dispose();
            leaf = reimported;
        }

        var intermediates = new X509Certificate2Collection();
        for (int i = 1; i < certificates.Count; i++)
        {
            intermediates.Add(certificates[i]);
        }
        return new LoadedCertificate(leaf, intermediates, kind, source);
    }

    /// <summary>
    /// Lines of an ssl_password_file: each non-empty line is a password, tried in order (nginx strips the line end,
    /// CR LF or LF).
    /// </summary>
    public static List<string> ReadPasswords(string passwordFile)
    {
        string text;
        try
        {
            text = File.ReadAllText(passwordFile);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new TlsConfigurationException($"cannot open ssl_password_file \"{passwordFile}\": {e.Message}", e);
        }
        var passwords = new List<string>();
        foreach (var line in text.Split('\n'))
        {
            var password = line.EndsWith('\r') ? line[..^1] : line;
            if (password.Length > 0)
            {
                passwords.Add(password);
            }
        }
        return passwords;
    }

    private static X509Certificate2 Attach(X509Certificate2 certificate, string source, Func<X509Certificate2> copy)
    {
        try
        {
            return copy();
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException)
        {
            // nginx: "SSL_CTX_use_PrivateKey ... key values mismatch". .NET throws ArgumentException for a mismatch.
            throw new TlsConfigurationException($"{source}: the private key does not match the certificate ({certificate.Subject})", e);
        }
    }

    private static TlsKeyKind CurveOf(X509Certificate2 certificate, string path)
    {
        using var key = certificate.GetECDsaPublicKey()!;
        return key.ExportParameters(false).Curve.Oid.Value switch
        {
            "1.2.840.10045.3.1.7" => TlsKeyKind.EcdsaP256,
            "1.3.132.0.34" => TlsKeyKind.EcdsaP384,
            "1.3.132.0.35" => TlsKeyKind.EcdsaP521,
            var other => throw new TlsConfigurationException($"certificate \"{path}\": curve {other} is not supported (P-256, P-384, P-521 are)"),
        };
    }

    private static void ImportKey(string pemText, string keyPath, List<string> passwords, string? passwordFile, AsymmetricAlgorithm key)
    {
        if (!PemBlock.TryFindPrivateKey(pemText, out var block))
        {
            throw new TlsConfigurationException($"cannot load certificate key \"{keyPath}\": no private key PEM block");
        }

        bool encrypted = block.Label == "ENCRYPTED PRIVATE KEY" || block.DekInfo is not null;
        if (!encrypted)
        {
            Import(key, block.Label, block.Der, keyPath);
            return;
        }
        if (passwords.Count == 0)
        {
            throw new TlsConfigurationException(passwordFile is null
                ? $"cannot load certificate key \"{keyPath}\": the key is encrypted and no ssl_password_file is set"
                : $"cannot load certificate key \"{keyPath}\": ssl_password_file \"{passwordFile}\" has no password");
        }
        foreach (var password in passwords)
        {
            try
            {
                if (block.Label == "ENCRYPTED PRIVATE KEY")
                {
                    key.ImportEncryptedPkcs8PrivateKey(password, block.Der, out _);
                }
                else
                {
                    Import(key, block.Label, LegacyPem.Decrypt(block.Der, block.DekInfo!, password, keyPath), keyPath);
                }
                return;
            }
            catch (CryptographicException)
            {
                // Wrong password (bad padding or garbage ASN.1): try the next line, as nginx does.
            }
            catch (TlsConfigurationException) when (block.Label != "ENCRYPTED PRIVATE KEY")
            {
                // A wrong password decrypts to bytes that are not a key.
            }
        }
        throw new TlsConfigurationException(
            $"cannot load certificate key \"{keyPath}\": no password in \"{passwordFile}\" decrypts it ({passwords.Count} tried)");
    }

    private static void Import(AsymmetricAlgorithm key, string label, byte[] der, string keyPath)
    {
        try
        {
            switch (label, key)
            {
                case ("PRIVATE KEY", _):
                    key.ImportPkcs8PrivateKey(der, out _);
                    break;
                case ("RSA PRIVATE KEY", RSA rsa):
                    rsa.ImportRSAPrivateKey(der, out _);
                    break;
                case ("EC PRIVATE KEY", ECDsa ecdsa):
                    ecdsa.ImportECPrivateKey(der, out _);
                    break;
                default:
                    throw new TlsConfigurationException(
                        $"cannot load certificate key \"{keyPath}\": a \"{label}\" block does not fit the certificate's {(key is RSA ? "RSA" : "ECDSA")} key");
            }
        }
        catch (CryptographicException e)
        {
            throw new TlsConfigurationException($"cannot load certificate key \"{keyPath}\": {e.Message}", e);
        }
    }
}

/// <summary>A PEM block with its label and, for OpenSSL's legacy encryption, the DEK-Info header.</summary>
internal readonly record struct PemBlock(string Label, byte[] Der, string? DekInfo)
{
    private static readonly string[] KeyLabels = ["PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"];

    /// <summary>Finds the first private key block (skipping certificates and "EC PARAMETERS" that may precede it).</summary>
    public static bool TryFindPrivateKey(string text, out PemBlock block)
    {
        int position = 0;
        while (true)
        {
            int begin = text.IndexOf("-----BEGIN ", position, StringComparison.Ordinal);
            if (begin < 0)
            {
                block = default;
                return false;
            }
            int labelStart = begin + "-----BEGIN ".Length;
            int labelEnd = text.IndexOf("-----", labelStart, StringComparison.Ordinal);
            if (labelEnd < 0)
            {
                block = default;
                return false;
            }
            string label = text[labelStart..labelEnd];
            string endMarker = $"-----END {label}-----";
            int end = text.IndexOf(endMarker, labelEnd, StringComparison.Ordinal);
            if (end < 0)
            {
                block = default;
                return false;
            }
            position = end + endMarker.Length;
            if (Array.IndexOf(KeyLabels, label) < 0)
            {
                continue;
            }

            // RFC 1421 headers ("Proc-Type: 4,ENCRYPTED", "DEK-Info: AES-256-CBC,<hex IV>") end at a blank line.
            string body = text[(labelEnd + 5)..end];
            string? dekInfo = null;
            var base64 = new StringBuilder(body.Length);
            foreach (var rawLine in body.Split('\n'))
            {
                var line = rawLine.Trim();
                if (line.StartsWith("DEK-Info:", StringComparison.Ordinal))
                {
                    dekInfo = line["DEK-Info:".Length..].Trim();
                }
                else if (!line.Contains(':'))
                {
                    base64.Append(line);
                }
            }
            try
            {
                block = new PemBlock(label, Convert.FromBase64String(base64.ToString()), dekInfo);
                return true;
            }
            catch (FormatException)
            {
                block = default;
                return false;
            }
        }
    }
}

/// <summary>
/// OpenSSL's traditional PEM encryption (PEM_read_bio_PrivateKey with DEK-Info): the key is
/// EVP_BytesToKey(MD5, password, salt = first 8 bytes of the IV, 1 iteration) and the body is CBC with PKCS#7 padding.
/// </summary>
internal static class LegacyPem
{
    public static byte[] Decrypt(byte[] cipherText, string dekInfo, string password, string keyPath)
    {
        int comma = dekInfo.IndexOf(',');
        if (comma < 0)
        {
            throw new TlsConfigurationException($"cannot load certificate key \"{keyPath}\": malformed DEK-Info \"{dekInfo}\"");
        }
        string algorithm = dekInfo[..comma].Trim().ToUpperInvariant();
        byte[] iv = Convert.FromHexString(dekInfo[(comma + 1)..].Trim());
        (int keyLength, Func<SymmetricAlgorithm> create) = algorithm switch
        {
            "AES-128-CBC" => (16, (Func<SymmetricAlgorithm>)Aes.Create),
            "AES-192-CBC" => (24, Aes.Create),
            "AES-256-CBC" => (32, Aes.Create),
            "DES-EDE3-CBC" => (24, TripleDES.Create),
            _ => throw new TlsConfigurationException($"cannot load certificate key \"{keyPath}\": legacy PEM cipher {algorithm} is not supported"),
        };
        if (iv.Length < 8)
        {
            throw new TlsConfigurationException($"cannot load certificate key \"{keyPath}\": malformed DEK-Info IV");
        }
        byte[] key = BytesToKey(Encoding.UTF8.GetBytes(password), iv.AsSpan(0, 8), keyLength);
        using var cipher = create();
        cipher.Key = key;
        return cipher.DecryptCbc(cipherText, iv, PaddingMode.PKCS7);
    }

    private static byte[] BytesToKey(byte[] password, ReadOnlySpan<byte> salt, int length)
    {
        var key = new byte[length];
        var input = new byte[MD5.HashSizeInBytes + password.Length + salt.Length];
        Span<byte> digest = stackalloc byte[MD5.HashSizeInBytes];
        int produced = 0;
        int previous = 0;
        while (produced < length)
        {
            // D_i = MD5(D_(i-1) || password || salt)
            digest[..previous].CopyTo(input);
            password.CopyTo(input, previous);
            salt.CopyTo(input.AsSpan(previous + password.Length));
            MD5.HashData(input.AsSpan(0, previous + password.Length + salt.Length), digest);
            previous = MD5.HashSizeInBytes;
            int take = Math.Min(digest.Length, length - produced);
            digest[..take].CopyTo(key.AsSpan(produced));
            produced += take;
        }
        return key;
    }
}
