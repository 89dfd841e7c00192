using System.Net;
using System.Text;
using BenchmarkDotNet.Attributes;
using FastProxy.Config;
using FastProxy.LoadBalancing;

namespace FastProxy.Benchmarks.LoadBalancing;

/// <summary>Clusters and inputs shared by the load-balancing benchmarks.</summary>
internal static class LoadBalancingBench
{
    public const int Keys = 1024;

    public static ClusterState Cluster(string policy, int servers, bool consistent = false, int stripes = 0)
    {
        var list = new List<UpstreamServerConfig>(servers);
        for (int i = 0; i < servers; i++)
        {
            list.Add(new UpstreamServerConfig
            {
                Address = $"backend{i}.example:80",
                EndPoints = [new IPEndPoint(new IPAddress([10, 0, (byte)(i >> 8), (byte)i]), 80)],
                Weight = 1 + (i % 3),
            });
        }
        var upstream = new UpstreamConfig
        {
            Name = "bench",
            Policy = policy,
            Servers = list,
            HashKey = policy == LoadBalancingPolicies.Hash ? ValueTemplate.Parse("$request_uri") : null,
            HashConsistent = consistent,
        };
        return new ClusterState(upstream, policy: null, new ClusterStateOptions { RoundRobinStripes = stripes });
    }

    public static byte[][] HashKeys() =>
        [.. Enumerable.Range(0, Keys).Select(i => Encoding.ASCII.GetBytes($"/api/v1/items/{i * 7919}?page=2"))];

    public static byte[][] Addresses() =>
        [.. Enumerable.Range(0, Keys).Select(i => new byte[] { 198, (byte)(i >> 8), (byte)i, 17 })];

    /// <summary>
    /// The baseline: nginx's smooth weighted round-robin as nginx runs it (O(servers) per pick), made thread-safe
    /// the naive way, with a lock around the whole pick.
    /// </summary>
    public sealed class LockedSmoothWeightedRoundRobin(int servers)
    {
        private readonly Lock _lock = new();
        private readonly int[] _weights = [.. Enumerable.Range(0, servers).Select(i => 1 + (i % 3))];
        private readonly int[] _current = new int[servers];
        private readonly long[] _inFlight = new long[servers];

        public int Pick()
        {
            int best;
            lock (_lock)
            {
                int total = 0;
                best = -1;
                for (int i = 0; i < _weights.Length; i++)
                {
                    _current[i] += _weights[i];
                    total += _weights[i];
                    if (best < 0 || _current[i] > _current[best])
                    {
                        best = i;
                    }
                }
                _current[best] -= total;
            }
            Interlocked.Increment(ref _inFlight[best]);
            return best;
        }

        public void Release(int index) => Interlocked.Decrement(ref _inFlight[index]);
    }
}

/// <summary>
/// One pick (acquire: pick + max_conns reservation + tried mark) and its release, per policy and cluster size, on
/// one thread. Baseline: nginx's algorithm under a lock.
/// </summary>
[MemoryDiagnoser]
[ShortRunJob]
public class LoadBalancingPickBenchmarks
{
    private const int Ops = 1024;

    private LoadBalancingBench.LockedSmoothWeightedRoundRobin _locked = null!;
    private ClusterState _roundRobin = null!;
    private ClusterState _leastConn = null!;
    private ClusterState _ipHash = null!;
    private ClusterState _hash = null!;
    private ClusterState _hashConsistent = null!;
    private ClusterState _random = null!;
    private ClusterState _randomTwo = null!;
    private byte[][] _keys = null!;
    private byte[][] _addresses = null!;

