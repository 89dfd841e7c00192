namespace FastProxy.Config.Tests;

public sealed class GlobTests
{
    [Theory]
    [InlineData("*.conf", "a.conf", true)]
    [InlineData("*.conf", "a.conf.bak", false)]
    [InlineData("*", "default", true)]
    [InlineData("?.conf", "a.conf", true)]
    [InlineData("?.conf", "ab.conf", false)]
    [InlineData("[ab].conf", "b.conf", true)]
    [InlineData("[a-c]*.conf", "c1.conf", true)]
    [InlineData("[!a]*.conf", "a1.conf", false)]
    [InlineData("*-enabled*", "sites-enabled", true)]
    [InlineData("a*b*c", "aXbYc", true)]
    [InlineData("a*b*c", "aXbY", false)]
    public void IsMatch_Patterns_AsFnmatch(string pattern, string name, bool expected) =>
        Assert.Equal(expected, Glob.IsMatch(pattern, name));

    [Fact]
    public void Match_WildcardDirectorySegment_ReadsEveryMatchSorted()
    {
        using var dir = new ConfDir();
        dir.Write("b/x.conf", "");
        dir.Write("a/x.conf", "");
        dir.Write("a/y.txt", "");
        Assert.Equal([Path.Combine(dir.Root, "a", "x.conf"), Path.Combine(dir.Root, "b", "x.conf")],
            Glob.Match(Path.Combine(dir.Root, "*", "*.conf")));
    }
}
