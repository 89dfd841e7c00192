using System.Net;
using FastProxy.Config;
using static FastProxy.Routing.Tests.RoutingTestHelpers;

namespace FastProxy.Routing.Tests;

/// <summary>Routing runs per request: after warm-up it must not allocate (measured, not timed).</summary>
public sealed class AllocationTests
{
    [Fact]
    public void Routing_HotPath_AllocatesNothing()
    {
        var config = Load("""
            map $http_upgrade $connection_upgrade { default upgrade; '' close; ~*^web ws; }
            server {
                listen 127.0.0.1:18080;
                server_name api.example.com *.example.org ~^(?<sub>.+)\.example\.net$;
                location /api/users/ { proxy_pass http://127.0.0.1:18081/; }
                location ~* \.(gif|jpg)$ { proxy_pass http://127.0.0.1:18082; }
                location / { proxy_pass http://127.0.0.1:18083; }
            }
            server { listen 127.0.0.1:18080; server_name other.test; }
            """);
        var table = RouteTable.Build(config);
        var map = new MapTable(config.Maps[0]);
        var listen = new IPEndPoint(IPAddress.Loopback, 18080);
        byte[] raw = "/api/users/..%2Fusers/42"u8.ToArray();
        byte[] host = "API.example.com:18080"u8.ToArray();
        byte[] regexHost = "joe.example.net"u8.ToArray();
        byte[] image = "/img/a.JPG"u8.ToArray();
        byte[] query = "x=1"u8.ToArray();
        var normalized = new byte[256];
        var target = new byte[256];

        void Run()
        {
            var server = table.SelectServer(listen, host);
            table.SelectServer(listen, regexHost);
            UriNormalizer.TryNormalize(raw, normalized, mergeSlashes: true, out int n);
            var location = table.FindLocation(server, normalized.AsSpan(0, n))!;
            UpstreamTarget.Write(location, raw, normalized.AsSpan(0, n), query, target);
            table.FindLocation(server, image);
            map.Lookup("websocket"u8);
            map.Lookup(""u8);
        }

        Assert.Equal(0, FastProxy.Core.Tests.ThreadAllocation.LeastOfThreeRounds(Run));
    }
}
