using System.Buffers;
using System.Net;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using FastProxy.Http1;

namespace FastProxy.Http.Tests;

public sealed class RequestContextTests
{
    private static HttpRequestHead Parse(string request)
    {
        var head = new HttpRequestHead();
        var status = Http1Parser.ParseRequestHead(new ReadOnlySequence<byte>(Encoding.ASCII.GetBytes(request)), head,
            Http1ParserOptions.Default, out _, out _);
        Assert.Equal(Http1Status.Complete, status);
        return head;
    }

    private static RequestContext NewContext() =>
        new(IPEndPoint.Parse("192.0.2.7:51000"), IPEndPoint.Parse("127.0.0.1:8080"), connectionSerial: 1);

    [Fact]
    public void BeginRequest_NextRequestOfTheConnection_SameHeadBufferNewBytes()
    {
        var context = NewContext();
        context.BeginRequest(Parse("GET /first HTTP/1.1\r\nHost: a\r\n\r\n"));
        ref byte first = ref MemoryMarshal.GetReference(context.HeadBytes);
        context.EndRequest();

        context.BeginRequest(Parse("GET /second/longer HTTP/1.1\r\nHost: b\r\n\r\n"));

        // The block (pinned: its address is stable) stays with the connection between requests.
        Assert.True(Unsafe.AreSame(ref first, ref MemoryMarshal.GetReference(context.HeadBytes)));
        Assert.Equal("GET /second/longer HTTP/1.1\r\nHost: b\r\n\r\n", Encoding.ASCII.GetString(context.HeadBytes));
        context.UnbindConnection();
    }

    [Fact]
    public void EndRequest_HeadLargerThanABlock_NextSmallHeadTakesABlock()
    {
        var context = NewContext();
        var big = "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + new string('x', 9000) + "\r\n\r\n";
        context.BeginRequest(Parse(big));
        Assert.Equal(big, Encoding.ASCII.GetString(context.HeadBytes));
        context.EndRequest();

        context.BeginRequest(Parse("GET /small HTTP/1.1\r\nHost: a\r\n\r\n"));
        ref byte small = ref MemoryMarshal.GetReference(context.HeadBytes);
        context.EndRequest();
        context.BeginRequest(Parse("GET /again HTTP/1.1\r\nHost: a\r\n\r\n"));

        // The big head's ArrayPool buffer went back at the end of its request; the small heads share one block.
        Assert.True(Unsafe.AreSame(ref small, ref MemoryMarshal.GetReference(context.HeadBytes)));
        Assert.Equal("GET /again HTTP/1.1\r\nHost: a\r\n\r\n", Encoding.ASCII.GetString(context.HeadBytes));
        context.UnbindConnection();
    }
}
