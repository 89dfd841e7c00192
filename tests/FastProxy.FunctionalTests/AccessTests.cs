using System.Net;
using FastProxy.FunctionalTests.Infrastructure;

namespace FastProxy.FunctionalTests;

/// <summary>
/// allow/deny (ngx_http_access_module) over real connections: clients bind to different loopback addresses
/// (127.0.0.1, 127.0.0.2, 127.0.0.3, ::1) so the rules see different client addresses.
/// </summary>
public sealed class AccessTests
{
    private static readonly IPAddress Client1 = IPAddress.Parse("127.0.0.1");
    private static readonly IPAddress Client2 = IPAddress.Parse("127.0.0.2");
    private static readonly IPAddress Client3 = IPAddress.Parse("127.0.0.3");

    private static async Task<RawResponse> GetAsync(Proxy proxy, string path, IPAddress from)
    {
        await using var client = await RawClient.ConnectAsync(proxy.EndPoint, from);
        await client.SendAsync($"GET {path} HTTP/1.1\r\nHost: a\r\n\r\n");
        return await client.ReadResponseAsync();
    }

    [Fact]
    public async Task AllowDeny_FirstMatchingRuleWins()
    {
        await using var backend = TestBackend.Echo();
        await using var proxy = await NginxConf.StartAsync($$"""
            location /status {
                deny 127.0.0.3;
                allow 127.0.0.0/30;
                deny all;
                proxy_pass http://{{backend.Address}};
            }
            """);

        var one = await GetAsync(proxy, "/status", Client1);
        var two = await GetAsync(proxy, "/status", Client2);
        var three = await GetAsync(proxy, "/status", Client3);

        Assert.Equal(200, one.Status);
        Assert.Equal(200, two.Status);
        Assert.Equal(403, three.Status);
        Assert.Contains("<h1>403 Forbidden</h1>", three.BodyText);
        Assert.Equal("keep-alive", three.Header("Connection"));
        Assert.Equal(2, backend.Requests.Count);
    }

    [Fact]
    public async Task AllowDeny_LocationWithReturn_ReturnAnswersBeforeAccessAsNginx()
    {
        // A known nginx trap, kept: "return" runs in the rewrite phase, before the access phase.
        await using var proxy = await NginxConf.StartAsync("""
            location /status { allow 127.0.0.1; deny all; return 200 "up"; }
            location /public { return 200 "public"; }
            """);

        Assert.Equal("up", (await GetAsync(proxy, "/status", Client2)).BodyText);
        Assert.Equal("public", (await GetAsync(proxy, "/public", Client2)).BodyText);
    }

    [Fact]
    public async Task AllowDeny_InheritedFromServerUnlessLocationHasRules()
    {
        await using var backend = TestBackend.Echo();
        await using var proxy = await NginxConf.StartAsync($$"""
            allow 127.0.0.1;
            deny all;
            location /inherited { proxy_pass http://{{backend.Address}}; }
            location /own { allow 127.0.0.2; deny all; proxy_pass http://{{backend.Address}}; }
            location /nothing { }
            """);

        Assert.Equal(200, (await GetAsync(proxy, "/inherited", Client1)).Status);
        Assert.Equal(403, (await GetAsync(proxy, "/inherited", Client2)).Status);
        Assert.Equal(403, (await GetAsync(proxy, "/own", Client1)).Status);
        Assert.Equal(200, (await GetAsync(proxy, "/own", Client2)).Status);
        // The access phase runs before the content phase: a denied client gets 403, an allowed one the 404.
        Assert.Equal(403, (await GetAsync(proxy, "/nothing", Client2)).Status);
        Assert.Equal(404, (await GetAsync(proxy, "/nothing", Client1)).Status);
    }

    [Fact]
    public async Task AllowDeny_Forbidden_AddHeaderAlwaysOnly()
    {
        await using var proxy = await NginxConf.StartAsync("""
            location /p { deny 127.0.0.2; add_header X-A a; add_header X-B b always; }
            """);

        var denied = await GetAsync(proxy, "/p", Client2);

        Assert.Equal(403, denied.Status);
        Assert.Null(denied.Header("X-A"));
        Assert.Equal("b", denied.Header("X-B"));
    }

    [Fact]
    public async Task AllowDeny_IPv6Client_IPv6RulesApplyIPv4RulesDoNot()
    {
        var config = NginxConf.Load("""
            server {
                listen [::1]:1;
                location /v6 { allow ::1/128; deny all; return 200 "v6"; }
                location /v4only { deny 127.0.0.0/8; proxy_pass http://127.0.0.1:1; }
                location /net { deny ::/1; proxy_pass http://127.0.0.1:1; }
                location /deny { allow 127.0.0.1; deny all; proxy_pass http://127.0.0.1:1; }
            }
            """);
        await using var proxy = await Proxy.StartAsync(config);
        var loopback = IPAddress.IPv6Loopback;

        Assert.Equal("v6", (await GetAsync(proxy, "/v6", loopback)).BodyText);
        // No IPv4 rule applies to an IPv6 client: on to proxying (and a 502 from the closed port).
        Assert.Equal(502, (await GetAsync(proxy, "/v4only", loopback)).Status);
        Assert.Equal(403, (await GetAsync(proxy, "/net", loopback)).Status);
        Assert.Equal(403, (await GetAsync(proxy, "/deny", loopback)).Status);
    }

    [Fact]
    public async Task AllowDeny_AfterRealIp_RulesSeeTheRealClientAddress()
    {
        // nginx runs realip (preaccess) before access: the rules see the address a trusted peer named.
        await using var backend = TestBackend.Echo();
        await using var proxy = await NginxConf.StartAsync($$"""
            set_real_ip_from 127.0.0.1;
            real_ip_header X-Real-IP;
            location / { deny 203.0.113.7; allow all; proxy_pass http://{{backend.Address}}; }
            """);

        var named = await proxy.SendAsync("GET / HTTP/1.1\r\nHost: a\r\nX-Real-IP: 203.0.113.7\r\n\r\n");
        var other = await proxy.SendAsync("GET / HTTP/1.1\r\nHost: a\r\nX-Real-IP: 203.0.113.8\r\n\r\n");
        await using var untrusted = await RawClient.ConnectAsync(proxy.EndPoint, Client2);
        await untrusted.SendAsync("GET / HTTP/1.1\r\nHost: a\r\nX-Real-IP: 203.0.113.7\r\n\r\n");
        var fromUntrustedPeer = await untrusted.ReadResponseAsync();

        Assert.Equal(403, named.Status);
        Assert.Equal(200, other.Status);
        Assert.Equal(200, fromUntrustedPeer.Status);
    }
}