    [Params(2, 16, 256)]
    public int Servers { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _locked = new LoadBalancingBench.LockedSmoothWeightedRoundRobin(Servers);
        _roundRobin = LoadBalancingBench.Cluster(LoadBalancingPolicies.RoundRobin, Servers);
        _leastConn = LoadBalancingBench.Cluster(LoadBalancingPolicies.LeastConnections, Servers);
        _ipHash = LoadBalancingBench.Cluster(LoadBalancingPolicies.IpHash, Servers);
        _hash = LoadBalancingBench.Cluster(LoadBalancingPolicies.Hash, Servers);
        _hashConsistent = LoadBalancingBench.Cluster(LoadBalancingPolicies.Hash, Servers, consistent: true);
        _random = LoadBalancingBench.Cluster(LoadBalancingPolicies.Random, Servers);
        _randomTwo = LoadBalancingBench.Cluster(LoadBalancingPolicies.RandomTwo, Servers);
        _keys = LoadBalancingBench.HashKeys();
        _addresses = LoadBalancingBench.Addresses();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Ops)]
    public int LockedNaiveRoundRobin()
    {
        int sum = 0;
        for (int i = 0; i < Ops; i++)
        {
            int picked = _locked.Pick();
            _locked.Release(picked);
            sum += picked;
        }
        return sum;
    }

    [Benchmark(OperationsPerInvoke = Ops)]
    public int RoundRobin() => Run(_roundRobin);

    [Benchmark(OperationsPerInvoke = Ops)]
    public int LeastConn() => Run(_leastConn);

    [Benchmark(OperationsPerInvoke = Ops)]
    public int IpHash() => Run(_ipHash);

    [Benchmark(OperationsPerInvoke = Ops)]
    public int Hash() => Run(_hash);

    [Benchmark(OperationsPerInvoke = Ops)]
    public int HashConsistent() => Run(_hashConsistent);

    [Benchmark(OperationsPerInvoke = Ops)]
    public int Random() => Run(_random);

    [Benchmark(OperationsPerInvoke = Ops)]
    public int RandomTwo() => Run(_randomTwo);

    private int Run(ClusterState cluster)
    {
        int sum = 0;
        byte[][] keys = _keys;
        byte[][] addresses = _addresses;
        for (int i = 0; i < Ops; i++)
        {
            var context = new LoadBalancingContext(keys[i], addresses[i]);
            DestinationState picked = cluster.AcquireDestination(ref context)!;
            picked.EndRequest();
            sum += picked.Index;
        }
        return sum;
    }
}

/// <summary>
/// Pick cost under contention: every core picks and releases in a loop at once. Reported per pick (all threads'
/// picks / wall time), so lower is better and perfect scaling would divide the single-thread cost by the core count.
/// </summary>
[MemoryDiagnoser]
[ShortRunJob]
public class LoadBalancingContentionBenchmarks
{
    private const int PicksPerThread = 100_000;

    private static readonly int Threads = Environment.ProcessorCount;

    private LoadBalancingBench.LockedSmoothWeightedRoundRobin _locked = null!;
    private ClusterState _roundRobin = null!;
    private ClusterState _roundRobinOneCounter = null!;
    private ClusterState _leastConn = null!;
    private ClusterState _randomTwo = null!;
    private ClusterState _hashConsistent = null!;
    private byte[][] _keys = null!;

    [Params(16)]
    public int Servers { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _locked = new LoadBalancingBench.LockedSmoothWeightedRoundRobin(Servers);
        _roundRobin = LoadBalancingBench.Cluster(LoadBalancingPolicies.RoundRobin, Servers);
        _roundRobinOneCounter = LoadBalancingBench.Cluster(LoadBalancingPolicies.RoundRobin, Servers, stripes: 1);
        _leastConn = LoadBalancingBench.Cluster(LoadBalancingPolicies.LeastConnections, Servers);
        _randomTwo = LoadBalancingBench.Cluster(LoadBalancingPolicies.RandomTwo, Servers);
        _hashConsistent = LoadBalancingBench.Cluster(LoadBalancingPolicies.Hash, Servers, consistent: true);
        _keys = LoadBalancingBench.HashKeys();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = PicksPerThread)]
    public void LockedNaiveRoundRobin() => Parallel.For(0, Threads, _ =>
    {
        for (int i = 0; i < PicksPerThread / Threads; i++)
        {
            _locked.Release(_locked.Pick());
        }
    });

    [Benchmark(OperationsPerInvoke = PicksPerThread)]
    public void RoundRobinStriped() => RunAll(_roundRobin);

    [Benchmark(OperationsPerInvoke = PicksPerThread)]
    public void RoundRobinOneCounter() => RunAll(_roundRobinOneCounter);

    [Benchmark(OperationsPerInvoke = PicksPerThread)]
    public void LeastConn() => RunAll(_leastConn);

    [Benchmark(OperationsPerInvoke = PicksPerThread)]
    public void RandomTwo() => RunAll(_randomTwo);

    [Benchmark(OperationsPerInvoke = PicksPerThread)]
    public void HashConsistent() => RunAll(_hashConsistent);

    private void RunAll(ClusterState cluster) => Parallel.For(0, Threads, t =>
    {
        byte[][] keys = _keys;
        for (int i = 0; i < PicksPerThread / Threads; i++)
        {
            var context = new LoadBalancingContext(keys[(i + t) & (LoadBalancingBench.Keys - 1)], default);
            cluster.AcquireDestination(ref context)!.EndRequest();
        }
    });
}
