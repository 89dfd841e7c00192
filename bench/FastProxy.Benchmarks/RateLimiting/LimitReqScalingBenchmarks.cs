using System.Buffers.Binary;
using BenchmarkDotNet.Attributes;
using FastProxy.RateLimiting;

namespace FastProxy.Benchmarks.RateLimiting;

/// <summary>
/// Does limit_req throughput rise with cores when clients are distinct? 1 thread against all cores, each thread
/// admitting its own disjoint set of keys, for the lock-free table and for the locked Dictionary (the baseline).
/// </summary>
/// <remarks>
/// <para>Every invocation runs <see cref="Ops"/> admits in total, split evenly over <see cref="Threads"/> threads of a
/// <see cref="WorkerGang"/> (also for 1 thread, so both counts pay the same start and end barriers). The reported
/// time is wall time divided by all admits: lower is more throughput, and perfect scaling divides the 1-thread time
/// by the thread count.</para>
/// <para>"admit path" as in <see cref="LimitReqBenchmarks"/>: each thread passes its own millisecond count, advanced
/// by 1 per request at 1000r/s, and revisits a key only after all its other keys, so every request is admitted and
/// written (lookup, arithmetic, CAS of the state). Keys: <see cref="KeySet.Small"/> is 1,024 keys per thread (a
/// thread's table lines fit its L2), <see cref="KeySet.Large"/> is 100,000 keys split between the threads (the
/// memory-bound case). Both use an 8m zone, the size of the single-threaded 100k benchmarks.</para>
/// <para>Keys are IPv4 addresses, so they land in random buckets and two threads' keys can share a bucket (header
/// line, read-only on this path) and even a slot line (two 32-byte slots per line, both written), as real clients
/// would. <see cref="LockFree_KeysByBucket"/> is the control without any line written by two threads: a second
/// table whose keys are chosen so that thread t only uses buckets b with b mod threads = t.</para>
/// <para>Per-thread mutable state (position in the key order, time) lives in one array with 128 bytes between
/// threads and is written back once per invocation: the harness itself must not share a written cache line.</para>
/// </remarks>
[MemoryDiagnoser]
public class LimitReqScalingBenchmarks
{
    public const int Ops = 1 << 16;

    private const int SmallKeysPerThread = 1024;
    private const int LargeKeys = 100_000;
    private const int Stride = 16;                         // longs per thread in _perThread: 128 bytes apart
    private const int Burst = 10;

    private int _keysPerThread;
    private LimitReqPolicy _policy = null!;
    private LimitReqPolicy _byBucketPolicy = null!;
    private LockedLeakyBuckets _baseline = null!;
    private byte[] _keys = null!;                          // IPv4 addresses, 4 bytes each; thread t owns a range
    private uint[] _keyValues = null!;                     // the same addresses as the baseline's uint keys
    private byte[] _byBucketKeys = null!;                  // the control's addresses, also one range per thread
    private int[][] _orders = null!;                       // per thread: offsets into its range, in arrival order
    private long[] _perThread = null!;                     // per thread: [0] position in its order, [1] time (ms)
    private WorkerGang _gang = null!;
    private Action<int> _lockFree = null!;
    private Action<int> _lockFreeByBucket = null!;
    private Action<int> _lockedDictionary = null!;

    public enum KeySet
    {
        /// <summary>1,024 keys per thread.</summary>
        Small,

        /// <summary>100,000 keys in total, split between the threads.</summary>
        Large,
    }

    [ParamsSource(nameof(ThreadCounts))]
    public int Threads { get; set; }

    [Params(KeySet.Small, KeySet.Large)]
    public KeySet Keys { get; set; }

    public static IEnumerable<int> ThreadCounts => Environment.ProcessorCount > 1 ? [1, Environment.ProcessorCount] : [1];

