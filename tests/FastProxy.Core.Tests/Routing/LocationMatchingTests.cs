using FastProxy.Config;
using static FastProxy.Routing.Tests.RoutingTestHelpers;

namespace FastProxy.Routing.Tests;

public sealed class LocationMatchingTests
{
    // The example of the ngx_http_core_module "location" documentation.
    private const string DocsExample = """
        location = / { return 200 A; }
        location / { return 200 B; }
        location /documents/ { return 200 C; }
        location ^~ /images/ { return 200 D; }
        location ~* \.(gif|jpg|jpeg)$ { return 200 E; }
        """;

    private static string? Match(ServerRoute server, RouteTable table, string path)
    {
        var location = table.FindLocation(server, Bytes(path));
        return location?.Settings.Return?.Text?.Source;
    }

    [Theory]
    [InlineData("/", "A")]
    [InlineData("/index.html", "B")]
    [InlineData("/documents/document.html", "C")]
    [InlineData("/images/1.gif", "D")]
    [InlineData("/documents/1.jpg", "E")]
    [InlineData("/DOCUMENTS/1.JPG", "E")]
    [InlineData("/documents", "B")]
    [InlineData("/images", "B")]
    public void FindLocation_NginxDocsExample_ChoosesAsNginx(string path, string expected)
    {
        var (table, server) = Server(DocsExample);
        Assert.Equal(expected, Match(server, table, path));
    }

    [Theory]
    [InlineData("/a/x.php", "nested-regex")]
    [InlineData("/a/b/x.php", "nested-regex")]
    [InlineData("/a/b/x", "nested-prefix")]
    [InlineData("/x.php", "outer-regex")]
    [InlineData("/a/x", "a")]
    public void FindLocation_NestedRegex_TriedBeforeOuterRegexes(string path, string expected)
    {
        var (table, server) = Server("""
            location /a/ {
                return 200 a;
                location ~ \.php$ { return 200 nested-regex; }
                location /a/b/ { return 200 nested-prefix; }
            }
            location ~ \.php$ { return 200 outer-regex; }
            """);
        Assert.Equal(expected, Match(server, table, path));
    }

    [Theory]
    [InlineData("/static/x.png", "nested")]
    [InlineData("/static/x.css", "static")]
    public void FindLocation_NoRegexPrefix_SkipsOuterRegexesButNotNestedOnes(string path, string expected)
    {
        var (table, server) = Server("""
            location ^~ /static/ {
                return 200 static;
                location ~ \.png$ { return 200 nested; }
            }
            location ~ \.(png|css)$ { return 200 regex; }
            """);
        Assert.Equal(expected, Match(server, table, path));
    }

    [Fact]
    public void FindLocation_RegexesInFileOrder_FirstMatchWins()
    {
        var (table, server) = Server("""
            location ~ ^/api { return 200 first; }
            location ~ ^/api/v2 { return 200 second; }
            """);
        Assert.Equal("first", Match(server, table, "/api/v2/x"));
    }

    [Fact]
    public void FindLocation_RegexIsCaseSensitiveWithTilde_CaseInsensitiveWithTildeStar()
    {
        var (table, server) = Server("""
            location ~ \.PNG$ { return 200 upper; }
            location / { return 200 root; }
            """);
        Assert.Equal("root", Match(server, table, "/x.png"));
        Assert.Equal("upper", Match(server, table, "/x.PNG"));
    }

    [Fact]
    public void FindLocation_PrefixIsCaseSensitive()
    {
        var (table, server) = Server("location /Api/ { return 200 api; }");
        Assert.Null(Match(server, table, "/api/x"));
        Assert.Equal("api", Match(server, table, "/Api/x"));
    }

    [Fact]
    public void FindLocation_NoLocationMatches_ReturnsNull()
    {
        var (table, server) = Server("location /a/ { return 200 a; }");
        Assert.Null(table.FindLocation(server, Bytes("/b")));
        Assert.Equal(LocationMatchStatus.None, table.FindLocation(server, Bytes("/b"), out _));
    }

