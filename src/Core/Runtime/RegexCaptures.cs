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
        var numbers = regex.GetGroupNumbers();
        int numbered = 0;
        foreach (int n in numbers)
        {
            numbered = Math.Max(numbered, n + 1);
        }
        var named = new List<(byte[], int)>();
        foreach (string name in regex.GetGroupNames())
        {
            if (!int.TryParse(name, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out _))
            {
                named.Add((Encoding.ASCII.GetBytes(name), regex.GroupNumberFromName(name)));
            }
        }
        NumberedGroups = numbered;
        Named = [.. named];
    }

    /// <summary>Groups $0..$N-1 (the whole match is group 0).</summary>
    public int NumberedGroups { get; }

    public (byte[] Name, int Number)[] Named { get; }

    /// <summary>True when the regex has a group besides the whole match.</summary>
    public bool HasGroups => NumberedGroups > 1;

    public static RegexCaptures For(Regex regex) => s_cache.GetValue(regex, static r => new RegexCaptures(r));

    /// <summary>
    /// Matches <paramref name="subject"/> (bytes, seen by the regex one char per byte as PCRE sees them). Without
    /// <paramref name="capture"/>, or for a regex without groups (which leaves earlier captures alone, as in nginx), the
    /// match runs on a pooled char buffer and allocates nothing. With captures, .NET gives groups only for a string:
    /// a match that succeeded is run again on a string, which allocates the string and the Match.
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
        if (!matched || !capture)
        {
            return matched;
        }
        var info = For(regex);
        if (!info.HasGroups && info.Named.Length == 0)
        {
            return true;
        }
        var match = regex.Match(Encoding.Latin1.GetString(subject));
        if (match.Success)
        {
            context.SetCaptures(match, subject, info);
        }
        return true;
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
