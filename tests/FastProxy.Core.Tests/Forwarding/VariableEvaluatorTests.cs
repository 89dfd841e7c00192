namespace FastProxy.Core.Tests.Forwarding;

public sealed class VariableEvaluatorTests
{
    private static ForwardingFixture Request(string fields = "", string target = "/a/b?x=1&Y=2", Action<ProxyConfigBuilder>? more = null) =>
        ForwardingFixture.Create($"GET {target} HTTP/1.1\r\nHost: Www.Example.COM:8080\r\n{fields}\r\n", l => l.ProxyPass("http://backend"), more);

    [Theory]
    [InlineData("$host", "www.example.com")]
    [InlineData("$http_host", "Www.Example.COM:8080")]
    [InlineData("$remote_addr", "192.0.2.7")]
    [InlineData("$remote_port", "51000")]
    [InlineData("$server_addr", "127.0.0.1")]
    [InlineData("$server_port", "8080")]
    [InlineData("$server_name", "example.org")]
    [InlineData("$scheme", "http")]
    [InlineData("$https", "")]
    [InlineData("$server_protocol", "HTTP/1.1")]
    [InlineData("$request_method", "GET")]
    [InlineData("$request_uri", "/a/b?x=1&Y=2")]
    [InlineData("$uri", "/a/b")]
    [InlineData("$document_uri", "/a/b")]
    [InlineData("$args", "x=1&Y=2")]
    [InlineData("$query_string", "x=1&Y=2")]
    [InlineData("$is_args", "?")]
    [InlineData("$arg_x", "1")]
    [InlineData("$arg_y", "2")]
    [InlineData("$arg_z", "")]
    [InlineData("$request", "GET /a/b?x=1&Y=2 HTTP/1.1")]
    [InlineData("$proxy_host", "backend")]
    [InlineData("$connection", "3")]
    [InlineData("$connection_requests", "1")]
    [InlineData("$no_such_variable", "")]
    [InlineData("pre-${host}-post", "pre-www.example.com-post")]
    public void Evaluate_Variable_Value(string template, string expected)
    {
        Assert.Equal(expected, Request().Evaluate(template));
    }

    [Fact]
    public void Evaluate_BinaryRemoteAddr_FourBytes()
    {
        Assert.Equal("\xC0\x00\x02\x07", Request().Evaluate("$binary_remote_addr"));
    }

    [Fact]
    public void Evaluate_HttpHeader_CaseInsensitiveWithDashes()
    {
        var fixture = Request("X-Custom-Thing: v1\r\nUser-Agent: ua\r\nReferer: r\r\nContent-Type: text/x\r\n");

        Assert.Equal("v1", fixture.Evaluate("$http_x_custom_thing"));
        Assert.Equal("ua", fixture.Evaluate("$http_user_agent"));
        Assert.Equal("r", fixture.Evaluate("$http_referer"));
        Assert.Equal("text/x", fixture.Evaluate("$content_type"));
        Assert.Equal("", fixture.Evaluate("$http_absent"));
    }

    [Fact]
    public void Evaluate_Cookie_FoundAmongSeveral()
    {
        var fixture = Request("Cookie: a=1; session=abc; b=2\r\n");

        Assert.Equal("abc", fixture.Evaluate("$cookie_session"));
        Assert.Equal("2", fixture.Evaluate("$cookie_b"));
        Assert.Equal("", fixture.Evaluate("$cookie_c"));
    }

    [Fact]
    public void Evaluate_ProxyAddXForwardedFor_NoIncoming_RemoteAddr()
    {
        Assert.Equal("192.0.2.7", Request().Evaluate("$proxy_add_x_forwarded_for"));
    }

    [Fact]
    public void Evaluate_ProxyAddXForwardedFor_SeveralIncoming_JoinedThenRemoteAddr()
    {
        var fixture = Request("X-Forwarded-For: 10.0.0.1, 10.0.0.2\r\nx-forwarded-for: 10.0.0.3\r\n");

        Assert.Equal("10.0.0.1, 10.0.0.2, 10.0.0.3, 192.0.2.7", fixture.Evaluate("$proxy_add_x_forwarded_for"));
    }

    [Fact]
    public void Evaluate_NoQuery_ArgsAndIsArgsEmpty()
    {
        var fixture = Request(target: "/p");

        Assert.Equal("", fixture.Evaluate("$args"));
        Assert.Equal("", fixture.Evaluate("$is_args"));
        Assert.Equal("/p", fixture.Evaluate("$uri$is_args$args"));
    }

    [Fact]
    public void Evaluate_Map_ExactCaseInsensitiveDefaultAndEmpty()
    {
        void Maps(ProxyConfigBuilder b) => b.Map("$http_upgrade", "connection_upgrade", "upgrade", ("", "close"));

        Assert.Equal("upgrade", Request("Upgrade: WebSocket\r\nConnection: upgrade\r\n", more: Maps).Evaluate("$connection_upgrade"));
        Assert.Equal("close", Request(more: Maps).Evaluate("$connection_upgrade"));
    }

    [Fact]
    public void Evaluate_MapWithRegexAndVariables_FirstMatchingEntry()
    {
        void Maps(ProxyConfigBuilder b) => b
            .Map("$uri", "tier", "default-$host", ("/exact", "exact"), ("~^/api/", "api-$arg_x"), ("~*\\.PNG$", "image"))
            .Map("$tier", "tier_upper", "other", ("api-1", "API ONE"));

        Assert.Equal("api-1", Request(target: "/api/v1?x=1", more: Maps).Evaluate("$tier"));
        Assert.Equal("image", Request(target: "/a/b.png", more: Maps).Evaluate("$tier"));
        Assert.Equal("exact", Request(target: "/exact", more: Maps).Evaluate("$tier"));
        Assert.Equal("default-www.example.com", Request(target: "/x", more: Maps).Evaluate("$tier"));
        Assert.Equal("API ONE", Request(target: "/api/v1?x=1", more: Maps).Evaluate("$tier_upper"));
    }

    [Fact]
    public void Evaluate_MapCycle_EmptyInsteadOfHanging()
    {
        void Maps(ProxyConfigBuilder b) => b.Map("$b", "a", "$b").Map("$a", "b", "$a");

        Assert.Equal("", Request(more: Maps).Evaluate("$a"));
    }

    [Fact]
    public void Evaluate_NoHost_ServerNameForHost()
    {
        var fixture = ForwardingFixture.Create("GET / HTTP/1.0\r\n\r\n", l => l.ProxyPass("http://backend"));

        Assert.Equal("example.org", fixture.Evaluate("$host"));
        Assert.Equal("HTTP/1.0", fixture.Evaluate("$server_protocol"));
    }

    [Fact]
    public void Evaluate_Ipv6Host_BracketsKeptPortDropped()
    {
        var fixture = ForwardingFixture.Create("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", l => l.ProxyPass("http://backend"));

        Assert.Equal("[::1]", fixture.Evaluate("$host"));
    }
}
