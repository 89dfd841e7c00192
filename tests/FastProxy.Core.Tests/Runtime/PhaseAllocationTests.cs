using System.Buffers;
using System.Text;
using FastProxy.Config;
using FastProxy.Core.Tests.Forwarding;
using FastProxy.Forwarding;
using FastProxy.Http1;
using FastProxy.Infrastructure;
using FastProxy.Runtime;

namespace FastProxy.Core.Tests.Runtime;

/// <summary>The request-phase work runs per request: after warm-up it must not allocate (measured, not timed).</summary>
public sealed class PhaseAllocationTests
{
    [Fact]
    public void RewriteWithoutCaptures_AccessCheckAndUpstreamHead_AllocateNothing()
    {
        var fixture = ForwardingFixture.Create("GET /old/page?a=1 HTTP/1.1\r\nHost: shop.example\r\n\r\n", l => l
            .Rewrite("^/(old|new)/", "/new/page?from=old?", RewriteFlag.Break)
            .Allow("192.0.2.0/24").Deny("all")
            .ProxyPass("http://backend/x/"));
        var context = fixture.Context;
        var rule = fixture.Runtime.Rewrites![0];
        var access = fixture.Runtime.Access!;
        var output = new ArrayBufferWriter<byte>(4096);
        bool denied = true;
        string? target = null;
        var step = RewriteStep.NoMatch;
        context.LocationInvalidated = true; // what "break" does in the connection's phase runner

        long bytes = ThreadAllocation.LeastOfThreeRounds(() =>
        {
            step = rule.Apply(context, captures: false, out _);
            denied = access.Denies(context.BinaryRemoteAddr);
            output.ResetWrittenCount();
            var writer = new BufferWriter(output);
            RequestHeadWriter.Write(ref writer, context, fixture.Location, fixture.Runtime, UpstreamBodyFraming.None, 0, false, true);
            writer.Commit();
        });
        target = Encoding.Latin1.GetString(output.WrittenSpan);

        Assert.Equal(0, bytes);
        Assert.Equal(RewriteStep.Rewritten, step);
        Assert.False(denied);
        Assert.StartsWith("GET /new/page?from=old HTTP/1.1\r\n", target);
    }

    [Fact]
    public void ResponseHead_DefaultProxyRedirectOnLocation_AllocatesNothing()
    {
        var fixture = ForwardingFixture.Create("GET /b/ HTTP/1.1\r\nHost: shop.example\r\n\r\n", l => l.ProxyPass("http://backend/x/"),
            locationPattern: "/b/");
        var response = new HttpResponseHead();
        Http1Parser.ParseResponseHead(new ReadOnlySequence<byte>("HTTP/1.1 302 Found\r\nLocation: http://backend/x/y\r\nContent-Length: 0\r\n\r\n"u8.ToArray()),
            response, Http1ParserOptions.Default, out _, out _);
        var date = new DateHeader(TimeProvider.System);
        var output = new ArrayBufferWriter<byte>(4096);

        long bytes = ThreadAllocation.LeastOfThreeRounds(() =>
        {
            output.ResetWrittenCount();
            var writer = new BufferWriter(output);
            ResponseHeadWriter.Write(ref writer, response, fixture.Runtime, date, fixture.Context, false, ClientConnectionMode.KeepAlive);
            writer.Commit();
        });

        Assert.Equal(0, bytes);
        Assert.Contains("\r\nLocation: http://shop.example:8080/b/y\r\n", Encoding.Latin1.GetString(output.WrittenSpan));
    }
}
