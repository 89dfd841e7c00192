using System.Buffers;
using static FastProxy.Http1.Tests.TestSequences;

namespace FastProxy.Http1.Tests;

public class ChunkedDecoderTests
{
    /// <summary>What decoding a whole body produced.</summary>
    public readonly record struct Decoded(Http1Status Status, string Data, long Consumed);

    public static readonly (string Body, Http1Status Status)[] Rejections =
    [
        // chunk-size = 1*HEXDIG (RFC 9112 §7.1)
        ("0x5\r\nhello\r\n0\r\n\r\n", Http1Status.InvalidChunkSize),
        ("+5\r\nhello\r\n0\r\n\r\n", Http1Status.InvalidChunkSize),
        ("-5\r\nhello\r\n0\r\n\r\n", Http1Status.InvalidChunkSize),
        (" 5\r\nhello\r\n0\r\n\r\n", Http1Status.InvalidChunkSize),
        ("\r\nhello\r\n0\r\n\r\n", Http1Status.InvalidChunkSize),
        ("5 \r\nhello\r\n0\r\n\r\n", Http1Status.InvalidChunkSize),
        ("5\t\r\nhello\r\n0\r\n\r\n", Http1Status.InvalidChunkSize),
        ("5g\r\nhello\r\n0\r\n\r\n", Http1Status.InvalidChunkSize),
        ("5,5\r\nhello\r\n0\r\n\r\n", Http1Status.InvalidChunkSize),
        ("g\r\n", Http1Status.InvalidChunkSize),
        ("fffffffffffffffff\r\n", Http1Status.ChunkSizeOverflow),
        ("8000000000000000\r\n", Http1Status.ChunkSizeOverflow),
        // line endings: CRLF only, never bare LF (RFC 9112 §7.1; CVE-2025-22871)
        ("5\nhello\r\n0\r\n\r\n", Http1Status.BareLF),
        ("5\rhello\r\n0\r\n\r\n", Http1Status.BareCR),
        ("5\r\r\nhello\r\n0\r\n\r\n", Http1Status.BareCR),
        ("5;a\nhello\r\n0\r\n\r\n", Http1Status.BareLF),                  // CVE-2025-55315: LF ends an extension
        ("5;a=b\nhello\r\n0\r\n\r\n", Http1Status.BareLF),
        ("5;a=\"b\"\nhello\r\n0\r\n\r\n", Http1Status.BareLF),
        ("5;a\rhello\r\n0\r\n\r\n", Http1Status.BareCR),
        ("0\n\r\n", Http1Status.BareLF),
        // chunk-ext (RFC 9112 §7.1.1)
        ("5;a=\"x\ny\"\r\nhello\r\n0\r\n\r\n", Http1Status.InvalidChunkExtension),
        ("5;a=\"x\ry\"\r\nhello\r\n0\r\n\r\n", Http1Status.InvalidChunkExtension),
        ("5;a=\"x\u0000\"\r\nhello\r\n0\r\n\r\n", Http1Status.InvalidChunkExtension),
        ("5;a=\"x\\\n\"\r\nhello\r\n0\r\n\r\n", Http1Status.InvalidChunkExtension),
        ("5;\r\nhello\r\n0\r\n\r\n", Http1Status.InvalidChunkExtension),
        ("5;;a\r\nhello\r\n0\r\n\r\n", Http1Status.InvalidChunkExtension),
        ("5;a=\r\nhello\r\n0\r\n\r\n", Http1Status.InvalidChunkExtension),
        ("5;a b\r\nhello\r\n0\r\n\r\n", Http1Status.InvalidChunkExtension),
        ("5;a=b c\r\nhello\r\n0\r\n\r\n", Http1Status.InvalidChunkExtension),
        ("5;a=b \r\nhello\r\n0\r\n\r\n", Http1Status.InvalidChunkExtension),
        ("5;a \r\nhello\r\n0\r\n\r\n", Http1Status.InvalidChunkExtension),
        ("5;a=\"b\"c\r\nhello\r\n0\r\n\r\n", Http1Status.InvalidChunkExtension),
        ("5;a=b=c\r\nhello\r\n0\r\n\r\n", Http1Status.InvalidChunkExtension),
        ("5;(a)\r\nhello\r\n0\r\n\r\n", Http1Status.InvalidChunkExtension),
        ("5;a=\u00e9\r\nhello\r\n0\r\n\r\n", Http1Status.InvalidChunkExtension),
        ("5;a=\"unterminated\r\nhello\r\n0\r\n\r\n", Http1Status.InvalidChunkExtension),
        ("1;" + new string('a', Http1ParserOptions.DefaultMaxChunkLineLength) + "\r\nx\r\n0\r\n\r\n", Http1Status.ChunkLineTooLong),
        ("0" + new string('0', Http1ParserOptions.DefaultMaxChunkLineLength) + "\r\n\r\n", Http1Status.ChunkLineTooLong),
        // chunk-data CRLF
        ("5\r\nhelloX\r\n0\r\n\r\n", Http1Status.InvalidChunkDataEnd),
        ("5\r\nhello\n0\r\n\r\n", Http1Status.InvalidChunkDataEnd),
        ("5\r\nhello\rX0\r\n\r\n", Http1Status.InvalidChunkDataEnd),
        ("5\r\nhell\r\n0\r\n\r\n", Http1Status.InvalidChunkDataEnd),
        // trailer-section: field lines like the head's (RFC 9112 §7.1.2)
        ("0\r\nX : y\r\n\r\n", Http1Status.WhitespaceBeforeColon),
        ("0\r\nX y: z\r\n\r\n", Http1Status.InvalidFieldName),
        ("0\r\n y\r\n\r\n", Http1Status.ObsoleteLineFolding),
        ("0\r\nX: y\r\n\tz\r\n\r\n", Http1Status.ObsoleteLineFolding),
        ("0\r\nX: a\u0000\r\n\r\n", Http1Status.InvalidFieldValue),
        ("0\r\nX: a\u007f\r\n\r\n", Http1Status.InvalidFieldValue),
        ("0\r\nX: a\rb\r\n\r\n", Http1Status.BareCR),
        ("0\r\nX\rY: a\r\n\r\n", Http1Status.BareCR),
        ("0\r\nX: y\n\r\n", Http1Status.BareLF),
        ("0\r\nX\n\r\n", Http1Status.BareLF),
        ("0\r\nX\r\n\r\n", Http1Status.MissingFieldColon),
        ("0\r\n: y\r\n\r\n", Http1Status.EmptyFieldName),
        ("0\r\nX(: y\r\n\r\n", Http1Status.InvalidFieldName),
        ("0\r\n\r\r", Http1Status.BareCR),
        ("0\r\nX: " + new string('a', Http1ParserOptions.DefaultMaxHeadSize) + "\r\n\r\n", Http1Status.TrailerTooLarge),
    ];

