using System.Net;
using System.Text;
using static FastProxy.LoadBalancing.Tests.TestClusters;

namespace FastProxy.LoadBalancing.Tests;

public class HashLoadBalancingPolicyTests
{
    private static byte[] Key(int i) => Encoding.ASCII.GetBytes($"/item/{i}?v=1");

    // ---- CRC-32 --------------------------------------------------------------------------------------------

    [Fact]
    public void Crc32_CheckValue_MatchesTheStandard()
    {
        Assert.Equal(0xCBF43926u, Crc32.Compute("123456789"u8));
        Assert.Equal(0u, Crc32.Compute([]));
        Assert.Equal(Crc32.Compute("hello world"u8), Crc32.Final(Crc32.Update(Crc32.Update(Crc32.Init, "hello "u8), "world"u8)));
    }

    // ---- ip_hash -------------------------------------------------------------------------------------------

    [Fact]
    public void IpHash_SameSlash24_AlwaysSameServer()
    {
        var cluster = Create(LoadBalancingPolicies.IpHash, Enumerable.Range(1, 5).Select(n => Server(n)));

        for (int net = 0; net < 50; net++)
        {
            DestinationState expected = cluster.PickAndRelease(default, [192, 168, (byte)net, 1])!;
            for (int host = 2; host < 40; host++)
            {
                Assert.Same(expected, cluster.PickAndRelease(default, [192, 168, (byte)net, (byte)host]));
            }
        }
    }

    [Fact]
    public void IpHash_KnownAddress_FollowsNginxFormula()
    {
        var cluster = Create(LoadBalancingPolicies.IpHash, [Server(1, weight: 2), Server(2), Server(3, weight: 3)]);
        byte[] address = [203, 0, 113, 77];

        // nginx: hash = 89; hash = (hash * 113 + octet) % 6271 over the first three octets; w = hash % total_weight.
        uint hash = 89;
        foreach (byte b in address.AsSpan(0, 3))
        {
            hash = (hash * 113 + b) % 6271;
        }
        long w = hash % 6;
        int expected = w < 2 ? 0 : w < 3 ? 1 : 2;

        Assert.Equal(expected, cluster.PickAndRelease(default, address)!.Index);
    }

    [Fact]
    public void IpHash_ManyClients_SpreadRoughlyByWeight()
    {
        var cluster = Create(LoadBalancingPolicies.IpHash, [Server(1, weight: 1), Server(2, weight: 3)]);
        var counts = new int[2];

        for (int i = 0; i < 20_000; i++)
        {
            counts[cluster.PickAndRelease(default, [(byte)(i >> 16), (byte)(i >> 8), (byte)i, 7])!.Index]++;
        }

        Assert.InRange(counts[1] / 20_000.0, 0.70, 0.80);
    }

    [Fact]
    public void IpHash_IPv6_UsesTheWholeAddressAndMappedIPv4EqualsIPv4()
    {
        var cluster = Create(LoadBalancingPolicies.IpHash, Enumerable.Range(1, 7).Select(n => Server(n)));
        byte[] v4 = [198, 51, 100, 20];
        byte[] mapped = IPAddress.Parse("::ffff:198.51.100.20").GetAddressBytes();

        Assert.Same(cluster.PickAndRelease(default, v4), cluster.PickAndRelease(default, mapped));

        var seen = new HashSet<int>();
        for (int i = 0; i < 200; i++)
        {
            byte[] v6 = IPAddress.Parse($"2001:db8::{i:x}").GetAddressBytes();   // differ only in the last bytes
            seen.Add(cluster.PickAndRelease(default, v6)!.Index);
        }
        Assert.True(seen.Count > 1);
    }

    [Fact]
    public void IpHash_ServerDown_OnlyItsClientsMoveAndTheyStick()
    {
        var servers = Enumerable.Range(1, 4).Select(n => Server(n)).ToList();
        var before = Create(LoadBalancingPolicies.IpHash, servers);
        servers[2] = servers[2] with { Down = true };
        var after = Create(LoadBalancingPolicies.IpHash, servers);

        for (int i = 0; i < 2000; i++)
        {
            byte[] address = [10, (byte)(i >> 8), (byte)i, 1];
            int was = before.PickAndRelease(default, address)!.Index;
            int now = after.PickAndRelease(default, address)!.Index;
            Assert.NotEqual(2, now);
            if (was != 2)
            {
                Assert.Equal(was, now);
            }
            Assert.Equal(now, after.PickAndRelease(default, address)!.Index);
        }
    }

