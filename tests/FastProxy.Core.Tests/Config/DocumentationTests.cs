namespace FastProxy.Config.Tests;

public sealed class DocumentationTests
{
    [Fact]
    public void ConfigurationDoc_ListsEveryDirective()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "FastProxy.sln")))
        {
            dir = dir.Parent;
        }
        Assert.NotNull(dir);
        string doc = File.ReadAllText(Path.Combine(dir.FullName, "docs", "configuration.md"));
        var missing = DirectiveTable.All.Select(s => s.Name).Distinct().Where(n => !doc.Contains($"| `{n}` |", StringComparison.Ordinal));
        Assert.Empty(missing);
    }
}
