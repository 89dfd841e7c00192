using System.Text;
using FastProxy.Runtime;

namespace FastProxy.Core.Tests.Runtime;

public sealed class RewriteRuleTests
{
    [Theory]
    [InlineData("/a/$1?x=$2", 5)]
    [InlineData("/a/${name}?", 10)]
    [InlineData("/a/$args", -1)]
    [InlineData("/users?name=$1", 6)]
    [InlineData("$scheme://$host$request_uri?", 27)]
    public void FirstLiteralQuestionMark_SkipsVariableNames(string replacement, int index)
    {
        Assert.Equal(index, RewriteRule.FirstLiteralQuestionMark(replacement));
    }

    [Theory]
    [InlineData("/a%41b", "/aAb")]                  // printable above "%": decoded
    [InlineData("/a%20b", "/a%20b")]                // space stays escaped
    [InlineData("/a%25b", "/a%25b")]                // "%" itself stays escaped
    [InlineData("/a%2fb", "/a/b")]
    [InlineData("/a%C3%A9", "/a%C3%A9")]            // non-ASCII stays escaped
    [InlineData("/a%3Fb%41", "/a?b%41")]            // an escaped "?" ends the path, the rest is kept as is
    [InlineData("/a?b=%41", "/a?b=%41")]            // nothing after "?" is touched
    [InlineData("/a%zb", "/azb")]                   // "%" + non-hex: the "%" goes
    [InlineData("/a%4zb", "/ab")]                   // "%" + hex + non-hex: all three go
    public void UnescapeRedirect_AsNginx(string input, string expected)
    {
        var bytes = Encoding.Latin1.GetBytes(input);
        int n = RewriteRule.UnescapeRedirect(bytes);
        Assert.Equal(expected, Encoding.Latin1.GetString(bytes, 0, n));
    }
}
