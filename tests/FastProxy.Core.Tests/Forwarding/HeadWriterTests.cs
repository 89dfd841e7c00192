using FastProxy.Forwarding;

namespace FastProxy.Core.Tests.Forwarding;

public sealed class HeadWriterTests
{
    private const string Client =
        "POST /api/items?id=7 HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: ua\r\nConnection: keep-alive, X-Secret\r\n" +
        "X-Secret: s\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nContent-Length: 3\r\nX-Forwarded-For: 10.0.0.1\r\n" +
        "Expect: 100-continue\r\nAccept:  */*\r\n\r\n";

    [Fact]
    public void RequestHead_Defaults_NginxOrderFreshFramingClientFieldsByteExact()
    {
        var fixture = ForwardingFixture.Create(Client, l => l.ProxyPass("http://backend"));

        var head = fixture.UpstreamHead(out bool reusable, UpstreamBodyFraming.ContentLength, 3);

        Assert.Equal(
            "POST /api/items?id=7 HTTP/1.1\r\nHost: backend\r\nContent-Length: 3\r\nUser-Agent: ua\r\n" +
            "X-Forwarded-For: 10.0.0.1\r\nAccept:  */*\r\n\r\n", head);
        Assert.True(reusable);
    }

    [Fact]
    public void RequestHead_SetHeaders_ConfigOrderFirstAndClientFieldsReplaced()
    {
        var fixture = ForwardingFixture.Create(Client, l => l
            .ProxyPass("http://backend")
            .ProxySetHeader("Host", "$host")
            .ProxySetHeader("X-Real-IP", "$remote_addr")
            .ProxySetHeader("X-Forwarded-For", "$proxy_add_x_forwarded_for")
            .ProxySetHeader("User-Agent", "")
            .ProxySetHeader("X-Empty", "$http_nothing"));

        var head = fixture.UpstreamHead(UpstreamBodyFraming.Chunked);

        Assert.Equal(
            "POST /api/items?id=7 HTTP/1.1\r\nHost: shop.example\r\nX-Real-IP: 192.0.2.7\r\n" +
            "X-Forwarded-For: 10.0.0.1, 192.0.2.7\r\nTransfer-Encoding: chunked\r\nAccept:  */*\r\n\r\n", head);
    }

    [Fact]
    public void RequestHead_KeepAliveOff_ConnectionCloseAndNotReusable()
    {
        var fixture = ForwardingFixture.Create("GET / HTTP/1.1\r\nHost: a\r\n\r\n", l => l.ProxyPass("http://backend"));

        var head = fixture.UpstreamHead(out bool reusable, keepAlive: false);

        Assert.Equal("GET / HTTP/1.1\r\nHost: backend\r\nConnection: close\r\n\r\n", head);
        Assert.False(reusable);
    }

    [Fact]
    public void RequestHead_Http10Upstream_VersionAndConnectionClose()
    {
        var fixture = ForwardingFixture.Create("GET / HTTP/1.1\r\nHost: a\r\n\r\n", l => l.ProxyPass("http://backend").ProxyHttpVersion("1.0"));

        var head = fixture.UpstreamHead(out bool reusable);

        Assert.Equal("GET / HTTP/1.0\r\nHost: backend\r\nConnection: close\r\n\r\n", head);
        Assert.False(reusable);
    }

    [Fact]
    public void RequestHead_Upgrade_PassedThroughByDefault()
    {
        var fixture = ForwardingFixture.Create(
            "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: k\r\n\r\n",
            l => l.ProxyPass("http://backend"));

        var head = fixture.UpstreamHead(upgrade: true);

        Assert.Equal("GET /ws HTTP/1.1\r\nHost: backend\r\nConnection: upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k\r\n\r\n", head);
    }

    [Fact]
    public void RequestHead_UpgradeWithoutConnectionToken_UpgradeDropped()
    {
        var fixture = ForwardingFixture.Create("GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n", l => l.ProxyPass("http://backend"));

        Assert.Equal("GET /ws HTTP/1.1\r\nHost: backend\r\n\r\n", fixture.UpstreamHead());
    }

