using System.Buffers;
using System.Text;
using System.Text.RegularExpressions;
using FastProxy.Config;

namespace FastProxy.Routing;

/// <summary>
/// A compiled <c>map</c>: the source value is looked up as nginx's ngx_http_map_find does. Exact keys compare
/// case-insensitively (nginx lower-cases both the keys and the value before hashing: checked against nginx 1.22);
/// with <c>hostnames</c>, "*.example.com" / ".example.com" / "www.example.*" wildcards apply and one trailing dot of
/// the value is ignored; then the regex keys in file order ("~" case-sensitive, "~*" not) on the value as it is;
/// else the default. Lookup allocates nothing.
/// </summary>
internal sealed class MapTable
{
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _exact;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _head;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _tail;
    private readonly (Regex Regex, int Index)[] _regexes;
    private readonly ValueTemplate[] _values;
    private readonly bool _hostnames;
    private readonly bool _hasWildcards;

    public MapTable(MapConfig config)
    {
        Config = config;
        _hostnames = config.Hostnames;
        var exact = new Dictionary<string, int>(StringComparer.Ordinal);
        var head = new Dictionary<string, int>(StringComparer.Ordinal);
        var tail = new Dictionary<string, int>(StringComparer.Ordinal);
        var regexes = new List<(Regex, int)>();
        var values = new List<ValueTemplate>();
        foreach (var entry in config.Entries)
        {
            int index = values.Count;
            values.Add(entry.Value);
            string key = entry.Key;
            if (key.Length > 0 && key[0] == '~')
            {
                bool caseless = key.Length > 1 && key[1] == '*';
                regexes.Add((NginxRegex.Create(key.Substring(caseless ? 2 : 1), caseless), index));
                continue;
            }
            if (key.Length > 0 && key[0] == '\\')
            {
                key = key.Substring(1);
            }
            key = key.ToLowerInvariant();
            if (_hostnames && key.StartsWith("*.", StringComparison.Ordinal))
            {
                head.TryAdd(key.Substring(1), index);
            }
            else if (_hostnames && key.Length > 1 && key[0] == '.')
            {
                exact.TryAdd(key.Substring(1), index);
                head.TryAdd(key, index);
            }
            else if (_hostnames && key.Length > 2 && key.EndsWith(".*", StringComparison.Ordinal))
            {
                tail.TryAdd(key.Substring(0, key.Length - 1), index);
            }
            else
            {
                exact.TryAdd(key, index);
            }
        }
        values.Add(config.Default);
        _values = [.. values];
        _exact = exact.GetAlternateLookup<ReadOnlySpan<char>>();
        _head = head.GetAlternateLookup<ReadOnlySpan<char>>();
        _tail = tail.GetAlternateLookup<ReadOnlySpan<char>>();
        _hasWildcards = head.Count > 0 || tail.Count > 0;
        _regexes = [.. regexes];
    }

    public MapConfig Config { get; }

    /// <summary>The variable this map defines (without "$").</summary>
    public string Variable => Config.Variable;

    /// <summary>The value template for <paramref name="value"/> (the evaluated source).</summary>
    public ValueTemplate Lookup(ReadOnlySpan<byte> value) => _values[LookupIndex(value)];

    /// <summary>The index of the matching entry in <see cref="MapConfig.Entries"/>, or Entries.Count for the default.</summary>
    public int LookupIndex(ReadOnlySpan<byte> value)
    {
        char[]? rented = null;
        // One buffer: the value as characters, then the same lower-cased (the regexes see the first, the hash the second).
        Span<char> chars = value.Length <= 256 ? stackalloc char[512] : (rented = ArrayPool<char>.Shared.Rent(value.Length * 2));
        try
        {
            var original = chars.Slice(0, value.Length);
            Encoding.Latin1.GetChars(value, original);
            int found = Find(original, chars.Slice(value.Length, value.Length));
            return found >= 0 ? found : _values.Length - 1;
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<char>.Shared.Return(rented);
            }
        }
    }

    /// <summary>The regex of a regex entry (by its index in <see cref="MapConfig.Entries"/>), null for other entries.</summary>
    public Regex? EntryRegex(int index)
    {
        foreach (var (regex, i) in _regexes)
        {
            if (i == index)
            {
                return regex;
            }
        }
        return null;
    }

    private int Find(ReadOnlySpan<char> original, Span<char> lower)
    {
        int length = original.Length;
        for (int i = 0; i < length; i++)
        {
            char c = original[i];
            lower[i] = c is >= 'A' and <= 'Z' ? (char)(c | 0x20) : c;
        }
        ReadOnlySpan<char> key = lower;
        if (_hostnames && key.Length > 0 && key[^1] == '.')
        {
            key = key[..^1];
        }
        if (_exact.TryGetValue(key, out int index))
        {
            return index;
        }
        if (_hasWildcards)
        {
            for (int i = 1; i < key.Length; i++)
            {
                if (key[i] == '.' && _head.TryGetValue(key.Slice(i), out index))
                {
                    return index;
                }
            }
            for (int i = key.Length - 2; i > 0; i--)
            {
                if (key[i] == '.' && _tail.TryGetValue(key.Slice(0, i + 1), out index))
                {
                    return index;
                }
            }
        }
        if (original.Length > 0)
        {
            foreach (var (regex, i) in _regexes)
            {
                if (regex.IsMatch(original))
                {
                    return i;
                }
            }
        }
        return -1;
    }
}
