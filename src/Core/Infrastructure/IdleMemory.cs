using System.Diagnostics;
using FastProxy.Http;
using Microsoft.Extensions.Logging;

namespace FastProxy.Infrastructure;

/// <summary>
/// Lets go of what a burst left behind once it has passed, on the heartbeat, at most once a second: the server's
/// pooled HTTP state and the process's pooled buffers, readers, writers and async state machines that nobody took
/// since the last trim, and (when <see cref="ProxyServerOptions.ReturnIdleMemory"/> is on) the memory the GC keeps
/// committed after the burst.
/// nginx frees an idle connection's buffers and state when it goes idle; a .NET process keeps a burst's garbage and
/// the memory under it until its next collection, which a quiet proxy (no allocation per request) never triggers.
/// </summary>
internal sealed class IdleMemory : IHeartbeatHandler
{
    // Trims run at most once a second whatever the tick interval (short timeouts tick every 50 ms).
    private static readonly long ProcessTrimInterval = Stopwatch.Frequency;
    // HTTP state instances kept whatever their use: a handful of requests arriving after a quiet time allocate nothing.
    internal const int KeepHttpConnections = 16;
    private static long s_lastProcessTrim;

    private readonly ConnectionManager _connections;
    private readonly MemoryReturnPolicy? _returnPolicy;
    private readonly ILogger _logger;
    private readonly long _trimInterval;
    private readonly Action _collect;
    private ITrimmablePool? _httpConnections;
    private long _lastTrim = long.MinValue;

    /// <param name="collect">What returns the memory (tests count calls); a full compacting collection by default.</param>
    public IdleMemory(TimeProvider time, ConnectionManager connections, MemoryReturnPolicy? returnPolicy, ILogger logger,
        Action? collect = null)
    {
        _trimInterval = time.TimestampFrequency;
        _collect = collect ?? Collect;
        _connections = connections;
        _returnPolicy = returnPolicy;
        _logger = logger;
    }

    /// <summary>The server's pool of HTTP state, known once the server's services exist.</summary>
    public void Track(ITrimmablePool httpConnections) => _httpConnections = httpConnections;

    public void OnHeartbeat(long now)
    {
        // The server's clock (a test's manual one moves in jumps); the process-wide part below keeps to the real one.
        if (_lastTrim != long.MinValue && now - _lastTrim < _trimInterval)
        {
            return;
        }
        _lastTrim = now;
        _httpConnections?.Trim(KeepHttpConnections);
        TrimProcessPools();
        if (_returnPolicy is not null
            && _returnPolicy.OnTick(now, quiet: _connections.Count == _connections.Parked, GC.GetTotalAllocatedBytes(precise: false)))
        {
            ReturnMemory();
        }
    }

    /// <summary>The pools every server of the process shares: trimmed by whichever server's tick comes first each second.</summary>
    private static void TrimProcessPools()
    {
        long now = Stopwatch.GetTimestamp();
        long last = Volatile.Read(ref s_lastProcessTrim);
        if (now - last < ProcessTrimInterval * 9 / 10 || Interlocked.CompareExchange(ref s_lastProcessTrim, now, last) != last)
        {
            return;
        }
        Transport.Epoll.BufferSegment.TrimShared();
        BoxPools.TrimAll();
        Transport.Epoll.EpollLoop.TrimPools();
    }

    // A full blocking compaction that also decommits the free space (what the GC does under memory pressure). Its
    // pause is short for a proxy's heap (milliseconds at 10,000 idle connections) and comes when nothing is in flight.
    private static void Collect() => GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);

    private void ReturnMemory()
    {
        long started = Stopwatch.GetTimestamp();
        _collect();
        if (_logger.IsEnabled(LogLevel.Debug))
        {
            var info = GC.GetGCMemoryInfo();
            _logger.LogDebug("returned idle memory: heap {Heap} KiB, committed {Committed} KiB, pause {Pause:F1} ms",
                info.HeapSizeBytes / 1024, info.TotalCommittedBytes / 1024, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }
    }
}

/// <summary>
/// When to hand a burst's memory back to the operating system: once the server has had nothing in flight (every open
/// connection parked, or none open) for <see cref="QuietFor"/>, if at least <see cref="BurstBytes"/> were allocated
/// since the last time. So at most once per burst, never under load, and never for the little a quiet proxy allocates.
/// </summary>
internal sealed class MemoryReturnPolicy(TimeProvider time)
{
    public const long BurstBytes = 4 << 20;
    public static readonly TimeSpan QuietFor = TimeSpan.FromSeconds(2);
    private const long NotQuiet = long.MinValue;

    private long _quietSince = NotQuiet;
    private long _allocatedAtLastReturn;

    /// <summary>A heartbeat tick at <paramref name="now"/>; true when the memory should be returned now.</summary>
    public bool OnTick(long now, bool quiet, long allocatedBytes)
    {
        if (!quiet)
        {
            _quietSince = NotQuiet;
            return false;
        }
        if (_quietSince == NotQuiet)
        {
            _quietSince = now;
            return false;
        }
        if (time.GetElapsedTime(_quietSince, now) < QuietFor || allocatedBytes - _allocatedAtLastReturn < BurstBytes)
        {
            return false;
        }
        _allocatedAtLastReturn = allocatedBytes;
        return true;
    }
}
