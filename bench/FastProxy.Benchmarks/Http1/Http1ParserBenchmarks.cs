using System.Buffers;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Running;
using FastProxy.Http1;

namespace FastProxy.Benchmarks.Http1;

/// <summary>
/// Parsing one head from the corpus, in one segment and in 64-byte segments. The baseline is only the vectorized
/// search for CRLF CRLF: the floor under any parser that must find the end of the head, so the ratio column is the
/// cost of validating and indexing everything on top of it.
/// </summary>
/// <remarks>dotnet run -c Release --project bench/FastProxy.Benchmarks -- --filter '*Http1ParserBenchmarks*'</remarks>
[MemoryDiagnoser]
[Config(typeof(Config))]
public class Http1ParserBenchmarks
{
    private const int InnerLoop = 1024;

    private readonly HttpRequestHead _request = new();
    private readonly HttpResponseHead _response = new();
    private readonly Http1ParserOptions _options = Http1ParserOptions.Default;
    private ReadOnlySequence<byte> _single;
    private ReadOnlySequence<byte> _multi;

    [Params(RequestCorpus.Small, RequestCorpus.Browser, RequestCorpus.Large, RequestCorpus.Response)]
    public string Input { get; set; } = RequestCorpus.Browser;

    [GlobalSetup]
    public void Setup()
    {
        byte[] head = RequestCorpus.Head(Input);
        _single = new ReadOnlySequence<byte>(head);
        _multi = RequestCorpus.MultiSegment(head, 64);
        // Warm the head objects' buffers: steady state is what is measured.
        if (SingleSegment() != Http1Status.Complete || MultiSegment() != Http1Status.Complete)
        {
            throw new InvalidOperationException($"{Input} does not parse");
        }
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = InnerLoop)]
    public int FindEndOfHeadOnly()
    {
        ReadOnlySpan<byte> span = _single.FirstSpan;
        int end = 0;
        for (int i = 0; i < InnerLoop; i++)
        {
            end += span.IndexOf("\r\n\r\n"u8);
        }
        return end;
    }

    [Benchmark(OperationsPerInvoke = InnerLoop)]
    public Http1Status SingleSegment() => ParseLoop(_single);

    [Benchmark(OperationsPerInvoke = InnerLoop)]
    public Http1Status MultiSegment() => ParseLoop(_multi);

    private Http1Status ParseLoop(in ReadOnlySequence<byte> input)
    {
        Http1Status status = default;
        if (Input == RequestCorpus.Response)
        {
            for (int i = 0; i < InnerLoop; i++)
            {
                status = Http1Parser.ParseResponseHead(input, _response, _options, out _, out _);
            }
        }
        else
        {
            for (int i = 0; i < InnerLoop; i++)
            {
                status = Http1Parser.ParseRequestHead(input, _request, _options, out _, out _);
            }
        }
        return status;
    }

    private sealed class Config : ManualConfig
    {
        public Config()
        {
            AddColumn(new ThroughputColumn(b => RequestCorpus.Head((string)b.Parameters["Input"]).Length));
            AddColumn(new ByteSizeColumn(b => RequestCorpus.Head((string)b.Parameters["Input"]).Length));
        }
    }
}

/// <summary>The input size in bytes, for reading the table.</summary>
internal sealed class ByteSizeColumn(Func<BenchmarkCase, long> bytes) : BenchmarkDotNet.Columns.IColumn
{
    public string Id => nameof(ByteSizeColumn);
    public string ColumnName => "Bytes";
    public bool AlwaysShow => true;
    public BenchmarkDotNet.Columns.ColumnCategory Category => BenchmarkDotNet.Columns.ColumnCategory.Params;
    public int PriorityInCategory => 1;
    public bool IsNumeric => true;
    public BenchmarkDotNet.Columns.UnitType UnitType => BenchmarkDotNet.Columns.UnitType.Size;
    public string Legend => "Input size in bytes";
    public string GetValue(BenchmarkDotNet.Reports.Summary summary, BenchmarkCase benchmarkCase) => bytes(benchmarkCase).ToString();
    public string GetValue(BenchmarkDotNet.Reports.Summary summary, BenchmarkCase benchmarkCase, BenchmarkDotNet.Reports.SummaryStyle style) => GetValue(summary, benchmarkCase);
    public bool IsAvailable(BenchmarkDotNet.Reports.Summary summary) => true;
    public bool IsDefault(BenchmarkDotNet.Reports.Summary summary, BenchmarkCase benchmarkCase) => false;
}
