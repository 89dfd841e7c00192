using FastProxy.Config;
using FastProxy.Http;
using FastProxy.Routing;

namespace FastProxy.Runtime;

/// <summary>
/// A <c>map</c> block at run time: the lookup is <see cref="MapTable"/>'s (nginx's ngx_http_map_find: exact keys
/// case-insensitively, <c>hostnames</c> wildcards, then regexes in file order on the value as it is), the values are
/// compiled templates. A regex entry whose value reads captures ($1, named ones) gives its value those captures.
/// </summary>
internal sealed class MapRuntime
{
    private MapTable _table = null!;
    private CompiledTemplate[] _values = [];
    private bool[] _valueUsesCaptures = [];

    public MapRuntime(MapConfig config)
    {
        Config = config;
    }

    public MapConfig Config { get; }

    public CompiledTemplate Source { get; private set; } = CompiledTemplate.Empty;

    public CompiledTemplate Default { get; private set; } = CompiledTemplate.Empty;

    /// <summary>
    /// Second phase of building: templates may name other maps, so all maps exist before any compiles. Throws
    /// ArgumentException for a bad regex.
    /// </summary>
    public void Compile(IReadOnlyDictionary<string, MapRuntime> maps)
    {
        _table = new MapTable(Config);
        Source = CompiledTemplate.Compile(Config.Source, maps);
        Default = CompiledTemplate.Compile(Config.Default, maps);
        var entries = Config.Entries;
        var values = new CompiledTemplate[entries.Count + 1];
        var captures = new bool[entries.Count + 1];
        for (int i = 0; i < entries.Count; i++)
        {
            values[i] = CompiledTemplate.Compile(entries[i].Value, maps);
            captures[i] = _table.EntryRegex(i) is not null && RegexCaptures.Uses(entries[i].Value, maps);
        }
        values[^1] = Default;
        _values = values;
        _valueUsesCaptures = captures;
    }

    /// <summary>
    /// The value template selected by <paramref name="source"/>. When it is a regex entry whose value reads captures,
    /// <paramref name="scoped"/> is true and the caller evaluates the value, then calls RequestContext.EndMapCaptures.
    /// </summary>
    public CompiledTemplate Select(ReadOnlySpan<byte> source, RequestContext context, out bool scoped)
    {
        int index = _table.LookupIndex(source);
        scoped = false;
        if (_valueUsesCaptures[index] && _table.EntryRegex(index) is { } regex)
        {
            // .NET gives groups only for a string: one string and one Match per evaluation of such a value.
            var match = regex.Match(System.Text.Encoding.Latin1.GetString(source));
            if (match.Success)
            {
                context.BeginMapCaptures(match, source, RegexCaptures.For(regex));
                scoped = true;
            }
        }
        return _values[index];
    }
}
