using System.Security.Authentication;

namespace FastProxy.Tls;

/// <summary><c>ssl_protocols</c> / <c>proxy_ssl_protocols</c> names to <see cref="SslProtocols"/>.</summary>
internal static class TlsProtocols
{
    /// <summary>nginx's default (since 1.23.4): TLSv1.2 TLSv1.3.</summary>
    public const SslProtocols Default = SslProtocols.Tls12 | SslProtocols.Tls13;

    /// <summary>
    /// Parses protocol names as nginx writes them. SSLv2/SSLv3 are accepted with a warning and dropped (neither .NET
    /// nor OpenSSL 3 speaks them); TLSv1/TLSv1.1 are enabled when named, though OpenSSL 3's default security level
    /// (1 on Debian 12) still refuses them: they need SHA-1 signatures, which level 1 forbids.
    /// </summary>
    public static SslProtocols Parse(IReadOnlyList<string> names, string directive, List<string> warnings)
    {
        var protocols = SslProtocols.None;
        foreach (var name in names)
        {
#pragma warning disable SYSLIB0039 // TLS 1.0 and 1.1 are obsolete: enabled only when the operator names them
            protocols |= name switch
            {
                "TLSv1" => SslProtocols.Tls,
                "TLSv1.1" => SslProtocols.Tls11,
#pragma warning restore SYSLIB0039
                "TLSv1.2" => SslProtocols.Tls12,
                "TLSv1.3" => SslProtocols.Tls13,
                "SSLv2" or "SSLv3" => Dropped(name, directive, warnings),
                _ => throw new TlsConfigurationException($"{directive}: invalid value \"{name}\""),
            };
        }
        if (protocols == SslProtocols.None)
        {
            throw new TlsConfigurationException($"{directive}: no usable protocol in \"{string.Join(' ', names)}\"");
        }
        return protocols;
    }

    /// <summary>The name nginx's $ssl_protocol gives a negotiated protocol.</summary>
    public static string Name(SslProtocols protocol) => protocol switch
    {
        SslProtocols.Tls13 => "TLSv1.3",
        SslProtocols.Tls12 => "TLSv1.2",
#pragma warning disable SYSLIB0039
        SslProtocols.Tls11 => "TLSv1.1",
        SslProtocols.Tls => "TLSv1",
#pragma warning restore SYSLIB0039
        _ => protocol.ToString(),
    };

    private static SslProtocols Dropped(string name, string directive, List<string> warnings)
    {
        warnings.Add($"{directive}: {name} is not supported by .NET/OpenSSL 3 and is ignored");
        return SslProtocols.None;
    }
}