    public static TheoryData<int> ValidBodies => Indexes(Samples.ChunkedBodies.Length);

    public static TheoryData<int> RejectedBodies => Indexes(Rejections.Length);

    [Theory]
    [InlineData("5\r\nhello\r\n0\r\n\r\n", "hello")]
    [InlineData("5;a=b;c=\"x y\\\"z\"\r\nhello\r\n6 ; n = v \t;m\r\n world\r\n0;last\r\nTrailer-One: v\r\n\r\n", "hello world")]
    [InlineData("A\r\n0123456789\r\na\r\nabcdefghij\r\n000\r\n\r\n", "0123456789abcdefghij")]
    [InlineData("0005\r\n12345\r\n1\r\n\n\r\n0\r\n\r\n", "12345\n")]
    [InlineData("0\r\n\r\n", "")]
    [InlineData("3;a=\"\"\r\nabc\r\n0\r\nX: \u00e9\u00ff\t\r\nEmpty:\r\n\r\n", "abc")]
    [InlineData("2;a=\"\\\u00ff\\\"\\\\\"\r\nab\r\n0\r\n\r\n", "ab")]
    public void Decode_ValidBody_DataAndComplete(string body, string expected)
    {
        Decoded decoded = DecodeWhole(Single(Bytes(body + "NEXT")));
        Assert.Equal(new Decoded(Http1Status.Complete, expected, body.Length), decoded);
    }

    [Theory]
    [MemberData(nameof(RejectedBodies))]
    public void Decode_InvalidBody_ReturnsItsStatus(int index)
    {
        (string body, Http1Status expected) = Rejections[index];
        Assert.Equal(expected, DecodeWhole(Single(Bytes(body))).Status);
        Assert.Equal(expected, DecodeByteByByte(Bytes(body)).Status);
        Assert.Equal(expected == Http1Status.TrailerTooLarge ? 431 : 400, expected.ToStatusCode());
        Assert.Equal(502, expected.ToUpstreamStatusCode());
    }

