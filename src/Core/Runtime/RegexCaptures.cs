using System.Buffers;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.RegularExpressions;
using FastProxy.Config;
using FastProxy.Http;

namespace FastProxy.Runtime;

/// <summary>
/// What a regex can capture: how many numbered groups it has and which groups have names (nginx turns each named
/// capture into a variable). Computed once per regex and cached, so looking it up on the request path allocates nothing.
/// </summary>
internal sealed class RegexCaptures
{
    private static readonly ConditionalWeakTable<Regex, RegexCaptures> s_cache = new();

    private RegexCaptures(Regex regex)
    {
        var named = new List<(byte[], int)>();
        foreach (string name in regex.GetGroupNames())
        {
            if (!int.TryParse(name, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out _))
            {
                named.Add((Encoding.ASCII.GetBytes(name), regex.GroupNumberFromName(name)));
            }
        }
        Named = [.. named];
        GroupNumbers = PcreOrder(regex);
        NumberedGroups = GroupNumbers.Length;
    }

    /// <summary>Groups $0..$N-1 (the whole match is group 0).</summary>
    public int NumberedGroups { get; }

    /// <summary>The .NET group number of PCRE's $i (index i).</summary>
    public int[] GroupNumbers { get; }

    /// <summary>
    /// PCRE numbers every capturing group, named or not, by its opening parenthesis; .NET numbers the unnamed ones
    /// first and the named ones after. This maps PCRE's order onto .NET's group numbers, so "$2" of
    /// "^/(?&lt;app&gt;\w+)/(.*)" is the "(.*)" as in nginx.
    /// </summary>
    internal static int[] PcreOrder(Regex regex)
    {
        string pattern = regex.ToString();
        var order = new List<int> { 0 };
        int unnamed = 0;
        for (int i = 0; i < pattern.Length; i++)
        {
            char c = pattern[i];
            if (c == '\\')
            {
                i++;
                continue;
            }
            if (c == '[')
            {
                // A character class: up to the first unescaped "]" that is not its first character.
                int j = i + 1;
                if (j < pattern.Length && pattern[j] == '^')
                {
                    j++;
                }
                if (j < pattern.Length && pattern[j] == ']')
                {
                    j++;
                }
                while (j < pattern.Length && pattern[j] != ']')
                {
                    j += pattern[j] == '\\' ? 2 : 1;
                }
                i = j;
                continue;
            }
            if (c != '(')
            {
                continue;
            }
            if (i + 1 < pattern.Length && pattern[i + 1] == '*')
            {
                continue; // a PCRE verb such as (*UTF)
            }
            if (i + 1 >= pattern.Length || pattern[i + 1] != '?')
            {
                order.Add(++unnamed);
                continue;
            }
            int start = i + 2;
            if (start < pattern.Length && pattern[start] == 'P' && start + 1 < pattern.Length && pattern[start + 1] == '<')
            {
                start++;
            }
            if (start < pattern.Length && (pattern[start] == '\'' || (pattern[start] == '<' && start + 1 < pattern.Length
                && pattern[start + 1] is not ('=' or '!'))))
            {
                char close = pattern[start] == '<' ? '>' : '\'';
                int end = pattern.IndexOf(close, start + 1);
                if (end > start)
                {
                    int number = regex.GroupNumberFromName(pattern[(start + 1)..end]);
                    if (number >= 0)
                    {
                        order.Add(number);
                    }
                }
            }
        }
        return [.. order];
    }

    public (byte[] Name, int Number)[] Named { get; }

    /// <summary>True when the regex has a group besides the whole match.</summary>
    public bool HasGroups => NumberedGroups > 1;

    public static RegexCaptures For(Regex regex) => s_cache.GetValue(regex, static r => new RegexCaptures(r));

