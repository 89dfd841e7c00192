using FastProxy.FunctionalTests.Infrastructure;

namespace FastProxy.FunctionalTests;

/// <summary>
/// nginx's rewrite module at request time: flags, captures, arguments, redirects, the re-matching cycle and its limit,
/// with what the backend receives. Expected values were checked against nginx 1.22 with the same configurations.
/// </summary>
public sealed class RewriteTests
{
    private static async Task<BackendRequest> ProxiedAsync(Proxy proxy, TestBackend backend, string target, string host = "example.com")
    {
        var response = await proxy.SendAsync($"GET {target} HTTP/1.1\r\nHost: {host}\r\n\r\n");
        Assert.Equal(200, response.Status);
        Assert.True(backend.Requests.TryDequeue(out var request));
        return request!;
    }

    [Fact]
    public async Task Rewrite_ServerLevelLast_DocumentedDownloadExample()
    {
        // The rewrite module documentation's example, at server level with "last".
        await using var backend = TestBackend.Echo();
        await using var proxy = await NginxConf.StartAsync($$"""
            rewrite ^(/download/.*)/media/(\w+)\.?.*$ $1/mp3/$2.mp3 last;
            rewrite ^(/download/.*)/audio/(\w+)\.?.*$ $1/mp3/$2.ra  last;
            return  403;
            location /download/ { proxy_pass http://{{backend.Address}}; }
            """);

        var media = await ProxiedAsync(proxy, backend, "/download/band/media/song.wma");
        var audio = await ProxiedAsync(proxy, backend, "/download/band/audio/talk.ogg?x=1");
        var other = await proxy.SendAsync("GET /download/band/video/x HTTP/1.1\r\nHost: a\r\n\r\n");

        Assert.Equal("/download/band/mp3/song.mp3", media.Target);
        Assert.Equal("/download/band/mp3/talk.ra?x=1", audio.Target);
        Assert.Equal(403, other.Status);
    }

    [Fact]
    public async Task Rewrite_LocationLevelBreak_DocumentedDownloadExample()
    {
        // The same example inside the location, where the documentation uses "break": the URI is not matched again.
        await using var backend = TestBackend.Echo();
        await using var proxy = await NginxConf.StartAsync($$"""
            location /download/ {
                rewrite ^(/download/.*)/media/(\w+)\.?.*$ $1/mp3/$2.mp3 break;
                rewrite ^(/download/.*)/audio/(\w+)\.?.*$ $1/mp3/$2.ra  break;
                return  403;
                proxy_pass http://{{backend.Address}};
            }
            location /download/band/mp3/ { return 418; }
            """);

        var media = await ProxiedAsync(proxy, backend, "/download/band/media/song.wma");
        var other = await proxy.SendAsync("GET /download/x HTTP/1.1\r\nHost: a\r\n\r\n");

        Assert.Equal("/download/band/mp3/song.mp3", media.Target);
        Assert.Equal(403, other.Status);
    }

    [Fact]
    public async Task Rewrite_Break_ProxyPassUriIgnored()
    {
        // nginx: after "break" the whole rewritten URI goes upstream, the URI part of proxy_pass is not used.
        await using var backend = TestBackend.Echo();
        await using var proxy = await NginxConf.StartAsync($$"""
            location /c/ { rewrite ^/c/(.*)$ /d/$1 break; proxy_pass http://{{backend.Address}}/x/; }
            """);

        var request = await ProxiedAsync(proxy, backend, "/c/k?a=1");

        Assert.Equal("/d/k?a=1", request.Target);
    }

    [Fact]
    public async Task Rewrite_ServerLevelBreak_ProxyPassUriIgnoredInLocationFound()
    {
        await using var backend = TestBackend.Echo();
        await using var proxy = await NginxConf.StartAsync($$"""
            rewrite ^/s/(.*)$ /b/$1 break;
            location /b/ { proxy_pass http://{{backend.Address}}/x/; }
            """);

        var request = await ProxiedAsync(proxy, backend, "/s/k?a=1");

        Assert.Equal("/b/k?a=1", request.Target);
    }

    [Fact]
    public async Task Rewrite_Last_NewLocationReplacesItsPrefix()
    {
        await using var backend = TestBackend.Echo();
        await using var proxy = await NginxConf.StartAsync($$"""
            location /e/ { rewrite ^/e/(.*)$ /b/$1 last; return 500; }
            location /b/ { proxy_pass http://{{backend.Address}}/x/; }
            """);

        var request = await ProxiedAsync(proxy, backend, "/e/k%20l?a=1");

        Assert.Equal("/x/k%20l?a=1", request.Target);
    }