    [Fact]
    public void FindLocation_ExactBeatsLongerPrefixAndRegex()
    {
        var (table, server) = Server("""
            location = /x.gif { return 200 exact; }
            location ~ gif$ { return 200 regex; }
            """);
        Assert.Equal("exact", Match(server, table, "/x.gif"));
        Assert.Equal("regex", Match(server, table, "/y.gif"));
    }

    [Fact]
    public void FindLocation_ProxiedPrefixWithoutSlash_IsAutoRedirect()
    {
        var (table, server) = Server("""
            location /api/users/ { proxy_pass http://127.0.0.1:18081/; }
            location / { return 200 root; }
            """);
        Assert.Equal(LocationMatchStatus.AutoRedirect, table.FindLocation(server, Bytes("/api/users"), out var location));
        Assert.Equal("/api/users/", location!.Config.Pattern);
        Assert.Null(table.FindLocation(server, Bytes("/api/users")));
        Assert.Equal(LocationMatchStatus.Found, table.FindLocation(server, Bytes("/api/users/1"), out location));
        Assert.Equal("/api/users/", location!.Config.Pattern);
    }

    [Fact]
    public void FindLocation_ExactLocationForNameWithoutSlash_BeatsAutoRedirect()
    {
        var (table, server) = Server("""
            location /api/ { proxy_pass http://127.0.0.1:18081/; }
            location = /api { return 200 exact; }
            """);
        Assert.Equal("exact", Match(server, table, "/api"));
    }

    [Fact]
    public void FindLocation_NamedLocation_NeverMatchedByPath()
    {
        var (table, server) = Server("""
            location @fallback { proxy_pass http://127.0.0.1:18081; }
            """);
        Assert.Null(table.FindLocation(server, Bytes("@fallback")));
        Assert.NotNull(server.FindNamed("@fallback"));
    }

    [Fact]
    public void FindLocation_LongestPrefixAmongMany_Wins()
    {
        var (table, server) = Server("""
            location /a { return 200 1; }
            location /a/b/c { return 200 3; }
            location /a/b { return 200 2; }
            """);
        Assert.Equal("3", Match(server, table, "/a/b/c/d"));
        Assert.Equal("2", Match(server, table, "/a/b/"));
        Assert.Equal("1", Match(server, table, "/ab"));
    }

    [Fact]
    public void FindLocation_RegexNestedLocation_SearchedAfterRegexMatch()
    {
        var (table, server) = Server("""
            location ~ ^/img/ {
                return 200 regex;
                location ~ \.png$ { return 200 png; }
            }
            """);
        Assert.Equal("png", Match(server, table, "/img/a.png"));
        Assert.Equal("regex", Match(server, table, "/img/a.gif"));
    }
}

public sealed class PrefixIndexTests
{
    [Fact]
    public void FindLocation_ManyRandomPrefixes_SameAsNaiveLongestMatch()
    {
        var random = new Random(7);
        const string alphabet = "/ab.";
        var names = new HashSet<string>(StringComparer.Ordinal) { "/" };
        while (names.Count < 60)
        {
            int length = random.Next(1, 7);
            var chars = new char[length];
            for (int i = 0; i < length; i++)
            {
                chars[i] = alphabet[random.Next(alphabet.Length)];
            }
            names.Add("/" + new string(chars));
        }
        var body = string.Join("\n", names.Select(n => $"location {n} {{ return 200 \"{n}\"; }}"));
        var (table, server) = RoutingTestHelpers.Server(body);
        for (int i = 0; i < 5000; i++)
        {
            int length = random.Next(0, 10);
            var chars = new char[length];
            for (int j = 0; j < length; j++)
            {
                chars[j] = alphabet[random.Next(alphabet.Length)];
            }
            string path = "/" + new string(chars);
            string expected = names.Where(n => path.StartsWith(n, StringComparison.Ordinal)).MaxBy(n => n.Length)!;
            var location = table.FindLocation(server, RoutingTestHelpers.Bytes(path));
            Assert.Equal(expected, location!.Settings.Return!.Text!.Source);
        }
    }
}
