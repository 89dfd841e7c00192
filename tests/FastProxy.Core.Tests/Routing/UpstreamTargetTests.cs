using System.Text;
using static FastProxy.Routing.Tests.RoutingTestHelpers;

namespace FastProxy.Routing.Tests;

public sealed class UpstreamTargetTests
{
    private const string Locations = """
        location /api/users/ { proxy_pass http://127.0.0.1:18081/; }
        location /exact { proxy_pass http://127.0.0.1:18081/x; }
        location /noslash/ { proxy_pass http://127.0.0.1:18081/svc; }
        location /raw/ { proxy_pass http://127.0.0.1:18081; }
        location ~ ^/re/ { proxy_pass http://127.0.0.1:18081; }
        location / { return 404; }
        """;

    /// <summary>Normalises, routes and writes the target the way the engine does.</summary>
    internal static string? Target(string requestTarget, string body = Locations)
    {
        var (table, server) = Server(body);
        var raw = Bytes(requestTarget);
        int q = requestTarget.IndexOf('?');
        var path = q < 0 ? raw : raw.AsSpan(0, q).ToArray();
        var query = q < 0 ? [] : raw.AsSpan(q + 1).ToArray();
        var normalized = new byte[path.Length + 1];
        if (!UriNormalizer.TryNormalize(path, normalized, mergeSlashes: true, out int n))
        {
            return "400";
        }
        var location = table.FindLocation(server, normalized.AsSpan(0, n));
        if (location?.Settings.ProxyPass is null)
        {
            return null;
        }
        var destination = new byte[raw.Length * 3 + 64];
        int written = UpstreamTarget.Write(location, raw, normalized.AsSpan(0, n), query, destination);
        return Encoding.Latin1.GetString(destination, 0, written);
    }

    // Expected values are what nginx 1.22 sent upstream for the same configuration and request.
    [Theory]
    [InlineData("/api/users/42?x=1", "/42?x=1")]
    [InlineData("/api/users/", "/")]
    [InlineData("/api/users/a%20b/%2e%2e/c?q", "/c?q")]
    [InlineData("/api/users/x%2Fy", "/x/y")]
    [InlineData("/api/users//a//b", "/a/b")]
    [InlineData("/api/users/%7Efoo%22", "/~foo%22")]
    [InlineData("/api/users/caf%C3%A9", "/caf%C3%A9")]
    [InlineData("/api/users/a%3Cb%3E%5E%60%7B%7C%7D%5C", "/a%3Cb%3E%5E%60%7B%7C%7D%5C")]
    [InlineData("/api/users/a%3Fb?c=d", "/a%3Fb?c=d")]
    [InlineData("/exact", "/x")]
    [InlineData("/exact/sub?z", "/x/sub?z")]
    [InlineData("/exactly", "/xly")]
    [InlineData("/noslash/a", "/svca")]
    [InlineData("/raw/a%2Fb//c?q=1", "/raw/a%2Fb//c?q=1")]
    [InlineData("/re/a/../b?q", "/re/a/../b?q")]
    public void Write_ProxyPassUri_MatchesNginx(string request, string expected) => Assert.Equal(expected, Target(request));

    [Theory]
    [InlineData("/api/users/..%2Fadmin")]
    [InlineData("/api/users/%2e%2e/admin")]
    [InlineData("/api/users/%2E%2E%2Fadmin")]
    [InlineData("/api/users/./../admin")]
    [InlineData("/api/users/x/../../admin")]
    public void Write_TraversalOutOfLocation_NeverReachesIt(string request) =>
        // Normalised to /api/admin: the /api/users/ location does not match, so nothing is proxied.
        Assert.Null(Target(request));

    [Theory]
    [InlineData("/api/users/%00")]
    [InlineData("/../api/users/1")]
    [InlineData("/api/users/%2e%2e/%2e%2e/%2e%2e/x")]
    public void Write_InvalidPath_Answered400(string request) => Assert.Equal("400", Target(request));

    [Theory]
    [InlineData("/api/users/a\\..\\b%41", "/a%5C..%5CbA")]
    [InlineData("/api/users/a\\..\\b", "/a\\..\\b")]
    public void Write_Backslashes_AreOrdinaryBytesAsOnUnixNginx(string request, string expected) =>
        // nginx escapes the rest of the path only when the client's path had a "%" (r->quoted_uri).
        Assert.Equal(expected, Target(request));

    [Fact]
    public void WriteRewritten_AfterRewriteBreak_SendsWholeUriEscaped()
    {
        var destination = new byte[64];
        int n = UpstreamTarget.WriteRewritten(Bytes("/new/a b"), Bytes("q=1"), destination);
        Assert.Equal("/new/a%20b?q=1", Encoding.Latin1.GetString(destination, 0, n));
    }

    [Fact]
    public void Write_DestinationTooSmall_ReturnsMinusOne()
    {
        var (table, server) = Server(Locations);
        var location = table.FindLocation(server, "/api/users/42"u8)!;
        Assert.Equal(-1, UpstreamTarget.Write(location, "/api/users/42"u8, "/api/users/42"u8, "x=1"u8, new byte[4]));
    }
}
