using System.Buffers;
using static FastProxy.Http1.Tests.ParseHelper;
using static FastProxy.Http1.Tests.TestSequences;

namespace FastProxy.Http1.Tests;

/// <summary>Heads that arrive in pieces: every prefix, every split, byte by byte, with and without the resume hint.</summary>
public class IncrementalParsingTests
{
    // Bytes after the head that must never be consumed (a pipelined request or a body).
    private const string After = "NEXT";

    private static readonly Http1ParserOptions BareLf = new() { AllowBareLf = true };

    public static TheoryData<int> RequestSamples => Indexes(Samples.Requests.Length);

    public static TheoryData<int> ResponseSamples => Indexes(Samples.Responses.Length);

    [Theory]
    [MemberData(nameof(RequestSamples))]
    public void ParseRequestHead_EveryPrefix_IncompleteAndConsumesNothing(int sample)
    {
        byte[] data = Bytes(Samples.Requests[sample]);
        for (int length = 0; length < data.Length; length++)
        {
            Outcome outcome = Request(Single(data[..length]));
            Assert.True(outcome.Status == Http1Status.Incomplete, $"prefix {length}: {outcome.Status}");
            Assert.Equal(0, outcome.Consumed);
            Assert.Equal(length, outcome.Examined);
        }
        Assert.Equal(Http1Status.Complete, Request(Single(data)).Status);
    }

    [Theory]
    [MemberData(nameof(ResponseSamples))]
    public void ParseResponseHead_EveryPrefix_IncompleteAndConsumesNothing(int sample)
    {
        byte[] data = Bytes(Samples.Responses[sample]);
        for (int length = 0; length < data.Length; length++)
        {
            Outcome outcome = Response(Single(data[..length]));
            Assert.True(outcome.Status == Http1Status.Incomplete, $"prefix {length}: {outcome.Status}");
            Assert.Equal(0, outcome.Consumed);
            Assert.Equal(length, outcome.Examined);
        }
        Assert.Equal(Http1Status.Complete, Response(Single(data)).Status);
    }

    [Theory]
    [MemberData(nameof(RequestSamples))]
    public void ParseRequestHead_EveryPrefixWithBareLfAllowed_Incomplete(int sample)
    {
        byte[] data = Bytes(Samples.Requests[sample].Replace("\r\n", "\n"));
        for (int length = 0; length < data.Length; length++)
        {
            Assert.Equal(Http1Status.Incomplete, Request(Single(data[..length]), BareLf).Status);
        }
        Assert.Equal(Http1Status.Complete, Request(Single(data), BareLf).Status);
    }

    [Theory]
    [MemberData(nameof(RequestSamples))]
    public void ParseRequestHead_EverySplitInTwo_MatchesSingleSegment(int sample)
    {
        byte[] data = Bytes(Samples.Requests[sample] + After);
        Outcome expected = Request(Single(data));
        Assert.Equal(Http1Status.Complete, expected.Status);
        Assert.Equal(data.Length - After.Length, expected.Consumed);
        for (int cut = 0; cut <= data.Length; cut++)
        {
            Assert.Equal(expected, Request(Split(data, cut)));
        }
    }