    [Fact]
    public async Task Rewrite_ReplacementArgs_OriginalArgsAppendedOrDropped()
    {
        // The documentation's "rewrite ^/users/(.*)$ /show?user=$1? last;": a final "?" drops the request's arguments.
        await using var backend = TestBackend.Echo();
        await using var proxy = await NginxConf.StartAsync($$"""
            location /users/ { rewrite ^/users/(.*)$ /show?user=$1? last; }
            location /people/ { rewrite ^/people/(.*)$ /show?user=$1 last; }
            location /plain/ { rewrite ^/plain/(.*)$ /show/$1 last; }
            location /none/ { rewrite ^/none/(.*)$ /show/$1? last; }
            location /show { proxy_pass http://{{backend.Address}}; }
            """);

        Assert.Equal("/show?user=bob", (await ProxiedAsync(proxy, backend, "/users/bob?a=1")).Target);
        Assert.Equal("/show?user=bob&a=1", (await ProxiedAsync(proxy, backend, "/people/bob?a=1")).Target);
        Assert.Equal("/show/bob?a=1", (await ProxiedAsync(proxy, backend, "/plain/bob?a=1")).Target);
        Assert.Equal("/show/bob", (await ProxiedAsync(proxy, backend, "/none/bob?a=1")).Target);
    }

    [Fact]
    public async Task Rewrite_CapturesFromEscapedPath_EscapedInArgumentsOnly()
    {
        // $uri is decoded; a capture is escaped again only where it goes into the arguments (nginx: quoted_uri).
        await using var proxy = await NginxConf.StartAsync("""
            location /esc/ { rewrite ^/esc/(.*)$ /y/$1?v=$1 last; }
            location /y/ { return 200 "uri=$uri args=$args"; }
            """);

        var response = await proxy.SendAsync("GET /esc/a%20b+c&d?x=1 HTTP/1.1\r\nHost: a\r\n\r\n");

        Assert.Equal("uri=/y/a b+c&d args=v=a%20b%2Bc%26d&x=1", response.BodyText);
    }

    [Fact]
    public async Task Rewrite_NoFlag_NextDirectivesRunThenReturn()
    {
        await using var proxy = await NginxConf.StartAsync("""
            location /n/ { rewrite ^/n/(.*)$ /m/$1; rewrite ^/m/(.*)$ /o/$1; return 200 "uri=$uri args=$args is=$is_args"; }
            """);

        var response = await proxy.SendAsync("GET /n/k?a=1 HTTP/1.1\r\nHost: a\r\n\r\n");
        var bare = await proxy.SendAsync("GET /n/k? HTTP/1.1\r\nHost: a\r\n\r\n");

        Assert.Equal("uri=/o/k args=a=1 is=?", response.BodyText);
        Assert.Equal("uri=/o/k args= is=", bare.BodyText);
    }

    [Fact]
    public async Task Rewrite_NoFlag_UriChangedFindsLocationAgain()
    {
        await using var backend = TestBackend.Echo();
        await using var proxy = await NginxConf.StartAsync($$"""
            location /n/ { rewrite ^/n/(.*)$ /b/$1; }
            location /b/ { proxy_pass http://{{backend.Address}}/x/; }
            """);

        var request = await ProxiedAsync(proxy, backend, "/n/k");

        Assert.Equal("/x/k", request.Target);
    }

    [Fact]
    public async Task Rewrite_Redirect_302WithAbsoluteLocationAndArgs()
    {
        await using var proxy = await NginxConf.StartAsync("""
            location /r/ { rewrite ^/r/(.*)$ /q/$1?z=1 redirect; }
            location /p/ { rewrite ^/p/(.*)$ /q/$1 permanent; }
            location /q/ { rewrite ^/q/(.*)$ /z/$1 redirect; }
            """);
        int port = proxy.EndPoint.Port;

        var redirect = await proxy.SendAsync("GET /r/k?a=1 HTTP/1.1\r\nHost: Example.COM\r\n\r\n");
        var permanent = await proxy.SendAsync("GET /p/k?a=1 HTTP/1.1\r\nHost: example.com\r\n\r\n");
        var escaped = await proxy.SendAsync("GET /q/a%20b+c?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n");

        Assert.Equal(302, redirect.Status);
        Assert.Equal($"http://example.com:{port}/q/k?z=1&a=1", redirect.Header("Location"));
        Assert.Contains("<title>302 Found</title>", redirect.BodyText);
        Assert.Equal(301, permanent.Status);
        Assert.Equal($"http://example.com:{port}/q/k?a=1", permanent.Header("Location"));
        Assert.Equal($"http://example.com:{port}/z/a%20b+c?x=1", escaped.Header("Location"));
        Assert.Equal("keep-alive", redirect.Header("Connection"));
    }

