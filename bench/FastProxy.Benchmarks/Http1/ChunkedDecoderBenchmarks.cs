using System.Buffers;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using FastProxy.Http1;

namespace FastProxy.Benchmarks.Http1;

/// <summary>
/// Decoding a whole chunked body, handing each data run to a no-op consumer (the pass-through case). The baseline
/// walks the same input without validating anything: reads each size line with IndexOf and skips the data.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(Config))]
public class ChunkedDecoderBenchmarks
{
    public const string Large = "64KiB-in-4KiB-chunks";
    public const string Small = "4KiB-in-64B-chunks";

    private ReadOnlySequence<byte> _body;

    [Params(Large, Small)]
    public string Input { get; set; } = Large;

    [GlobalSetup]
    public void Setup()
    {
        _body = new ReadOnlySequence<byte>(Bytes(Input));
        if (Decode() <= 0)
        {
            throw new InvalidOperationException("body does not decode");
        }
    }

    [Benchmark(Baseline = true)]
    public long SkipFramingUnvalidated()
    {
        ReadOnlySpan<byte> span = _body.FirstSpan;
        long data = 0;
        while (true)
        {
            int lf = span.IndexOf((byte)'\n');
            int size = 0;
            foreach (byte b in span[..lf])
            {
                int d = HexDigit(b);
                if (d < 0)
                {
                    break;
                }
                size = size * 16 + d;
            }
            if (size == 0)
            {
                return data;
            }
            data += size;
            span = span[(lf + 1 + size + 2)..];
        }
    }

    [Benchmark]
    public long Decode()
    {
        var decoder = new ChunkedDecoder();
        ReadOnlySequence<byte> input = _body;
        long data = 0;
        while (true)
        {
            Http1Status status = decoder.Decode(input, out ReadOnlySequence<byte> chunk, out SequencePosition consumed, out _);
            data += chunk.Length;
            if (status != Http1Status.Incomplete)
            {
                return status == Http1Status.Complete ? data : -1;
            }
            input = input.Slice(consumed);
        }
    }

    private static byte[] Bytes(string input) => input == Large ? RequestCorpus.ChunkedLarge : RequestCorpus.ChunkedSmall;

    private static int HexDigit(byte b) => b switch
    {
        >= (byte)'0' and <= (byte)'9' => b - '0',
        >= (byte)'a' and <= (byte)'f' => b - 'a' + 10,
        _ => -1,
    };

    private sealed class Config : ManualConfig
    {
        public Config() => AddColumn(new ThroughputColumn(b => Bytes((string)b.Parameters["Input"]).Length));
    }
}