    [Fact]
    public void IpHash_EveryServerUnusable_FallsBackToRoundRobinThenNull()
    {
        var cluster = Create(LoadBalancingPolicies.IpHash, [Server(1), Server(2)]);
        var context = new LoadBalancingContext(default, [1, 2, 3, 4]);

        DestinationState first = cluster.AcquireDestination(ref context)!;
        DestinationState second = cluster.AcquireDestination(ref context)!;

        Assert.NotSame(first, second);
        Assert.Null(cluster.AcquireDestination(ref context));
    }

    // ---- hash KEY --------------------------------------------------------------------------------------------

    [Fact]
    public void Hash_SameKey_SameServer()
    {
        var cluster = Create(LoadBalancingPolicies.Hash, Enumerable.Range(1, 6).Select(n => Server(n)));

        for (int i = 0; i < 500; i++)
        {
            Assert.Same(cluster.PickAndRelease(Key(i)), cluster.PickAndRelease(Key(i)));
        }
    }

    [Fact]
    public void Hash_KnownKey_FollowsNginxFormula()
    {
        var cluster = Create(LoadBalancingPolicies.Hash, [Server(1), Server(2, weight: 2), Server(3), Server(4)]);
        byte[] key = "/some/uri?x=1"u8.ToArray();

        uint hash = (Crc32.Compute(key) >> 16) & 0x7fff;   // first try: no rehash prefix
        long w = hash % 5;
        int expected = w < 1 ? 0 : w < 3 ? 1 : w < 4 ? 2 : 3;

        Assert.Equal(expected, cluster.PickAndRelease(key)!.Index);
    }

    [Fact]
    public void Hash_ChosenServerTried_RehashesToAnotherAndRetriesAreDeterministic()
    {
        var cluster = Create(LoadBalancingPolicies.Hash, Enumerable.Range(1, 5).Select(n => Server(n)));
        byte[] key = Key(42);
        var c1 = new LoadBalancingContext(key, default);
        var c2 = new LoadBalancingContext(key, default);

        DestinationState first = cluster.AcquireDestination(ref c1)!;
        DestinationState retry = cluster.AcquireDestination(ref c1)!;
        DestinationState again = cluster.AcquireDestination(ref c2)!;
        DestinationState againRetry = cluster.AcquireDestination(ref c2)!;

        Assert.NotSame(first, retry);
        Assert.Same(first, again);
        Assert.Same(retry, againRetry);
    }

    [Fact]
    public void Hash_ManyKeys_SpreadRoughlyByWeight()
    {
        var cluster = Create(LoadBalancingPolicies.Hash, [Server(1, weight: 2), Server(2, weight: 1), Server(3, weight: 1)]);
        var counts = new int[3];

        for (int i = 0; i < 20_000; i++)
        {
            counts[cluster.PickAndRelease(Key(i))!.Index]++;
        }

        Assert.InRange(counts[0] / 20_000.0, 0.46, 0.54);
        Assert.InRange(counts[1] / 20_000.0, 0.21, 0.29);
    }

    // ---- hash KEY consistent -------------------------------------------------------------------------------

    [Fact]
    public void ConsistentHash_Ring_Has160PointsPerWeightUnit()
    {
        var cluster = Create(LoadBalancingPolicies.Hash, [Server(1), Server(2, weight: 3), Server(3, addresses: 3)], consistent: true);
        var policy = Assert.IsType<ConsistentHashLoadBalancingPolicy>(cluster.Policy);

        Assert.InRange(policy.PointCount, 5 * 160 - 2, 5 * 160);   // CRC-32 collisions are possible, not likely
    }

