using System.Text.RegularExpressions;

namespace FastProxy.Tls;

/// <summary>
/// Picks a virtual server by the SNI name the way nginx's server_name picks one by Host
/// (https://nginx.org/en/docs/http/server_names.html): the exact name, then the longest wildcard starting with an
/// asterisk (<c>*.example.com</c>; <c>.example.com</c> also matches <c>example.com</c>), then the longest wildcard
/// ending with one (<c>www.example.*</c>), then the first regular expression (<c>~...</c>) in file order. No match
/// gives null: the caller uses the default server of the listen address.
/// </summary>
internal sealed class ServerNameMatcher<T> where T : class
{
    private readonly Dictionary<string, T> _exact = new(StringComparer.OrdinalIgnoreCase);
    private readonly List<(string Suffix, T Value)> _leading = [];   // ".example.com" for "*.example.com"
    private readonly List<(string Prefix, T Value)> _trailing = [];  // "www.example." for "www.example.*"
    private readonly List<(Regex Regex, T Value)> _regexes = [];

    /// <summary>Adds a server's names; the first server to name something keeps it (nginx warns "conflicting server name").</summary>
    public void Add(IEnumerable<string> serverNames, T value)
    {
        foreach (var raw in serverNames)
        {
            if (raw.Length == 0)
            {
                continue;
            }
            if (raw[0] == '~')
            {
                // nginx regexes are PCRE, case-sensitive unless (?i); names are compared lower-cased.
                _regexes.Add((new Regex(raw[1..], RegexOptions.CultureInvariant, TimeSpan.FromMilliseconds(100)), value));
            }
            else if (raw.StartsWith("*.", StringComparison.Ordinal))
            {
                _leading.Add((raw[1..].ToLowerInvariant(), value));
            }
            else if (raw[0] == '.')
            {
                // ".example.com" = "example.com" + "*.example.com".
                _exact.TryAdd(raw[1..], value);
                _leading.Add((raw.ToLowerInvariant(), value));
            }
            else if (raw.EndsWith(".*", StringComparison.Ordinal))
            {
                _trailing.Add((raw[..^1].ToLowerInvariant(), value));
            }
            else
            {
                _exact.TryAdd(raw, value);
            }
        }
        // Longest wildcard first, stable for equal lengths (file order).
        _leading.Sort(static (a, b) => b.Suffix.Length.CompareTo(a.Suffix.Length));
        _trailing.Sort(static (a, b) => b.Prefix.Length.CompareTo(a.Prefix.Length));
    }

    /// <summary>The server for <paramref name="name"/> (lower-case, no trailing dot), or null.</summary>
    public T? Match(string? name)
    {
        if (string.IsNullOrEmpty(name))
        {
            return null;
        }
        if (_exact.TryGetValue(name, out var exact))
        {
            return exact;
        }
        foreach (var (suffix, value) in _leading)
        {
            if (name.Length > suffix.Length && name.EndsWith(suffix, StringComparison.Ordinal))
            {
                return value;
            }
        }
        foreach (var (prefix, value) in _trailing)
        {
            if (name.Length > prefix.Length && name.StartsWith(prefix, StringComparison.Ordinal))
            {
                return value;
            }
        }
        foreach (var (regex, value) in _regexes)
        {
            try
            {
                if (regex.IsMatch(name))
                {
                    return value;
                }
            }
            catch (RegexMatchTimeoutException)
            {
                // A pathological pattern does not stall the handshake: treat as no match.
            }
        }
        return null;
    }
}
