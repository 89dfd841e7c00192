using System.Buffers;
using System.Text;
using static FastProxy.Http1.Tests.ParseHelper;
using static FastProxy.Http1.Tests.TestSequences;

namespace FastProxy.Http1.Tests;

/// <summary>
/// Seeded random mutations of valid heads and bodies. Whatever the bytes, the parser returns a result or a rejection
/// (never throws, never reads past the input — segments are exact arrays, so that would throw), gives the same answer
/// however the input is split, and never accepts a head that breaks the framing invariants.
/// </summary>
public class MutationTests
{
    // FASTPROXY_FUZZ_ITERATIONS and FASTPROXY_FUZZ_SEED let a local run go deeper or elsewhere; CI uses the defaults.
    private static readonly int Iterations = int.TryParse(Environment.GetEnvironmentVariable("FASTPROXY_FUZZ_ITERATIONS"), out int n) ? n : 3000;
    private static readonly int SeedOffset = int.TryParse(Environment.GetEnvironmentVariable("FASTPROXY_FUZZ_SEED"), out int seed) ? seed : 0;

    private static readonly byte[] Interesting = Bytes("\r\n \t:;,=\"\\/?#%*@[]\u0000\u0001\u000b\u007f\u0080\u00ff0A");

    private static readonly string[] Fragments =
    [
        "\r\n", "\n", "\r", " ", "\t", ": ", ",", "\r\n\r\n", "Transfer-Encoding: chunked\r\n", "Content-Length: 5\r\n",
        "Host: b\r\n", "Transfer-Encoding: gzip\r\n", "Connection: close\r\n", "Expect: 100-continue\r\n", "HTTP/1.0", "chunked",
    ];

    [Fact]
    public void ParseRequestHead_RandomMutations_ResultOrRejectionSameForEverySplit()
    {
        var random = new Random(20240601 + SeedOffset);
        var options = new[] { Http1ParserOptions.Default, new Http1ParserOptions { AllowBareLf = true } };
        int accepted = 0;
        for (int i = 0; i < Iterations; i++)
        {
            byte[] data = Mutate(Bytes(Samples.Requests[random.Next(Samples.Requests.Length)] + "BODY"), random);
            Http1ParserOptions o = options[i % 2];
            var head = new HttpRequestHead();
            Outcome whole = Request(Single(data), o, head: head);
            string context = $"iteration {i}: {Escape(data)}";
            Assert.True(Enum.IsDefined(whole.Status), context);
            Assert.InRange(whole.Consumed, 0, data.Length);
            if (whole.Status == Http1Status.Complete)
            {
                CheckInvariants(head, o, context);
                Http1BodyFraming.ForRequest(head, out _);
                accepted++;
            }
            else
            {
                Assert.Equal(0, whole.Consumed);
            }
            Assert.Equal(whole, Request(RandomSplit(data, random), o));
            if (i % 10 == 0)
            {
                Assert.Equal(whole, Request(BytePerSegment(data), o));
                // Arriving piece by piece, an invalid head may be rejected early under another rule; never accepted.
                Http1Status slow = ArriveByteByByte(data, o);
                Assert.True(whole.Status.IsError() ? slow.IsError() : slow == whole.Status, context);
            }
        }
        // The mutations must exercise both sides: plenty accepted, plenty rejected.
        Assert.InRange(accepted, Iterations / 10, Iterations * 9 / 10);
    }

    [Fact]
    public void ParseResponseHead_RandomMutations_ResultOrRejectionSameForEverySplit()
    {
        var random = new Random(7 + SeedOffset);
        for (int i = 0; i < Iterations; i++)
        {
            byte[] data = Mutate(Bytes(Samples.Responses[random.Next(Samples.Responses.Length)] + "BODY"), random);
            var head = new HttpResponseHead();
            Outcome whole = Response(Single(data), head: head);
            string context = $"iteration {i}: {Escape(data)}";
            Assert.True(Enum.IsDefined(whole.Status), context);
            if (whole.Status == Http1Status.Complete)
            {
                CheckInvariants(head, Http1ParserOptions.Default, context);
                Assert.InRange(head.StatusCode, 100, 599);
                Http1BodyFraming.ForResponse(head, Http1Method.Get, out _);
            }
            Assert.Equal(whole, Response(RandomSplit(data, random)));
            if (i % 10 == 0)
            {
                Assert.Equal(whole, Response(BytePerSegment(data)));
            }
        }
    }

    [Fact]
    public void Decode_RandomMutations_SameResultWholeSplitAndByteByByte()
    {
        var random = new Random(99 + SeedOffset);
        for (int i = 0; i < Iterations; i++)
        {
            byte[] data = Mutate(Bytes(Samples.ChunkedBodies[random.Next(Samples.ChunkedBodies.Length)] + "NEXT"), random);
            ChunkedDecoderTests.Decoded whole = ChunkedDecoderTests.DecodeWhole(Single(data));
            Assert.True(Enum.IsDefined(whole.Status));
            Assert.InRange(whole.Consumed, 0, data.Length);
            Assert.Equal(whole, ChunkedDecoderTests.DecodeWhole(RandomSplit(data, random)));
            ChunkedDecoderTests.Decoded slow = ChunkedDecoderTests.DecodeByteByByte(data);
            Assert.Equal(whole.Status, slow.Status);
            Assert.Equal(whole.Data, slow.Data);
            if (whole.Status != Http1Status.Incomplete)
            {
                Assert.Equal(whole.Consumed, slow.Consumed);
            }
        }
    }

