using FastProxy.FunctionalTests.Infrastructure;

namespace FastProxy.FunctionalTests;

/// <summary>
/// Response header handling as nginx's headers and proxy modules do it: add_header (with and without "always",
/// inheritance), proxy_hide_header/proxy_pass_header on top of the default hidden set, proxy_redirect on Location
/// and Refresh, and FastProxy's own error pages.
/// </summary>
public sealed class HeaderTests
{
    private static TestBackend Backend(int status = 200, string headers = "") =>
        new((request, connection) => connection.RespondAsync(status, "body", headers));

    [Fact]
    public async Task AddHeader_ProxiedResponses_OnlySuccessAndRedirectCodesUnlessAlways()
    {
        await using var ok = Backend(200);
        await using var created = Backend(201);
        await using var notFound = Backend(404);
        await using var proxy = await NginxConf.StartAsync($$"""
            add_header X-A a;
            add_header X-B b always;
            add_header X-Empty $http_x_none always;
            location /ok { proxy_pass http://{{ok.Address}}; }
            location /created { proxy_pass http://{{created.Address}}; }
            location /missing { proxy_pass http://{{notFound.Address}}; }
            location /down { proxy_pass http://127.0.0.1:1; }
            """);

        var r200 = await proxy.SendAsync("GET /ok HTTP/1.1\r\nHost: a\r\n\r\n");
        var r201 = await proxy.SendAsync("GET /created HTTP/1.1\r\nHost: a\r\n\r\n");
        var r404 = await proxy.SendAsync("GET /missing HTTP/1.1\r\nHost: a\r\n\r\n");
        var r502 = await proxy.SendAsync("GET /down HTTP/1.1\r\nHost: a\r\n\r\n");

        Assert.Equal(("a", "b"), (r200.Header("X-A"), r200.Header("X-B")));
        Assert.Equal(("a", "b"), (r201.Header("X-A"), r201.Header("X-B")));
        Assert.Equal((null, "b"), (r404.Header("X-A"), r404.Header("X-B")));
        Assert.Equal(502, r502.Status);
        Assert.Equal((null, "b"), (r502.Header("X-A"), r502.Header("X-B")));
        Assert.Equal(0, r200.HeaderCount("X-Empty")); // an empty value adds nothing
    }

    [Fact]
    public async Task AddHeader_InnerLevel_ReplacesOuterOnes()
    {
        await using var backend = Backend();
        await using var proxy = await NginxConf.StartAsync($$"""
            add_header X-Server s;
            location /inherit { proxy_pass http://{{backend.Address}}; }
            location /own { add_header X-Own o; proxy_pass http://{{backend.Address}}; }
            """, http: "add_header X-Http h;");

        var inherit = await proxy.SendAsync("GET /inherit HTTP/1.1\r\nHost: a\r\n\r\n");
        var own = await proxy.SendAsync("GET /own HTTP/1.1\r\nHost: a\r\n\r\n");

        Assert.Equal(("s", null), (inherit.Header("X-Server"), inherit.Header("X-Http")));
        Assert.Equal((null, "o"), (own.Header("X-Server"), own.Header("X-Own")));
    }

    [Fact]
    public async Task AddHeader_OwnErrorPages_OnlyWithAlways()
    {
        await using var proxy = await NginxConf.StartAsync("""
            location /big { client_max_body_size 4; add_header X-A a; add_header X-B b always; return 200; }
            location /none { add_header X-A a; add_header X-B b always; }
            """);

        var tooLarge = await proxy.SendAsync("POST /big HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n0123456789");
        var notFound = await proxy.SendAsync("GET /none HTTP/1.1\r\nHost: a\r\n\r\n");

        Assert.Equal(413, tooLarge.Status);
        Assert.Equal((null, "b"), (tooLarge.Header("X-A"), tooLarge.Header("X-B")));
        Assert.Equal("close", tooLarge.Header("Connection"));
        Assert.Equal(404, notFound.Status);
        Assert.Equal((null, "b"), (notFound.Header("X-A"), notFound.Header("X-B")));
    }

    [Fact]
    public async Task ErrorPage_NginxShape_ServerFastproxy()
    {
        await using var proxy = await NginxConf.StartAsync("location / { return 404; }");

        var response = await proxy.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");

        Assert.Equal("fastproxy", response.Header("Server"));
        Assert.Equal("text/html", response.Header("Content-Type"));
        Assert.Equal("keep-alive", response.Header("Connection"));
        Assert.Equal(
            "<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1></center>\r\n<hr><center>fastproxy</center>\r\n</body>\r\n</html>\r\n",
            response.BodyText);
    }

