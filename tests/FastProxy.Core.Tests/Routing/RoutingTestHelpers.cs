using System.Net;
using System.Text;
using FastProxy.Config;
using FastProxy.Routing;

namespace FastProxy.Routing.Tests;

internal static class RoutingTestHelpers
{
    public static ProxyConfig Load(string http)
    {
        var result = NginxConfigLoader.LoadText("events { }\nhttp {\n" + http + "\n}\n",
            Path.Combine(Path.GetTempPath(), "fastproxy-routing-test.conf"));
        Assert.True(result.Success, string.Join("\n", result.Diagnostics));
        return result.Config!;
    }

    public static (RouteTable Table, ServerRoute Server) Server(string body)
    {
        var table = RouteTable.Build(Load("server {\nlisten 127.0.0.1:18080;\n" + body + "\n}"));
        return (table, table.Servers[0]);
    }

    public static byte[] Bytes(string s) => Encoding.Latin1.GetBytes(s);

    public static string? Normalize(string raw, bool mergeSlashes = true)
    {
        var bytes = Bytes(raw);
        var buffer = new byte[bytes.Length + 1];
        return UriNormalizer.TryNormalize(bytes, buffer, mergeSlashes, out int n) ? Encoding.Latin1.GetString(buffer, 0, n) : null;
    }

    public static readonly IPEndPoint Listen = new(IPAddress.Loopback, 18080);
}
