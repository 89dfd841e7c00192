namespace FastProxy.FunctionalTests.Infrastructure;

/// <summary>Polling with a deadline, for conditions that have no event to await (counters on the server side).</summary>
public static class Waits
{
    public static async Task UntilAsync(Func<bool> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("timed out waiting until " + what);
            }
            await Task.Delay(10);
        }
    }
}
