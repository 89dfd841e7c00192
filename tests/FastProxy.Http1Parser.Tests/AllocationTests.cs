using System.Buffers;
using static FastProxy.Http1.Tests.TestSequences;

namespace FastProxy.Http1.Tests;

/// <summary>DESIGN.md: steady state allocates nothing per message. Measured on this thread's allocation counter.</summary>
public class AllocationTests
{
    private const int Rounds = 200;

    [Fact]
    public void ParseRequestHead_SteadyState_AllocatesNothing()
    {
        var head = new HttpRequestHead();
        ReadOnlySequence<byte> single = Single(Bytes(Samples.Browser));
        ReadOnlySequence<byte> multi = Split(Bytes(Samples.Browser), 100, 300);
        ReadOnlySequence<byte> partial = Split(Bytes(Samples.Browser[..300]), 100);
        void Parse()
        {
            Check(Http1Status.Complete, Http1Parser.ParseRequestHead(single, head, Http1ParserOptions.Default, out _, out _));
            Check(Http1Status.Complete, Http1Parser.ParseRequestHead(multi, head, Http1ParserOptions.Default, out _, out _));
            Check(Http1Status.Incomplete, Http1Parser.ParseRequestHead(partial, head, Http1ParserOptions.Default, 150, out _, out _));
        }
        Assert.Equal(0, AllocatedBy(Parse));
    }

    [Fact]
    public void ParseResponseHead_SteadyState_AllocatesNothing()
    {
        var head = new HttpResponseHead();
        ReadOnlySequence<byte> input = Single(Bytes(Samples.Responses[^1]));
        void Parse()
        {
            Check(Http1Status.Complete, Http1Parser.ParseResponseHead(input, head, Http1ParserOptions.Default, out _, out _));
            Http1BodyFraming.ForResponse(head, Http1Method.Get, out _);
        }
        Assert.Equal(0, AllocatedBy(Parse));
    }

    [Fact]
    public void ParseRequestHead_Rejection_AllocatesNothing()
    {
        var head = new HttpRequestHead();
        ReadOnlySequence<byte> input = Single(Bytes("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"));
        void Parse() => Check(Http1Status.ContentLengthWithTransferEncoding, Http1Parser.ParseRequestHead(input, head, Http1ParserOptions.Default, out _, out _));
        Assert.Equal(0, AllocatedBy(Parse));
    }

    [Fact]
    public void Decode_SteadyState_AllocatesNothing()
    {
        ReadOnlySequence<byte> body = Split(Bytes(Samples.ChunkedBodies[1]), 10, 30);
        void Decode()
        {
            var decoder = new ChunkedDecoder(Http1ParserOptions.Default);
            ReadOnlySequence<byte> input = body;
            Http1Status status;
            do
            {
                status = decoder.Decode(input, out _, out SequencePosition consumed, out _);
                input = input.Slice(consumed);
            }
            while (status == Http1Status.Incomplete);
            Check(Http1Status.Complete, status);
        }
        Assert.Equal(0, AllocatedBy(Decode));
    }

    /// <summary>Throws on a wrong status without allocating on success (xunit's Assert.Equal allocates).</summary>
    private static void Check(Http1Status expected, Http1Status actual)
    {
        if (expected != actual)
        {
            throw new InvalidOperationException($"expected {expected}, got {actual}");
        }
    }

    private static long AllocatedBy(Action action)
    {
        for (int i = 0; i < Rounds; i++)
        {
            action(); // warm up: grow the head's buffers, let the JIT settle
        }
        // The least of three measurements: a one-off allocation on this thread (the JIT promoting a method to its
        // next tier mid-run) is not the parser's; the parser allocating per call would show in all three.
        long least = long.MaxValue;
        for (int measurement = 0; measurement < 3; measurement++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < Rounds; i++)
            {
                action();
            }
            least = Math.Min(least, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        return least;
    }
}
