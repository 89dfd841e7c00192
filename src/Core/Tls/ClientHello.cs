using System.Buffers.Binary;
using System.Text;

namespace FastProxy.Tls;

/// <summary>Where reading a ClientHello from the first bytes of a connection stands.</summary>
internal enum ClientHelloStatus : byte
{
    /// <summary>More bytes are needed.</summary>
    Incomplete,
    /// <summary>A whole ClientHello was read; <see cref="ClientHelloInfo"/> is filled.</summary>
    Complete,
    /// <summary>The bytes look like a plain HTTP request (nginx: "The plain HTTP request was sent to HTTPS port").</summary>
    PlainHttp,
    /// <summary>Not a ClientHello we can read (SSLv2-style hello, junk, too large): OpenSSL gets the bytes and decides.</summary>
    Unreadable,
}

/// <summary>Signature algorithms (RFC 8446 §4.2.3) a client accepts, grouped by the certificate key that can produce them.</summary>
[Flags]
internal enum SignatureSupport : byte
{
    None = 0,
    /// <summary>ecdsa_secp256r1_sha256 (0x0403).</summary>
    EcdsaP256 = 1,
    /// <summary>ecdsa_secp384r1_sha384 (0x0503).</summary>
    EcdsaP384 = 2,
    /// <summary>ecdsa_secp521r1_sha512 (0x0603).</summary>
    EcdsaP521 = 4,
    /// <summary>Any ECDSA with any hash (TLS 1.2 does not bind the curve to the code point).</summary>
    EcdsaAny = 8,
    /// <summary>rsa_pss_rsae_* (0x0804..0x0806): the only RSA signatures TLS 1.3 handshakes use.</summary>
    RsaPss = 16,
    /// <summary>rsa_pkcs1_* (0x0401, 0x0501, 0x0601, 0x0201): TLS 1.2.</summary>
    RsaPkcs1 = 32,
}

/// <summary>Elliptic curve groups (RFC 8446 §4.2.7) a client offers.</summary>
[Flags]
internal enum GroupSupport : byte
{
    None = 0,
    P256 = 1,
    P384 = 2,
    P521 = 4,
}

/// <summary>What the ClientHello says that matters for choosing the server and certificate.</summary>
internal struct ClientHelloInfo
{
    /// <summary>The host_name of server_name (RFC 6066 §3), lower-cased, trailing dot removed; null when absent.</summary>
    public string? ServerName;

    /// <summary>supported_versions lists TLS 1.3 (0x0304).</summary>
    public bool OffersTls13;

    /// <summary>The highest version the client offers below 1.3 (legacy_version or supported_versions), e.g. 0x0303.</summary>
    public ushort MaxLegacyVersion;

    /// <summary>True when signature_algorithms was present (RFC 5246 §7.4.1.4.1: absent means SHA-1 with the cipher's key type).</summary>
    public bool HasSignatureAlgorithms;

    public SignatureSupport Signatures;

    /// <summary>True when supported_groups was present (RFC 8422 §4: absent means any curve).</summary>
    public bool HasGroups;

    public GroupSupport Groups;

    /// <summary>Offset and length of cipher_suites within the hello bytes given to <see cref="ClientHello.TryParse"/>.</summary>
    public int CipherSuitesOffset;
    public int CipherSuitesLength;

    public bool OffersAlpn;
    public bool AlpnHttp11;
    public bool AlpnH2;
}

/// <summary>
/// Reads the ClientHello (RFC 8446 §4.1.2, RFC 5246 §7.4.1.2) from the first records of a connection, without
/// consuming them: SslStream gets the same bytes afterwards. .NET's selection callbacks see only the server name and
/// the offered versions, not the signature algorithms or curves, so this is how FastProxy, like OpenSSL inside nginx,
/// chooses between an RSA and an ECDSA certificate by what the client supports. Bounded: a hello larger than
/// <see cref="MaxHelloLength"/> is left to OpenSSL.
/// </summary>
internal static class ClientHello
{
    /// <summary>Largest handshake message read (a post-quantum hybrid key share makes a hello ~1.8 KiB; 16 KiB is generous).</summary>
    public const int MaxHelloLength = 16 * 1024;

    /// <summary>Largest number of raw bytes read before giving up: a hello split over several records, with headers.</summary>
    public const int MaxBufferedLength = MaxHelloLength + 8 * 5 + 5;

    private const byte ContentTypeHandshake = 22;
    private const byte HandshakeTypeClientHello = 1;