    [GlobalSetup]
    public void Setup()
    {
        _keysPerThread = Keys == KeySet.Small ? SmallKeysPerThread : LargeKeys / Threads;
        int keyCount = _keysPerThread * Threads;

        var registry = new LimitZoneRegistry(new FrozenTimeProvider());
        LimitReqZone zone = CreateZone("scale", registry);
        LimitReqZone byBucketZone = CreateZone("by-bucket", registry);
        _policy = new LimitReqPolicy([LimitReqRule.WithNoDelay(zone, Burst)]);
        _byBucketPolicy = new LimitReqPolicy([LimitReqRule.WithNoDelay(byBucketZone, Burst)]);
        _baseline = new LockedLeakyBuckets(LimitRate.PerSecond(1000).MilliPerSecond, Burst * 1000L, keyCount);

        _keys = new byte[keyCount * 4];
        _keyValues = new uint[keyCount];
        for (int i = 0; i < keyCount; i++)
        {
            _keyValues[i] = 0x0A000000u + (uint)(i * 7919);
            BinaryPrimitives.WriteUInt32BigEndian(_keys.AsSpan(i * 4), _keyValues[i]);
        }

        _byBucketKeys = KeysByBucket(byBucketZone.Table, keyCount);

        // Thread t owns keys [t * keysPerThread, (t + 1) * keysPerThread), visited in a fixed random order.
        var random = new Random(12345);
        _orders = new int[Threads][];
        for (int t = 0; t < Threads; t++)
        {
            _orders[t] = Enumerable.Range(t * _keysPerThread, _keysPerThread).ToArray();
            random.Shuffle(_orders[t]);
        }

        _perThread = new long[(Threads + 1) * Stride];

        // Create every state at time 0, so that the measured requests only find keys.
        for (int i = 0; i < keyCount; i++)
        {
            _policy.Evaluate(new SingleLimitKey(Key(_keys, i)), 0);
            _byBucketPolicy.Evaluate(new SingleLimitKey(Key(_byBucketKeys, i)), 0);
            _baseline.TryAdmit(_keyValues[i], 0);
        }

        // Check the claim "every request is admitted" once per thread and method.
        for (int t = 0; t < Threads; t++)
        {
            Rewind();
            int lockFree = RunLockFree(t, _policy, _keys);
            Rewind();
            int byBucket = RunLockFree(t, _byBucketPolicy, _byBucketKeys);
            Rewind();
            int baseline = RunLockedDictionary(t);
            if (lockFree != Share(t) || byBucket != Share(t) || baseline != Share(t))
            {
                throw new InvalidOperationException($"Thread {t} admitted {lockFree}, {byBucket} and {baseline} of {Share(t)}.");
            }
        }

        // Later times than anything used above (keys states never go back in time).
        Rewind();
        for (int t = 0; t < Threads; t++)
        {
            _perThread[(t + 1) * Stride + 1] = 1L << 20;
        }

        _lockFree = id => RunLockFree(id, _policy, _keys);
        _lockFreeByBucket = id => RunLockFree(id, _byBucketPolicy, _byBucketKeys);
        _lockedDictionary = id => RunLockedDictionary(id);
        _gang = new WorkerGang(Threads);

        void Rewind()
        {
            for (int t = 0; t < Threads; t++)
            {
                _perThread[(t + 1) * Stride] = 0;
                _perThread[(t + 1) * Stride + 1] = 1;
            }
        }
    }

    [GlobalCleanup]
    public void Cleanup() => _gang.Dispose();

    [Benchmark(Baseline = true, OperationsPerInvoke = Ops)]
    public void LockedDictionary() => _gang.Run(_lockedDictionary);

    [Benchmark(OperationsPerInvoke = Ops)]
    public void LockFree() => _gang.Run(_lockFree);

    [Benchmark(OperationsPerInvoke = Ops)]
    public void LockFree_KeysByBucket() => _gang.Run(_lockFreeByBucket);

    private static LimitReqZone CreateZone(string name, LimitZoneRegistry registry)
        => LimitReqZone.Create(name, 8 << 20, "$binary_remote_addr", LimitRate.PerSecond(1000), registry.Clock);

    // Addresses whose bucket b in 'table' satisfies b mod Threads = t, for each thread t in turn: no bucket (and so
    // no cache line of the table) is used by two threads.
    private byte[] KeysByBucket(LimitTable table, int keyCount)
    {
        var keys = new byte[keyCount * 4];
        var filled = new int[Threads];
        int done = 0;
        Span<byte> address = stackalloc byte[4];
        for (uint c = 0; done < keyCount; c++)
        {
            BinaryPrimitives.WriteUInt32BigEndian(address, 0x0B000000u + c * 7919);
            int bucket = (int)(((ulong)table.CreateKey(address).Hash * (uint)table.BucketCount) >> 32);  // as LimitTable
            int t = bucket % Threads;
            if (filled[t] < _keysPerThread)
            {
                address.CopyTo(keys.AsSpan((t * _keysPerThread + filled[t]++) * 4));
                done++;
            }
        }

        return keys;
    }

    private int RunLockFree(int id, LimitReqPolicy policy, byte[] keys)
    {
        int[] order = _orders[id];
        ref long position = ref _perThread[(id + 1) * Stride];
        ref long time = ref _perThread[(id + 1) * Stride + 1];
        int p = (int)position;
        long now = time;
        int admitted = 0;
        for (int i = Share(id); i > 0; i--)
        {
            admitted += policy.Evaluate(new SingleLimitKey(Key(keys, order[p])), now++).Action == LimitAction.Pass ? 1 : 0;
            if (++p == order.Length)
            {
                p = 0;
            }
        }

        position = p;
        time = now;
        return admitted;
    }

    private int RunLockedDictionary(int id)
    {
        LockedLeakyBuckets baseline = _baseline;
        uint[] keyValues = _keyValues;
        int[] order = _orders[id];
        ref long position = ref _perThread[(id + 1) * Stride];
        ref long time = ref _perThread[(id + 1) * Stride + 1];
        int p = (int)position;
        long now = time;
        int admitted = 0;
        for (int i = Share(id); i > 0; i--)
        {
            admitted += baseline.TryAdmit(keyValues[order[p]], now++) ? 1 : 0;
            if (++p == order.Length)
            {
                p = 0;
            }
        }

        position = p;
        time = now;
        return admitted;
    }

    // Ops split over the threads, the first ones taking the remainder: the total is exactly Ops.
    private int Share(int id) => Ops / Threads + (id < Ops % Threads ? 1 : 0);

    private static ReadOnlySpan<byte> Key(byte[] keys, int index) => new(keys, index * 4, 4);
}
