using System.Collections.Frozen;
using System.Diagnostics.CodeAnalysis;

namespace FastProxy.RateLimiting;

/// <summary>A <c>limit_req_zone</c> of a configuration.</summary>
internal sealed record LimitReqZoneSpec(string Name, long SizeBytes, string Key, LimitRate Rate);

/// <summary>A <c>limit_conn_zone</c> of a configuration.</summary>
internal sealed record LimitConnZoneSpec(string Name, long SizeBytes, string Key);

/// <summary>The zones of one configuration snapshot, by name.</summary>
internal sealed class LimitZoneSet
{
    internal LimitZoneSet(FrozenDictionary<string, LimitReqZone> requestZones, FrozenDictionary<string, LimitConnZone> connectionZones)
    {
        RequestZones = requestZones;
        ConnectionZones = connectionZones;
    }

    public static LimitZoneSet Empty { get; } = new(
        FrozenDictionary<string, LimitReqZone>.Empty, FrozenDictionary<string, LimitConnZone>.Empty);

    public FrozenDictionary<string, LimitReqZone> RequestZones { get; }

    public FrozenDictionary<string, LimitConnZone> ConnectionZones { get; }
}

/// <summary>
/// Keeps limit zones, and their state, across configuration reloads.
/// </summary>
/// <remarks>
/// nginx keeps a shared memory zone across a reload when the new configuration declares a zone of the same name, for
/// the same module and of the same size (ngx_init_cycle); the zone's init function then receives the old zone's data.
/// ngx_http_limit_req_init_zone and ngx_http_limit_conn_init_zone accept it only if the key is unchanged (otherwise
/// "limit_req "one" uses the "$a" key while previously it used the "$b" key" and the reload fails), and take the new
/// configuration's rate. A zone whose size changed starts empty. We do the same: <see cref="TryApply"/> returns the
/// existing zone object when nothing changed, a new zone object over the existing table when only the rate changed,
/// a new empty zone when the size changed or the kind changed, and refuses the whole configuration when a kept zone
/// changed its key. Zones the new configuration no longer declares are dropped (requests in flight on the old
/// snapshot keep using them until they finish).
/// </remarks>
internal sealed class LimitZoneRegistry
{
    private readonly Lock _gate = new();
    private LimitZoneSet _current = LimitZoneSet.Empty;

    public LimitZoneRegistry(TimeProvider? time = null) => Clock = new LimitClock(time ?? TimeProvider.System);

    /// <summary>The clock every zone of this registry uses.</summary>
    public LimitClock Clock { get; }

    public LimitZoneSet Current => Volatile.Read(ref _current);

    /// <summary>Builds the zone set of a new configuration, keeping state where nginx would. Errors are reported as
    /// a message naming the zone; the registry is unchanged then.</summary>
    public bool TryApply(
        IReadOnlyList<LimitReqZoneSpec> requestZones,
        IReadOnlyList<LimitConnZoneSpec> connectionZones,
        [NotNullWhen(true)] out LimitZoneSet? zones,
        [NotNullWhen(false)] out string? error)
    {
        lock (_gate)
        {
            if (!TryPrepare(requestZones, connectionZones, out zones, out error))
            {
                return false;
            }

            Commit(zones);
            return true;
        }
    }

    /// <summary>
    /// Makes <paramref name="zones"/> (from <see cref="TryPrepare"/>) the set the next configuration is compared with.
    /// </summary>
    /// <remarks>
    /// A reload can still fail after its zones were prepared (another configuration error, a listen address that
    /// cannot be bound); nginx then keeps running the old cycle, and its next reload is compared with that, not with
    /// the one that failed. So the engine commits only the zone set of the configuration it actually switched to.
    /// </remarks>
    public void Commit(LimitZoneSet zones)
    {
        ArgumentNullException.ThrowIfNull(zones);
        lock (_gate)
        {
            Volatile.Write(ref _current, zones);
        }
    }

