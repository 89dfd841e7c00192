using FastProxy.Config;
using FastProxy.Infrastructure;
using FastProxy.Routing;
using FastProxy.Upstreams;

namespace FastProxy.Runtime.Tests;

/// <summary>What a snapshot resolves once for its requests: each route's compiled settings, each response's hidden fields.</summary>
public sealed class SnapshotRoutesTests
{
    private static ProxySnapshot Build(string http)
    {
        var result = NginxConfigLoader.LoadText("events { }\nhttp {\n" + http + "\n}\n", "test.conf");
        Assert.True(result.Success, string.Join("\n", result.Diagnostics));
        using var heartbeat = new Heartbeat(TimeProvider.System, TimeSpan.FromSeconds(1));
        var errors = new List<string>();
        return ProxySnapshot.TryBuild(result.Config!, new UpstreamPoolRegistry(), heartbeat, [], errors)
            ?? throw new InvalidOperationException(string.Join("; ", errors));
    }

    [Fact]
    public void TryBuild_ServersAndNestedLocations_EachRouteCarriesItsCompiledSettings()
    {
        var snapshot = Build("""
            server { listen 127.0.0.1:1; proxy_read_timeout 5s;
                location /a/ { proxy_read_timeout 6s; location /a/b/ { proxy_read_timeout 7s; } }
                location @named { return 204; }
            }
            server { listen 127.0.0.1:2; location / { return 200; } }
            """);

        int seen = 0;
        foreach (var server in snapshot.Routes.Servers)
        {
            Assert.Same(snapshot.GetLocation(server.Config.Settings), server.Runtime);
            var pending = new Stack<LocationRoute>(server.Locations);
            while (pending.TryPop(out var location))
            {
                Assert.Same(snapshot.GetLocation(location.Settings), location.Runtime);
                Assert.Same(location.Settings, location.Runtime!.Settings);
                seen++;
                foreach (var nested in location.Locations)
                {
                    pending.Push(nested);
                }
            }
        }
        Assert.Equal(4, seen);
        var nestedRoute = snapshot.Routes.Servers[0].Locations[0].Locations[0];
        Assert.Equal(TimeSpan.FromSeconds(7), nestedRoute.Runtime!.Settings.ProxyReadTimeout);
    }

    [Theory]
    [InlineData("Server", true)]
    [InlineData("date", true)]
    [InlineData("X-Accel-Redirect", true)]
    [InlineData("X-Secret", true)]
    [InlineData("X-Secrets", false)]
    [InlineData("Content-Type", false)]
    [InlineData("Servers", false)]
    [InlineData("", false)]
    public void IsHiddenResponseField_DefaultsAndProxyHideHeader_MatchedByNameNotLength(string name, bool hidden)
    {
        var snapshot = Build("""
            server { listen 127.0.0.1:1; location / { proxy_pass http://127.0.0.1:9; proxy_hide_header X-Secret; } }
            """);
        var runtime = snapshot.Routes.Servers[0].Locations[0].Runtime!;

        Assert.Equal(hidden, runtime.IsHiddenResponseField(System.Text.Encoding.ASCII.GetBytes(name)));
    }

    [Fact]
    public void IsHiddenResponseField_NameOf63BytesOrMore_ComparedInFull()
    {
        string longName = "X-" + new string('a', 70);
        var snapshot = Build($$"""
            server { listen 127.0.0.1:1; location / { proxy_pass http://127.0.0.1:9; proxy_hide_header {{longName}}; } }
            """);
        var runtime = snapshot.Routes.Servers[0].Locations[0].Runtime!;

        Assert.True(runtime.IsHiddenResponseField(System.Text.Encoding.ASCII.GetBytes(longName)));
        Assert.False(runtime.IsHiddenResponseField(System.Text.Encoding.ASCII.GetBytes(longName + "b")));
    }
}
