namespace FastProxy.LoadBalancing;

/// <summary>The randomness seam of the random policies, so tests can inject a deterministic sequence.</summary>
public interface IRandom
{
    /// <summary>A uniformly distributed integer in [0, <paramref name="maxExclusive"/>). Called concurrently.</summary>
    int Next(int maxExclusive);
}

/// <summary>The default: <see cref="System.Random.Shared"/> (thread-safe, per-thread state, no lock).</summary>
internal sealed class SharedRandom : IRandom
{
    public static SharedRandom Instance { get; } = new();

    public int Next(int maxExclusive) => System.Random.Shared.Next(maxExclusive);
}