    /// <summary>
    /// Parses the hello from <paramref name="data"/> (the bytes read so far). Fragmented hellos (several records) are
    /// reassembled into a temporary array; the usual single-record hello is read in place.
    /// </summary>
    public static ClientHelloStatus TryParse(ReadOnlySpan<byte> data, out ClientHelloInfo info)
    {
        info = default;
        if (data.IsEmpty)
        {
            return ClientHelloStatus.Incomplete;
        }
        if (data[0] != ContentTypeHandshake)
        {
            // "GET ", "POST" ...: an upper-case letter starts every HTTP method (RFC 9110 §9.1 token, by convention).
            return data[0] is >= (byte)'A' and <= (byte)'Z' ? ClientHelloStatus.PlainHttp : ClientHelloStatus.Unreadable;
        }
        if (data.Length < 5 + 4)
        {
            // Too short for the fast path's header; a fragmented header is handled below once a record is complete.
            if (data.Length < 5 || data.Length < 5 + BinaryPrimitives.ReadUInt16BigEndian(data.Slice(3)))
            {
                return ClientHelloStatus.Incomplete;
            }
            return ParseFragmented(data, ref info);
        }

        // Usual case: the first record carries the whole hello; it is read in place.
        int firstRecordLength = BinaryPrimitives.ReadUInt16BigEndian(data.Slice(3));
        if (data[1] != 3 || firstRecordLength == 0 || firstRecordLength > 16 * 1024)
        {
            return ClientHelloStatus.Unreadable;
        }
        if (firstRecordLength >= 4)
        {
            if (data[5] != HandshakeTypeClientHello)
            {
                return ClientHelloStatus.Unreadable;
            }
            int messageLength = (data[6] << 16) | (data[7] << 8) | data[8];
            if (messageLength > MaxHelloLength)
            {
                return ClientHelloStatus.Unreadable;
            }
            if (firstRecordLength >= 4 + messageLength)
            {
                if (data.Length < 9 + messageLength)
                {
                    return ClientHelloStatus.Incomplete;
                }
                return ParseBody(data.Slice(9, messageLength), 9, ref info) ? ClientHelloStatus.Complete : ClientHelloStatus.Unreadable;
            }
        }
        return ParseFragmented(data, ref info);
    }

    /// <summary>
    /// A hello split over several handshake records (RFC 8446 §5.1 allows any split, even inside the 4-byte handshake
    /// header): the fragments are gathered into one array (rare, so the allocation does not matter).
    /// </summary>
    private static ClientHelloStatus ParseFragmented(ReadOnlySpan<byte> data, ref ClientHelloInfo info)
    {
        Span<byte> header = stackalloc byte[4];
        int headerHave = 0;
        byte[]? message = null;
        int have = 0;
        int offset = 0;
        while (message is null || have < message.Length)
        {
            if (data.Length - offset < 5)
            {
                return ClientHelloStatus.Incomplete;
            }
            if (data[offset] != ContentTypeHandshake || data[offset + 1] != 3)
            {
                return ClientHelloStatus.Unreadable;
            }
            int recordLength = BinaryPrimitives.ReadUInt16BigEndian(data.Slice(offset + 3));
            if (recordLength == 0 || recordLength > 16 * 1024)
            {
                return ClientHelloStatus.Unreadable;
            }
            if (data.Length - offset - 5 < recordLength)
            {
                return ClientHelloStatus.Incomplete;
            }
            var fragment = data.Slice(offset + 5, recordLength);
            offset += 5 + recordLength;
            if (message is null)
            {
                int take = Math.Min(4 - headerHave, fragment.Length);
                fragment[..take].CopyTo(header[headerHave..]);
                headerHave += take;
                fragment = fragment[take..];
                if (headerHave < 4)
                {
                    continue;
                }
                int messageLength = (header[1] << 16) | (header[2] << 8) | header[3];
                if (header[0] != HandshakeTypeClientHello || messageLength > MaxHelloLength)
                {
                    return ClientHelloStatus.Unreadable;
                }
                message = new byte[messageLength];
            }
            int copy = Math.Min(fragment.Length, message.Length - have);
            fragment[..copy].CopyTo(message.AsSpan(have));
            have += copy;
        }
        // Offsets into a reassembled message do not point into the raw bytes: the cipher suite position is dropped and
        // every suite counts as offered.
        return ParseBody(message, -1, ref info) ? ClientHelloStatus.Complete : ClientHelloStatus.Unreadable;
    }

