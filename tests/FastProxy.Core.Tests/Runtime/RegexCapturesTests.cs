using FastProxy.Routing;
using FastProxy.Runtime;

namespace FastProxy.Core.Tests.Runtime;

public sealed class RegexCapturesTests
{
    [Theory]
    [InlineData(@"^/app/(?<app>[a-z]+)/(.*)$", "/app/shop/cart/1", "shop|cart/1")]   // PCRE: $1 = app, $2 = (.*)
    [InlineData(@"^/(a)(?P<n>b)(c)$", "/abc", "a|b|c")]
    [InlineData(@"^/[(](x)\((?:y)(z)$", "/(x(yz", "x|z")]                          // "(" in a class or escaped, (?:) skipped
    [InlineData(@"^/(?=c)(?<!b)(c)$", "/c", "c")]                                  // lookarounds do not capture
    public void PcreOrder_GroupsNumberedByTheirOpeningParenthesis(string pattern, string subject, string expected)
    {
        var regex = NginxRegex.Create(pattern, ignoreCase: false);
        var order = RegexCaptures.PcreOrder(regex);
        var match = regex.Match(subject);

        Assert.True(match.Success);
        Assert.Equal(expected, string.Join("|", order.Skip(1).Select(n => match.Groups[n].Value)));
    }
}