    /// <summary>As <see cref="TryApply"/>, without making the result current: see <see cref="Commit"/>.</summary>
    public bool TryPrepare(
        IReadOnlyList<LimitReqZoneSpec> requestZones,
        IReadOnlyList<LimitConnZoneSpec> connectionZones,
        [NotNullWhen(true)] out LimitZoneSet? zones,
        [NotNullWhen(false)] out string? error)
    {
        ArgumentNullException.ThrowIfNull(requestZones);
        ArgumentNullException.ThrowIfNull(connectionZones);
        zones = null;

        lock (_gate)
        {
            if (!Validate(requestZones, connectionZones, out error))
            {
                return false;
            }

            LimitZoneSet old = _current;
            var req = new Dictionary<string, LimitReqZone>(StringComparer.Ordinal);
            foreach (LimitReqZoneSpec spec in requestZones)
            {
                if (old.RequestZones.TryGetValue(spec.Name, out LimitReqZone? existing) && existing.SizeBytes == spec.SizeBytes)
                {
                    if (!string.Equals(existing.Key, spec.Key, StringComparison.Ordinal))
                    {
                        error = $"limit_req \"{spec.Name}\" uses the \"{spec.Key}\" key while previously it used the \"{existing.Key}\" key";
                        return false;
                    }

                    req[spec.Name] = existing.Rate == spec.Rate ? existing : existing.WithRate(spec.Rate);
                    continue;
                }

                req[spec.Name] = LimitReqZone.Create(spec.Name, spec.SizeBytes, spec.Key, spec.Rate, Clock);
            }

            var conn = new Dictionary<string, LimitConnZone>(StringComparer.Ordinal);
            foreach (LimitConnZoneSpec spec in connectionZones)
            {
                if (old.ConnectionZones.TryGetValue(spec.Name, out LimitConnZone? existing) && existing.SizeBytes == spec.SizeBytes)
                {
                    if (!string.Equals(existing.Key, spec.Key, StringComparison.Ordinal))
                    {
                        error = $"limit_conn_zone \"{spec.Name}\" uses the \"{spec.Key}\" key while previously it used the \"{existing.Key}\" key";
                        return false;
                    }

                    conn[spec.Name] = existing;
                    continue;
                }

                conn[spec.Name] = LimitConnZone.Create(spec.Name, spec.SizeBytes, spec.Key, Clock);
            }

            zones = new LimitZoneSet(req.ToFrozenDictionary(StringComparer.Ordinal), conn.ToFrozenDictionary(StringComparer.Ordinal));
            error = null;
            return true;
        }
    }

    private static bool Validate(
        IReadOnlyList<LimitReqZoneSpec> requestZones, IReadOnlyList<LimitConnZoneSpec> connectionZones, [NotNullWhen(false)] out string? error)
    {
        // nginx shared memory zones share one namespace across modules.
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (LimitReqZoneSpec spec in requestZones)
        {
            if (!ValidateCommon(spec.Name, spec.SizeBytes, spec.Key, "limit_req_zone", names, out error))
            {
                return false;
            }

            if (spec.Rate.MilliPerSecond < 1)
            {
                error = $"limit_req_zone \"{spec.Name}\": invalid rate";
                return false;
            }

            try
            {
                LimitReqZone.BucketsForSize(spec.SizeBytes);
            }
            catch (ArgumentOutOfRangeException)
            {
                error = $"zone \"{spec.Name}\" is too large";
                return false;
            }
        }

        foreach (LimitConnZoneSpec spec in connectionZones)
        {
            if (!ValidateCommon(spec.Name, spec.SizeBytes, spec.Key, "limit_conn_zone", names, out error))
            {
                return false;
            }

            try
            {
                LimitConnZone.BucketsForSize(spec.SizeBytes);
            }
            catch (ArgumentOutOfRangeException)
            {
                error = $"zone \"{spec.Name}\" is too large";
                return false;
            }
        }

        error = null;
        return true;
    }

    private static bool ValidateCommon(string name, long size, string key, string directive, HashSet<string> names, [NotNullWhen(false)] out string? error)
    {
        if (string.IsNullOrEmpty(name) || key is null)
        {
            error = $"\"{directive}\" must have \"zone\" parameter and a key";
            return false;
        }

        if (!names.Add(name))
        {
            error = $"the shared memory zone \"{name}\" is declared twice";
            return false;
        }

        if (size < LimitReqZone.MinSizeBytes)
        {
            error = $"zone \"{name}\" is too small";
            return false;
        }

        error = null;
        return true;
    }
}
