using FastProxy.FunctionalTests.Infrastructure;

namespace FastProxy.FunctionalTests;

public sealed class ForwardingTests
{
    [Fact]
    public async Task Get_DefaultHeaders_HostIsProxyHostAndConnectionFieldsDropped()
    {
        await using var backend = TestBackend.Echo();
        await using var proxy = await Proxy.StartAsync(l => l.ProxyPass($"http://{backend.Address}"));

        var response = await proxy.SendAsync(
            "GET /a/b?x=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\n" +
            "Keep-Alive: timeout=5\r\nTE: trailers\r\nProxy-Connection: keep-alive\r\nX-Custom:  v1 \r\nAccept: */*\r\n\r\n");

        Assert.Equal(200, response.Status);
        var request = Assert.Single(backend.Requests);
        Assert.Equal("GET /a/b?x=1 HTTP/1.1", request.RawHead.Split("\r\n")[0]);
        Assert.Equal(backend.Address, request.Header("Host"));
        Assert.Equal(1, request.HeaderCount("Host"));
        Assert.Null(request.Header("Connection"));
        Assert.Null(request.Header("X-Hop"));
        Assert.Null(request.Header("Keep-Alive"));
        Assert.Null(request.Header("TE"));
        Assert.Null(request.Header("Proxy-Connection"));
        // Other fields byte-exact and in order.
        Assert.Contains("User-Agent: t\r\nX-Custom:  v1\r\nAccept: */*\r\n\r\n", request.RawHead);
    }

    [Fact]
    public async Task Get_ConfiguredHeaders_VariablesEvaluatedAndClientFieldsReplaced()
    {
        await using var backend = TestBackend.Echo();
        await using var proxy = await Proxy.StartAsync(l => l
            .ProxyPass($"http://{backend.Address}")
            .ProxySetHeader("Host", "$host")
            .ProxySetHeader("X-Real-IP", "$remote_addr")
            .ProxySetHeader("X-Forwarded-For", "$proxy_add_x_forwarded_for")
            .ProxySetHeader("X-Forwarded-Proto", "$scheme")
            .ProxySetHeader("X-Info", "$request_method $uri $args $request_uri $server_port $http_x_in")
            .ProxySetHeader("X-Empty", "$http_x_absent")
            .ProxySetHeader("Accept", ""));

        var response = await proxy.SendAsync(
            "GET /p/q?a=b HTTP/1.1\r\nHost: Example.COM:8080\r\nX-Forwarded-For: 10.0.0.1\r\nX-In: yes\r\nAccept: x\r\n\r\n");

        Assert.Equal(200, response.Status);
        var request = Assert.Single(backend.Requests);
        Assert.Equal("example.com", request.Header("Host"));
        Assert.Equal("127.0.0.1", request.Header("X-Real-IP"));
        Assert.Equal("10.0.0.1, 127.0.0.1", request.Header("X-Forwarded-For"));
        Assert.Equal(1, request.HeaderCount("X-Forwarded-For"));
        Assert.Equal("http", request.Header("X-Forwarded-Proto"));
        Assert.Equal($"GET /p/q a=b /p/q?a=b {proxy.EndPoint.Port} yes", request.Header("X-Info"));
        Assert.Null(request.Header("X-Empty"));
        Assert.Null(request.Header("Accept"));
        Assert.Null(request.Header("Connection"));
    }

    [Fact]
    public async Task Response_HopByHopAndHiddenFields_DroppedAndServerDateOurs()
    {
        await using var backend = new TestBackend((_, c) => c.WriteAsync(
            "HTTP/1.1 200 Fine\r\nServer: backend\r\nDate: Mon, 01 Jan 2001 00:00:00 GMT\r\nX-Pad: x\r\nX-Accel-Redirect: /x\r\n" +
            "Connection: X-Gone\r\nX-Gone: 1\r\nKeep-Alive: timeout=1\r\nX-B:  kept \r\nContent-Length: 2\r\n\r\nok"));
        await using var proxy = await Proxy.StartAsync(l => l.ProxyPass($"http://{backend.Address}"));

        var response = await proxy.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");

        Assert.StartsWith("HTTP/1.1 200 Fine\r\nServer: fastproxy\r\nDate: ", response.RawHead);
        Assert.Equal(1, response.HeaderCount("Server"));
        Assert.Equal(1, response.HeaderCount("Date"));
        Assert.DoesNotContain("2001", response.Header("Date"));
        Assert.Null(response.Header("X-Pad"));
        Assert.Null(response.Header("X-Accel-Redirect"));
        Assert.Null(response.Header("X-Gone"));
        Assert.Null(response.Header("Keep-Alive"));
        Assert.Equal("keep-alive", response.Header("Connection"));
        Assert.Contains("\r\nX-B:  kept\r\nContent-Length: 2\r\n", response.RawHead);
        Assert.Equal("ok", response.BodyText);
    }

    [Fact]
    public async Task Response_ProxyPassHeaderServer_BackendServerKept()
    {
        await using var backend = new TestBackend((_, c) => c.RespondAsync(200, "x", "Server: backend\r\n"));
        await using var proxy = await Proxy.StartAsync(l => l.ProxyPass($"http://{backend.Address}").ProxyPassHeader("Server").ProxyHideHeader("X-Secret"));

        var response = await proxy.SendAsync("GET / HTTP/1.1\r\nHost: a\r\n\r\n");

        Assert.Equal("backend", response.Header("Server"));
        Assert.Equal(1, response.HeaderCount("Server"));
    }

    [Fact]
    public async Task Get_ProxyPassWithUri_PrefixReplaced()
    {
        await using var backend = TestBackend.Echo();
        var config = new ProxyConfigBuilder()
            .Server(s => s.Listen("127.0.0.1:0")
                .Location("/api/users/", l => l.ProxyPass($"http://{backend.Address}/")))
            .Build();
        await using var proxy = await Proxy.StartAsync(config);

        var response = await proxy.SendAsync("GET /api/users/42?x=y HTTP/1.1\r\nHost: a\r\n\r\n");

        Assert.Equal(200, response.Status);
        Assert.StartsWith("GET /42?x=y HTTP/1.1\r\n", Assert.Single(backend.Requests).RawHead);
    }

    [Fact]
    public async Task Get_NoMatchingLocation_404()
    {
        await using var backend = TestBackend.Echo();
        var config = new ProxyConfigBuilder()
            .Server(s => s.Listen("127.0.0.1:0").Location("/api/", l => l.ProxyPass($"http://{backend.Address}")))
            .Build();
        await using var proxy = await Proxy.StartAsync(config);

        var response = await proxy.SendAsync("GET /other HTTP/1.1\r\nHost: a\r\n\r\n");

        Assert.Equal(404, response.Status);
        Assert.Equal("keep-alive", response.Header("Connection"));
        Assert.Empty(backend.Requests);
    }

    [Fact]
    public async Task Get_AbsoluteFormTarget_OriginFormUpstream()
    {
        await using var backend = TestBackend.Echo();
        await using var proxy = await Proxy.StartAsync(l => l.ProxyPass($"http://{backend.Address}").ProxySetHeader("Host", "$host"));

        var response = await proxy.SendAsync("GET http://Other.example:81/x?y HTTP/1.1\r\nHost: ignored\r\n\r\n");

        Assert.Equal(200, response.Status);
        var request = Assert.Single(backend.Requests);
        Assert.StartsWith("GET /x?y HTTP/1.1\r\n", request.RawHead);
        Assert.Equal("other.example", request.Header("Host"));
    }
}
