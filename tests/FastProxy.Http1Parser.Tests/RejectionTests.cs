using static FastProxy.Http1.Tests.ParseHelper;

namespace FastProxy.Http1.Tests;

/// <summary>Every rule, rejected: each input gets its own status value and HTTP code.</summary>
public class RejectionTests
{
    private const string H = "Host: a\r\n";

    // (request head, expected status). Control bytes are written \u00XX: C#'s \x takes up to four hex digits.
    public static readonly (string Input, Http1Status Status)[] Requests =
    [
        // Request line (RFC 9112 §3)
        ("GET /\r\n" + H + "\r\n", Http1Status.InvalidRequestLine),                 // HTTP/0.9 style
        ("GET HTTP/1.1\r\n" + H + "\r\n", Http1Status.InvalidRequestLine),
        ("GET  / HTTP/1.1\r\n" + H + "\r\n", Http1Status.InvalidRequestLine),
        ("GET /  HTTP/1.1\r\n" + H + "\r\n", Http1Status.InvalidRequestLine),
        ("GET / HTTP/1.1 \r\n" + H + "\r\n", Http1Status.InvalidRequestLine),
        ("GET\t/ HTTP/1.1\r\n" + H + "\r\n", Http1Status.InvalidRequestLine),
        ("GET\r\n" + H + "\r\n", Http1Status.InvalidRequestLine),
        ("\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\n" + H + "\r\n", Http1Status.InvalidRequestLine),
        (" GET / HTTP/1.1\r\n" + H + "\r\n", Http1Status.InvalidMethod),
        ("G(T / HTTP/1.1\r\n" + H + "\r\n", Http1Status.InvalidMethod),
        ("G\u00C9T / HTTP/1.1\r\n" + H + "\r\n", Http1Status.InvalidMethod),
        ("GET\u0000 / HTTP/1.1\r\n" + H + "\r\n", Http1Status.InvalidMethod),
        ("\u0016\u0003\u0001\u0002\u0000\u0001\u0000\u0001\u00fc\u0003\u0003", Http1Status.InvalidMethod), // a TLS ClientHello, rejected before any LF
        ("GET / http/1.1\r\n" + H + "\r\n", Http1Status.InvalidVersion),
        ("GET / HTTP/1.10\r\n" + H + "\r\n", Http1Status.InvalidVersion),
        ("GET / HTTP/1\r\n" + H + "\r\n", Http1Status.InvalidVersion),
        ("GET / HTTP/11.1\r\n" + H + "\r\n", Http1Status.InvalidVersion),
        ("GET / HTTP/1.x\r\n" + H + "\r\n", Http1Status.InvalidVersion),
        ("GET / HTTP/1.1 x\r\n" + H + "\r\n", Http1Status.InvalidVersion),
        ("GET / HTTP/2.0\r\n" + H + "\r\n", Http1Status.HttpVersionNotSupported),
        ("GET / HTTP/1.2\r\n" + H + "\r\n", Http1Status.HttpVersionNotSupported),
        ("GET / HTTP/0.9\r\n" + H + "\r\n", Http1Status.HttpVersionNotSupported),
        ("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", Http1Status.HttpVersionNotSupported),    // the HTTP/2 preface
        // Request target (RFC 9112 §3.2)
        ("GET /a#b HTTP/1.1\r\n" + H + "\r\n", Http1Status.InvalidRequestTarget),
        ("GET /a\u007f HTTP/1.1\r\n" + H + "\r\n", Http1Status.InvalidRequestTarget),
        ("GET /caf\u00e9 HTTP/1.1\r\n" + H + "\r\n", Http1Status.InvalidRequestTarget),
        ("GET /a\u0000 HTTP/1.1\r\n" + H + "\r\n", Http1Status.InvalidRequestTarget),
        ("GET /a\u0001b HTTP/1.1\r\n" + H + "\r\n", Http1Status.InvalidRequestTarget),
        ("GET /a b HTTP/1.1\r\n" + H + "\r\n", Http1Status.InvalidRequestTarget),
        ("GET /%zz HTTP/1.1\r\n" + H + "\r\n", Http1Status.InvalidRequestTarget),
        ("GET /%4 HTTP/1.1\r\n" + H + "\r\n", Http1Status.InvalidRequestTarget),
        ("GET /100% HTTP/1.1\r\n" + H + "\r\n", Http1Status.InvalidRequestTarget),
        ("GET a/b HTTP/1.1\r\n" + H + "\r\n", Http1Status.InvalidRequestTarget),
        ("GET ftp://example.com/ HTTP/1.1\r\n" + H + "\r\n", Http1Status.InvalidRequestTarget),
        ("GET http:///p HTTP/1.1\r\n" + H + "\r\n", Http1Status.InvalidRequestTarget),
        ("GET http://user:pw@example.com/ HTTP/1.1\r\n" + H + "\r\n", Http1Status.InvalidRequestTarget),
        ("GET http://exa mple/ HTTP/1.1\r\n" + H + "\r\n", Http1Status.InvalidRequestTarget),
        ("GET http://a:99999/ HTTP/1.1\r\n" + H + "\r\n", Http1Status.InvalidRequestTarget),
        ("GET http://[zz]/ HTTP/1.1\r\n" + H + "\r\n", Http1Status.InvalidRequestTarget),
        ("GET http://a/%zz HTTP/1.1\r\n" + H + "\r\n", Http1Status.InvalidRequestTarget),
        ("CONNECT example.com HTTP/1.1\r\n" + H + "\r\n", Http1Status.InvalidRequestTarget),
        ("CONNECT example.com: HTTP/1.1\r\n" + H + "\r\n", Http1Status.InvalidRequestTarget),
        ("CONNECT example.com:65536 HTTP/1.1\r\n" + H + "\r\n", Http1Status.InvalidRequestTarget),
        ("CONNECT user@example.com:443 HTTP/1.1\r\n" + H + "\r\n", Http1Status.InvalidRequestTarget),
        ("GET example.com:80 HTTP/1.1\r\n" + H + "\r\n", Http1Status.TargetFormNotAllowed),
        ("GET * HTTP/1.1\r\n" + H + "\r\n", Http1Status.TargetFormNotAllowed),
        ("CONNECT / HTTP/1.1\r\n" + H + "\r\n", Http1Status.TargetFormNotAllowed),
        ("CONNECT * HTTP/1.1\r\n" + H + "\r\n", Http1Status.TargetFormNotAllowed),
        ("CONNECT http://a:1/ HTTP/1.1\r\n" + H + "\r\n", Http1Status.TargetFormNotAllowed),
        ("OPTIONS a:1 HTTP/1.1\r\n" + H + "\r\n", Http1Status.TargetFormNotAllowed),
        // Line structure (RFC 9112 §2.2)
        ("GET / HT\rTP/1.1\r\n" + H + "\r\n", Http1Status.BareCR),
        ("GET / HTTP/1.1\r\nX: a\rb\r\n" + H + "\r\n", Http1Status.BareCR),
        ("GET / HTTP/1.1\r\nX\r: a\r\n" + H + "\r\n", Http1Status.BareCR),
        ("GET / HTTP/1.1\r\n" + H + "\r\r\n", Http1Status.BareCR),
        ("\rGET / HTTP/1.1\r\n" + H + "\r\n", Http1Status.BareCR),
        ("GET / HTTP/1.1\n" + H + "\r\n", Http1Status.BareLF),
        ("GET / HTTP/1.1\r\nX: a\n" + H + "\r\n", Http1Status.BareLF),
        ("GET / HTTP/1.1\r\n" + H + "\n", Http1Status.BareLF),
        ("\nGET / HTTP/1.1\r\n" + H + "\r\n", Http1Status.BareLF),
        ("GET / HTTP/1.1\r\nX: a\r\n b\r\n" + H + "\r\n", Http1Status.ObsoleteLineFolding),
        ("GET / HTTP/1.1\r\nX: a\r\n\tb\r\n" + H + "\r\n", Http1Status.ObsoleteLineFolding),
        ("GET / HTTP/1.1\r\n Host: a\r\n\r\n", Http1Status.WhitespaceAfterStartLine),
        ("GET / HTTP/1.1\r\n\tX: a\r\n" + H + "\r\n", Http1Status.WhitespaceAfterStartLine),
        // Field names and values (RFC 9112 §5, RFC 9110 §5)
        ("GET / HTTP/1.1\r\nHost : a\r\n\r\n", Http1Status.WhitespaceBeforeColon),
        ("GET / HTTP/1.1\r\n" + H + "Transfer-Encoding\t: chunked\r\n\r\n", Http1Status.WhitespaceBeforeColon),
        ("GET / HTTP/1.1\r\n" + H + ": a\r\n\r\n", Http1Status.EmptyFieldName),
        ("GET / HTTP/1.1\r\n" + H + "Ho st: a\r\n\r\n", Http1Status.InvalidFieldName),
        ("GET / HTTP/1.1\r\n" + H + "X-(: a\r\n\r\n", Http1Status.InvalidFieldName),
        ("GET / HTTP/1.1\r\n" + H + "X\u0000: a\r\n\r\n", Http1Status.InvalidFieldName),
        ("GET / HTTP/1.1\r\n" + H + "X\u00e9: a\r\n\r\n", Http1Status.InvalidFieldName),
        ("GET / HTTP/1.1\r\n" + H + "NoColon\r\n\r\n", Http1Status.MissingFieldColon),
        ("GET / HTTP/1.1\r\n" + H + "X: a\u0000b\r\n\r\n", Http1Status.InvalidFieldValue),
        ("GET / HTTP/1.1\r\n" + H + "X: a\u007fb\r\n\r\n", Http1Status.InvalidFieldValue),
        ("GET / HTTP/1.1\r\n" + H + "X: a\u000bb\r\n\r\n", Http1Status.InvalidFieldValue),
        ("GET / HTTP/1.1\r\n" + H + "X: \u001f\r\n\r\n", Http1Status.InvalidFieldValue),
        ("GET / HTTP/1.1\r\n" + H + "X: \u0000\r\n\r\n", Http1Status.InvalidFieldValue),
        // Host (RFC 9112 §3.2, RFC 9110 §7.2)
        ("GET / HTTP/1.1\r\n\r\n", Http1Status.MissingHost),
        ("GET / HTTP/1.1\r\nX-Host: a\r\n\r\n", Http1Status.MissingHost),
        ("GET http://a/ HTTP/1.1\r\n\r\n", Http1Status.MissingHost),
        ("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", Http1Status.MultipleHost),
        ("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", Http1Status.MultipleHost),
        ("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", Http1Status.MultipleHost),
        ("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", Http1Status.InvalidHost),
        ("GET / HTTP/1.1\r\nHost: a,b c\r\n\r\n", Http1Status.InvalidHost),
        ("GET / HTTP/1.1\r\nHost: a:b\r\n\r\n", Http1Status.InvalidHost),
        ("GET / HTTP/1.1\r\nHost: a:65536\r\n\r\n", Http1Status.InvalidHost),
        ("GET / HTTP/1.1\r\nHost: a:000080\r\n\r\n", Http1Status.InvalidHost),
        ("GET / HTTP/1.1\r\nHost: user@a\r\n\r\n", Http1Status.InvalidHost),
        ("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", Http1Status.InvalidHost),
        ("GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", Http1Status.InvalidHost),
        ("GET / HTTP/1.1\r\nHost: []\r\n\r\n", Http1Status.InvalidHost),
        ("GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n", Http1Status.InvalidHost),
        ("GET / HTTP/1.1\r\nHost: :80\r\n\r\n", Http1Status.InvalidHost),
        ("GET / HTTP/1.1\r\nHost: a%zz\r\n\r\n", Http1Status.InvalidHost),
        ("GET / HTTP/1.1\r\nHost: caf\u00e9\r\n\r\n", Http1Status.InvalidHost),
        // Content-Length (RFC 9110 §8.6)
        ("POST / HTTP/1.1\r\n" + H + "Content-Length: \r\n\r\n", Http1Status.InvalidContentLength),
        ("POST / HTTP/1.1\r\n" + H + "Content-Length: +5\r\n\r\n", Http1Status.InvalidContentLength),
        ("POST / HTTP/1.1\r\n" + H + "Content-Length: -5\r\n\r\n", Http1Status.InvalidContentLength),
        ("POST / HTTP/1.1\r\n" + H + "Content-Length: 5 5\r\n\r\n", Http1Status.InvalidContentLength),
        ("POST / HTTP/1.1\r\n" + H + "Content-Length: 0x5\r\n\r\n", Http1Status.InvalidContentLength),
        ("POST / HTTP/1.1\r\n" + H + "Content-Length: 5a\r\n\r\n", Http1Status.InvalidContentLength),
        ("POST / HTTP/1.1\r\n" + H + "Content-Length: 1.0\r\n\r\n", Http1Status.InvalidContentLength),
        ("POST / HTTP/1.1\r\n" + H + "Content-Length: 5\u00a0\r\n\r\n", Http1Status.InvalidContentLength),
        ("POST / HTTP/1.1\r\n" + H + "Content-Length: 5, 5\r\n\r\n", Http1Status.MultipleContentLength),
        ("POST / HTTP/1.1\r\n" + H + "Content-Length: 5,6\r\n\r\n", Http1Status.MultipleContentLength),
        ("POST / HTTP/1.1\r\n" + H + "Content-Length: 5\r\nContent-Length: 5\r\n\r\n", Http1Status.MultipleContentLength),
        ("POST / HTTP/1.1\r\n" + H + "Content-Length: 5\r\ncontent-length: 6\r\n\r\n", Http1Status.MultipleContentLength),
        ("POST / HTTP/1.1\r\n" + H + "Content-Length: 9223372036854775808\r\n\r\n", Http1Status.ContentLengthOverflow),
        ("POST / HTTP/1.1\r\n" + H + "Content-Length: 99999999999999999999\r\n\r\n", Http1Status.ContentLengthOverflow),
        // Transfer-Encoding (RFC 9112 §6.1, §6.3)
        ("POST / HTTP/1.1\r\n" + H + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", Http1Status.ContentLengthWithTransferEncoding),
        ("POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", Http1Status.ContentLengthWithTransferEncoding),
        ("POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n", Http1Status.ContentLengthWithTransferEncoding),
        ("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", Http1Status.TransferEncodingInHttp10),
        ("POST / HTTP/1.0\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", Http1Status.TransferEncodingInHttp10),
        ("POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: \r\n\r\n", Http1Status.InvalidTransferEncoding),
        ("POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked,\r\n\r\n", Http1Status.InvalidTransferEncoding),
        ("POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: , chunked\r\n\r\n", Http1Status.InvalidTransferEncoding),
        ("POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked, chunked\r\n\r\n", Http1Status.InvalidTransferEncoding),
        ("POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", Http1Status.InvalidTransferEncoding),
        ("POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked;q=1\r\n\r\n", Http1Status.InvalidTransferEncoding),
        ("POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: chunk ed\r\n\r\n", Http1Status.InvalidTransferEncoding),
        ("POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: \"chunked\"\r\n\r\n", Http1Status.InvalidTransferEncoding),
        ("POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: \u000bchunked\r\n\r\n", Http1Status.InvalidFieldValue),
        ("POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\u0000\r\n\r\n", Http1Status.InvalidFieldValue),
        ("POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked, identity\r\n\r\n", Http1Status.ChunkedNotFinal),
        ("POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n", Http1Status.ChunkedNotFinal),
        ("POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: xchunked\r\n\r\n", Http1Status.UnknownTransferCoding),
        ("POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: chunkedx\r\n\r\n", Http1Status.UnknownTransferCoding),
        ("POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: identity\r\n\r\n", Http1Status.UnknownTransferCoding),
        ("POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: identity, chunked\r\n\r\n", Http1Status.UnknownTransferCoding),
        ("POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: gzip\r\n\r\n", Http1Status.UnsupportedTransferCoding),
        ("POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: gzip, chunked\r\n\r\n", Http1Status.UnsupportedTransferCoding),
        ("POST / HTTP/1.1\r\n" + H + "Transfer-Encoding: x-gzip;level=1\r\n\r\n", Http1Status.UnsupportedTransferCoding),
        // Connection (RFC 9110 §7.6.1), Expect (RFC 9110 §10.1.1), CONNECT (RFC 9110 §9.3.6)
        ("GET / HTTP/1.1\r\n" + H + "Connection: close, foo bar\r\n\r\n", Http1Status.InvalidConnection),
        ("GET / HTTP/1.1\r\n" + H + "Connection: \"close\"\r\n\r\n", Http1Status.InvalidConnection),
        ("PUT / HTTP/1.1\r\n" + H + "Expect: 200-ok\r\n\r\n", Http1Status.ExpectationFailed),
        ("PUT / HTTP/1.1\r\n" + H + "Expect: 100-continue, foo\r\n\r\n", Http1Status.ExpectationFailed),
        ("PUT / HTTP/1.0\r\nExpect: 100-continue=1\r\n\r\n", Http1Status.ExpectationFailed),
        ("CONNECT a:443 HTTP/1.1\r\n" + H + "Content-Length: 5\r\n\r\n", Http1Status.ConnectWithBody),
        ("CONNECT a:443 HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\n\r\n", Http1Status.ConnectWithBody),
    ];

    public static readonly (string Input, Http1Status Status)[] Responses =
    [
        ("HTTP/1.1 200OK\r\n\r\n", Http1Status.InvalidStatusLine),
        ("HTTP/1.1 20 OK\r\n\r\n", Http1Status.InvalidStatusLine),
        ("HTTP/1.1 2000 OK\r\n\r\n", Http1Status.InvalidStatusLine),
        ("HTTP/1.1  200 OK\r\n\r\n", Http1Status.InvalidStatusLine),
        ("HTTP/1.1 2x0 OK\r\n\r\n", Http1Status.InvalidStatusLine),
        ("HTTP/1.1\r\n\r\n", Http1Status.InvalidStatusLine),
        ("HTTP/1.1 200 O\u0001K\r\n\r\n", Http1Status.InvalidStatusLine),
        ("HTTP/1.1 200 O\u007fK\r\n\r\n", Http1Status.InvalidStatusLine),
        ("HTTP/1.1 099 Low\r\n\r\n", Http1Status.InvalidStatusCode),
        ("HTTP/1.1 600 High\r\n\r\n", Http1Status.InvalidStatusCode),
        ("HTTP/1.1 000 Zero\r\n\r\n", Http1Status.InvalidStatusCode),
        ("http/1.1 200 OK\r\n\r\n", Http1Status.InvalidVersion),
        ("HTTP/2 200 OK\r\n\r\n", Http1Status.InvalidVersion),
        ("ICY 200 OK\r\n\r\n", Http1Status.InvalidVersion),
        ("HTTP/2.0 200 OK\r\n\r\n", Http1Status.HttpVersionNotSupported),
        ("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", Http1Status.ContentLengthWithTransferEncoding),
        ("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", Http1Status.TransferEncodingInHttp10),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", Http1Status.UnsupportedTransferCoding),
        ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, foo\r\n\r\n", Http1Status.ChunkedNotFinal),
        ("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", Http1Status.MultipleContentLength),
        ("HTTP/1.1 200 OK\r\nX : y\r\n\r\n", Http1Status.WhitespaceBeforeColon),
        ("HTTP/1.1 200 OK\r\nX: y\r\n z\r\n\r\n", Http1Status.ObsoleteLineFolding),
        ("HTTP/1.1 200 OK\nX: y\r\n\r\n", Http1Status.BareLF),
        ("HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n", Http1Status.BareCR),
        ("HTTP/1.1 200 OK\r\nX: a\u0000\r\n\r\n", Http1Status.InvalidFieldValue),
    ];

    public static TheoryData<int> RequestCases => Indexes(Requests.Length);

    public static TheoryData<int> ResponseCases => Indexes(Responses.Length);

    [Theory]
    [MemberData(nameof(RequestCases))]
    public void ParseRequestHead_RejectedInput_ReturnsItsStatusAndNothingConsumed(int index)
    {
        (string input, Http1Status expected) = Requests[index];
        Outcome outcome = Request(input);
        Assert.Equal(expected, outcome.Status);
        Assert.True(outcome.Status.IsError());
        Assert.Equal(0, outcome.Consumed);
        Assert.Equal(ExpectedCode(expected), outcome.Status.ToStatusCode());
    }

    [Theory]
    [MemberData(nameof(RequestCases))]
    public void ParseRequestHead_RejectedInputByteBySegment_SameStatus(int index)
    {
        (string input, Http1Status expected) = Requests[index];
        Assert.Equal(expected, Request(TestSequences.BytePerSegment(TestSequences.Bytes(input))).Status);
    }

    [Theory]
    [MemberData(nameof(ResponseCases))]
    public void ParseResponseHead_RejectedInput_ReturnsItsStatusAnd502Upstream(int index)
    {
        (string input, Http1Status expected) = Responses[index];
        Outcome outcome = Response(input);
        Assert.Equal(expected, outcome.Status);
        Assert.Equal(0, outcome.Consumed);
        Assert.Equal(502, outcome.Status.ToUpstreamStatusCode());
        Assert.Equal(expected, Response(TestSequences.BytePerSegment(TestSequences.Bytes(input))).Status);
    }

    [Fact]
    public void ParseRequestHead_TooManyFields_431()
    {
        string fields = string.Concat(Enumerable.Range(0, 100).Select(i => $"X-{i}: {i}\r\n"));
        Outcome outcome = Request($"GET / HTTP/1.1\r\nHost: a\r\n{fields}\r\n");
        Assert.Equal(Http1Status.TooManyFields, outcome.Status);
        Assert.Equal(431, outcome.Status.ToStatusCode());
    }

    [Fact]
    public void ParseRequestHead_HeadLargerThanLimit_431()
    {
        string big = new('a', Http1ParserOptions.DefaultMaxHeadSize);
        Outcome outcome = Request($"GET / HTTP/1.1\r\nHost: a\r\nX: {big}\r\n\r\n");
        Assert.Equal(Http1Status.HeadTooLarge, outcome.Status);
        Assert.Equal(431, outcome.Status.ToStatusCode());
    }

    [Fact]
    public void ParseRequestHead_IncompleteHeadPastLimit_431WithoutWaitingForTheEnd()
    {
        string big = new('a', Http1ParserOptions.DefaultMaxHeadSize);
        Assert.Equal(Http1Status.HeadTooLarge, Request($"GET / HTTP/1.1\r\nHost: a\r\nX: {big}").Status);
    }

    [Fact]
    public void ParseRequestHead_RequestLineLongerThanLimit_414()
    {
        string target = "/" + new string('a', Http1ParserOptions.DefaultMaxRequestLineLength);
        Outcome outcome = Request($"GET {target} HTTP/1.1\r\nHost: a\r\n\r\n");
        Assert.Equal(Http1Status.RequestLineTooLong, outcome.Status);
        Assert.Equal(414, outcome.Status.ToStatusCode());
    }

    [Fact]
    public void ParseRequestHead_IncompleteRequestLinePastLimit_414WithoutWaitingForLf()
    {
        string target = "/" + new string('a', Http1ParserOptions.DefaultMaxRequestLineLength);
        Assert.Equal(Http1Status.RequestLineTooLong, Request($"GET {target}").Status);
    }

    [Fact]
    public void ParseResponseHead_LargerThanLimit_Rejected()
    {
        string big = new('a', 100);
        Assert.Equal(Http1Status.HeadTooLarge, Response($"HTTP/1.1 200 OK\r\nX: {big}\r\n\r\n", new Http1ParserOptions { MaxHeadSize = 64 }).Status);
    }

    [Theory]
    [InlineData("GET / HTTP/1.1\r\nX: a\n")]                   // a bare LF in a complete line, head not complete
    [InlineData("GET / HTTP/1.1\n")]
    [InlineData("GET / HTTP/2.0\r\n")]                          // a complete start line is checked at once
    [InlineData("GET /a#b HTTP/1.1\r\nHost: a\r\n")]
    [InlineData("\u0016\u0003\u0001")]
    public void ParseRequestHead_IncompleteButAlreadyInvalid_RejectedEarly(string input)
    {
        Assert.True(Request(input).Status.IsError());
    }

    [Fact]
    public void ParseResponseHead_GarbageBeforeAnyLf_RejectedEarly()
    {
        Assert.Equal(Http1Status.InvalidVersion, Response("<html>").Status);
    }

    /// <summary>Every rejection value is produced by at least one test input (heads here, chunked bodies in ChunkedDecoderTests).</summary>
    [Fact]
    public void Http1Status_EveryRejection_IsCoveredByATest()
    {
        var covered = new HashSet<Http1Status>(Requests.Select(r => r.Status).Concat(Responses.Select(r => r.Status)));
        covered.UnionWith(ChunkedDecoderTests.Rejections.Select(r => r.Status));
        covered.UnionWith([Http1Status.TooManyFields, Http1Status.HeadTooLarge, Http1Status.RequestLineTooLong]);
        foreach (Http1Status status in Enum.GetValues<Http1Status>().Where(s => s.IsError()))
        {
            Assert.True(covered.Contains(status), $"{status} has no test input");
        }
    }

    [Fact]
    public void ToStatusCode_EveryStatus_MapsToAnAllowedCode()
    {
        foreach (Http1Status status in Enum.GetValues<Http1Status>())
        {
            int code = status.ToStatusCode();
            if (status.IsError())
            {
                Assert.Contains(code, new[] { 400, 414, 417, 431, 501, 505 });
                Assert.Equal(502, status.ToUpstreamStatusCode());
            }
            else
            {
                Assert.Equal(0, code);
                Assert.Equal(0, status.ToUpstreamStatusCode());
            }
        }
    }

    private static int ExpectedCode(Http1Status status) => status switch
    {
        Http1Status.RequestLineTooLong => 414,
        Http1Status.HeadTooLarge or Http1Status.TooManyFields or Http1Status.TrailerTooLarge => 431,
        Http1Status.ExpectationFailed => 417,
        Http1Status.UnknownTransferCoding or Http1Status.UnsupportedTransferCoding => 501,
        Http1Status.HttpVersionNotSupported => 505,
        _ => 400,
    };

    private static TheoryData<int> Indexes(int count)
    {
        var data = new TheoryData<int>();
        for (int i = 0; i < count; i++)
        {
            data.Add(i);
        }
        return data;
    }
}
