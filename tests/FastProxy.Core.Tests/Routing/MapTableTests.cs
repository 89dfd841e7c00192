using FastProxy.Config;
using static FastProxy.Routing.Tests.RoutingTestHelpers;

namespace FastProxy.Routing.Tests;

public sealed class MapTableTests
{
    private static MapTable Map(string body) =>
        new(Assert.Single(Load("map $arg_x $out {\n" + body + "\n}\nserver { listen 127.0.0.1:18080; return 200 $out; }").Maps));

    private static string Lookup(MapTable map, string value) => map.Lookup(Bytes(value)).Source;

    // Checked against nginx 1.22: exact keys match case-insensitively, regexes see the value as it is.
    [Theory]
    [InlineData("Foo", "yes")]
    [InlineData("foo", "yes")]
    [InlineData("FOO", "yes")]
    [InlineData("Bar", "r")]
    [InlineData("bar", "no")]
    [InlineData("BAZ", "i")]
    [InlineData("", "empty")]
    [InlineData("default", "keyword")]
    [InlineData("other", "no")]
    public void Lookup_ExactRegexAndDefault_AsNginx(string value, string expected)
    {
        var map = Map("""
            Foo yes;
            ~^Ba r;
            ~*^baz i;
            '' empty;
            \default keyword;
            default no;
            """);
        Assert.Equal(expected, Lookup(map, value));
    }

    [Theory]
    [InlineData("example.com", "dot")]
    [InlineData("EXAMPLE.com.", "dot")]
    [InlineData("a.example.com", "dot")]
    [InlineData("x.foo.com", "star")]
    [InlineData("foo.com", "no")]
    [InlineData("www.bar.org", "tail")]
    public void Lookup_Hostnames_WildcardsAsNginx(string value, string expected)
    {
        var map = Map("""
            hostnames;
            .example.com dot;
            *.foo.com star;
            www.bar.* tail;
            default no;
            """);
        Assert.Equal(expected, Lookup(map, value));
    }

    [Fact]
    public void Lookup_NoDefault_IsEmpty()
    {
        var map = Map("a b;");
        Assert.Same(ValueTemplate.Empty, map.Lookup("zzz"u8));
        Assert.Equal(1, map.LookupIndex("zzz"u8));
        Assert.Equal(0, map.LookupIndex("A"u8));
    }

    [Fact]
    public void Lookup_LongValue_UsesPooledBuffer()
    {
        var map = Map("~^x+$ long; default no;");
        Assert.Equal("long", Lookup(map, new string('x', 1000)));
    }
}