    [Fact]
    public async Task Rewrite_ReplacementIsUrl_RedirectWithoutFlag()
    {
        await using var proxy = await NginxConf.StartAsync("""
            location /old/ { rewrite ^/old/(.*) http://example.org/new/$1; }
            location /sch/ { rewrite ^/sch/(.*) $scheme://$host/new/$1 permanent; }
            """);

        var url = await proxy.SendAsync("GET /old/x?a=1 HTTP/1.1\r\nHost: a\r\n\r\n");
        var scheme = await proxy.SendAsync("GET /sch/x HTTP/1.1\r\nHost: a.example\r\n\r\n");

        Assert.Equal(302, url.Status);
        Assert.Equal("http://example.org/new/x?a=1", url.Header("Location"));
        Assert.Equal(301, scheme.Status);
        Assert.Equal("http://a.example/new/x", scheme.Header("Location"));
    }

    [Fact]
    public async Task Rewrite_LastCycle_TenChangesAllowedThenInternalServerError()
    {
        // nginx allows a request to find its location again 10 times (NGX_HTTP_MAX_URI_CHANGES); the 11th is a 500.
        var chain = string.Join("\n", Enumerable.Range(0, 15).Select(i => $"location = /c{i} {{ rewrite ^ /c{i + 1} last; }}"));
        await using var proxy = await NginxConf.StartAsync(chain + "\nlocation = /c15 { return 200 \"done $uri\"; }");

        var ten = await proxy.SendAsync("GET /c5 HTTP/1.1\r\nHost: a\r\n\r\n");
        var eleven = await proxy.SendAsync("GET /c4 HTTP/1.1\r\nHost: a\r\n\r\n");

        Assert.Equal(200, ten.Status);
        Assert.Equal("done /c15", ten.BodyText);
        Assert.Equal(500, eleven.Status);
        Assert.Equal("close", eleven.Header("Connection"));
    }

    [Fact]
    public async Task Rewrite_NamedCapture_UsedInReplacement()
    {
        await using var backend = TestBackend.Echo();
        await using var proxy = await NginxConf.StartAsync($$"""
            location /u/ { rewrite ^/u/(?<id>\d+)$ /user?id=$id last; }
            location /user { proxy_pass http://{{backend.Address}}; }
            """);

        var request = await ProxiedAsync(proxy, backend, "/u/42?a=1");

        Assert.Equal("/user?id=42&a=1", request.Target);
    }

    [Fact]
    public async Task RegexLocation_Captures_UsedByRewriteAndHeaders()
    {
        // PCRE numbers named and unnamed groups in order: $1 is (?<app>...), $2 the rest. A rewrite regex without
        // groups leaves $1..$9 empty; the named capture stays.
        await using var backend = TestBackend.Echo();
        await using var proxy = await NginxConf.StartAsync($$"""
            location ~ ^/app/(?<app>[a-z]+)/(.*)$ {
                proxy_set_header X-App $app;
                proxy_set_header X-Rest $2;
                proxy_pass http://{{backend.Address}};
            }
            location ~ ^/svc/(?<svc>[a-z]+)/(.*)$ {
                rewrite ^ /$2 break;
                proxy_set_header X-Svc $svc;
                proxy_set_header X-One $1;
                proxy_pass http://{{backend.Address}};
            }
            """);

        var app = await ProxiedAsync(proxy, backend, "/app/shop/cart/1?x=1");
        var svc = await ProxiedAsync(proxy, backend, "/svc/shop/cart/1?x=1");

        Assert.Equal("/app/shop/cart/1?x=1", app.Target);
        Assert.Equal("shop", app.Header("X-App"));
        Assert.Equal("cart/1", app.Header("X-Rest"));
        Assert.Equal("/?x=1", svc.Target);
        Assert.Equal("shop", svc.Header("X-Svc"));
        Assert.Null(svc.Header("X-One"));
    }

    [Fact]
    public async Task Rewrite_EmptyResult_InternalServerError()
    {
        await using var proxy = await NginxConf.StartAsync("""
            location /z/ { rewrite ^/z/(.*)$ $1 last; return 200; }
            """);

        var response = await proxy.SendAsync("GET /z/ HTTP/1.1\r\nHost: a\r\n\r\n");

        Assert.Equal(500, response.Status);
    }