    [Theory]
    [MemberData(nameof(ValidBodies))]
    public void Decode_ByteByByte_EqualsWhole(int sample)
    {
        byte[] data = Bytes(Samples.ChunkedBodies[sample] + "NEXT");
        Decoded whole = DecodeWhole(Single(data));
        Assert.Equal(Http1Status.Complete, whole.Status);
        Assert.Equal(whole, DecodeByteByByte(data));
    }

    [Theory]
    [MemberData(nameof(ValidBodies))]
    public void Decode_EverySplit_EqualsWhole(int sample)
    {
        byte[] data = Bytes(Samples.ChunkedBodies[sample] + "NEXT");
        Decoded whole = DecodeWhole(Single(data));
        for (int cut = 0; cut <= data.Length; cut++)
        {
            Assert.Equal(whole, DecodeWhole(Split(data, cut)));
        }
        Assert.Equal(whole, DecodeWhole(BytePerSegment(data)));
    }

    [Theory]
    [MemberData(nameof(ValidBodies))]
    public void Decode_EveryPrefix_IncompleteWithoutError(int sample)
    {
        byte[] data = Bytes(Samples.ChunkedBodies[sample]);
        for (int length = 0; length < data.Length; length++)
        {
            Assert.Equal(Http1Status.Incomplete, DecodeWhole(Single(data[..length])).Status);
        }
    }

    [Fact]
    public void Decode_DataSpanningSegments_ReturnedAsOneSliceWithoutCopy()
    {
        byte[] a = Bytes("a\r\n01234");
        byte[] b = Bytes("56789\r\n0\r\n\r\n");
        ReadOnlySequence<byte> input = FromSegments(a, b);
        var decoder = new ChunkedDecoder();
        Assert.Equal(Http1Status.Incomplete, decoder.Decode(input, out ReadOnlySequence<byte> data, out SequencePosition consumed, out SequencePosition examined));
        Assert.Equal("0123456789", Text(data));
        Assert.False(data.IsSingleSegment);
        Assert.Equal(a.Length + 5, Offset(input, consumed));
        Assert.Equal(consumed, examined);
        Assert.Equal(Http1Status.Complete, decoder.Decode(input.Slice(consumed), out data, out consumed, out _));
        Assert.True(data.IsEmpty);
        Assert.True(decoder.IsComplete);
    }

    [Fact]
    public void Decode_PartialChunk_ReturnsWhatIsThereAndTheRestLater()
    {
        var decoder = new ChunkedDecoder();
        ReadOnlySequence<byte> first = Single(Bytes("a\r\n0123"));
        Assert.Equal(Http1Status.Incomplete, decoder.Decode(first, out ReadOnlySequence<byte> data, out SequencePosition consumed, out _));
        Assert.Equal("0123", Text(data));
        Assert.Equal(first.End, consumed);
        ReadOnlySequence<byte> second = Single(Bytes("456789\r\n0\r\n\r\n"));
        Assert.Equal(Http1Status.Incomplete, decoder.Decode(second, out data, out consumed, out _));
        Assert.Equal("456789", Text(data));
        Assert.Equal(Http1Status.Complete, decoder.Decode(second.Slice(consumed), out data, out _, out _));
    }

    [Fact]
    public void Decode_FramingOnly_ConsumesItAndAsksForMore()
    {
        var decoder = new ChunkedDecoder();
        ReadOnlySequence<byte> input = Single(Bytes("5;ext=1\r"));
        Assert.Equal(Http1Status.Incomplete, decoder.Decode(input, out ReadOnlySequence<byte> data, out SequencePosition consumed, out SequencePosition examined));
        Assert.True(data.IsEmpty);
        Assert.Equal(input.End, consumed);
        Assert.Equal(input.End, examined);
    }

    [Fact]
    public void Decode_AfterError_KeepsReturningIt()
    {
        var decoder = new ChunkedDecoder();
        Assert.Equal(Http1Status.InvalidChunkSize, decoder.Decode(Single(Bytes("x")), out _, out _, out _));
        Assert.Equal(Http1Status.InvalidChunkSize, decoder.Decode(Single(Bytes("5\r\nhello\r\n")), out _, out _, out _));
        decoder.Reset();
        Assert.Equal(Http1Status.Incomplete, decoder.Decode(Single(Bytes("5\r\n")), out _, out _, out _));
    }

    [Fact]
    public void Decode_AfterComplete_ReturnsCompleteAndConsumesNothing()
    {
        var decoder = new ChunkedDecoder();
        ReadOnlySequence<byte> input = Single(Bytes("0\r\n\r\nGET"));
        Assert.Equal(Http1Status.Complete, decoder.Decode(input, out _, out SequencePosition consumed, out _));
        Assert.Equal(5, Offset(input, consumed));
        ReadOnlySequence<byte> rest = input.Slice(consumed);
        Assert.Equal(Http1Status.Complete, decoder.Decode(rest, out _, out consumed, out _));
        Assert.Equal(rest.Start, consumed);
    }

