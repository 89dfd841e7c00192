using System.Diagnostics;
using FastProxy.Http;
using FastProxy.LoadBalancing.Tests;
using FastProxy.Transport.Epoll;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.ObjectPool;

namespace FastProxy.Infrastructure.Tests;

public sealed class SharedStockTests
{
    private static SharedStock<object> Filled(int count, int limit = 100)
    {
        var stock = new SharedStock<object>(limit);
        for (int i = 0; i < count; i++)
        {
            Assert.True(stock.TryAdd(new object()));
        }
        return stock;
    }

    [Fact]
    public void Trim_FirstCall_DropsNothing()
    {
        // What was added since the last trim (here: ever) may be in use right now: only a whole period unused counts.
        var stock = Filled(10);
        Assert.Equal(0, stock.Trim(keep: 0));
        Assert.Equal(10, stock.Count);
    }

    [Fact]
    public void Trim_NothingTakenSinceLastTrim_DropsAllButKeep()
    {
        var stock = Filled(10);
        stock.Trim(keep: 0);
        Assert.Equal(7, stock.Trim(keep: 3));
        Assert.Equal(3, stock.Count);
    }

    [Fact]
    public void Trim_SomeTakenMeanwhile_DropsOnlyTheNeverTakenPart()
    {
        var stock = Filled(10);
        stock.Trim(keep: 0);
        var taken = new List<object>();
        for (int i = 0; i < 4; i++)
        {
            Assert.True(stock.TryTake(out var item));
            taken.Add(item);
        }
        foreach (var item in taken)
        {
            stock.TryAdd(item);
        }

        // At least 4 of the 10 were in use during the period: those stay, the 6 that never left go.
        Assert.Equal(6, stock.Trim(keep: 0));
        Assert.Equal(4, stock.Count);
        // Nothing taken in the next period: the rest go too.
        Assert.Equal(4, stock.Trim(keep: 0));
        Assert.False(stock.TryTake(out _));
    }

    [Fact]
    public void TryAdd_Full_Refused()
    {
        var stock = Filled(2, limit: 2);
        Assert.False(stock.TryAdd(new object()));
        Assert.Equal(2, stock.Count);
    }
}

public sealed class TrimmingObjectPoolTests
{
    private sealed class CountingPolicy : IPooledObjectPolicy<List<int>>
    {
        public int Created;

        public List<int> Create()
        {
            Created++;
            return [];
        }

        public bool Return(List<int> obj) => obj.Count == 0;
    }

    [Fact]
    public void Get_Empty_CreatesThenReusesWhatWasReturned()
    {
        var policy = new CountingPolicy();
        var pool = new TrimmingObjectPool<List<int>>(policy, 4);
        var first = pool.Get();
        pool.Return(first);
        Assert.Same(first, pool.Get());
        Assert.Equal(1, policy.Created);
    }

    [Fact]
    public void Return_PolicyRefuses_NotKept()
    {
        var pool = new TrimmingObjectPool<List<int>>(new CountingPolicy(), 4);
        pool.Return([1]);
        Assert.Equal(0, pool.Count);
    }

    [Fact]
    public void Trim_UnusedForAPeriod_KeepsTheReserve()
    {
        var policy = new CountingPolicy();
        var pool = new TrimmingObjectPool<List<int>>(policy, 100);
        var burst = Enumerable.Range(0, 50).Select(_ => pool.Get()).ToList();
        burst.ForEach(pool.Return);
        pool.Trim(keep: 5);
        Assert.Equal(45, pool.Trim(keep: 5));
        Assert.Equal(5, pool.Count);
    }
}

public sealed class MemoryReturnPolicyTests
{
    private const long Burst = MemoryReturnPolicy.BurstBytes;

    [Fact]
    public void OnTick_QuietLongEnoughAfterABurst_ReturnsOnce()
    {
        var clock = new ManualTimeProvider();
        var policy = new MemoryReturnPolicy(clock);
        Assert.False(policy.OnTick(clock.GetTimestamp(), quiet: true, Burst));
        clock.Advance(TimeSpan.FromSeconds(1));
        Assert.False(policy.OnTick(clock.GetTimestamp(), quiet: true, Burst));
        clock.Advance(TimeSpan.FromSeconds(1));
        Assert.True(policy.OnTick(clock.GetTimestamp(), quiet: true, Burst));
        // Still quiet, nothing allocated since: nothing more to hand back.
        clock.Advance(TimeSpan.FromSeconds(1));
        Assert.False(policy.OnTick(clock.GetTimestamp(), quiet: true, Burst + 1000));
    }

    [Fact]
    public void OnTick_LittleAllocated_NeverReturns()
    {
        var clock = new ManualTimeProvider();
        var policy = new MemoryReturnPolicy(clock);
        for (int i = 0; i < 10; i++)
        {
            Assert.False(policy.OnTick(clock.GetTimestamp(), quiet: true, Burst - 1));
            clock.Advance(TimeSpan.FromSeconds(1));
        }
    }