    [Fact]
    public async Task Rewrite_RewriteAndReturnInOrder_ReturnReachedOnlyWhenNothingStops()
    {
        await using var proxy = await NginxConf.StartAsync("""
            location /o/ {
                rewrite ^/o/a$ /t/a last;
                return 403;
            }
            location /t/ { return 200 "t $uri"; }
            """);

        var rewritten = await proxy.SendAsync("GET /o/a HTTP/1.1\r\nHost: a\r\n\r\n");
        var returned = await proxy.SendAsync("GET /o/b HTTP/1.1\r\nHost: a\r\n\r\n");

        Assert.Equal("t /t/a", rewritten.BodyText);
        Assert.Equal(403, returned.Status);
    }

    [Fact]
    public async Task AutoRedirect_ProxiedPrefixWithoutSlash_301ToPrefix()
    {
        await using var backend = TestBackend.Echo();
        await using var proxy = await NginxConf.StartAsync($$"""
            location /api/users/ { proxy_pass http://{{backend.Address}}/; add_header X-A a; }
            location /static/ { return 200 "static"; }
            """);
        int port = proxy.EndPoint.Port;

        var redirect = await proxy.SendAsync("GET /api/users HTTP/1.1\r\nHost: example.com\r\n\r\n");
        var withArgs = await proxy.SendAsync("GET /api/users?page=2 HTTP/1.1\r\nHost: example.com\r\n\r\n");
        var notProxied = await proxy.SendAsync("GET /static HTTP/1.1\r\nHost: example.com\r\n\r\n");

        Assert.Equal(301, redirect.Status);
        Assert.Equal($"http://example.com:{port}/api/users/", redirect.Header("Location"));
        Assert.Equal("a", redirect.Header("X-A"));
        Assert.Contains("<h1>301 Moved Permanently</h1>", redirect.BodyText);
        Assert.Equal($"http://example.com:{port}/api/users/?page=2", withArgs.Header("Location"));
        Assert.Equal(404, notProxied.Status);
        Assert.True(backend.Requests.IsEmpty);
    }

    [Fact]
    public async Task Return_RelativeRedirect_MadeAbsolute()
    {
        await using var proxy = await NginxConf.StartAsync("""
            location /a { return 301 /b$is_args$args; }
            location /c { return 302 other; }
            """);
        int port = proxy.EndPoint.Port;

        var relative = await proxy.SendAsync("GET /a?x=1 HTTP/1.1\r\nHost: example.com:8080\r\n\r\n");
        var bare = await proxy.SendAsync("GET /c HTTP/1.1\r\nHost: example.com\r\n\r\n");

        Assert.Equal($"http://example.com:{port}/b?x=1", relative.Header("Location"));
        Assert.Equal("other", bare.Header("Location"));
    }

    [Fact]
    public async Task Rewrite_KeepAliveConnection_NothingCarriesOverToTheNextRequest()
    {
        await using var backend = TestBackend.Echo();
        await using var proxy = await NginxConf.StartAsync($$"""
            location ~ ^/app/(?<app>[a-z]+)/ { rewrite ^/app/[a-z]+/(.*)$ /v2/$1?from=app break; proxy_pass http://{{backend.Address}}; }
            location / { proxy_set_header X-App "[$app$1]"; proxy_pass http://{{backend.Address}}; }
            """);
        await using var client = await proxy.ConnectAsync();

        await client.SendAsync("GET /app/shop/cart?a=1 HTTP/1.1\r\nHost: a\r\n\r\nGET /plain?b=2 HTTP/1.1\r\nHost: a\r\n\r\n");
        var first = await client.ReadResponseAsync();
        var second = await client.ReadResponseAsync();

        Assert.Equal((200, 200), (first.Status, second.Status));
        Assert.True(backend.Requests.TryDequeue(out var rewritten));
        Assert.True(backend.Requests.TryDequeue(out var plain));
        Assert.Equal("/v2/cart?from=app&a=1", rewritten!.Target);
        Assert.Equal("/plain?b=2", plain!.Target);
        Assert.Equal("[]", plain.Header("X-App"));
    }

    [Fact]
    public async Task BreakDirective_StopsRewriteDirectivesAndKeepsTheLocation()
    {
        await using var backend = TestBackend.Echo();
        await using var proxy = await NginxConf.StartAsync($$"""
            location /k/ { rewrite ^/k/(.*)$ /b/$1; break; proxy_pass http://{{backend.Address}}/x/; }
            location /b/ { return 418; }
            """);

        var request = await ProxiedAsync(proxy, backend, "/k/v?a=1");

        Assert.Equal("/b/v?a=1", request.Target);
    }
}