    [Fact]
    public void RequestHead_ExplicitConnectionClose_NotReusable()
    {
        var fixture = ForwardingFixture.Create("GET / HTTP/1.1\r\nHost: a\r\n\r\n", l => l
            .ProxyPass("http://backend").ProxySetHeader("Upgrade", "$http_upgrade").ProxySetHeader("Connection", "$connection_upgrade"),
            b => b.Map("$http_upgrade", "connection_upgrade", "upgrade", ("", "close")));

        var head = fixture.UpstreamHead(out bool reusable);

        Assert.Equal("GET / HTTP/1.1\r\nConnection: close\r\nHost: backend\r\n\r\n", head);
        Assert.False(reusable);
    }

    [Fact]
    public void RequestHead_ProxyPassWithUri_PrefixReplacedQueryKept()
    {
        var fixture = ForwardingFixture.Create("GET /api/users/42?x=y HTTP/1.1\r\nHost: a\r\n\r\n",
            l => l.ProxyPass("http://backend/"), locationPattern: "/api/users/");

        Assert.StartsWith("GET /42?x=y HTTP/1.1\r\n", fixture.UpstreamHead());
    }

    [Fact]
    public void RequestHead_AbsoluteFormWithoutPath_SlashTarget()
    {
        var fixture = ForwardingFixture.Create("GET http://a.example HTTP/1.1\r\nHost: a.example\r\n\r\n", l => l.ProxyPass("http://backend"));

        Assert.StartsWith("GET / HTTP/1.1\r\n", fixture.UpstreamHead());
    }

    [Fact]
    public void ResponseHead_HopByHopAndHiddenDropped_OursAddedRestByteExact()
    {
        var fixture = ForwardingFixture.Create("GET / HTTP/1.1\r\nHost: a\r\n\r\n", l => l.ProxyPass("http://backend").AddHeader("X-Added", "$host"));

        var head = fixture.ClientHead(
            "HTTP/1.1 200 Very OK\r\nServer: origin\r\nDate: x\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: 5\r\n" +
            "X-Accel-Buffering: no\r\nX-Pad: avoid browser bug\r\nSet-Cookie:  a=1 \r\nTransfer-Encoding: chunked\r\n\r\n");

        Assert.StartsWith("HTTP/1.1 200 Very OK\r\nServer: fastproxy\r\nDate: ", head);
        Assert.EndsWith("\r\nSet-Cookie:  a=1\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\nX-Added: a\r\n\r\n", head);
        Assert.DoesNotContain("origin", head);
        Assert.DoesNotContain("X-Hop", head);
        Assert.DoesNotContain("Keep-Alive", head);
        Assert.DoesNotContain("X-Accel", head);
        Assert.DoesNotContain("X-Pad", head);
    }

    [Fact]
    public void ResponseHead_DecodedForHttp10_TransferEncodingDroppedAndClose()
    {
        var fixture = ForwardingFixture.Create("GET / HTTP/1.0\r\n\r\n", l => l.ProxyPass("http://backend"));

        var head = fixture.ClientHead("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", dropTransferEncoding: true, ClientConnectionMode.Close);

        Assert.DoesNotContain("Transfer-Encoding", head);
        Assert.EndsWith("Connection: close\r\n\r\n", head);
    }

    [Fact]
    public void ResponseHead_SwitchingProtocols_UpgradeKept()
    {
        var fixture = ForwardingFixture.Create("GET / HTTP/1.1\r\nHost: a\r\n\r\n", l => l.ProxyPass("http://backend"));

        var head = fixture.ClientHead("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", mode: ClientConnectionMode.Upgrade);

        Assert.Contains("\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n", head);
    }

    [Fact]
    public void ResponseHead_AddHeaderNotAlways_SkippedOnError()
    {
        var fixture = ForwardingFixture.Create("GET / HTTP/1.1\r\nHost: a\r\n\r\n", l => l.ProxyPass("http://backend").AddHeader("X-A", "1").AddHeader("X-B", "2", always: true));

        var head = fixture.ClientHead("HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n");

        Assert.DoesNotContain("X-A", head);
        Assert.Contains("X-B: 2\r\n", head);
    }
}
