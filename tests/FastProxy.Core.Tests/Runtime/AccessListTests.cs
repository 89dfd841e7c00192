using System.Net;
using FastProxy.Config;
using FastProxy.Runtime;

namespace FastProxy.Core.Tests.Runtime;

public sealed class AccessListTests
{
    private static AccessList Rules(params string[] rules) => AccessList.Create(
        [.. rules.Select(r => new AccessRuleConfig(r.StartsWith("deny ", StringComparison.Ordinal), r[(r.IndexOf(' ') + 1)..]))])!;

    private static bool Denies(AccessList list, string address) => list.Denies(IPAddress.Parse(address).GetAddressBytes());

    [Theory]
    // nginx's documented example: allow 192.168.1.0/24 ... deny all, first match wins.
    [InlineData("192.168.1.1", true)]
    [InlineData("192.168.1.77", false)]
    [InlineData("10.1.1.1", false)]
    [InlineData("10.2.0.1", true)]
    [InlineData("2001:db8::1", false)]
    [InlineData("2001:db9::1", true)]
    [InlineData("::ffff:192.168.1.77", false)]
    public void Denies_NginxDocumentedExample_FirstMatchingRuleWins(string address, bool denied)
    {
        var list = Rules("deny 192.168.1.1", "allow 192.168.1.0/24", "allow 10.1.1.0/16", "allow 2001:0db8::/32", "deny all");
        Assert.Equal(denied, Denies(list, address));
    }

    [Fact]
    public void Denies_NoRuleOfTheFamily_Allowed()
    {
        var list = Rules("deny 10.0.0.0/8");
        Assert.True(Denies(list, "10.9.9.9"));
        Assert.False(Denies(list, "11.0.0.1"));
        Assert.False(Denies(list, "::1"));
    }

    [Fact]
    public void Denies_IPv6RulesOnly_MappedAddressCheckedAsIPv6()
    {
        var list = Rules("deny ::ffff:0:0/96");
        Assert.True(Denies(list, "::ffff:10.0.0.1"));
        Assert.False(Denies(list, "10.0.0.1"));
    }

    [Fact]
    public void Create_NoRules_Null()
    {
        Assert.Null(AccessList.Create([]));
    }
}
