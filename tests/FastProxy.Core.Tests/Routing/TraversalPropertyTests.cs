using System.Text;
using static FastProxy.Routing.Tests.RoutingTestHelpers;

namespace FastProxy.Routing.Tests;

/// <summary>Routing and forwarding must never disagree about a request's path, whatever encoding tricks it uses.</summary>
public sealed class TraversalPropertyTests
{
    private static readonly string[] Pieces =
        ["/", "//", ".", "..", "%2e", "%2E", "%2f", "%2F", "%5c", "\\", "%25", "%252e", "a", "api", "users", "admin", "%00", "%",
         "?", "#", "%3f", "%23", "%20", "%C3%A9", ";", "%3B"];

    [Fact]
    public void RandomPaths_ProxiedLocation_UpstreamSeesExactlyTheRoutedPath()
    {
        var (table, server) = Server("""
            location /api/users/ { proxy_pass http://127.0.0.1:18081/; }
            location / { return 404; }
            """);
        var random = new Random(4242);
        int proxied = 0;
        for (int i = 0; i < 20000; i++)
        {
            var sb = new StringBuilder(i % 3 == 0 ? "/api/users/" : "/");
            int count = random.Next(1, 10);
            for (int j = 0; j < count; j++)
            {
                sb.Append(Pieces[random.Next(Pieces.Length)]);
            }
            var raw = Bytes(sb.ToString());
            int q = raw.AsSpan().IndexOf((byte)'?');
            var path = q < 0 ? raw : raw[..q];
            var normalized = new byte[path.Length + 1];
            if (!UriNormalizer.TryNormalize(path, normalized, mergeSlashes: true, out int n))
            {
                continue;
            }
            var routed = normalized.AsSpan(0, n);
            var location = table.FindLocation(server, routed);
            if (location?.Settings.ProxyPass is null)
            {
                // Not proxied: the path must not be inside /api/users/.
                Assert.False(routed.StartsWith("/api/users/"u8), sb.ToString());
                continue;
            }
            proxied++;
            Assert.True(routed.StartsWith("/api/users/"u8), sb.ToString());
            var target = new byte[raw.Length * 3 + 16];
            int written = UpstreamTarget.Write(location, path, routed, [], target);
            // What the backend sees after its own decoding is the routed path minus the location prefix, byte for byte.
            var backend = new byte[written + 1];
            Assert.True(UriNormalizer.TryNormalize(target.AsSpan(0, written), backend, mergeSlashes: true, out int m), sb.ToString());
            Assert.Equal(Encoding.Latin1.GetString(routed[10..]), Encoding.Latin1.GetString(backend, 0, m));
        }
        Assert.True(proxied > 1000);
    }
}
