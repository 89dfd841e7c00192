using System.Buffers.Binary;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using FastProxy.RateLimiting;

namespace FastProxy.Benchmarks.RateLimiting;

/// <summary>
/// Where the time of a 100k-key limit_req admit goes: the lookup alone (no write, no lock) in the lock-free table
/// against a plain <c>Dictionary&lt;uint, (long, long)&gt;</c> lookup, one thread, 100,000 IPv4 keys in random order,
/// the table an 8m zone as in <see cref="LimitReqBenchmarks"/>.
/// </summary>
/// <remarks>
/// "back to back": consecutive lookups are independent, so the CPU overlaps the cache misses of several of them (as
/// in a tight benchmark loop). "chained": the next key depends on the value the previous lookup read (through a
/// shift that is always 0 but that the CPU cannot predict), so every lookup pays its misses in full, as it would in a
/// proxy that runs thousands of other instructions between two requests.
/// </remarks>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class LimitTableLookupBenchmarks
{
    private const int Ops = 1 << 16;
    private const int Keys = 100_000;

    private LimitTable _table = null!;
    private Dictionary<uint, (long Last, long Excess)> _dictionary = null!;
    private byte[] _keys = null!;
    private uint[] _keyValues = null!;
    private int[] _order = null!;
    private int _position;

    [GlobalSetup]
    public void Setup()
    {
        var registry = new LimitZoneRegistry(new FrozenTimeProvider());
        var zone = LimitReqZone.Create("lookup", 8 << 20, "$binary_remote_addr", LimitRate.PerSecond(1000), registry.Clock);
        var policy = new LimitReqPolicy([LimitReqRule.WithNoDelay(zone, 10)]);
        _table = zone.Table;
        _dictionary = new Dictionary<uint, (long, long)>(Keys);
        _keys = new byte[Keys * 4];
        _keyValues = new uint[Keys];
        for (int i = 0; i < Keys; i++)
        {
            _keyValues[i] = 0x0A000000u + (uint)(i * 7919);
            BinaryPrimitives.WriteUInt32BigEndian(_keys.AsSpan(i * 4), _keyValues[i]);
            policy.Evaluate(new SingleLimitKey(Key(i)), 0);
            _dictionary[_keyValues[i]] = (0, 0);
        }

        _order = Enumerable.Range(0, Keys).ToArray();
        new Random(12345).Shuffle(_order);
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Ops)]
    [BenchmarkCategory("back to back")]
    public long Dictionary_Lookup()
    {
        long sum = 0;
        int p = _position;
        for (int i = 0; i < Ops; i++)
        {
            sum += _dictionary[_keyValues[_order[p]]].Last;
            if (++p == Keys)
            {
                p = 0;
            }
        }

        _position = p;
        return sum;
    }

    [Benchmark(OperationsPerInvoke = Ops)]
    [BenchmarkCategory("back to back")]
    public long LimitTable_Find()
    {
        long sum = 0;
        int p = _position;
        LimitTable table = _table;
        for (int i = 0; i < Ops; i++)
        {
            LimitKey key = table.CreateKey(Key(_order[p]));
            table.TryFind<LimitReqSlotPolicy>(in key, out SlotSnapshot snapshot);
            sum += snapshot.State;
            if (++p == Keys)
            {
                p = 0;
            }
        }

        _position = p;
        return sum;
    }

    [Benchmark(OperationsPerInvoke = Ops)]
    [BenchmarkCategory("back to back")]
    public long LimitTable_HashOnly()
    {
        long sum = 0;
        int p = _position;
        LimitTable table = _table;
        for (int i = 0; i < Ops; i++)
        {
            sum += table.CreateKey(Key(_order[p])).Hash;
            if (++p == Keys)
            {
                p = 0;
            }
        }

        _position = p;
        return sum;
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Ops)]
    [BenchmarkCategory("chained")]
    public long Dictionary_LookupChained()
    {
        long sum = 0;
        int p = _position;
        for (int i = 0; i < Ops; i++)
        {
            long last = _dictionary[_keyValues[_order[p]]].Last;
            sum += last;
            p += 1 + (int)((ulong)last >> 63);     // 'last' is never negative: +1, but only once it is known
            if (p >= Keys)
            {
                p = 0;
            }
        }

        _position = p;
        return sum;
    }

    [Benchmark(OperationsPerInvoke = Ops)]
    [BenchmarkCategory("chained")]
    public long LimitTable_FindChained()
    {
        long sum = 0;
        int p = _position;
        LimitTable table = _table;
        for (int i = 0; i < Ops; i++)
        {
            LimitKey key = table.CreateKey(Key(_order[p]));
            table.TryFind<LimitReqSlotPolicy>(in key, out SlotSnapshot snapshot);
            sum += snapshot.State;
            p += 1 + (int)((ulong)snapshot.State >> 63);
            if (p >= Keys)
            {
                p = 0;
            }
        }

        _position = p;
        return sum;
    }

    private ReadOnlySpan<byte> Key(int index) => new(_keys, index * 4, 4);
}