    [Fact]
    public async Task Return_ErrorCodeWithoutText_ClosesLikeNginxErrorPage_TextKeepsConnection()
    {
        await using var proxy = await NginxConf.StartAsync("""
            location /page { return 500; }
            location /text { return 500 "oops"; }
            """);

        var page = await proxy.SendAsync("GET /page HTTP/1.1\r\nHost: a\r\n\r\n");
        var text = await proxy.SendAsync("GET /text HTTP/1.1\r\nHost: a\r\n\r\n");

        Assert.Equal("close", page.Header("Connection"));
        Assert.Equal("keep-alive", text.Header("Connection"));
        Assert.Equal("oops", text.BodyText);
    }

    [Fact]
    public async Task HideHeader_DefaultSetAndConfigured_PassHeaderLetsThrough()
    {
        const string Headers = "Server: origin\r\nDate: Thu, 01 Jan 1970 00:00:00 GMT\r\nX-Pad: p\r\nX-Accel-Redirect: /r\r\nX-Accel-Other: o\r\nX-Secret: s\r\nX-Kept: k\r\n";
        await using var backend = Backend(200, Headers);
        await using var proxy = await NginxConf.StartAsync($$"""
            location /default { proxy_pass http://{{backend.Address}}; }
            location /hide { proxy_hide_header X-Secret; proxy_pass http://{{backend.Address}}; }
            location /pass {
                proxy_pass_header Server;
                proxy_pass_header X-Accel-Redirect;
                proxy_hide_header X-Secret;
                proxy_pass_header X-Secret;
                proxy_pass http://{{backend.Address}};
            }
            """);

        var byDefault = await proxy.SendAsync("GET /default HTTP/1.1\r\nHost: a\r\n\r\n");
        var hidden = await proxy.SendAsync("GET /hide HTTP/1.1\r\nHost: a\r\n\r\n");
        var passed = await proxy.SendAsync("GET /pass HTTP/1.1\r\nHost: a\r\n\r\n");

        Assert.Equal("fastproxy", byDefault.Header("Server"));
        Assert.NotEqual("Thu, 01 Jan 1970 00:00:00 GMT", byDefault.Header("Date"));
        Assert.Null(byDefault.Header("X-Pad"));
        Assert.Null(byDefault.Header("X-Accel-Redirect"));
        Assert.Equal("o", byDefault.Header("X-Accel-Other")); // only nginx's listed X-Accel-* fields are hidden
        Assert.Equal("s", byDefault.Header("X-Secret"));
        Assert.Null(hidden.Header("X-Secret"));
        Assert.Equal("k", hidden.Header("X-Kept"));
        Assert.Equal("origin", passed.Header("Server"));
        Assert.Equal(1, passed.HeaderCount("Server"));
        Assert.Equal("/r", passed.Header("X-Accel-Redirect"));
        Assert.Equal("s", passed.Header("X-Secret"));
    }

    [Fact]
    public async Task ProxyRedirect_DefaultWithUri_ProxyPassUrlBecomesLocationName()
    {
        TestBackend? backend = null;
        backend = new TestBackend((request, connection) => connection.RespondAsync(302, "",
            $"Location: http://{backend!.Address}/x/y?q=1\r\nRefresh: 5; URL=http://{backend.Address}/x/z\r\n"));
        await using var _ = backend;
        await using var proxy = await NginxConf.StartAsync($$"""
            location /b/ { proxy_pass http://{{backend.Address}}/x/; }
            """);
        int port = proxy.EndPoint.Port;

        var response = await proxy.SendAsync("GET /b/ HTTP/1.1\r\nHost: example.com\r\n\r\n");

        Assert.Equal($"http://example.com:{port}/b/y?q=1", response.Header("Location"));
        Assert.Equal("5; URL=/b/z", response.Header("Refresh")); // Refresh is rewritten, not made absolute
    }

    [Fact]
    public async Task ProxyRedirect_DefaultWithoutUri_UrlSlashBecomesSlash()
    {
        TestBackend? backend = null;
        backend = new TestBackend((request, connection) => connection.RespondAsync(301, "", $"Location: http://{backend!.Address}/x/y\r\n"));
        await using var _ = backend;
        await using var proxy = await NginxConf.StartAsync($$"""
            location /n/ { proxy_pass http://{{backend.Address}}; }
            location ~ ^/re/ { proxy_pass http://{{backend.Address}}; }
            """);
        int port = proxy.EndPoint.Port;

        var prefix = await proxy.SendAsync("GET /n/ HTTP/1.1\r\nHost: example.com\r\n\r\n");
        var regex = await proxy.SendAsync("GET /re/ HTTP/1.1\r\nHost: example.com\r\n\r\n");

        Assert.Equal($"http://example.com:{port}/x/y", prefix.Header("Location"));
        Assert.Equal($"http://example.com:{port}/x/y", regex.Header("Location"));
    }

