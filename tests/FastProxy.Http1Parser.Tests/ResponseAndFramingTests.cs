using static FastProxy.Http1.Tests.ParseHelper;

namespace FastProxy.Http1.Tests;

public class ResponseHeadTests
{
    [Fact]
    public void ParseResponseHead_Typical_ReportsStatusReasonAndFraming()
    {
        HttpResponseHead head = ParsedResponse("HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\n");
        Assert.Equal(404, head.StatusCode);
        Assert.Equal("Not Found", TestSequences.Text(head.Reason));
        Assert.Equal(Http1Version.Http11, head.Version);
        Assert.Equal(9, head.ContentLength);
        Assert.Equal(ConnectionOptions.Close, head.Connection);
        Assert.False(head.KeepAlive);
    }

    [Theory]
    [InlineData("HTTP/1.1 200 OK\r\n\r\n", 200, "OK")]
    [InlineData("HTTP/1.1 200 \r\n\r\n", 200, "")]
    [InlineData("HTTP/1.1 200\r\n\r\n", 200, "")]                     // no SP: accepted, documented
    [InlineData("HTTP/1.0 599 Whatever\tit is \u00e9\r\n\r\n", 599, "Whatever\tit is \u00e9")]
    [InlineData("HTTP/1.1 100 Continue\r\n\r\n", 100, "Continue")]
    public void ParseResponseHead_StatusLines_Accepted(string text, int code, string reason)
    {
        HttpResponseHead head = ParsedResponse(text);
        Assert.Equal(code, head.StatusCode);
        Assert.Equal(reason, TestSequences.Text(head.Reason));
    }

    [Fact]
    public void ParseResponseHead_HostAndExpectFields_NotInterpreted()
    {
        HttpResponseHead head = ParsedResponse("HTTP/1.1 200 OK\r\nHost: a b\r\nHost: c\r\nExpect: nonsense\r\n\r\n");
        Assert.Equal(3, head.FieldCount);
        Assert.Equal(KnownField.Host, head.Fields[0].Known);
    }

    [Fact]
    public void ParseResponseHead_Http10_NotKeepAliveByDefault()
    {
        Assert.False(ParsedResponse("HTTP/1.0 200 OK\r\n\r\n").KeepAlive);
        Assert.True(ParsedResponse("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n").KeepAlive);
    }

    [Fact]
    public void ParseResponseHead_LeadingEmptyLine_Rejected()
    {
        // The leniency of RFC 9112 §2.2 is for servers reading a request line only.
        Assert.True(Response("\r\nHTTP/1.1 200 OK\r\n\r\n").Status.IsError());
    }
}

public class BodyFramingTests
{
    [Theory]
    [InlineData("GET / HTTP/1.1\r\nHost: a\r\n\r\n", BodyKind.None, 0)]
    [InlineData("POST / HTTP/1.1\r\nHost: a\r\n\r\n", BodyKind.None, 0)]       // RFC 9112 §6.3 rule 7: no body
    [InlineData("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", BodyKind.None, 0)]
    [InlineData("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 42\r\n\r\n", BodyKind.ContentLength, 42)]
    [InlineData("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 7\r\n\r\n", BodyKind.ContentLength, 7)]
    [InlineData("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", BodyKind.Chunked, -1)]
    [InlineData("POST / HTTP/1.0\r\nContent-Length: 3\r\n\r\n", BodyKind.ContentLength, 3)]
    [InlineData("CONNECT a:1 HTTP/1.1\r\nHost: a:1\r\n\r\n", BodyKind.None, 0)]
    public void ForRequest_Framing_PerRfc9112Section6(string text, BodyKind kind, long length)
    {
        Assert.Equal(kind, Http1BodyFraming.ForRequest(ParsedRequest(text), out long contentLength));
        Assert.Equal(length, contentLength);
    }

    [Theory]
    [InlineData("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", Http1Method.Get, BodyKind.ContentLength, 5)]
    [InlineData("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", Http1Method.Get, BodyKind.None, 0)]
    [InlineData("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", Http1Method.Post, BodyKind.Chunked, -1)]
    [InlineData("HTTP/1.1 200 OK\r\n\r\n", Http1Method.Get, BodyKind.UntilClose, -1)]
    [InlineData("HTTP/1.0 200 OK\r\n\r\n", Http1Method.Get, BodyKind.UntilClose, -1)]
    [InlineData("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", Http1Method.Head, BodyKind.None, 0)]
    [InlineData("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", Http1Method.Head, BodyKind.None, 0)]
    [InlineData("HTTP/1.1 100 Continue\r\n\r\n", Http1Method.Put, BodyKind.None, 0)]
    [InlineData("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", Http1Method.Get, BodyKind.None, 0)]
    [InlineData("HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n", Http1Method.Get, BodyKind.None, 0)]
    [InlineData("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", Http1Method.Delete, BodyKind.None, 0)]
    [InlineData("HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n", Http1Method.Get, BodyKind.None, 0)]
    [InlineData("HTTP/1.1 200 Connection established\r\n\r\n", Http1Method.Connect, BodyKind.None, 0)]
    [InlineData("HTTP/1.1 299 Odd\r\n\r\n", Http1Method.Connect, BodyKind.None, 0)]
    [InlineData("HTTP/1.1 407 Proxy Auth\r\nContent-Length: 3\r\n\r\n", Http1Method.Connect, BodyKind.ContentLength, 3)]
    [InlineData("HTTP/1.1 205 Reset Content\r\n\r\n", Http1Method.Get, BodyKind.UntilClose, -1)]
    public void ForResponse_Framing_PerRfc9112Section6(string text, Http1Method method, BodyKind kind, long length)
    {
        Assert.Equal(kind, Http1BodyFraming.ForResponse(ParsedResponse(text), method, out long contentLength));
        Assert.Equal(length, contentLength);
    }
}
