namespace FastProxy.LoadBalancing;

/// <summary>
/// The primary servers or the backup servers of a cluster (nginx keeps them as two peer lists, the backups being
/// used only when no primary is available).
/// </summary>
internal sealed class DestinationTier
{
    private long _nextProbeDue = long.MaxValue;

    public DestinationTier(DestinationState[] members, bool isBackup)
    {
        Members = members;
        IsBackup = isBackup;
        long total = 0;
        foreach (DestinationState member in members)
        {
            total += member.Weight;
        }
        TotalWeight = total;
    }

    public DestinationState[] Members { get; }

    public bool IsBackup { get; }

    /// <summary>Sum of the configured weights, <c>down</c> servers included (as nginx's total_weight).</summary>
    public long TotalWeight { get; }

    /// <summary>
    /// The earliest time a passively unavailable member may be probed (<see cref="long.MaxValue"/> when none is
    /// unavailable): round-robin's schedule leaves such members out, so it looks for a due probe only from then on.
    /// </summary>
    public long NextProbeDue => Volatile.Read(ref _nextProbeDue);

    public void LowerNextProbeDue(long due)
    {
        long current = Volatile.Read(ref _nextProbeDue);
        while (due < current)
        {
            long seen = Interlocked.CompareExchange(ref _nextProbeDue, due, current);
            if (seen == current)
            {
                return;
            }
            current = seen;
        }
    }

    public void SetNextProbeDue(long due) => Volatile.Write(ref _nextProbeDue, due);
}