    [Fact]
    public async Task ProxyRedirect_OffExplicitAndRegex()
    {
        TestBackend? backend = null;
        backend = new TestBackend((request, connection) => connection.RespondAsync(302, "",
            $"Location: http://{backend!.Address}/x/y\r\n"));
        await using var _ = backend;
        await using var proxy = await NginxConf.StartAsync($$"""
            location /off/ { proxy_pass http://{{backend.Address}}/x/; proxy_redirect off; }
            location /m/ {
                proxy_pass http://{{backend.Address}}/x/;
                proxy_redirect http://{{backend.Address}}/x/ http://$host/m/;
                proxy_redirect default;
            }
            location /rx/ {
                proxy_pass http://{{backend.Address}}/x/;
                proxy_redirect ~^http://[^/]+/x/(.*)$ https://secure.example/$1;
            }
            location /miss/ { proxy_pass http://{{backend.Address}}/x/; proxy_redirect http://elsewhere/ /; }
            """);

        var off = await proxy.SendAsync("GET /off/ HTTP/1.1\r\nHost: example.com\r\n\r\n");
        var explicitRule = await proxy.SendAsync("GET /m/ HTTP/1.1\r\nHost: example.com\r\n\r\n");
        var regex = await proxy.SendAsync("GET /rx/ HTTP/1.1\r\nHost: example.com\r\n\r\n");
        var miss = await proxy.SendAsync("GET /miss/ HTTP/1.1\r\nHost: example.com\r\n\r\n");

        Assert.Equal($"http://{backend.Address}/x/y", off.Header("Location"));
        Assert.Equal("http://example.com/m/y", explicitRule.Header("Location"));
        Assert.Equal("https://secure.example/y", regex.Header("Location"));
        Assert.Equal($"http://{backend.Address}/x/y", miss.Header("Location"));
    }

    [Fact]
    public async Task DecodedCrLfInUri_NeverStartsAFieldUpstreamOrDownstream()
    {
        // "%0D%0A" decodes into $uri; nginx writes it raw (CRLF injection). FastProxy turns it into SP in fields
        // and escapes it again in a Location.
        await using var backend = TestBackend.Echo();
        await using var proxy = await NginxConf.StartAsync($$"""
            location /h/ { proxy_set_header X-Uri $uri; add_header X-Uri $uri; proxy_pass http://{{backend.Address}}; }
            location /r/ { return 302 "http://$host$uri"; }
            location /w/ { rewrite ^ http://example.org$uri redirect; }
            """);

        var proxied = await proxy.SendAsync("GET /h/a%0D%0AX-Evil:%201 HTTP/1.1\r\nHost: a\r\n\r\n");
        var returned = await proxy.SendAsync("GET /r/a%0D%0AX-Evil:%201 HTTP/1.1\r\nHost: a\r\n\r\n");
        var rewritten = await proxy.SendAsync("GET /w/a%0D%0AX-Evil:%201 HTTP/1.1\r\nHost: a\r\n\r\n");

        Assert.True(backend.Requests.TryDequeue(out var upstream));
        Assert.Null(upstream!.Header("X-Evil"));
        Assert.Equal("/h/a  X-Evil: 1", upstream.Header("X-Uri"));
        Assert.Null(proxied.Header("X-Evil"));
        Assert.Equal("/h/a  X-Evil: 1", proxied.Header("X-Uri"));
        Assert.Null(returned.Header("X-Evil"));
        Assert.Equal("http://a/r/a%0D%0AX-Evil: 1", returned.Header("Location"));
        Assert.Null(rewritten.Header("X-Evil"));
        Assert.Equal("http://example.org/w/a%0D%0AX-Evil: 1", rewritten.Header("Location"));
    }

    [Fact]
    public async Task AddHeader_UpstreamVariables_OnProxiedResponse()
    {
        await using var backend = Backend(201);
        await using var proxy = await NginxConf.StartAsync($$"""
            location / { add_header X-Upstream $upstream_addr; add_header X-Upstream-Status $upstream_status; proxy_pass http://{{backend.Address}}; }
            """);

        var response = await proxy.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");

        Assert.Equal(backend.Address, response.Header("X-Upstream"));
        Assert.Equal("201", response.Header("X-Upstream-Status"));
    }
}
