using System.Text;
using System.Text.RegularExpressions;
using FastProxy.Config;

namespace FastProxy.Runtime;

/// <summary>
/// A <c>map</c> block at run time: the source template, exact keys as bytes (compared ASCII case-insensitively, so
/// <c>$http_upgrade</c> "WebSocket" matches a "websocket" key), regex keys, and the default. nginx checks exact keys
/// first, then regexes in order; so does this.
/// </summary>
internal sealed class MapRuntime
{
    private (byte[] Key, CompiledTemplate Value)[] _exact = [];
    private (Regex Regex, CompiledTemplate Value)[] _regexes = [];

    public MapRuntime(MapConfig config)
    {
        Config = config;
    }

    public MapConfig Config { get; }

    public CompiledTemplate Source { get; private set; } = CompiledTemplate.Empty;

    public CompiledTemplate Default { get; private set; } = CompiledTemplate.Empty;

    /// <summary>Second phase of building: templates may name other maps, so all maps exist before any compiles.</summary>
    public void Compile(IReadOnlyDictionary<string, MapRuntime> maps)
    {
        Source = CompiledTemplate.Compile(Config.Source, maps);
        Default = CompiledTemplate.Compile(Config.Default, maps);
        var exact = new List<(byte[], CompiledTemplate)>();
        var regexes = new List<(Regex, CompiledTemplate)>();
        foreach (var entry in Config.Entries)
        {
            var value = CompiledTemplate.Compile(entry.Value, maps);
            if (entry.Key.StartsWith("~*", StringComparison.Ordinal))
            {
                regexes.Add((new Regex(entry.Key[2..], RegexOptions.IgnoreCase | RegexOptions.CultureInvariant), value));
            }
            else if (entry.Key.StartsWith('~'))
            {
                regexes.Add((new Regex(entry.Key[1..], RegexOptions.CultureInvariant), value));
            }
            else
            {
                // "\~" escapes a literal tilde at the start of a key (nginx).
                string key = entry.Key.StartsWith("\\~", StringComparison.Ordinal) ? entry.Key[1..] : entry.Key;
                exact.Add((Encoding.UTF8.GetBytes(key), value));
            }
        }
        _exact = [.. exact];
        _regexes = [.. regexes];
    }

    /// <summary>The value template selected by <paramref name="source"/>.</summary>
    public CompiledTemplate Select(ReadOnlySpan<byte> source)
    {
        foreach (var (key, value) in _exact)
        {
            if (System.Text.Ascii.EqualsIgnoreCase(source, key))
            {
                return value;
            }
        }
        if (_regexes.Length > 0)
        {
            // Regex works on chars: widen the bytes on the stack (Latin-1 keeps every byte one char).
            char[]? rented = null;
            Span<char> chars = source.Length <= 256 ? stackalloc char[256] : (rented = System.Buffers.ArrayPool<char>.Shared.Rent(source.Length));
            int n = Encoding.Latin1.GetChars(source, chars);
            try
            {
                foreach (var (regex, value) in _regexes)
                {
                    if (regex.IsMatch(chars[..n]))
                    {
                        return value;
                    }
                }
            }
            finally
            {
                if (rented is not null)
                {
                    System.Buffers.ArrayPool<char>.Shared.Return(rented);
                }
            }
        }
        return Default;
    }
}
