using System.Buffers;
using static FastProxy.Http1.Tests.ParseHelper;
using static FastProxy.Http1.Tests.TestSequences;

namespace FastProxy.Http1.Tests;

/// <summary>What a valid request head reports.</summary>
public class RequestHeadTests
{
    [Fact]
    public void ParseRequestHead_SimpleGet_ReportsStartLineAndHost()
    {
        const string text = "GET /a/b?c=d&e HTTP/1.1\r\nHost: example.com\r\n\r\n";
        HttpRequestHead head = ParsedRequest(text);
        Assert.Equal(Http1Method.Get, head.Method);
        Assert.Equal("GET", Text(head.MethodBytes));
        Assert.Equal(RequestTargetForm.Origin, head.TargetForm);
        Assert.Equal("/a/b?c=d&e", Text(head.Target));
        Assert.Equal("/a/b", Text(head.Path));
        Assert.Equal("c=d&e", Text(head.Query));
        Assert.Equal(Http1Version.Http11, head.Version);
        Assert.Equal("example.com", Text(head.Host));
        Assert.Equal(0, head.HostFieldIndex);
        Assert.Equal(-1, head.AuthorityOffset);
        Assert.Equal(-1, head.ContentLength);
        Assert.False(head.IsChunked);
        Assert.Equal(ConnectionOptions.None, head.Connection);
        Assert.True(head.KeepAlive);
        Assert.Equal(text.Length, head.HeadLength);
        Assert.Equal(text.Length, head.Raw.Length);
        Assert.Equal(1, head.FieldCount);
        Assert.Equal(KnownField.Host, head.Fields[0].Known);
    }

    [Fact]
    public void ParseRequestHead_HeadFollowedByBody_ConsumesOnlyTheHead()
    {
        const string head = "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n";
        Outcome outcome = Request(head + "hello");
        Assert.Equal(Http1Status.Complete, outcome.Status);
        Assert.Equal(head.Length, outcome.Consumed);
        Assert.Equal(head.Length, outcome.Examined);
    }

    [Fact]
    public void ParseRequestHead_NoQuery_QueryOffsetIsMinusOne()
    {
        HttpRequestHead head = ParsedRequest("GET /p HTTP/1.1\r\nHost: a\r\n\r\n");
        Assert.Equal(-1, head.QueryOffset);
        Assert.True(head.Query.IsEmpty);
    }

    [Fact]
    public void ParseRequestHead_EmptyQuery_QueryPresentAndEmpty()
    {
        HttpRequestHead head = ParsedRequest("GET /p? HTTP/1.1\r\nHost: a\r\n\r\n");
        Assert.True(head.QueryOffset > 0);
        Assert.Equal(0, head.QueryLength);
        Assert.Equal("/p", Text(head.Path));
    }

    [Fact]
    public void ParseRequestHead_QueryWithRawBytesAndBadEscape_KeptRaw()
    {
        HttpRequestHead head = ParsedRequest("GET /p%20q?a=100%&b=%zz|^{} HTTP/1.1\r\nHost: a\r\n\r\n");
        Assert.Equal("/p%20q", Text(head.Path));
        Assert.Equal("a=100%&b=%zz|^{}", Text(head.Query));
    }

    [Theory]
    [InlineData("GET", Http1Method.Get)]
    [InlineData("HEAD", Http1Method.Head)]
    [InlineData("POST", Http1Method.Post)]
    [InlineData("PUT", Http1Method.Put)]
    [InlineData("DELETE", Http1Method.Delete)]
    [InlineData("OPTIONS", Http1Method.Options)]
    [InlineData("TRACE", Http1Method.Trace)]
    [InlineData("PATCH", Http1Method.Patch)]
    [InlineData("PURGE", Http1Method.Custom)]
    [InlineData("get", Http1Method.Custom)] // RFC 9110 §9.1: methods are case-sensitive
    [InlineData("M-SEARCH", Http1Method.Custom)]
    [InlineData("!#$%&'*+-.^_`|~", Http1Method.Custom)]
    public void ParseRequestHead_Method_IdentifiedCaseSensitively(string method, Http1Method expected)
    {
        HttpRequestHead head = ParsedRequest($"{method} / HTTP/1.1\r\nHost: a\r\n\r\n");
        Assert.Equal(expected, head.Method);
        Assert.Equal(method, Text(head.MethodBytes));
    }

