using System.Text;
using static FastProxy.Routing.Tests.RoutingTestHelpers;

namespace FastProxy.Routing.Tests;

public sealed class UpstreamTargetRewriteTests
{
    private static string Write(string location, string uri, string args, bool keepLocation)
    {
        var (table, server) = Server(location);
        var route = table.FindLocation(server, Bytes(uri))!;
        var destination = new byte[256];
        int n = UpstreamTarget.WriteAfterRewrite(route, keepLocation, Bytes(uri), Bytes(args), destination);
        return Encoding.Latin1.GetString(destination, 0, n);
    }

    // Expected values are what nginx 1.22 sent upstream after the same rewrites.
    [Theory]
    [InlineData("location /b/ { proxy_pass http://127.0.0.1:18081/x/; }", "/b/k l", "a=1", true, "/x/k%20l?a=1")]    // last: prefix replaced
    [InlineData("location /b/ { proxy_pass http://127.0.0.1:18081/x/; }", "/b/k", "a=1", false, "/b/k?a=1")]         // break: URI part ignored
    [InlineData("location /b/ { proxy_pass http://127.0.0.1:18081; }", "/b/k", "", true, "/b/k")]                    // no URI: whole URI
    [InlineData("location /b/ { proxy_pass http://127.0.0.1:18081; }", "/b/a?b", "", true, "/b/a%3Fb")]             // always escaped
    public void WriteAfterRewrite_AsNginx(string location, string uri, string args, bool keepLocation, string expected)
    {
        Assert.Equal(expected, Write(location, uri, args, keepLocation));
    }
}
