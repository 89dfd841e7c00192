namespace FastProxy.LoadBalancing;

/// <summary>
/// Maps a value in [0, total weight) to the server whose weight range holds it, as nginx's hash, ip_hash and random
/// do by walking the peers (<c>while (w &gt;= peer-&gt;weight) w -= peer-&gt;weight</c>); here a binary search over
/// cumulative weights gives the same answer in O(log n). Down servers keep their range (so marking one down moves
/// only its own keys).
/// </summary>
internal sealed class WeightTable
{
    private readonly long[] _ends;   // _ends[i] = weights[0] + ... + weights[i]

    public WeightTable(DestinationState[] members)
    {
        _ends = new long[members.Length];
        long total = 0;
        for (int i = 0; i < members.Length; i++)
        {
            total += members[i].Weight;
            _ends[i] = total;
        }
        Total = total;
    }

    public long Total { get; }

    /// <summary>The member index i with ends[i-1] &lt;= value &lt; ends[i].</summary>
    public int Find(long value)
    {
        int lo = 0;
        int hi = _ends.Length - 1;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (value < _ends[mid])
            {
                hi = mid;
            }
            else
            {
                lo = mid + 1;
            }
        }
        return lo;
    }
}
