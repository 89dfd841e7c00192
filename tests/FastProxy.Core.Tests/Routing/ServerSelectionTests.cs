using System.Net;
using System.Text;
using static FastProxy.Routing.Tests.RoutingTestHelpers;

namespace FastProxy.Routing.Tests;

public sealed class ServerSelectionTests
{
    // The selection order of the nginx "server_name" documentation: exact, longest "*" prefix wildcard, longest
    // "*" suffix wildcard, first regex in file order, else the default server.
    private static readonly RouteTable Table = RouteTable.Build(Load("""
        server { listen 127.0.0.1:18080; server_name first.test; return 200 first; }
        server { listen 127.0.0.1:18080; server_name example.com www.example.com; return 200 exact; }
        server { listen 127.0.0.1:18080; server_name *.example.com; return 200 head; }
        server { listen 127.0.0.1:18080; server_name *.a.example.com; return 200 longer-head; }
        server { listen 127.0.0.1:18080; server_name www.example.*; return 200 tail; }
        server { listen 127.0.0.1:18080; server_name www.example.co.*; return 200 longer-tail; }
        server { listen 127.0.0.1:18080; server_name .example.org; return 200 dot; }
        server { listen 127.0.0.1:18080; server_name ~^(?<user>.+)\.example\.net$; return 200 regex1; }
        server { listen 127.0.0.1:18080; server_name ~^www\.; return 200 regex2; }
        server { listen 127.0.0.1:18080 default_server; server_name default.test; return 200 default; }
        server { listen 127.0.0.1:18080; server_name ""; return 200 empty; }
        server { listen 127.0.0.1:18081; return 200 other-port; }
        server { listen 18082; return 200 wildcard-address; }
        """));

    private static string Select(string host, IPEndPoint? listen = null) =>
        Table.SelectServer(listen ?? Listen, Encoding.ASCII.GetBytes(host)).Config.Settings.Return!.Text!.Source;

    [Theory]
    [InlineData("example.com", "exact")]
    [InlineData("EXAMPLE.COM", "exact")]
    [InlineData("example.com.", "exact")]
    [InlineData("example.com:8080", "exact")]
    [InlineData("www.example.com", "exact")]
    [InlineData("x.example.com", "head")]
    [InlineData("x.y.example.com", "head")]
    [InlineData("b.a.example.com", "longer-head")]
    [InlineData("www.example.net", "tail")]
    [InlineData("www.example.co.uk", "longer-tail")]
    [InlineData("example.org", "dot")]
    [InlineData("sub.example.org", "dot")]
    [InlineData("joe.example.net", "regex1")]
    [InlineData("www.other.test", "regex2")]
    [InlineData("unknown.test", "default")]
    [InlineData("", "empty")]
    [InlineData("first.test", "first")]
    public void SelectServer_ByHost_ChoosesAsNginx(string host, string expected) =>
        Assert.Equal(expected, Select(host));

    [Theory]
    [InlineData("anything.test")]
    [InlineData("first.test")]
    [InlineData("")]
    [InlineData("not a host")]
    public void SelectServer_OnlyServerOfAddress_AnyHostSelectsIt(string host) =>
        Assert.Equal("other-port", Select(host, new IPEndPoint(IPAddress.Loopback, 18081)));

    [Fact]
    public void SelectServer_NoDefaultServerFlag_FirstServerOfAddressIsDefault() =>
        Assert.Equal("other-port", Select("anything", new IPEndPoint(IPAddress.Loopback, 18081)));

    [Fact]
    public void SelectServer_AddressOnlyCoveredByWildcardListen_UsesWildcardServers() =>
        Assert.Equal("wildcard-address", Select("x", new IPEndPoint(IPAddress.Parse("10.1.2.3"), 18082)));

    [Theory]
    [InlineData("a..b")]
    [InlineData("a/b")]
    [InlineData("a\0b")]
    [InlineData(":80")]
    [InlineData(".")]
    public void TryNormalizeHost_Invalid_ReturnsFalse(string host)
    {
        var buffer = new byte[64];
        Assert.False(HostName.TryNormalize(Encoding.ASCII.GetBytes(host), buffer, out _));
    }

    [Theory]
    [InlineData("Example.COM", "example.com")]
    [InlineData("example.com.:443", "example.com")]
    [InlineData("[::1]:8080", "[::1]")]
    [InlineData("", "")]
    public void TryNormalizeHost_Valid_LowerCasesAndStripsPortAndDot(string host, string expected)
    {
        var buffer = new byte[64];
        Assert.True(HostName.TryNormalize(Encoding.ASCII.GetBytes(host), buffer, out int n));
        Assert.Equal(expected, Encoding.ASCII.GetString(buffer, 0, n));
    }

    [Fact]
    public void SelectServer_ConflictingName_FirstServerKeepsIt()
    {
        var table = RouteTable.Build(Load("""
            server { listen 127.0.0.1:18080; server_name a.test; return 200 one; }
            server { listen 127.0.0.1:18080; server_name a.test; return 200 two; }
            """));
        Assert.Equal("one", table.SelectServer(Listen, "a.test"u8).Config.Settings.Return!.Text!.Source);
    }
}