    /// <summary>What a Complete head promises the proxy, whatever the input was.</summary>
    private static void CheckInvariants(HttpHead head, Http1ParserOptions options, string context)
    {
        ReadOnlySpan<byte> raw = head.Raw.Span;
        Assert.True(head.HeadLength == raw.Length, context);
        Assert.True(raw[^1] == '\n', context);
        if (!options.AllowBareLf)
        {
            Assert.True(raw.EndsWith("\r\n\r\n"u8), context);
            Assert.True(raw.IndexOf("\r\n\r\n"u8) == raw.Length - 4, context);
        }
        Assert.False(head.IsChunked && head.ContentLength >= 0, context);
        int contentLengths = 0;
        int transferEncodings = 0;
        foreach (HttpField field in head.Fields)
        {
            ReadOnlySpan<byte> name = head.GetName(field);
            ReadOnlySpan<byte> value = head.GetValue(field);
            Assert.True(name.Length > 0 && name.IndexOfAnyExcept(HttpCharacters.Tchar) < 0, context);
            Assert.True(value.IndexOfAny(HttpCharacters.InvalidFieldValue) < 0, context);
            Assert.False(value.Length > 0 && (HttpCharacters.IsWhitespace(value[0]) || HttpCharacters.IsWhitespace(value[^1])), context);
            ReadOnlySpan<byte> line = raw.Slice(field.LineOffset, field.LineLength);
            Assert.True(line.IndexOfAny((byte)'\r', (byte)'\n') < 0, context);
            Assert.True(raw[field.LineOffset + field.LineLength] is (byte)'\r' or (byte)'\n', context);
            Assert.True(line[(field.ValueOffset + field.ValueLength - field.LineOffset)..].IndexOfAnyExcept((byte)' ', (byte)'\t') < 0, context);
            contentLengths += field.Known == KnownField.ContentLength ? 1 : 0;
            transferEncodings += field.Known == KnownField.TransferEncoding ? 1 : 0;
        }
        Assert.True(contentLengths <= 1, context);
        Assert.True(transferEncodings == 0 || head.IsChunked, context);
        Assert.True(head.Version == Http1Version.Http11 || transferEncodings == 0, context);
        if (head is HttpRequestHead request)
        {
            Assert.True(request.Version == Http1Version.Http10 || request.HostFieldIndex >= 0, context);
            Assert.True(request.MethodBytes.IndexOfAnyExcept(HttpCharacters.Tchar) < 0, context);
            Assert.True(request.Target.IndexOfAnyExcept(HttpCharacters.TargetChar) < 0, context);
            _ = request.Path.Length + request.Query.Length + request.Host.Length;
        }
    }

    private static Http1Status ArriveByteByByte(byte[] data, Http1ParserOptions options)
    {
        long previous = 0;
        for (int length = 1; length <= data.Length; length++)
        {
            Outcome outcome = Request(Single(data[..length]), options, previous);
            if (outcome.Status != Http1Status.Incomplete)
            {
                return outcome.Status;
            }
            previous = outcome.Examined;
        }
        return Http1Status.Incomplete;
    }

    private static byte[] Mutate(byte[] data, Random random)
    {
        var bytes = new List<byte>(data);
        int count = random.Next(1, 4);
        for (int m = 0; m < count; m++)
        {
            int at = random.Next(bytes.Count + 1);
            switch (random.Next(7))
            {
                case 0 when at < bytes.Count:
                    bytes[at] = Interesting[random.Next(Interesting.Length)];
                    break;
                case 1 when at < bytes.Count:
                    bytes[at] = (byte)random.Next(256);
                    break;
                case 2:
                    bytes.Insert(at, Interesting[random.Next(Interesting.Length)]);
                    break;
                case 3 when at < bytes.Count:
                    bytes.RemoveAt(at);
                    break;
                case 4:
                    bytes.InsertRange(at, Bytes(Fragments[random.Next(Fragments.Length)]));
                    break;
                case 5 when at < bytes.Count:
                    bytes[at] = (byte)(bytes[at] ^ 0x20); // flip case (and more)
                    break;
                default:
                    // Duplicate the line that starts after a random LF.
                    int lf = bytes.IndexOf((byte)'\n', Math.Min(at, bytes.Count - 1));
                    if (lf >= 0)
                    {
                        int next = bytes.IndexOf((byte)'\n', lf + 1);
                        if (next > lf)
                        {
                            bytes.InsertRange(lf + 1, bytes.GetRange(lf + 1, next - lf));
                        }
                    }
                    break;
            }
        }
        return bytes.ToArray();
    }

    private static string Escape(byte[] data)
    {
        var s = new StringBuilder();
        foreach (byte b in data)
        {
            s.Append(b is >= 0x20 and < 0x7F ? ((char)b).ToString() : $"\\x{b:x2}");
        }
        return s.ToString();
    }
}