    [Fact]
    public void ParseRequestHead_AbsoluteForm_AuthorityWinsOverHost()
    {
        HttpRequestHead head = ParsedRequest("GET HTTP://Example.com:8080/a/b?c=d HTTP/1.1\r\nHost: other.example\r\n\r\n");
        Assert.Equal(RequestTargetForm.Absolute, head.TargetForm);
        Assert.Equal("Example.com:8080", Text(head.Host));
        Assert.Equal("/a/b", Text(head.Path));
        Assert.Equal("c=d", Text(head.Query));
        Assert.Equal(0, head.HostFieldIndex);
    }

    [Theory]
    [InlineData("http://a", "", "<none>")]
    [InlineData("https://a?x", "", "x")]
    [InlineData("http://a/", "/", "<none>")]
    [InlineData("http://[::1]:80/p", "/p", "<none>")]
    public void ParseRequestHead_AbsoluteFormPaths_SplitAfterAuthority(string target, string path, string query)
    {
        HttpRequestHead head = ParsedRequest($"GET {target} HTTP/1.1\r\nHost: a\r\n\r\n");
        Assert.Equal(RequestTargetForm.Absolute, head.TargetForm);
        Assert.Equal(path, Text(head.Path));
        Assert.Equal(query, head.QueryOffset < 0 ? "<none>" : Text(head.Query));
    }

