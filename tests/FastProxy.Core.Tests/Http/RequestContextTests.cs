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

        // The context's own buffer (a new array only once) serves every usual head.
        Assert.True(Unsafe.AreSame(ref first, ref MemoryMarshal.GetReference(context.HeadBytes)));
        Assert.Equal("GET /second/longer HTTP/1.1\r\nHost: b\r\n\r\n", Encoding.ASCII.GetString(context.HeadBytes));
        context.UnbindConnection();
    }

    [Theory]
    [InlineData(3000)]  // a block of the pipes' pool
    [InlineData(9000)]  // beyond a block: ArrayPool
    public void EndRequest_BigHeadThenSmallOnes_BigBufferOnlyForItsRequestSmallOnesShareTheOwn(int fieldLength)
    {
        var context = NewContext();
        context.BeginRequest(Parse("GET /small HTTP/1.1\r\nHost: a\r\n\r\n"));
        ref byte own = ref MemoryMarshal.GetReference(context.HeadBytes);
        context.EndRequest();

        var big = "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + new string('x', fieldLength) + "\r\n\r\n";
        context.BeginRequest(Parse(big));
        Assert.Equal(big, Encoding.ASCII.GetString(context.HeadBytes));
        Assert.False(Unsafe.AreSame(ref own, ref MemoryMarshal.GetReference(context.HeadBytes)));
        context.EndRequest();

        context.BeginRequest(Parse("GET /again HTTP/1.1\r\nHost: a\r\n\r\n"));

        Assert.True(Unsafe.AreSame(ref own, ref MemoryMarshal.GetReference(context.HeadBytes)));
        Assert.Equal("GET /again HTTP/1.1\r\nHost: a\r\n\r\n", Encoding.ASCII.GetString(context.HeadBytes));
        context.UnbindConnection();
    }

    [Fact]
    public void UnbindConnection_ContextReusedForAnotherConnection_KeepsItsOwnBuffer()
    {
        var context = NewContext();
        context.BeginRequest(Parse("GET /first HTTP/1.1\r\nHost: a\r\n\r\n"));
        ref byte own = ref MemoryMarshal.GetReference(context.HeadBytes);
        context.UnbindConnection();

        context.BeginRequest(Parse("GET /other HTTP/1.1\r\nHost: b\r\n\r\n"));

        Assert.True(Unsafe.AreSame(ref own, ref MemoryMarshal.GetReference(context.HeadBytes)));
        Assert.Equal("GET /other HTTP/1.1\r\nHost: b\r\n\r\n", Encoding.ASCII.GetString(context.HeadBytes));
    }
}
