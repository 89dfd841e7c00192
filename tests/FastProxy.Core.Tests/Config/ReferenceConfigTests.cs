using System.Net;
using FastProxy.Config;

namespace FastProxy.Config.Tests;

public sealed class ReferenceConfigTests
{
    internal static string Fixture(params string[] parts) =>
        Path.Combine([AppContext.BaseDirectory, "Config", "Fixtures", .. parts]);

    private static ProxyConfig Load(string name)
    {
        var result = NginxConfigLoader.LoadFile(Fixture("examples", name));
        Assert.True(result.Success, string.Join("\n", result.Diagnostics.Select(d => (d.IsError ? "E " : "W ") + d)));
        Assert.DoesNotContain(result.Diagnostics, d => d.IsError);
        return result.Config!;
    }

    [Theory]
    [InlineData("01-basic.conf")]
    [InlineData("02-gateway.conf")]
    [InlineData("03-upstreams.conf")]
    [InlineData("04-rate-limit.conf")]
    [InlineData("05-tls.conf")]
    [InlineData("06-websocket-cache.conf")]
    public void LoadFile_ReferenceConfig_LoadsWithoutError(string name) => Load(name);

    [Fact]
    public void LoadFile_Basic_HasListenLocationAndForwardingHeaders()
    {
        var config = Load("01-basic.conf");
        var server = Assert.Single(config.Servers);
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, 18080), Assert.Single(server.Listens).EndPoint);
        Assert.Equal(["api.example.com"], server.ServerNames);
        var location = Assert.Single(server.Locations);
        Assert.Equal("/", location.Pattern);
        Assert.Equal(LocationMatchKind.Prefix, location.MatchKind);
        var pp = location.Settings.ProxyPass!;
        Assert.Equal("http", pp.Scheme);
        Assert.Equal("127.0.0.1", pp.Host);
        Assert.Equal(18081, pp.Port);
        Assert.Null(pp.Uri);
        Assert.False(pp.IsNamedUpstream);
        Assert.Equal("1.1", location.Settings.ProxyHttpVersion);
        Assert.Equal(["Host", "X-Real-IP", "X-Forwarded-For", "X-Forwarded-Proto"], location.Settings.ProxySetHeaders.Select(h => h.Name));
        Assert.Equal(VariableKind.ProxyAddXForwardedFor, location.Settings.ProxySetHeaders[2].Value.Parts[0].Variable);
        var upstream = Assert.Single(config.Upstreams);
        Assert.True(upstream.Implicit);
        Assert.Equal("127.0.0.1:18081", upstream.Name);
        Assert.Equal(pp.UpstreamName, upstream.Name);
        Assert.Equal(32, upstream.Keepalive);
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, 18081), Assert.Single(Assert.Single(upstream.Servers).EndPoints));
        Assert.Equal(1024, config.WorkerConnections);
    }

    [Fact]
    public void LoadFile_Gateway_HasPrefixReplacementAndHttpsUpstream()
    {
        var config = Load("02-gateway.conf");
        var server = Assert.Single(config.Servers);
        Assert.Equal(["/api/users/", "/api/orders/", "/api/payments/", "/assets/"], server.Locations.Select(l => l.Pattern));
        Assert.All(server.Locations, l => Assert.Equal("/", l.Settings.ProxyPass!.Uri));
        Assert.Equal([18081, 18082, 18083, 18444], server.Locations.Select(l => l.Settings.ProxyPass!.Port!.Value));
        Assert.Equal("https", server.Locations[3].Settings.ProxyPass!.Scheme);
        Assert.Empty(server.Locations[3].Settings.ProxySetHeaders);
        Assert.Equal(4, config.Upstreams.Count);
        Assert.All(config.Upstreams, u => Assert.True(u.Implicit));
        Assert.Contains(config.Warnings, w => w.Contains("proxy_cache_valid", StringComparison.Ordinal));
    }

    [Fact]
    public void LoadFile_Upstreams_HasLeastConnWeightsBackupAndKeepalive()
    {
        var config = Load("03-upstreams.conf");
        var upstream = Assert.Single(config.Upstreams);
        Assert.Equal("user_service", upstream.Name);
        Assert.False(upstream.Implicit);
        Assert.Equal(FastProxy.LoadBalancing.LoadBalancingPolicies.LeastConnections, upstream.Policy);
        Assert.Equal(32, upstream.Keepalive);
        Assert.Equal([5, 5, 1], upstream.Servers.Select(s => s.Weight));
        Assert.Equal([false, false, true], upstream.Servers.Select(s => s.Backup));
        Assert.Equal([18081, 18082, 18083], upstream.Servers.Select(s => s.EndPoints[0].Port));
        var location = Assert.Single(Assert.Single(config.Servers).Locations);
        var pp = location.Settings.ProxyPass!;
        Assert.True(pp.IsNamedUpstream);
        Assert.Equal("user_service", pp.UpstreamName);
        Assert.Equal("/", pp.Uri);
        Assert.Equal(TimeSpan.FromSeconds(5), location.Settings.ProxyConnectTimeout);
        Assert.Equal(TimeSpan.FromSeconds(30), location.Settings.ProxyReadTimeout);
        Assert.Equal(TimeSpan.FromSeconds(60), location.Settings.ProxySendTimeout);
    }

    [Fact]
    public void LoadFile_RateLimit_HasZonesAndRules()
    {
        var config = Load("04-rate-limit.conf");
        var req = Assert.Single(config.LimitReqZones);
        Assert.Equal("api_limit", req.Name);
        Assert.Equal(10L * 1024 * 1024, req.SizeBytes);
        Assert.Equal(10_000, req.RateMilli);
        Assert.Equal(VariableKind.BinaryRemoteAddr, req.Key.Parts[0].Variable);
        var conn = Assert.Single(config.LimitConnZones);
        Assert.Equal("addr", conn.Name);
        var settings = Assert.Single(Assert.Single(config.Servers).Locations).Settings;
        Assert.Equal(new LimitReqRuleConfig("api_limit", 20, true, 0), Assert.Single(settings.LimitReqs));
        Assert.Equal(new LimitConnRuleConfig("addr", 10), Assert.Single(settings.LimitConns));
        Assert.Equal(429, settings.LimitReqStatus);
        Assert.Equal(503, settings.LimitConnStatus);
        var connection = Assert.Single(settings.ProxySetHeaders);
        Assert.Equal("Connection", connection.Name);
        Assert.Equal(string.Empty, connection.Value.Source);
        Assert.Equal("backend", settings.ProxyPass!.UpstreamName);
        Assert.Equal(32, Assert.Single(config.Upstreams).Keepalive);
    }

    [Fact]
    public void LoadFile_Tls_HasRedirectServerAndTlsServer()
    {
        var config = Load("05-tls.conf");
        Assert.Equal(2, config.Servers.Count);
        var redirect = config.Servers[0];
        Assert.Equal(301, redirect.Settings.Return!.StatusCode);
        Assert.Equal("https://$server_name$request_uri", redirect.Settings.Return.Text!.Source);
        Assert.Null(redirect.Tls);
        var tls = config.Servers[1];
        var listen = Assert.Single(tls.Listens);
        Assert.Equal(18443, listen.EndPoint.Port);
        Assert.True(listen.Ssl);
        Assert.True(listen.Http2);
        Assert.Equal(new CertificateConfig("/tmp/fastproxy-test-certs/fullchain.pem", "/tmp/fastproxy-test-certs/privkey.pem"),
            Assert.Single(tls.Tls!.Certificates));
        Assert.Equal(["TLSv1.2", "TLSv1.3"], tls.Tls.Protocols);
        Assert.Equal("ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384", tls.Tls.Ciphers);
        Assert.True(tls.Tls.PreferServerCiphers);
    }

    [Fact]
    public void LoadFile_WebSocketCache_HasMapAndUpgradeHeaders()
    {
        var config = Load("06-websocket-cache.conf");
        var map = Assert.Single(config.Maps);
        Assert.Equal("connection_upgrade", map.Variable);
        Assert.Equal("upgrade", map.Default.Source);
        Assert.Equal(new MapEntry("", ValueTemplate.Parse("close")), Assert.Single(map.Entries));
        var server = Assert.Single(config.Servers);
        var ws = server.Locations[0].Settings;
        Assert.Equal(TimeSpan.FromHours(1), ws.ProxyReadTimeout);
        Assert.Equal(VariableKind.Named, ws.ProxySetHeaders[1].Value.Parts[0].Variable);
        Assert.Equal("connection_upgrade", ws.ProxySetHeaders[1].Value.Parts[0].Name);
        var catalog = server.Locations[1].Settings;
        Assert.Equal("X-Cache-Status", Assert.Single(catalog.AddHeaders).Name);
        Assert.Contains(config.Warnings, w => w.Contains("proxy_cache_path", StringComparison.Ordinal));
    }

    [Fact]
    public void LoadFile_DebianDefault_LoadsWithWarningsOnly()
    {
        var result = NginxConfigLoader.LoadFile(Fixture("debian", "nginx.conf"));
        Assert.True(result.Success, string.Join("\n", result.Diagnostics.Select(d => (d.IsError ? "E " : "W ") + d)));
        var config = result.Config!;
        Assert.Equal(768, config.WorkerConnections);
        Assert.Equal("/run/nginx.pid", config.PidFile);
        Assert.Equal("/var/log/nginx/error.log", config.ErrorLogPath);
        var server = Assert.Single(config.Servers);
        Assert.Equal(2, server.Listens.Count);
        Assert.All(server.Listens, l => Assert.True(l.DefaultServer));
        Assert.Equal(new IPEndPoint(IPAddress.IPv6Any, 80), server.Listens[1].EndPoint);
        Assert.Equal(["_"], server.ServerNames);
        Assert.Equal("/var/log/nginx/access.log", Assert.Single(server.Locations[0].Settings.AccessLogs).Path);
        Assert.Contains(result.Diagnostics, d => !d.IsError && d.Message.Contains("\"sendfile\"", StringComparison.Ordinal));
        Assert.Contains(result.Diagnostics, d => !d.IsError && d.Message.Contains("\"try_files\"", StringComparison.Ordinal));
        Assert.Contains(result.Files, f => f.Path.EndsWith("mime.types", StringComparison.Ordinal));
        Assert.Contains(result.Files, f => f.Path.EndsWith(Path.Combine("sites-enabled", "default"), StringComparison.Ordinal));
    }
}
