namespace FastProxy.LoadBalancing;

/// <summary>
/// What a policy may look at when it picks, and which destinations this request already tried. Lives on the stack:
/// no allocation per pick. A ref struct cannot cross an <c>await</c>, so the engine keeps <see cref="Tried"/> (and,
/// for clusters of more than 64 destinations, the array behind <see cref="TriedOverflow"/>) in its per-request state
/// and builds a fresh context for each attempt.
/// </summary>
/// <remarks>
/// The tried set is a bitset over <see cref="DestinationState.Index"/>: <see cref="Tried"/> holds indexes 0..63 and
/// <see cref="TriedOverflow"/>[k] holds indexes 64(k+1)..64(k+1)+63 (size it with
/// <see cref="ClusterState.TriedOverflowLength"/>). Without overflow storage, an index of 64 or more folds onto bit
/// <c>index % 64</c> of <see cref="Tried"/> (the same bit C#'s <c>1UL &lt;&lt; index</c> sets): a retry then never
/// returns a destination it tried, but may also skip an untried one that shares the bit.
/// </remarks>
public ref struct LoadBalancingContext
{
    /// <summary>The evaluated <c>hash</c> key; empty when none (nginx then hashes the empty string).</summary>
    public ReadOnlySpan<byte> HashKey;

    /// <summary>The client's address bytes (4 for IPv4, 16 for IPv6), used by ip_hash.</summary>
    public ReadOnlySpan<byte> ClientAddress;

    /// <summary>Destinations already tried by this request: bit i = destination index i (i &lt; 64).</summary>
    public ulong Tried;

    /// <summary>Tried bits for destination indexes 64 and up (word k = indexes 64(k+1)...); may be empty.</summary>
    public Span<ulong> TriedOverflow;

    /// <summary>
    /// The <see cref="TimeProvider.GetTimestamp"/> of this pick (the cluster's TimeProvider); 0 = not read yet: the
    /// cluster reads its clock once and stores it here so a pick reads the clock at most once.
    /// </summary>
    public long Timestamp;

    private bool _saturated;

    public LoadBalancingContext(ReadOnlySpan<byte> hashKey, ReadOnlySpan<byte> clientAddress, ulong tried = 0, Span<ulong> triedOverflow = default)
    {
        HashKey = hashKey;
        ClientAddress = clientAddress;
        Tried = tried;
        TriedOverflow = triedOverflow;
    }

    /// <summary>
    /// Set by <see cref="ClusterState.PickDestination"/> when it returns null although some untried, healthy
    /// destination exists that is only at its <c>max_conns</c>: waiting for a slot may help (see
    /// <see cref="ClusterState.WhenCapacityReleased"/>); false means nothing will help but health recovering.
    /// </summary>
    public readonly bool Saturated => _saturated;

    internal void SetSaturated(bool value) => _saturated = value;

    /// <summary>True when this request already tried the destination with this index.</summary>
    public readonly bool IsTried(int index)
    {
        if (index < 64)
        {
            return (Tried & (1UL << index)) != 0;
        }
        int word = (index >> 6) - 1;
        if ((uint)word < (uint)TriedOverflow.Length)
        {
            return (TriedOverflow[word] & (1UL << index)) != 0;   // the shift count is taken mod 64
        }
        return (Tried & (1UL << index)) != 0;   // no overflow storage: folded onto bit index % 64
    }

    /// <summary>Records that this request tried the destination with this index.</summary>
    public void MarkTried(int index)
    {
        if (index >= 64)
        {
            int word = (index >> 6) - 1;
            if ((uint)word < (uint)TriedOverflow.Length)
            {
                TriedOverflow[word] |= 1UL << index;
                return;
            }
        }
        Tried |= 1UL << index;
    }

    /// <summary>True when the request tried at least one destination (a retry).</summary>
    public readonly bool HasTried
    {
        get
        {
            if (Tried != 0)
            {
                return true;
            }
            foreach (ulong word in TriedOverflow)
            {
                if (word != 0)
                {
                    return true;
                }
            }
            return false;
        }
    }
}
