using System.Text;

namespace FastProxy.Config;

// CONTRACT (owned by the config engineer, used by the Host and tests): the nginx-syntax front door.

/// <summary>An error or warning about the configuration, located as nginx locates it.</summary>
public sealed record ConfigDiagnostic(string File, int Line, string Message, bool IsError)
{
    /// <summary>"file:line: message", the form <c>fastproxy -t</c> prints (as <c>nginx -t</c> does).</summary>
    public override string ToString() => $"{File}:{Line}: {Message}";
}

/// <summary>What loading a configuration produced: the model when there was no error, and every diagnostic.</summary>
public sealed record ConfigLoadResult(ProxyConfig? Config, IReadOnlyList<ConfigDiagnostic> Diagnostics)
{
    public bool Success => Config is not null;

    /// <summary>Every file read, in the order nginx reads them (the main file, then each include where it appears).</summary>
    public IReadOnlyList<ConfigSourceFile> Files { get; init; } = [];
}

/// <summary>Reads nginx-syntax configuration files into a <see cref="ProxyConfig"/>.</summary>
public static class NginxConfigLoader
{
    /// <summary>
    /// Loads a file with its includes. A relative include path is resolved against the directory of this (main) file,
    /// whichever file the include is written in: nginx's conf prefix (see docs/configuration.md).
    /// </summary>
    public static ConfigLoadResult LoadFile(string path)
    {
        string full = Path.GetFullPath(path);
        string text;
        try
        {
            text = File.ReadAllText(full);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            string reason = e is FileNotFoundException or DirectoryNotFoundException ? "2: No such file or directory"
                : e is UnauthorizedAccessException ? "13: Permission denied" : e.Message;
            return new ConfigLoadResult(null, [new ConfigDiagnostic(full, 0, $"open() \"{full}\" failed ({reason})", true)]);
        }
        return Load(text, full);
    }

    /// <summary>Loads configuration text; <paramref name="fileName"/> names it in diagnostics and anchors relative includes.</summary>
    public static ConfigLoadResult LoadText(string text, string fileName) => Load(text, fileName);

    /// <summary>The configuration files read, as <c>nginx -T</c> prints them: each once, under "# configuration file PATH:".</summary>
    public static string Dump(ConfigLoadResult result)
    {
        var sb = new StringBuilder();
        var printed = new HashSet<string>(StringComparer.Ordinal);
        foreach (var file in result.Files)
        {
            // nginx -T prints a file included several times once (ngx_conf_add_dump).
            if (!printed.Add(file.Path))
            {
                continue;
            }
            sb.Append("# configuration file ").Append(file.Path).Append(":\n");
            sb.Append(file.Text);
            if (file.Text.Length > 0 && file.Text[^1] != '\n')
            {
                sb.Append('\n');
            }
            sb.Append('\n');
        }
        return sb.ToString();
    }

    private static ConfigLoadResult Load(string text, string fileName)
    {
        var diagnostics = new List<ConfigDiagnostic>();
        var files = new List<ConfigSourceFile>();
        string confPrefix = Path.GetDirectoryName(Path.GetFullPath(fileName)) ?? Directory.GetCurrentDirectory();
        var root = ConfParser.Parse(text, fileName, confPrefix, diagnostics, files);
        var config = new ConfigBuilder(diagnostics, fileName).Build(root);
        if (diagnostics.Exists(d => d.IsError))
        {
            config = null;
        }
        // In reading order (file as first read, then line), whichever pass found them; the sort is stable.
        var fileOrder = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var file in files)
        {
            fileOrder.TryAdd(file.Path, fileOrder.Count);
        }
        var ordered = diagnostics
            .OrderBy(d => fileOrder.TryGetValue(d.File, out int i) ? i : int.MaxValue)
            .ThenBy(d => d.Line)
            .ToList();
        return new ConfigLoadResult(config, ordered) { Files = files };
    }
}