    [Fact]
    public void ConsistentHash_OneOfTenServersRemoved_MovesAboutATenthOfKeysAndOnlyItsOwn()
    {
        var servers = Enumerable.Range(1, 10).Select(n => Server(n)).ToList();
        var before = Create(LoadBalancingPolicies.Hash, servers, consistent: true);
        var after = Create(LoadBalancingPolicies.Hash, servers.Where((_, i) => i != 6), consistent: true);
        const int Keys = 20_000;
        int moved = 0;

        for (int i = 0; i < Keys; i++)
        {
            string was = before.PickAndRelease(Key(i))!.Config.Address;
            string now = after.PickAndRelease(Key(i))!.Config.Address;
            if (was != now)
            {
                moved++;
                Assert.Equal("backend7.example:80", was);
            }
        }

        Assert.InRange(moved / (double)Keys, 0.10 * 0.6, 0.10 * 1.4);
    }

    [Fact]
    public void ConsistentHash_ServerAdded_MovesAboutOneInNPlusOneKeysAllToTheNewServer()
    {
        var servers = Enumerable.Range(1, 8).Select(n => Server(n)).ToList();
        var before = Create(LoadBalancingPolicies.Hash, servers, consistent: true);
        var after = Create(LoadBalancingPolicies.Hash, servers.Append(Server(9)), consistent: true);
        const int Keys = 20_000;
        int moved = 0;

        for (int i = 0; i < Keys; i++)
        {
            string was = before.PickAndRelease(Key(i))!.Config.Address;
            string now = after.PickAndRelease(Key(i))!.Config.Address;
            if (was != now)
            {
                moved++;
                Assert.Equal("backend9.example:80", now);
            }
        }

        Assert.InRange(moved / (double)Keys, (1 / 9.0) * 0.6, (1 / 9.0) * 1.4);
    }

    [Fact]
    public void ConsistentHash_ServerUnavailable_ItsKeysGoToTheNextPointsOthersStay()
    {
        var time = new ManualTimeProvider();
        var cluster = Create(LoadBalancingPolicies.Hash, Enumerable.Range(1, 5).Select(n => Server(n)), time, consistent: true);
        int[] before = Enumerable.Range(0, 3000).Select(i => cluster.PickAndRelease(Key(i))!.Index).ToArray();

        cluster.Destinations[1].ReportFailure(cluster.Now());

        for (int i = 0; i < 3000; i++)
        {
            int now = cluster.PickAndRelease(Key(i))!.Index;
            Assert.NotEqual(1, now);
            if (before[i] != 1)
            {
                Assert.Equal(before[i], now);
            }
        }
    }

    [Fact]
    public void ConsistentHash_KnownRing_KeyGoesToFirstPointAtOrAfterItsCrc()
    {
        var cluster = Create(LoadBalancingPolicies.Hash, [Server(1), Server(2), Server(3)], consistent: true);

        // Rebuild the ring as nginx does: crc32(HOST "\0" PORT prev_hash_le) for each of 160 points per server.
        var points = new List<(uint Hash, int Server)>();
        for (int s = 0; s < 3; s++)
        {
            uint baseHash = Crc32.Update(Crc32.Update(Crc32.Update(Crc32.Init, Encoding.ASCII.GetBytes($"backend{s + 1}.example")), [0]), "80"u8);
            uint previous = 0;
            for (int j = 0; j < 160; j++)
            {
                uint h = Crc32.Final(Crc32.Update(baseHash, BitConverter.GetBytes(previous)));
                points.Add((h, s));
                previous = h;
            }
        }
        points.Sort();

        for (int i = 0; i < 500; i++)
        {
            uint keyHash = Crc32.Compute(Key(i));
            int at = points.FindIndex(p => p.Hash >= keyHash);
            int expected = points[at < 0 ? 0 : at].Server;
            Assert.Equal(expected, cluster.PickAndRelease(Key(i))!.Index);
        }
    }

    [Fact]
    public void ConsistentHash_ServerWithSeveralAddresses_RotatesAmongThem()
    {
        var cluster = Create(LoadBalancingPolicies.Hash, [Server(1, addresses: 3), Server(2)], consistent: true);
        var seen = new HashSet<int>();
        byte[] key = Enumerable.Range(0, 100).Select(Key).First(k => cluster.PickAndRelease(k)!.ServerIndex == 0);

        for (int i = 0; i < 6; i++)
        {
            DestinationState picked = cluster.PickAndRelease(key)!;
            Assert.Equal(0, picked.ServerIndex);
            seen.Add(picked.Index);
        }

        Assert.Equal(3, seen.Count);
    }
}
