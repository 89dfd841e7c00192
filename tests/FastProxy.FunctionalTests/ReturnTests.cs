using FastProxy.FunctionalTests.Infrastructure;

namespace FastProxy.FunctionalTests;

public sealed class ReturnTests
{
    [Fact]
    public async Task Return_TextWithVariables_TextPlainBody()
    {
        await using var proxy = await Proxy.StartAsync(l => l.Return(200, "method=$request_method uri=$uri host=$host ip=$remote_addr\n"));

        var response = await proxy.SendAsync("GET /x?y=1 HTTP/1.1\r\nHost: Site.Example\r\n\r\n");

        Assert.Equal(200, response.Status);
        Assert.Equal("text/plain", response.Header("Content-Type"));
        Assert.Equal("method=GET uri=/x host=site.example ip=127.0.0.1\n", response.BodyText);
        Assert.Equal("fastproxy", response.Header("Server"));
        Assert.NotNull(response.Header("Date"));
    }

    [Fact]
    public async Task Return_Redirect_LocationAndPage()
    {
        var config = new ProxyConfigBuilder()
            .Server(s => s.Listen("127.0.0.1:0").ServerName("api.example.com").Defaults(d => d.Return(301, "https://$server_name$request_uri")))
            .Build();
        await using var proxy = await Proxy.StartAsync(config);

        var response = await proxy.SendAsync("GET /a?b=c HTTP/1.1\r\nHost: x\r\n\r\n");

        Assert.Equal(301, response.Status);
        Assert.Equal("https://api.example.com/a?b=c", response.Header("Location"));
        Assert.Contains("301 Moved Permanently", response.BodyText);
    }

    [Fact]
    public async Task Return_ErrorCodeWithoutText_StatusPage()
    {
        await using var proxy = await Proxy.StartAsync(l => l.Return(403));

        var response = await proxy.SendAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n");

        Assert.Equal(403, response.Status);
        Assert.Equal("text/html", response.Header("Content-Type"));
        Assert.Contains("<h1>403 Forbidden</h1>", response.BodyText);
    }

    [Fact]
    public async Task Return_HeadRequest_NoBody()
    {
        await using var proxy = await Proxy.StartAsync(l => l.Return(200, "hello"));
        await using var client = await proxy.ConnectAsync();

        await client.SendAsync("HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n");
        var head = await client.ReadResponseAsync(headRequest: true);
        var get = await client.ReadResponseAsync();

        Assert.Equal("5", head.Header("Content-Length"));
        Assert.Equal("hello", get.BodyText);
    }

    [Fact]
    public async Task Return_RequestWithBody_BodyDiscardedAndConnectionKept()
    {
        await using var proxy = await Proxy.StartAsync(l => l.Return(200, "ok"));
        await using var client = await proxy.ConnectAsync();

        await client.SendAsync("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloPOST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n");

        for (int i = 0; i < 3; i++)
        {
            var response = await client.ReadResponseAsync();
            Assert.Equal("ok", response.BodyText);
            Assert.Equal("keep-alive", response.Header("Connection"));
        }
    }

    [Fact]
    public async Task Return_AddHeader_AppliedOnSuccessOnlyUnlessAlways()
    {
        var config = new ProxyConfigBuilder()
            .Server(s => s.Listen("127.0.0.1:0")
                .Location("/ok", l => l.Return(200, "x").AddHeader("X-A", "a").AddHeader("X-B", "b", always: true))
                .Location("/no", l => l.Return(404).AddHeader("X-A", "a").AddHeader("X-B", "b", always: true)))
            .Build();
        await using var proxy = await Proxy.StartAsync(config);

        var ok = await proxy.SendAsync("GET /ok HTTP/1.1\r\nHost: x\r\n\r\n");
        var no = await proxy.SendAsync("GET /no HTTP/1.1\r\nHost: x\r\n\r\n");

        Assert.Equal("a", ok.Header("X-A"));
        Assert.Equal("b", ok.Header("X-B"));
        Assert.Null(no.Header("X-A"));
        Assert.Equal("b", no.Header("X-B"));
    }

    [Fact]
    public async Task Connect_Method_405()
    {
        await using var proxy = await Proxy.StartAsync(l => l.Return(200, "x"));

        var response = await proxy.SendAsync("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");

        Assert.Equal(405, response.Status);
    }
}