    [Fact]
    public void Decode_Options_LimitsApply()
    {
        var options = new Http1ParserOptions { MaxChunkLineLength = 8, MaxHeadSize = 10 };
        Assert.Equal(Http1Status.Complete, DecodeWhole(Single(Bytes("1;abc\r\nx\r\n0\r\n\r\n")), options).Status);  // 7-byte line
        Assert.Equal(Http1Status.ChunkLineTooLong, DecodeWhole(Single(Bytes("1;abcde\r\nx\r\n0\r\n\r\n")), options).Status);
        Assert.Equal(Http1Status.Complete, DecodeWhole(Single(Bytes("0\r\nA: 123\r\n\r\n")), options).Status);    // 10-byte trailer section
        Assert.Equal(Http1Status.TrailerTooLarge, DecodeWhole(Single(Bytes("0\r\nA: 1234\r\n\r\n")), options).Status);
    }

    [Fact]
    public void Decode_HugeChunkSize_AcceptedWithoutOverflow()
    {
        var decoder = new ChunkedDecoder();
        ReadOnlySequence<byte> input = Single(Bytes("7fffffffffffffff\r\nabc"));
        Assert.Equal(Http1Status.Incomplete, decoder.Decode(input, out ReadOnlySequence<byte> data, out _, out _));
        Assert.Equal("abc", Text(data));
    }

    [Fact]
    public void Decode_ConsumedBytesForwardedVerbatim_ReproduceTheBody()
    {
        // Pass-through: everything consumed was validated, so a proxy may copy consumed ranges as they are.
        byte[] body = Bytes(Samples.ChunkedBodies[1]);
        var decoder = new ChunkedDecoder();
        ReadOnlySequence<byte> input = BytePerSegment(body);
        var forwarded = new List<byte>();
        Http1Status status;
        do
        {
            status = decoder.Decode(input, out _, out SequencePosition consumed, out _);
            forwarded.AddRange(input.Slice(input.Start, consumed).ToArray());
            input = input.Slice(consumed);
        }
        while (status == Http1Status.Incomplete && !input.IsEmpty);
        Assert.Equal(Http1Status.Complete, status);
        Assert.Equal(body, forwarded.ToArray());
    }

    /// <summary>Calls Decode until it completes, fails, or needs more input than there is.</summary>
    public static Decoded DecodeWhole(ReadOnlySequence<byte> input, Http1ParserOptions? options = null)
    {
        var decoder = options is null ? new ChunkedDecoder() : new ChunkedDecoder(options);
        var data = new List<byte>();
        long consumedTotal = 0;
        while (true)
        {
            Http1Status status = decoder.Decode(input, out ReadOnlySequence<byte> chunk, out SequencePosition consumed, out _);
            data.AddRange(chunk.ToArray());
            long advanced = Offset(input, consumed);
            Assert.True(advanced >= chunk.Length);
            consumedTotal += advanced;
            input = input.Slice(consumed);
            if (status != Http1Status.Incomplete || (chunk.IsEmpty && (advanced == 0 || input.IsEmpty)))
            {
                return new Decoded(status, Text(data.ToArray()), consumedTotal);
            }
        }
    }

    /// <summary>Feeds one byte at a time, as a slow client would, keeping unconsumed bytes like a pipe.</summary>
    public static Decoded DecodeByteByByte(byte[] body)
    {
        var decoder = new ChunkedDecoder();
        var data = new List<byte>();
        var pending = new List<byte>();
        long consumedTotal = 0;
        foreach (byte b in body)
        {
            pending.Add(b);
            while (true)
            {
                ReadOnlySequence<byte> input = Single(pending.ToArray());
                Http1Status status = decoder.Decode(input, out ReadOnlySequence<byte> chunk, out SequencePosition consumed, out _);
                data.AddRange(chunk.ToArray());
                int advanced = (int)Offset(input, consumed);
                consumedTotal += advanced;
                pending.RemoveRange(0, advanced);
                if (status != Http1Status.Incomplete)
                {
                    return new Decoded(status, Text(data.ToArray()), consumedTotal);
                }
                if (chunk.IsEmpty)
                {
                    break;
                }
            }
        }
        return new Decoded(Http1Status.Incomplete, Text(data.ToArray()), consumedTotal);
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
