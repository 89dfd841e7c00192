using static FastProxy.Routing.Tests.RoutingTestHelpers;

namespace FastProxy.Routing.Tests;

public sealed class UriNormalizerTests
{
    // Expected values checked against nginx 1.22 ($uri as a location saw it).
    [Theory]
    [InlineData("/", "/")]
    [InlineData("", "/")]
    [InlineData("/a/b", "/a/b")]
    [InlineData("/a//b///c", "/a/b/c")]
    [InlineData("/a/./b/../c", "/a/c")]
    [InlineData("/a/b/..", "/a/")]
    [InlineData("/a/b/.", "/a/b/")]
    [InlineData("/a/%2e%2e/b", "/b")]
    [InlineData("/a/%2E%2E/b", "/b")]
    [InlineData("/api/users/..%2Fadmin", "/api/admin")]
    [InlineData("/api/users/%2e%2e%2fadmin", "/api/admin")]
    [InlineData("/a%2Fb", "/a/b")]
    [InlineData("/a%2F%2Fb", "/a/b")]
    [InlineData("/a%20b", "/a b")]
    [InlineData("/caf%C3%A9", "/caf\u00C3\u00A9")]
    [InlineData("/a%25b", "/a%b")]
    [InlineData("/a%23b", "/a#b")]
    [InlineData("/a%3Fb", "/a?b")]
    [InlineData("/a?x=../..", "/a")]
    [InlineData("/a/..?x", "/")]
    [InlineData("/a#frag", "/a")]
    [InlineData("/a\\..\\b", "/a\\..\\b")]
    [InlineData("/..a/b", "/..a/b")]
    [InlineData("/a/...", "/a/...")]
    [InlineData("/.hidden", "/.hidden")]
    public void TryNormalize_Path_MatchesNginxUri(string raw, string expected) => Assert.Equal(expected, Normalize(raw));

    [Theory]
    [InlineData("/..")]
    [InlineData("/../x")]
    [InlineData("/a/../../x")]
    [InlineData("/%2e%2e/x")]
    [InlineData("/a/%00")]
    [InlineData("/a%0")]
    [InlineData("/a%")]
    [InlineData("/a%zz")]
    [InlineData("a/b")]
    public void TryNormalize_Invalid_ReturnsFalse(string raw) => Assert.Null(Normalize(raw));

    [Fact]
    public void TryNormalize_MergeSlashesOff_KeepsSlashes() => Assert.Equal("/a//b/", Normalize("/a//b/./", mergeSlashes: false));
}