    [Fact]
    public void ParseRequestHead_Connect_AuthorityForm()
    {
        HttpRequestHead head = ParsedRequest("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
        Assert.Equal(Http1Method.Connect, head.Method);
        Assert.Equal(RequestTargetForm.Authority, head.TargetForm);
        Assert.Equal("example.com:443", Text(head.Host));
        Assert.True(head.Path.IsEmpty);
    }

    [Fact]
    public void ParseRequestHead_OptionsAsterisk_AsteriskForm()
    {
        HttpRequestHead head = ParsedRequest("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n");
        Assert.Equal(RequestTargetForm.Asterisk, head.TargetForm);
        Assert.Equal("*", Text(head.Path));
    }

    [Fact]
    public void ParseRequestHead_Http10WithoutHost_Accepted()
    {
        HttpRequestHead head = ParsedRequest("GET / HTTP/1.0\r\n\r\n");
        Assert.Equal(Http1Version.Http10, head.Version);
        Assert.Equal(-1, head.HostFieldIndex);
        Assert.True(head.Host.IsEmpty);
        Assert.False(head.KeepAlive);
    }

    [Fact]
    public void ParseRequestHead_Http10KeepAlive_KeepsAlive()
    {
        Assert.True(ParsedRequest("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").KeepAlive);
    }

    [Fact]
    public void ParseRequestHead_EmptyHost_Accepted()
    {
        HttpRequestHead head = ParsedRequest("GET / HTTP/1.1\r\nHost:\r\n\r\n");
        Assert.Equal(0, head.HostFieldIndex);
        Assert.True(head.Host.IsEmpty);
    }

    [Theory]
    [InlineData("a")]
    [InlineData("example.com:")]
    [InlineData("example.com:0")]
    [InlineData("example.com:65535")]
    [InlineData("127.0.0.1:8080")]
    [InlineData("[::1]")]
    [InlineData("[2001:db8::7]:443")]
    [InlineData("[::ffff:192.0.2.1]")]
    [InlineData("[v1.fe80::a+en1]")]
    [InlineData("xn--bcher-kva.example")]
    [InlineData("a%41b")]
    [InlineData("a_b-c~d!$&'()*+,;=")]
    public void ParseRequestHead_ValidHostValues_Accepted(string host)
    {
        Assert.Equal(host, Text(ParsedRequest($"GET / HTTP/1.1\r\nHost: {host}\r\n\r\n").Host));
    }

    [Fact]
    public void ParseRequestHead_FieldValues_TrimmedOfOwsAndKeepObsText()
    {
        HttpRequestHead head = ParsedRequest("GET / HTTP/1.1\r\nHost: a\r\nX-Tab:\t v1\t v2 \t\r\nX-Empty:\r\nX-Spaces:    \r\nX-Obs: caf\xe9\xff\r\n\r\n");
        Assert.Equal("v1\t v2", Text(head.GetValue(head.Fields[1])));
        Assert.Equal("", Text(head.GetValue(head.Fields[2])));
        Assert.Equal("", Text(head.GetValue(head.Fields[3])));
        Assert.Equal("caf\xe9\xff", Text(head.GetValue(head.Fields[4])));
        Assert.Equal("X-Tab", Text(head.GetName(head.Fields[1])));
    }

    [Fact]
    public void ParseRequestHead_FieldLines_LineLengthCoversTrailingOws()
    {
        HttpRequestHead head = ParsedRequest("GET / HTTP/1.1\r\nHost: a \t\r\nX-Empty:\r\n\r\n");
        HttpField host = head.Fields[0];
        Assert.Equal("Host: a \t", Text(head.Raw.Span.Slice(host.LineOffset, host.LineLength)));
        HttpField empty = head.Fields[1];
        Assert.Equal("X-Empty:", Text(head.Raw.Span.Slice(empty.LineOffset, empty.LineLength)));
    }

    [Theory]
    [InlineData("Host", KnownField.Host)]
    [InlineData("hOST", KnownField.Host)]
    [InlineData("content-LENGTH", KnownField.ContentLength)]
    [InlineData("Transfer-Encoding", KnownField.TransferEncoding)]
    [InlineData("CONNECTION", KnownField.Connection)]
    [InlineData("upgrade", KnownField.Upgrade)]
    [InlineData("Expect", KnownField.Expect)]
    [InlineData("Keep-Alive", KnownField.KeepAlive)]
    [InlineData("Proxy-Connection", KnownField.ProxyConnection)]
    [InlineData("te", KnownField.TE)]
    [InlineData("Trailer", KnownField.Trailer)]
    [InlineData("Transfer_Encoding", KnownField.Other)]
    [InlineData("Content-Lengths", KnownField.Other)]
    [InlineData("X-Host", KnownField.Other)]
    public void IdentifyField_Names_MatchedCaseInsensitively(string name, KnownField expected)
    {
        Assert.Equal(expected, Http1Parser.IdentifyField(Bytes(name)));
    }

    [Theory]
    [InlineData("0", 0)]
    [InlineData("5", 5)]
    [InlineData("00005", 5)]
    [InlineData("9223372036854775807", long.MaxValue)]
    [InlineData("0000000000000000000000000042", 42)]
    public void ParseRequestHead_ContentLength_Parsed(string value, long expected)
    {
        Assert.Equal(expected, ParsedRequest($"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: {value}\r\n\r\n").ContentLength);
    }

    [Theory]
    [InlineData("chunked")]
    [InlineData("Chunked")]
    [InlineData("CHUNKED")]
    [InlineData("  chunked \t")]
    [InlineData("\tchunked")]
    public void ParseRequestHead_TransferEncodingChunked_IsChunked(string value)
    {
        HttpRequestHead head = ParsedRequest($"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:{value}\r\n\r\n");
        Assert.True(head.IsChunked);
        Assert.Equal(-1, head.ContentLength);
    }

    [Theory]
    [InlineData("close", ConnectionOptions.Close)]
    [InlineData("Keep-Alive", ConnectionOptions.KeepAlive)]
    [InlineData("upgrade", ConnectionOptions.Upgrade)]
    [InlineData("close, X-Foo", ConnectionOptions.Close | ConnectionOptions.Other)]
    [InlineData("keep-alive , Upgrade,,", ConnectionOptions.KeepAlive | ConnectionOptions.Upgrade)]
    [InlineData("", ConnectionOptions.None)]
    public void ParseRequestHead_ConnectionTokens_Flagged(string value, ConnectionOptions expected)
    {
        Assert.Equal(expected, ParsedRequest($"GET / HTTP/1.1\r\nHost: a\r\nConnection: {value}\r\n\r\n").Connection);
    }

    [Fact]
    public void ParseRequestHead_SeveralConnectionFields_Combined()
    {
        HttpRequestHead head = ParsedRequest("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\nConnection: X-A\r\nX-A: 1\r\nX-B: 2\r\n\r\n");
        Assert.Equal(ConnectionOptions.Close | ConnectionOptions.Other, head.Connection);
        Assert.False(head.KeepAlive);
        Assert.True(head.IsListedInConnection("x-a"u8));
        Assert.False(head.IsListedInConnection("X-B"u8));
    }

    [Fact]
    public void IsListedInConnection_NoOtherToken_False()
    {
        HttpRequestHead head = ParsedRequest("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
        Assert.False(head.IsListedInConnection("close"u8));
    }

    [Fact]
    public void ParseRequestHead_Upgrade_IndexOfFirstUpgradeField()
    {
        HttpRequestHead head = ParsedRequest("GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nUpgrade: h2c\r\n\r\n");
        Assert.Equal(2, head.UpgradeFieldIndex);
        Assert.Equal(ConnectionOptions.Upgrade, head.Connection);
    }

    [Theory]
    [InlineData("HTTP/1.1", "100-continue", true)]
    [InlineData("HTTP/1.1", "100-Continue", true)]
    [InlineData("HTTP/1.1", " 100-continue , ", true)]
    [InlineData("HTTP/1.1", "", false)]
    [InlineData("HTTP/1.0", "100-continue", false)] // RFC 9110 §10.1.1: ignored in HTTP/1.0
    public void ParseRequestHead_Expect_ContinueFlag(string version, string value, bool expected)
    {
        Assert.Equal(expected, ParsedRequest($"PUT / {version}\r\nHost: a\r\nExpect: {value}\r\n\r\n").ExpectContinue);
    }

    [Fact]
    public void ParseRequestHead_LeadingEmptyLines_SkippedAndConsumed()
    {
        const string text = "\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
        var head = new HttpRequestHead();
        Outcome outcome = Request(Single(Bytes(text)), head: head);
        Assert.Equal(Http1Status.Complete, outcome.Status);
        Assert.Equal(text.Length, outcome.Consumed);
        Assert.Equal(text.Length - 8, head.HeadLength);
        Assert.Equal("GET", Text(head.MethodBytes));
    }

    [Fact]
    public void ParseRequestHead_ExactlyMaxFields_Accepted()
    {
        string fields = string.Concat(Enumerable.Range(0, 99).Select(i => $"X-{i}: {i}\r\n"));
        Assert.Equal(100, ParsedRequest($"GET / HTTP/1.1\r\nHost: a\r\n{fields}\r\n").FieldCount);
    }

    [Fact]
    public void ParseRequestHead_HeadObjectSmallerThanOptionLimit_GrowsFieldList()
    {
        string fields = string.Concat(Enumerable.Range(0, 40).Select(i => $"X-{i}: {i}\r\n"));
        var head = new HttpRequestHead(maxFieldCount: 4);
        Outcome outcome = Request(Single(Bytes($"GET / HTTP/1.1\r\nHost: a\r\n{fields}\r\n")), head: head);
        Assert.Equal(Http1Status.Complete, outcome.Status);
        Assert.Equal(41, head.FieldCount);
        Assert.Equal("39", Text(head.GetValue(head.Fields[40])));
    }

    [Fact]
    public void ParseRequestHead_RequestLineAtLimit_Accepted()
    {
        var options = new Http1ParserOptions { MaxRequestLineLength = 64 };
        string target = "/" + new string('a', 64 - "GET  HTTP/1.1".Length - 1);
        string line = $"GET {target} HTTP/1.1";
        Assert.Equal(64, line.Length);
        Assert.Equal(Http1Status.Complete, Request($"{line}\r\nHost: a\r\n\r\n", options).Status);
        Assert.Equal(Http1Status.RequestLineTooLong, Request($"GET {target}a HTTP/1.1\r\nHost: a\r\n\r\n", options).Status);
    }

    [Fact]
    public void ParseRequestHead_HeadAtSizeLimit_Accepted()
    {
        const string text = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        Assert.Equal(Http1Status.Complete, Request(text, new Http1ParserOptions { MaxHeadSize = text.Length }).Status);
        Assert.Equal(Http1Status.HeadTooLarge, Request(text, new Http1ParserOptions { MaxHeadSize = text.Length - 1 }).Status);
    }

    [Fact]
    public void ParseRequestHead_ReusedHead_SecondParseDoesNotSeeFirst()
    {
        var head = new HttpRequestHead();
        Assert.Equal(Http1Status.Complete, Request(Single(Bytes("POST /a?b HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nConnection: close\r\n\r\n")), head: head).Status);
        Assert.Equal(Http1Status.Complete, Request(Single(Bytes("GET /c HTTP/1.1\r\nHost: b\r\n\r\n")), head: head).Status);
        Assert.Equal(-1, head.ContentLength);
        Assert.Equal(-1, head.QueryOffset);
        Assert.Equal(ConnectionOptions.None, head.Connection);
        Assert.Equal(1, head.FieldCount);
        Assert.Equal("b", Text(head.Host));
    }

    [Fact]
    public void ParseRequestHead_SingleSegment_RawIsASliceOfTheInput()
    {
        byte[] data = Bytes("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        var input = new ReadOnlySequence<byte>(data);
        var head = new HttpRequestHead();
        Assert.Equal(Http1Status.Complete, Http1Parser.ParseRequestHead(input, head, Http1ParserOptions.Default, out _, out _));
        Assert.True(System.Runtime.InteropServices.MemoryMarshal.TryGetArray(head.Raw, out ArraySegment<byte> segment));
        Assert.Same(data, segment.Array);
    }

    [Fact]
    public void ParseRequestHead_MultiSegment_RawIsACopy()
    {
        byte[] data = Bytes("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        ReadOnlySequence<byte> input = Split(data, 10);
        var head = new HttpRequestHead();
        Assert.Equal(Http1Status.Complete, Http1Parser.ParseRequestHead(input, head, Http1ParserOptions.Default, out _, out _));
        Assert.Equal(data, head.Raw.ToArray());
    }

    [Theory]
    [InlineData("GET / HTTP/1.1\nHost: a\n\n")]
    [InlineData("GET / HTTP/1.1\r\nHost: a\n\r\n")]
    [InlineData("GET / HTTP/1.1\nHost: a\r\n\n")]
    [InlineData("\nGET / HTTP/1.1\nHost: a\n\n")]
    public void ParseRequestHead_BareLfAllowed_Accepted(string text)
    {
        var options = new Http1ParserOptions { AllowBareLf = true };
        Outcome outcome = Request(text + "body", options);
        Assert.Equal(Http1Status.Complete, outcome.Status);
        Assert.Equal(text.Length, outcome.Consumed);
        Assert.Equal(Http1Status.BareLF, Request(text, Http1ParserOptions.Default).Status);
    }

    [Fact]
    public void ParseRequestHead_BareLfAllowed_ValuesExcludeCr()
    {
        HttpRequestHead head = ParsedRequest("GET / HTTP/1.1\nHost: a\r\nX: b\n\n", new Http1ParserOptions { AllowBareLf = true });
        Assert.Equal("a", Text(head.Host));
        Assert.Equal("b", Text(head.GetValue(head.Fields[1])));
    }
}
