using System.Buffers.Binary;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using FastProxy.RateLimiting;

namespace FastProxy.Benchmarks.RateLimiting;

/// <summary>
/// Cost of one limit_req decision: the lock-free table against a locked Dictionary doing the same leaky-bucket math
/// (the baseline of each category). "admit path" benchmarks advance the time by 1 ms per request at 1000r/s, so every
/// request is admitted and written (lookup, nginx arithmetic, CAS); the others read the real clock per request, as an
/// engine would, and one hot key is then mostly rejected (lookup and arithmetic, no write).
/// </summary>
/// <remarks>
/// Run: <c>dotnet run -c Release --project bench/FastProxy.Benchmarks -- --filter '*LimitReq*' --job short</c>.
/// "all cores" runs Environment.ProcessorCount threads started once, released per invocation by a barrier, sharing
/// the same number of operations as the single-threaded runs: the time per operation is wall time divided by all
/// operations (perfect scaling would divide the single-threaded cost by the number of cores). Throughput against the
/// number of threads on distinct keys: <see cref="LimitReqScalingBenchmarks"/>; the lookup alone:
/// <see cref="LimitTableLookupBenchmarks"/>.
/// </remarks>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class LimitReqBenchmarks
{
    private const int Ops = 1 << 16;
    private const int ManyKeys = 100_000;

    private static readonly int Threads = Environment.ProcessorCount;

    private LimitReqPolicy _admitPolicy = null!;          // 1000r/s, fake clock: explicit 'now'
    private LimitReqPolicy _clockPolicy = null!;          // max rate, big burst, system clock
    private LockedLeakyBuckets _admitBaseline = null!;
    private LockedLeakyBuckets _clockBaseline = null!;
    private LimitClock _systemClock = null!;
    private byte[] _keys = null!;                          // ManyKeys IPv4 addresses, 4 bytes each
    private int[] _order = null!;                          // the order clients arrive in: a fixed random permutation
    private long _now;
    private WorkerGang _gang = null!;
    private Action<int> _lockFreeOneKey = null!;
    private Action<int> _baselineOneKey = null!;
    private Action<int> _lockFreeManyKeys = null!;
    private Action<int> _baselineManyKeys = null!;

    [GlobalSetup]
    public void Setup()
    {
        var registry = new LimitZoneRegistry(new FrozenTimeProvider());
        var systemRegistry = new LimitZoneRegistry(TimeProvider.System);
        _systemClock = systemRegistry.Clock;

        // 8m: 131072 nominal states in 262144 slots (8.5 MB); the 100k keys are 76% of nominal.
        var admitZone = LimitReqZone.Create("admit", 8 << 20, "$binary_remote_addr", LimitRate.PerSecond(1000), registry.Clock);
        var clockZone = LimitReqZone.Create("clock", 8 << 20, "$binary_remote_addr", new LimitRate(LimitRate.MaxMilliPerSecond), _systemClock);
        _admitPolicy = new LimitReqPolicy([LimitReqRule.WithNoDelay(admitZone, 10)]);
        _clockPolicy = new LimitReqPolicy([LimitReqRule.WithNoDelay(clockZone, 60_000)]);
        _admitBaseline = new LockedLeakyBuckets(LimitRate.PerSecond(1000).MilliPerSecond, 10_000, ManyKeys);
        _clockBaseline = new LockedLeakyBuckets(LimitRate.MaxMilliPerSecond, 60_000_000, ManyKeys);

        _keys = new byte[ManyKeys * 4];
        for (int i = 0; i < ManyKeys; i++)
        {
            BinaryPrimitives.WriteUInt32BigEndian(_keys.AsSpan(i * 4), 0x0A000000u + (uint)(i * 7919));
        }

        // Clients do not arrive in the order the Dictionary stored them: visiting its entries in insertion order would
        // make it stream through memory, which no real traffic does.
        _order = Enumerable.Range(0, ManyKeys).ToArray();
        new Random(12345).Shuffle(_order);

        int share = Ops / Threads;
        _lockFreeOneKey = _ => RunLockFree(oneKey: true, share);
        _baselineOneKey = _ => RunBaseline(oneKey: true, share);
        _lockFreeManyKeys = id => RunLockFree(oneKey: false, share, offset: id * (ManyKeys / Threads));
        _baselineManyKeys = id => RunBaseline(oneKey: false, share, offset: id * (ManyKeys / Threads));
        _gang = new WorkerGang(Threads);

        // Fill the tables once so that every measured request finds its key.
        for (int i = 0; i < ManyKeys; i++)
        {
            _admitPolicy.Evaluate(new SingleLimitKey(Key(i)), 0);
            _admitBaseline.TryAdmit(KeyValue(i), 0);
        }
    }

    [GlobalCleanup]
    public void Cleanup() => _gang.Dispose();

    // ---- 1 thread, 1 key, admit path ------------------------------------------------------------------------------

    [Benchmark(Baseline = true, OperationsPerInvoke = Ops)]
    [BenchmarkCategory("1 thread, 1 key, admit path")]
    public int LockedDictionary_OneKey_Admit()
    {
        int admitted = 0;
        long now = _now;
        uint key = KeyValue(0);
        for (int i = 0; i < Ops; i++)
        {
            admitted += _admitBaseline.TryAdmit(key, ++now) ? 1 : 0;
        }

        _now = now;
        return admitted;
    }

    [Benchmark(OperationsPerInvoke = Ops)]
    [BenchmarkCategory("1 thread, 1 key, admit path")]
    public int LockFree_OneKey_Admit()
    {
        int admitted = 0;
        long now = _now;
        LimitReqPolicy policy = _admitPolicy;
        ReadOnlySpan<byte> key = Key(0);
        for (int i = 0; i < Ops; i++)
        {
            admitted += policy.Evaluate(new SingleLimitKey(key), ++now).Action == LimitAction.Pass ? 1 : 0;
        }

        _now = now;
        return admitted;
    }

    // ---- 1 thread, 100k keys, admit path --------------------------------------------------------------------------

    [Benchmark(Baseline = true, OperationsPerInvoke = Ops)]
    [BenchmarkCategory("1 thread, 100k keys, admit path")]
    public int LockedDictionary_ManyKeys_Admit()
    {
        int admitted = 0;
        long now = _now;
        for (int i = 0; i < Ops; i++)
        {
            admitted += _admitBaseline.TryAdmit(KeyValue(_order[now % ManyKeys]), ++now) ? 1 : 0;
        }

        _now = now;
        return admitted;
    }

    [Benchmark(OperationsPerInvoke = Ops)]
    [BenchmarkCategory("1 thread, 100k keys, admit path")]
    public int LockFree_ManyKeys_Admit()
    {
        int admitted = 0;
        long now = _now;
        LimitReqPolicy policy = _admitPolicy;
        for (int i = 0; i < Ops; i++)
        {
            admitted += policy.Evaluate(new SingleLimitKey(Key(_order[now % ManyKeys])), ++now).Action == LimitAction.Pass ? 1 : 0;
        }

        _now = now;
        return admitted;
    }

    // ---- 1 thread, 1 key, system clock ----------------------------------------------------------------------------

    [Benchmark(Baseline = true, OperationsPerInvoke = Ops)]
    [BenchmarkCategory("1 thread, 1 key, clock per request")]
    public int LockedDictionary_OneKey_Clock() => RunBaseline(oneKey: true, Ops);

    [Benchmark(OperationsPerInvoke = Ops)]
    [BenchmarkCategory("1 thread, 1 key, clock per request")]
    public int LockFree_OneKey_Clock() => RunLockFree(oneKey: true, Ops);

    // ---- 1 thread, 100k keys, system clock: the single-core reference for the all-cores 100k-key group ------------

    [Benchmark(Baseline = true, OperationsPerInvoke = Ops)]
    [BenchmarkCategory("1 thread, 100k keys, clock per request")]
    public int LockedDictionary_ManyKeys_Clock() => RunBaseline(oneKey: false, Ops);

    [Benchmark(OperationsPerInvoke = Ops)]
    [BenchmarkCategory("1 thread, 100k keys, clock per request")]
    public int LockFree_ManyKeys_Clock() => RunLockFree(oneKey: false, Ops);

    // ---- all cores --------------------------------------------------------------------------------------------------

    [BenchmarkCategory("all cores, 1 key, clock per request")]
    [Benchmark(Baseline = true, OperationsPerInvoke = Ops)]
    public void LockedDictionary_AllCores_OneKey() => RunGang(_baselineOneKey);

    [BenchmarkCategory("all cores, 1 key, clock per request")]
    [Benchmark(OperationsPerInvoke = Ops)]
    public void LockFree_AllCores_OneKey() => RunGang(_lockFreeOneKey);

    [BenchmarkCategory("all cores, 100k keys, clock per request")]
    [Benchmark(Baseline = true, OperationsPerInvoke = Ops)]
    public void LockedDictionary_AllCores_ManyKeys() => RunGang(_baselineManyKeys);

    [BenchmarkCategory("all cores, 100k keys, clock per request")]
    [Benchmark(OperationsPerInvoke = Ops)]
    public void LockFree_AllCores_ManyKeys() => RunGang(_lockFreeManyKeys);

    private void RunGang(Action<int> work) => _gang.Run(work);

    private int RunLockFree(bool oneKey, int count, int offset = 0)
    {
        int admitted = 0;
        LimitReqPolicy policy = _clockPolicy;
        for (int i = 0; i < count; i++)
        {
            ReadOnlySpan<byte> key = Key(oneKey ? 0 : _order[(i + offset) % ManyKeys]);
            admitted += policy.Evaluate(key).Action == LimitAction.Pass ? 1 : 0;
        }

        return admitted;
    }

    private int RunBaseline(bool oneKey, int count, int offset = 0)
    {
        int admitted = 0;
        LimitClock clock = _systemClock;
        for (int i = 0; i < count; i++)
        {
            uint key = KeyValue(oneKey ? 0 : _order[(i + offset) % ManyKeys]);
            admitted += _clockBaseline.TryAdmit(key, clock.NowMs()) ? 1 : 0;
        }

        return admitted;
    }

    private ReadOnlySpan<byte> Key(int index) => new(_keys, index * 4, 4);

    private uint KeyValue(int index) => BinaryPrimitives.ReadUInt32BigEndian(Key(index));
}