    /// <summary>True when the cipher suites of the hello include <paramref name="suite"/> (RFC 8446 §4.1.2: u16 list).</summary>
    public static bool OffersCipherSuite(ReadOnlySpan<byte> data, in ClientHelloInfo info, ushort suite)
    {
        if (info.CipherSuitesOffset < 0)
        {
            return true;
        }
        var suites = data.Slice(info.CipherSuitesOffset, info.CipherSuitesLength);
        for (int i = 0; i + 1 < suites.Length; i += 2)
        {
            if (BinaryPrimitives.ReadUInt16BigEndian(suites.Slice(i)) == suite)
            {
                return true;
            }
        }
        return false;
    }

    private static bool ParseBody(ReadOnlySpan<byte> body, int bodyOffset, ref ClientHelloInfo info)
    {
        // legacy_version(2) random(32) legacy_session_id<0..32> cipher_suites<2..2^16-2> legacy_compression_methods<1..2^8-1> extensions<8..2^16-1>
        if (body.Length < 2 + 32 + 1)
        {
            return false;
        }
        info.MaxLegacyVersion = BinaryPrimitives.ReadUInt16BigEndian(body);
        int p = 34;
        int sessionIdLength = body[p];
        p += 1 + sessionIdLength;
        if (sessionIdLength > 32 || p + 2 > body.Length)
        {
            return false;
        }
        int suitesLength = BinaryPrimitives.ReadUInt16BigEndian(body.Slice(p));
        p += 2;
        if ((suitesLength & 1) != 0 || p + suitesLength > body.Length)
        {
            return false;
        }
        info.CipherSuitesOffset = bodyOffset < 0 ? -1 : bodyOffset + p;
        info.CipherSuitesLength = suitesLength;
        p += suitesLength;
        if (p + 1 > body.Length)
        {
            return false;
        }
        int compressionLength = body[p];
        p += 1 + compressionLength;
        if (p > body.Length)
        {
            return false;
        }
        if (p == body.Length)
        {
            return true; // no extensions (an old TLS 1.0 client)
        }
        if (p + 2 > body.Length)
        {
            return false;
        }
        int extensionsLength = BinaryPrimitives.ReadUInt16BigEndian(body.Slice(p));
        p += 2;
        if (p + extensionsLength != body.Length)
        {
            return false;
        }
        var extensions = body.Slice(p, extensionsLength);
        while (!extensions.IsEmpty)
        {
            if (extensions.Length < 4)
            {
                return false;
            }
            ushort type = BinaryPrimitives.ReadUInt16BigEndian(extensions);
            int length = BinaryPrimitives.ReadUInt16BigEndian(extensions.Slice(2));
            if (4 + length > extensions.Length)
            {
                return false;
            }
            var extension = extensions.Slice(4, length);
            extensions = extensions.Slice(4 + length);
            bool ok = type switch
            {
                0 => ReadServerName(extension, ref info),
                10 => ReadGroups(extension, ref info),
                13 => ReadSignatureAlgorithms(extension, ref info),
                16 => ReadAlpn(extension, ref info),
                43 => ReadSupportedVersions(extension, ref info),
                _ => true,
            };
            if (!ok)
            {
                return false;
            }
        }
        return true;
    }

    // RFC 6066 §3: ServerNameList<1..2^16-1> of { NameType(1) = host_name(0), HostName<1..2^16-1> }.
    private static bool ReadServerName(ReadOnlySpan<byte> extension, ref ClientHelloInfo info)
    {
        if (extension.Length < 2)
        {
            return false;
        }
        int listLength = BinaryPrimitives.ReadUInt16BigEndian(extension);
        var list = extension.Slice(2);
        if (listLength != list.Length)
        {
            return false;
        }
        while (list.Length >= 3)
        {
            byte nameType = list[0];
            int length = BinaryPrimitives.ReadUInt16BigEndian(list.Slice(1));
            if (3 + length > list.Length)
            {
                return false;
            }
            var name = list.Slice(3, length);
            list = list.Slice(3 + length);
            if (nameType != 0 || info.ServerName is not null)
            {
                continue;
            }
            if (!name.IsEmpty && name[^1] == (byte)'.')
            {
                name = name[..^1];
            }
            // A host name is ASCII (IDNs arrive as A-labels); anything else is ignored, as if no SNI were sent.
            if (name.IsEmpty || name.Length > 255 || !Ascii.IsValid(name))
            {
                continue;
            }
            info.ServerName = Encoding.ASCII.GetString(name).ToLowerInvariant();
        }
        return true;
    }

