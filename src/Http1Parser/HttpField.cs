using System.Runtime.InteropServices;

namespace FastProxy.Http1;

/// <summary>
/// One header field as offsets into the head's bytes (<see cref="HttpHead.Raw"/>): the name exactly as sent, the
/// value with surrounding whitespace trimmed (RFC 9110 §5.5). No string is ever made of it.
/// </summary>
[StructLayout(LayoutKind.Auto)]
public readonly struct HttpField(int nameOffset, int nameLength, int valueOffset, int valueLength, KnownField known)
{
    /// <summary>A field whose whole line (name through trailing OWS, without CRLF) is <paramref name="lineLength"/> bytes.</summary>
    public HttpField(int nameOffset, int nameLength, int valueOffset, int valueLength, KnownField known, int lineLength)
        : this(nameOffset, nameLength, valueOffset, valueLength, known)
    {
        LineLength = lineLength;
    }

    public int NameOffset { get; } = nameOffset;
    public int NameLength { get; } = nameLength;
    public int ValueOffset { get; } = valueOffset;
    public int ValueLength { get; } = valueLength;
    public KnownField Known { get; } = known;

    /// <summary>Offset of the whole line (name) and its length up to, not including, CRLF.</summary>
    public int LineOffset => NameOffset;

    /// <summary>
    /// Length of the whole field line without its CRLF (or bare LF), trailing OWS included: forwarding
    /// <c>Raw[LineOffset..(LineOffset + LineLength)]</c> plus CRLF reproduces the line byte-exact.
    /// </summary>
    public int LineLength { get; } = valueOffset + valueLength - nameOffset;
}
