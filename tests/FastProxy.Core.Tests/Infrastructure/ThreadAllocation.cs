namespace FastProxy.Core.Tests;

/// <summary>What a piece of per-request code allocates on the calling thread, for the allocation tests.</summary>
internal static class ThreadAllocation
{
    /// <summary>
    /// Runs <paramref name="run"/> 100 times to warm up, then three rounds of 1,000 runs, and returns the bytes the
    /// least-allocating round allocated on this thread. Allocation per run shows in every round; a one-off (the JIT
    /// promoting a method to its next tier mid-round, a regex runner made because another thread held the cached one)
    /// shows in one at most.
    /// </summary>
    public static long LeastOfThreeRounds(Action run)
    {
        for (int i = 0; i < 100; i++)
        {
            run();
        }
        long least = long.MaxValue;
        for (int round = 0; round < 3; round++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 1000; i++)
            {
                run();
            }
            least = Math.Min(least, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        return least;
    }
}
