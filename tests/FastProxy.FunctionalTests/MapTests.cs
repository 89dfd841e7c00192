using FastProxy.FunctionalTests.Infrastructure;

namespace FastProxy.FunctionalTests;

/// <summary><c>map</c> results where variables are used at request time (checked against nginx 1.22).</summary>
public sealed class MapTests
{
    [Theory]
    [InlineData("www.example.com", "/a/foo", "wild got-foo")]
    [InlineData("WWW.Example.com.", "/b/bar", "wild b-bar")]
    [InlineData("example.org", "/c", "exact d")]
    [InlineData("other", "/a/foo", "none got-foo")]
    public async Task Map_HostnamesAndRegexCaptures_AsNginx(string host, string path, string expected)
    {
        await using var proxy = await NginxConf.StartAsync("location / { return 200 \"$site $part\"; }", http: """
            map $host $site { hostnames; default none; *.example.com wild; example.org exact; }
            map $uri $part { ~^/a/(?<x>[^/]+) got-$x; ~^/b/([^/]+) b-$1; default d; }
            """);

        var response = await proxy.SendAsync($"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n");

        Assert.Equal(expected, response.BodyText);
    }

    [Fact]
    public async Task Map_InProxySetHeaderAndAddHeader_EvaluatedPerRequest()
    {
        await using var backend = TestBackend.Echo();
        await using var proxy = await NginxConf.StartAsync($$"""
            location / {
                proxy_set_header Connection $connection_upgrade;
                proxy_set_header X-Tier $tier;
                add_header X-Tier $tier;
                proxy_pass http://{{backend.Address}};
            }
            """, http: """
            map $http_upgrade $connection_upgrade { default upgrade; '' close; }
            map $arg_tier $tier { default free; ~*^(gold|silver)$ paid-$1; }
            """);

        var paid = await proxy.SendAsync("GET /?tier=Gold HTTP/1.1\r\nHost: a\r\n\r\n");
        var free = await proxy.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");

        Assert.Equal("paid-Gold", paid.Header("X-Tier"));
        Assert.Equal("free", free.Header("X-Tier"));
        Assert.True(backend.Requests.TryDequeue(out var first));
        Assert.Equal("paid-Gold", first!.Header("X-Tier"));
        Assert.Equal("close", first.Header("Connection"));
    }

    [Fact]
    public async Task Map_RegexValueCaptures_DoNotLeakIntoTheRestOfTheTemplate()
    {
        // nginx answers 500 here (its length and copy passes disagree once the map replaced the captures); FastProxy
        // gives the map's captures to the map's value only.
        await using var proxy = await NginxConf.StartAsync("location ~ ^/(x)/ { return 200 \"$1 $m $1\"; }",
            http: "map $uri $m { ~^/x/(?<y>.*)$ v-$1-$y; }");

        var response = await proxy.SendAsync("GET /x/rest HTTP/1.1\r\nHost: a\r\n\r\n");

        Assert.Equal("x v-rest-rest x", response.BodyText);
    }
}
