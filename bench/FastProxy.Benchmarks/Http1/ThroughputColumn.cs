using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace FastProxy.Benchmarks.Http1;

/// <summary>GB/s (10^9 bytes per second) of one operation: input size / mean time per operation.</summary>
/// <remarks>The size comes from the benchmark's <c>Input</c> parameter via <see cref="RequestCorpus"/>.</remarks>
internal sealed class ThroughputColumn(Func<BenchmarkCase, long> bytesPerOperation) : IColumn
{
    public string Id => nameof(ThroughputColumn);
    public string ColumnName => "GB/s";
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 0;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => "Input bytes per second of one operation, in 10^9 bytes/s";

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase)
    {
        BenchmarkReport? report = summary[benchmarkCase];
        double? nanoseconds = report?.ResultStatistics?.Mean;
        if (nanoseconds is not > 0)
        {
            return "-";
        }
        return (bytesPerOperation(benchmarkCase) / nanoseconds.Value).ToString("0.00");
    }

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) => GetValue(summary, benchmarkCase);

    public bool IsAvailable(Summary summary) => true;

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

    public override string ToString() => ColumnName;
}
