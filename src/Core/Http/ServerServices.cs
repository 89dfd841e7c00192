using System.IO.Pipelines;
using FastProxy.Infrastructure;
using FastProxy.Runtime;
using FastProxy.Upstreams;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.ObjectPool;

namespace FastProxy.Http;

/// <summary>What every connection of one server shares: clock, Date line, logger, pools, the current snapshot.</summary>
internal sealed class ServerServices
{
    private ProxySnapshot _snapshot;
    private long _connectionSerial;

    public ServerServices(ProxySnapshot snapshot, Heartbeat heartbeat, DateHeader date, ILogger logger,
        ConnectionManager connections, UpstreamPoolRegistry pools, PipeScheduler scheduler)
    {
        _snapshot = snapshot;
        Heartbeat = heartbeat;
        Date = date;
        Logger = logger;
        Connections = connections;
        Pools = pools;
        Scheduler = scheduler;
        SocketArgs = new Transport.SocketArgsPool(scheduler);
        HttpConnections = new TrimmingObjectPool<Http1Connection>(new Http1ConnectionPolicy(this), MaxPooledHttpConnections);
        Transport = FastProxy.Transport.TransportFactories.Create(scheduler, SocketArgs);
    }

    // Instances kept for reuse (about 2 KiB each with their context, head and log state): enough for the connections
    // that are between parking and resuming at once under a burst; beyond it they are left to the GC, and those a
    // burst left unused go a second after it (IdleMemory).
    internal const int MaxPooledHttpConnections = 1024;

    /// <summary>The HTTP/1.1 state of client connections, reused: a connection that parks or closes gives it back.</summary>
    internal TrimmingObjectPool<Http1Connection> HttpConnections { get; }

    private sealed class Http1ConnectionPolicy(ServerServices services) : IPooledObjectPolicy<Http1Connection>
    {
        public Http1Connection Create() => new(services);

        public bool Return(Http1Connection connection) => true;
    }

    /// <summary>The transport connections run on: listeners and outbound connections.</summary>
    public Transport.ITransportFactory Transport { get; }

    /// <summary>Receivers and senders reused across connections, client and upstream.</summary>
    public Transport.SocketArgsPool SocketArgs { get; }

    public Heartbeat Heartbeat { get; }
    public DateHeader Date { get; }
    public ILogger Logger { get; }
    public ConnectionManager Connections { get; }
    public UpstreamPoolRegistry Pools { get; }
    public PipeScheduler Scheduler { get; }

    /// <summary>The access-log files across reloads, and the log's clock.</summary>
    public Diagnostics.AccessLogRegistry AccessLogs { get; init; } = new(new Diagnostics.LogTime(TimeProvider.System));

    /// <summary>The current configuration snapshot; a request reads it once.</summary>
    public ProxySnapshot Snapshot => Volatile.Read(ref _snapshot);

    public void SwapSnapshot(ProxySnapshot snapshot) => Volatile.Write(ref _snapshot, snapshot);

    public long NextConnectionSerial() => Interlocked.Increment(ref _connectionSerial);

    /// <summary>How long a closing connection keeps reading and discarding what the client still sends (lingering_timeout, 5 s in nginx).</summary>
    public TimeSpan LingerTimeout { get; init; } = TimeSpan.FromSeconds(5);
}