    private static bool ReadGroups(ReadOnlySpan<byte> extension, ref ClientHelloInfo info)
    {
        if (!TryList16(extension, out var list))
        {
            return false;
        }
        info.HasGroups = true;
        for (int i = 0; i < list.Length; i += 2)
        {
            info.Groups |= BinaryPrimitives.ReadUInt16BigEndian(list.Slice(i)) switch
            {
                23 => GroupSupport.P256, // secp256r1
                24 => GroupSupport.P384, // secp384r1
                25 => GroupSupport.P521, // secp521r1
                _ => GroupSupport.None,
            };
        }
        return true;
    }

    private static bool ReadSignatureAlgorithms(ReadOnlySpan<byte> extension, ref ClientHelloInfo info)
    {
        if (!TryList16(extension, out var list))
        {
            return false;
        }
        info.HasSignatureAlgorithms = true;
        for (int i = 0; i < list.Length; i += 2)
        {
            ushort scheme = BinaryPrimitives.ReadUInt16BigEndian(list.Slice(i));
            info.Signatures |= scheme switch
            {
                0x0403 => SignatureSupport.EcdsaP256 | SignatureSupport.EcdsaAny,
                0x0503 => SignatureSupport.EcdsaP384 | SignatureSupport.EcdsaAny,
                0x0603 => SignatureSupport.EcdsaP521 | SignatureSupport.EcdsaAny,
                0x0804 or 0x0805 or 0x0806 => SignatureSupport.RsaPss,
                0x0201 or 0x0401 or 0x0501 or 0x0601 => SignatureSupport.RsaPkcs1,
                // TLS 1.2 (hash, signature) pairs: signature 3 = ecdsa with another hash (sha1, sha224).
                _ when (scheme & 0xFF) == 3 && (scheme >> 8) <= 6 => SignatureSupport.EcdsaAny,
                _ when (scheme & 0xFF) == 1 && (scheme >> 8) <= 6 => SignatureSupport.RsaPkcs1,
                _ => SignatureSupport.None,
            };
        }
        return true;
    }

    // RFC 7301 §3.1: ProtocolNameList<2..2^16-1> of ProtocolName<1..2^8-1>.
    private static bool ReadAlpn(ReadOnlySpan<byte> extension, ref ClientHelloInfo info)
    {
        if (extension.Length < 2 || BinaryPrimitives.ReadUInt16BigEndian(extension) != extension.Length - 2)
        {
            return false;
        }
        var list = extension.Slice(2);
        info.OffersAlpn = true;
        while (!list.IsEmpty)
        {
            int length = list[0];
            if (length == 0 || 1 + length > list.Length)
            {
                return false;
            }
            var name = list.Slice(1, length);
            info.AlpnHttp11 |= name.SequenceEqual("http/1.1"u8);
            info.AlpnH2 |= name.SequenceEqual("h2"u8);
            list = list.Slice(1 + length);
        }
        return true;
    }

    // RFC 8446 §4.2.1: versions<2..254> (u8 length, u16 entries).
    private static bool ReadSupportedVersions(ReadOnlySpan<byte> extension, ref ClientHelloInfo info)
    {
        if (extension.Length < 1 || extension[0] != extension.Length - 1 || (extension[0] & 1) != 0)
        {
            return false;
        }
        ushort maxLegacy = 0;
        for (int i = 1; i + 1 < extension.Length; i += 2)
        {
            ushort version = BinaryPrimitives.ReadUInt16BigEndian(extension.Slice(i));
            if (version == 0x0304)
            {
                info.OffersTls13 = true;
            }
            else if (version is >= 0x0300 and < 0x0304 && version > maxLegacy)
            {
                maxLegacy = version;
            }
        }
        // With supported_versions, legacy_version is fixed at 0x0303 and means nothing (RFC 8446 §4.1.2).
        info.MaxLegacyVersion = maxLegacy;
        return true;
    }

    private static bool TryList16(ReadOnlySpan<byte> extension, out ReadOnlySpan<byte> list)
    {
        list = default;
        if (extension.Length < 2)
        {
            return false;
        }
        int length = BinaryPrimitives.ReadUInt16BigEndian(extension);
        if (length != extension.Length - 2 || (length & 1) != 0)
        {
            return false;
        }
        list = extension.Slice(2);
        return true;
    }
}
