using FastProxy.Config;

namespace FastProxy.Config.Tests;

/// <summary>A temporary directory of configuration files, removed at the end of the test.</summary>
internal sealed class ConfDir : IDisposable
{
    public ConfDir() => Directory.CreateDirectory(Root);

    public string Root { get; } = Path.Combine(Path.GetTempPath(), "fastproxy-conf-" + Guid.NewGuid().ToString("N"));

    public string Write(string relative, string text)
    {
        string path = Path.Combine(Root, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text);
        return path;
    }

    public void Dispose() => Directory.Delete(Root, recursive: true);
}

internal static class ConfigTestHelpers
{
    public const string MainFile = "/etc/fastproxy/test.conf";

    public static ConfigLoadResult LoadText(string text) => NginxConfigLoader.LoadText(text, MainFile);

    /// <summary>Loads "events {} http { HTTP }" (a line each) and returns the result.</summary>
    public static ConfigLoadResult LoadHttp(string http) => LoadText("events { }\nhttp {\n" + http + "\n}\n");

    public static ProxyConfig LoadHttpOk(string http)
    {
        var result = LoadHttp(http);
        Assert.True(result.Success, string.Join("\n", result.Diagnostics));
        return result.Config!;
    }

    public static IEnumerable<ConfigDiagnostic> Errors(this ConfigLoadResult result) => result.Diagnostics.Where(d => d.IsError);

    public static IEnumerable<ConfigDiagnostic> Warnings(this ConfigLoadResult result) => result.Diagnostics.Where(d => !d.IsError);
}