    [Theory]
    [MemberData(nameof(ResponseSamples))]
    public void ParseResponseHead_EverySplitInTwo_MatchesSingleSegment(int sample)
    {
        byte[] data = Bytes(Samples.Responses[sample] + After);
        Outcome expected = Response(Single(data));
        Assert.Equal(Http1Status.Complete, expected.Status);
        for (int cut = 0; cut <= data.Length; cut++)
        {
            Assert.Equal(expected, Response(Split(data, cut)));
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(2)]
    [InlineData(9)]
    [InlineData(10)]
    public void ParseRequestHead_EverySplitInThree_MatchesSingleSegment(int sample)
    {
        byte[] data = Bytes(Samples.Requests[sample] + After);
        Outcome expected = Request(Single(data));
        for (int a = 0; a <= data.Length; a++)
        {
            for (int b = a; b <= data.Length; b++)
            {
                Assert.Equal(expected, Request(Split(data, a, b)));
            }
        }
    }

    [Theory]
    [MemberData(nameof(RequestSamples))]
    public void ParseRequestHead_OneBytePerSegment_MatchesSingleSegment(int sample)
    {
        byte[] data = Bytes(Samples.Requests[sample] + After);
        Assert.Equal(Request(Single(data)), Request(BytePerSegment(data)));
    }

    [Theory]
    [MemberData(nameof(ResponseSamples))]
    public void ParseResponseHead_OneBytePerSegment_MatchesSingleSegment(int sample)
    {
        byte[] data = Bytes(Samples.Responses[sample] + After);
        Assert.Equal(Response(Single(data)), Response(BytePerSegment(data)));
    }

    [Theory]
    [MemberData(nameof(RequestSamples))]
    public void ParseRequestHead_EverySplitWithBareLfAllowed_MatchesSingleSegment(int sample)
    {
        byte[] data = Bytes(Samples.Requests[sample].Replace("\r\n", "\n") + After);
        Outcome expected = Request(Single(data), BareLf);
        Assert.Equal(Http1Status.Complete, expected.Status);
        for (int cut = 0; cut <= data.Length; cut++)
        {
            Assert.Equal(expected, Request(Split(data, cut), BareLf));
        }
    }

    /// <summary>How a connection loop drives the parser: the buffer grows by one read at a time.</summary>
    [Theory]
    [MemberData(nameof(RequestSamples))]
    public void ParseRequestHead_ArrivingByteByByteWithHint_MatchesWhole(int sample)
    {
        byte[] data = Bytes(Samples.Requests[sample] + After);
        Outcome expected = Request(Single(data));
        foreach (bool multiSegment in new[] { false, true })
        {
            long previous = 0;
            Outcome outcome = default;
            for (int length = 1; length <= data.Length; length++)
            {
                ReadOnlySequence<byte> input = multiSegment ? BytePerSegment(data[..length]) : Single(data[..length]);
                outcome = Request(input, previouslyExamined: previous);
                if (outcome.Status != Http1Status.Incomplete)
                {
                    break;
                }
                previous = outcome.Examined;
            }
            Assert.Equal(expected with { Examined = outcome.Examined }, outcome);
        }
    }

    [Theory]
    [MemberData(nameof(ResponseSamples))]
    public void ParseResponseHead_ArrivingByteByByteWithHint_MatchesWhole(int sample)
    {
        byte[] data = Bytes(Samples.Responses[sample] + After);
        Outcome expected = Response(Single(data));
        long previous = 0;
        Outcome outcome = default;
        for (int length = 1; length <= data.Length; length++)
        {
            outcome = Response(Single(data[..length]), previouslyExamined: previous);
            if (outcome.Status != Http1Status.Incomplete)
            {
                break;
            }
            previous = outcome.Examined;
        }
        Assert.Equal(expected, outcome);
    }

    [Theory]
    [MemberData(nameof(RequestSamples))]
    public void ParseRequestHead_ArrivingByteByByteWithHintAndBareLf_MatchesWhole(int sample)
    {
        byte[] data = Bytes(Samples.Requests[sample].Replace("\r\n", "\n") + After);
        Outcome expected = Request(Single(data), BareLf);
        long previous = 0;
        Outcome outcome = default;
        for (int length = 1; length <= data.Length; length++)
        {
            outcome = Request(Single(data[..length]), BareLf, previous);
            if (outcome.Status != Http1Status.Incomplete)
            {
                break;
            }
            previous = outcome.Examined;
        }
        Assert.Equal(expected, outcome);
    }

    /// <summary>Rejections found while the head is still incomplete must not be missed because of the hint.</summary>
    [Theory]
    [InlineData("GET / HTTP/1.1\r\nX: a\nHost: a\r\n\r\n", Http1Status.BareLF)]
    [InlineData("GET / HTTP/1.1\r\nHost: a\r\n\r\r\n\r\n", Http1Status.BareCR)]
    [InlineData("GET / HTTP/1.1\r\nX: a\rb\r\nHost: a\r\n\r\n", Http1Status.BareCR)]
    [InlineData("GET / HTTP/2.0\r\nHost: a\r\n\r\n", Http1Status.HttpVersionNotSupported)]
    [InlineData("GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", Http1Status.InvalidRequestTarget)]
    [InlineData("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", Http1Status.MultipleHost)]
    public void ParseRequestHead_InvalidArrivingByteByByteWithHint_SameRejection(string text, Http1Status expected)
    {
        byte[] data = Bytes(text);
        long previous = 0;
        Http1Status status = Http1Status.Incomplete;
        for (int length = 1; length <= data.Length && status == Http1Status.Incomplete; length++)
        {
            Outcome outcome = Request(Single(data[..length]), previouslyExamined: previous);
            status = outcome.Status;
            previous = outcome.Examined;
        }
        Assert.Equal(expected, status);
    }

    [Fact]
    public void ParseRequestHead_HintLargerThanInput_Clamped()
    {
        byte[] data = Bytes(Samples.Requests[0]);
        Assert.Equal(Http1Status.Complete, Request(Single(data), previouslyExamined: 10_000).Status);
        Assert.Equal(Http1Status.Complete, Request(Single(data), previouslyExamined: -5).Status);
    }

    [Fact]
    public void ParseRequestHead_HeadInFirstSegmentBodyInNext_RawSlicesFirstSegment()
    {
        byte[] head = Bytes(Samples.Requests[2]);
        ReadOnlySequence<byte> input = FromSegments(head, Bytes("{\"a\":1}"));
        var parsed = new HttpRequestHead();
        Outcome outcome = Request(input, head: parsed);
        Assert.Equal(Http1Status.Complete, outcome.Status);
        Assert.Equal(head.Length, outcome.Consumed);
        Assert.Equal(head, parsed.Raw.ToArray());
    }

    [Fact]
    public void ParseRequestHead_IncompleteMultiSegmentPastLimit_431()
    {
        byte[] data = Bytes("GET / HTTP/1.1\r\nHost: a\r\nX: " + new string('a', 200));
        var options = new Http1ParserOptions { MaxHeadSize = 100 };
        Assert.Equal(Http1Status.HeadTooLarge, Request(Split(data, 50, 120), options).Status);
        Assert.Equal(Http1Status.Incomplete, Request(Split(data[..99], 50), options).Status);
    }

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