    /// <summary>
    /// Matches <paramref name="subject"/> (bytes, seen by the regex one char per byte as PCRE sees them). A match
    /// replaces the request's numbered captures with its own groups, as in nginx (named ones are variables and stay
    /// until redefined). The test runs on a pooled char buffer and allocates nothing; only when
    /// <paramref name="capture"/> is set and the regex has groups is a successful match run again on a string, since
    /// .NET gives groups only for strings (one string and one Match per capturing match).
    /// </summary>
    public static bool Match(Regex regex, ReadOnlySpan<byte> subject, RequestContext context, bool capture)
    {
        char[] chars = ArrayPool<char>.Shared.Rent(Math.Max(subject.Length, 1));
        bool matched;
        try
        {
            int n = Encoding.Latin1.GetChars(subject, chars);
            matched = regex.IsMatch(chars.AsSpan(0, n));
        }
        finally
        {
            ArrayPool<char>.Shared.Return(chars);
        }
        if (matched && capture)
        {
            Capture(regex, subject, context);
        }
        return matched;
    }

    /// <summary>
    /// Records the groups of a match already made on <paramref name="subject"/> (<see cref="Match"/>'s second half, for
    /// a caller that tested the regex itself): a string and a Match when the regex has groups, nothing else.
    /// </summary>
    public static void Capture(Regex regex, ReadOnlySpan<byte> subject, RequestContext context)
    {
        var info = For(regex);
        if (!info.HasGroups)
        {
            // ngx_http_regex_exec sets r->ncaptures from every match: after a regex without groups, $1..$9 are empty.
            context.ClearCaptures();
            return;
        }
        var match = regex.Match(Encoding.Latin1.GetString(subject));
        if (match.Success)
        {
            context.SetCaptures(match, subject, info);
        }
    }

    /// <summary>True when a template reads a capture: $1..$9, or a name that no <c>map</c> defines (a named capture).</summary>
    public static bool Uses(ValueTemplate? template, IReadOnlyDictionary<string, MapRuntime> maps)
    {
        if (template is null || template.IsLiteral)
        {
            return false;
        }
        foreach (var part in template.Parts)
        {
            if (part.Variable == VariableKind.RegexCapture
                || (!part.IsLiteral && part.Variable == VariableKind.Named && part.Name is not null && !maps.ContainsKey(part.Name)))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>True when any template of the configuration reads a capture (else regexes never need to capture).</summary>
    public static bool AnyUse(ProxyConfig config, IReadOnlyDictionary<string, MapRuntime> maps)
    {
        foreach (var map in config.Maps)
        {
            if (Uses(map.Default, maps))
            {
                return true;
            }
            foreach (var entry in map.Entries)
            {
                if (Uses(entry.Value, maps))
                {
                    return true;
                }
            }
        }
        var stack = new Stack<LocationConfig>();
        foreach (var server in config.Servers)
        {
            if (Uses(server.Settings, maps))
            {
                return true;
            }
            foreach (var location in server.Locations)
            {
                stack.Push(location);
            }
            while (stack.Count > 0)
            {
                var location = stack.Pop();
                if (Uses(location.Settings, maps))
                {
                    return true;
                }
                foreach (var nested in location.Locations)
                {
                    stack.Push(nested);
                }
            }
        }
        return false;
    }

    private static bool Uses(LocationSettings settings, IReadOnlyDictionary<string, MapRuntime> maps)
    {
        if (Uses(settings.Return?.Text, maps))
        {
            return true;
        }
        foreach (var rewrite in settings.Rewrites)
        {
            if (Uses(rewrite.Replacement, maps))
            {
                return true;
            }
        }
        foreach (var header in settings.ProxySetHeaders)
        {
            if (Uses(header.Value, maps))
            {
                return true;
            }
        }
        foreach (var header in settings.AddHeaders)
        {
            if (Uses(header.Value, maps))
            {
                return true;
            }
        }
        foreach (var redirect in settings.ProxyRedirects ?? [])
        {
            if (Uses(redirect.Replacement, maps))
            {
                return true;
            }
        }
        return false;
    }
}
