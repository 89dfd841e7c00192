using BenchmarkDotNet.Attributes;
using FastProxy.RateLimiting;

namespace FastProxy.Benchmarks.RateLimiting;

/// <summary>
/// One limit_conn place taken and given back (a request's whole life in the zone), single-threaded, against a locked
/// Dictionary of counts (the baseline). The time is passed in, as an engine that reads its clock once per request does.
/// </summary>
[MemoryDiagnoser]
public class LimitConnBenchmarks
{
    private const int Ops = 1 << 16;

    private readonly byte[] _key = [192, 0, 2, 1];
    private readonly LimitConnLease[] _leases = new LimitConnLease[1];
    private readonly Dictionary<uint, int> _counts = [];
    private readonly Lock _lock = new();
    private LimitConnPolicy _policy = null!;

    [GlobalSetup]
    public void Setup()
    {
        var registry = new LimitZoneRegistry(TimeProvider.System);
        var zone = LimitConnZone.Create("addr", 1 << 20, "$binary_remote_addr", registry.Clock);
        _policy = new LimitConnPolicy([new LimitConnRule(zone, 10)]);
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Ops)]
    public int LockedDictionary_AcquireRelease()
    {
        int passed = 0;
        uint key = BitConverter.ToUInt32(_key);
        for (int i = 0; i < Ops; i++)
        {
            lock (_lock)
            {
                _counts.TryGetValue(key, out int count);
                if (count < 10)
                {
                    _counts[key] = count + 1;
                    passed++;
                }
            }

            lock (_lock)
            {
                _counts[key]--;
            }
        }

        return passed;
    }

    [Benchmark(OperationsPerInvoke = Ops)]
    public int LockFree_AcquireRelease()
    {
        int passed = 0;
        LimitConnPolicy policy = _policy;
        LimitConnLease[] leases = _leases;
        for (int i = 0; i < Ops; i++)
        {
            if (policy.Acquire(new SingleLimitKey(_key), leases, i).Action == LimitAction.Pass)
            {
                passed++;
            }

            LimitConnLease.ReleaseAll(leases);
        }

        return passed;
    }
}
