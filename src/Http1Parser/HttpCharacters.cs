using System.Buffers;

namespace FastProxy.Http1;

/// <summary>Byte classes of the HTTP grammar, each citing its rule.</summary>
internal static class HttpCharacters
{
    public const byte CR = (byte)'\r';
    public const byte LF = (byte)'\n';
    public const byte SP = (byte)' ';
    public const byte HTAB = (byte)'\t';

    // RFC 9110 §5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
    private const string TcharText = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

    public static readonly SearchValues<byte> Tchar = SearchValues.Create(Ascii(TcharText));

    // RFC 9110 §5.5: field-value = *field-content; field-vchar = VCHAR / obs-text, with SP and HTAB between.
    // So a value must not contain CTLs (0x00-0x1F) other than HTAB, nor DEL (0x7F). obs-text (0x80-0xFF) is allowed.
    // Searching for the forbidden bytes keeps the set ASCII-only, which SearchValues vectorizes.
    public static readonly SearchValues<byte> InvalidFieldValue = SearchValues.Create(Range(0x00, 0x08, 0x0A, 0x1F, 0x7F, 0x7F));

    // Request-target bytes: RFC 9112 §3.2 allows only URI characters (RFC 3986 §2), all visible ASCII. We accept every
    // visible ASCII byte (0x21-0x7E, as browsers send '|', '^', '[', ']' raw) except '#': a fragment is never sent
    // (RFC 9110 §7.1), and a proxy and an origin that disagree where the path ends is a routing-bypass vector.
    public static readonly SearchValues<byte> TargetChar = SearchValues.Create(Range(0x21, 0x22, 0x24, 0x7E));

    // RFC 3986 §3.2.2: reg-name = *( unreserved / pct-encoded / sub-delims )
    // unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~"; sub-delims = "!" / "$" / "&" / "'" / "(" / ")" / "*" / "+" / "," / ";" / "="
    private const string UnreservedText = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";
    private const string SubDelimsText = "!$&'()*+,;=";

    public static readonly SearchValues<byte> RegNameChar = SearchValues.Create(Ascii(UnreservedText + SubDelimsText + "%"));

    // RFC 3986 §3.2.2: IP-literal = "[" ( IPv6address / IPvFuture ) "]"; IPvFuture = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" ).
    // IPv6address uses HEXDIG, ":" and "." only; both fit in unreserved / sub-delims / ":".
    public static readonly SearchValues<byte> IpLiteralChar = SearchValues.Create(Ascii(UnreservedText + SubDelimsText + ":"));

    public static readonly SearchValues<byte> Whitespace = SearchValues.Create(" \t"u8);

    /// <summary>RFC 5234 HEXDIG (case-insensitive, as RFC 9112 §7.1 reads it): the value 0-15, or -1.</summary>
    public static int HexValue(byte b)
    {
        // Map '0'-'9' to 0-9 and 'A'-'F' / 'a'-'f' to 10-15 without a table.
        uint d = (uint)(b - '0');
        if (d <= 9)
        {
            return (int)d;
        }
        uint l = (uint)((b | 0x20) - 'a');
        return l <= 5 ? (int)l + 10 : -1;
    }

    public static bool IsDigit(byte b) => (uint)(b - '0') <= 9;

    public static bool IsWhitespace(byte b) => b == SP || b == HTAB;

    public static ReadOnlySpan<byte> TrimWhitespace(ReadOnlySpan<byte> s)
    {
        int start = s.IndexOfAnyExcept(Whitespace);
        if (start < 0)
        {
            return default;
        }
        int end = s.LastIndexOfAnyExcept(Whitespace);
        return s.Slice(start, end - start + 1);
    }

    private static byte[] Ascii(string s)
    {
        var bytes = new byte[s.Length];
        for (int i = 0; i < s.Length; i++)
        {
            bytes[i] = (byte)s[i];
        }
        return bytes;
    }

    /// <summary>The bytes of the inclusive ranges given as (first, last) pairs.</summary>
    private static byte[] Range(params int[] pairs)
    {
        var bytes = new List<byte>();
        for (int p = 0; p < pairs.Length; p += 2)
        {
            for (int b = pairs[p]; b <= pairs[p + 1]; b++)
            {
                bytes.Add((byte)b);
            }
        }
        return bytes.ToArray();
    }

    // ---- Per-byte classes for the chunked decoder's state machine ----------------------------------------------

    public const byte ClassTchar = 1;
    /// <summary>RFC 9110 §5.5 field-vchar, SP or HTAB: may appear in a field value.</summary>
    public const byte ClassFieldValue = 2;
    /// <summary>RFC 9110 §5.6.4 qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text.</summary>
    public const byte ClassQdtext = 4;
    /// <summary>RFC 9110 §5.6.4 quoted-pair second byte: HTAB / SP / VCHAR / obs-text.</summary>
    public const byte ClassQuotedPair = 8;

    /// <summary>One byte of flags per byte value.</summary>
    public static readonly byte[] Classes = BuildClasses();

    private static byte[] BuildClasses()
    {
        var classes = new byte[256];
        foreach (char c in TcharText)
        {
            classes[c] |= ClassTchar;
        }
        for (int b = 0; b < 256; b++)
        {
            bool vcharOrObsText = (b >= 0x21 && b <= 0x7E) || b >= 0x80;
            bool ws = b == SP || b == HTAB;
            if (vcharOrObsText || ws)
            {
                classes[b] |= ClassFieldValue | ClassQuotedPair;
                if (b != '"' && b != '\\')
                {
                    classes[b] |= ClassQdtext;
                }
            }
        }
        return classes;
    }
}