    [Fact]
    public void OnTick_BusyTickInBetween_QuietTimeStartsAgain()
    {
        var clock = new ManualTimeProvider();
        var policy = new MemoryReturnPolicy(clock);
        policy.OnTick(clock.GetTimestamp(), quiet: true, Burst);
        clock.Advance(TimeSpan.FromSeconds(1.5));
        Assert.False(policy.OnTick(clock.GetTimestamp(), quiet: false, Burst));
        clock.Advance(TimeSpan.FromSeconds(1));
        Assert.False(policy.OnTick(clock.GetTimestamp(), quiet: true, Burst));
        clock.Advance(TimeSpan.FromSeconds(1.5));
        Assert.False(policy.OnTick(clock.GetTimestamp(), quiet: true, Burst));
        clock.Advance(TimeSpan.FromSeconds(0.5));
        Assert.True(policy.OnTick(clock.GetTimestamp(), quiet: true, Burst));
    }

    [Fact]
    public void OnTick_SecondBurst_ReturnsAgain()
    {
        var clock = new ManualTimeProvider();
        var policy = new MemoryReturnPolicy(clock);
        policy.OnTick(clock.GetTimestamp(), quiet: true, Burst);
        clock.Advance(TimeSpan.FromSeconds(2));
        Assert.True(policy.OnTick(clock.GetTimestamp(), quiet: true, Burst));
        policy.OnTick(clock.GetTimestamp(), quiet: false, 2 * Burst);
        policy.OnTick(clock.GetTimestamp(), quiet: true, 2 * Burst);
        clock.Advance(TimeSpan.FromSeconds(2));
        Assert.True(policy.OnTick(clock.GetTimestamp(), quiet: true, 2 * Burst));
    }
}

public sealed class IdleMemoryTests
{
    private sealed class RecordingPool : ITrimmablePool
    {
        public List<int> Trims { get; } = [];

        public int Trim(int keep)
        {
            Trims.Add(keep);
            return 0;
        }
    }

    [Fact]
    public void OnHeartbeat_TicksFasterThanASecond_TrimsOnceASecond()
    {
        var clock = new ManualTimeProvider();
        var idle = new IdleMemory(clock, new ConnectionManager(), returnPolicy: null, NullLogger.Instance);
        var pool = new RecordingPool();
        idle.Track(pool);
        for (int i = 0; i < 40; i++) // two seconds of 50 ms ticks
        {
            idle.OnHeartbeat(clock.GetTimestamp());
            clock.Advance(TimeSpan.FromMilliseconds(50));
        }
        Assert.Equal(2, pool.Trims.Count);
        Assert.All(pool.Trims, keep => Assert.Equal(IdleMemory.KeepHttpConnections, keep));
    }

    [Fact]
    public void OnHeartbeat_NothingInFlightForTwoSeconds_ReturnsMemoryOnce()
    {
        // No connection open: nothing in flight. This process has allocated far more than a burst's 4 MiB by now.
        Assert.True(GC.GetTotalAllocatedBytes() >= MemoryReturnPolicy.BurstBytes);
        var clock = new ManualTimeProvider();
        int collections = 0;
        var idle = new IdleMemory(clock, new ConnectionManager(), new MemoryReturnPolicy(clock), NullLogger.Instance, () => collections++);
        for (int i = 0; i < 6; i++)
        {
            idle.OnHeartbeat(clock.GetTimestamp());
            clock.Advance(TimeSpan.FromSeconds(1));
        }
        Assert.Equal(1, collections);
    }

    [Fact]
    public void OnHeartbeat_WithoutAReturnPolicy_NeverCollects()
    {
        var clock = new ManualTimeProvider();
        int collections = 0;
        var idle = new IdleMemory(clock, new ConnectionManager(), returnPolicy: null, NullLogger.Instance, () => collections++);
        for (int i = 0; i < 6; i++)
        {
            idle.OnHeartbeat(clock.GetTimestamp());
            clock.Advance(TimeSpan.FromSeconds(1));
        }
        Assert.Equal(0, collections);
    }
}

public sealed class LoopPoolTests
{
    private sealed class Item;

    [Fact]
    public void Trim_GivenBackLongAgo_DropsAllButTheReserve()
    {
        // The pool is per thread: this test's thread has its own.
        for (int i = 0; i < LoopPool<Item>.Keep + 10; i++)
        {
            LoopPool<Item>.Return(new Item());
        }
        long now = Stopwatch.GetTimestamp();
        Assert.Equal(0, LoopPool<Item>.Trim(now));

        long later = now + (long)(LoopPool<Item>.IdleAge.TotalSeconds * 2 * Stopwatch.Frequency);
        Assert.Equal(10, LoopPool<Item>.Trim(later));
        Assert.Equal(LoopPool<Item>.Keep, LoopPool<Item>.CountOnThisThread);
    }
}
