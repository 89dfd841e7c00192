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
}

/// <summary>Reads nginx-syntax configuration files into a <see cref="ProxyConfig"/>.</summary>
public static class NginxConfigLoader
{
    /// <summary>Loads a file (with its includes, resolved relative to the including file's folder).</summary>
    public static ConfigLoadResult LoadFile(string path) =>
        new(null, [new ConfigDiagnostic(path, 0, "the nginx-syntax loader is not built yet", true)]);

    /// <summary>Loads configuration text; <paramref name="fileName"/> names it in diagnostics and anchors relative includes.</summary>
    public static ConfigLoadResult LoadText(string text, string fileName) =>
        new(null, [new ConfigDiagnostic(fileName, 0, "the nginx-syntax loader is not built yet", true)]);
}
