using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using FastProxy.Config;
using FastProxy.Diagnostics;
using FastProxy.Http;
using FastProxy.Infrastructure;
using FastProxy.RateLimiting;
using FastProxy.Runtime;
using FastProxy.Tls;
using FastProxy.Transport;
using FastProxy.Upstreams;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace FastProxy;

/// <summary>
/// A FastProxy instance: listeners, client connections, upstream pools and the configuration snapshot they share.
/// Build it from a <see cref="ProxyConfig"/> (from <see cref="NginxConfigLoader"/> or <see cref="ProxyConfigBuilder"/>),
/// <see cref="StartAsync"/> it, <see cref="TryReload"/> it with a new configuration, <see cref="StopAsync"/> it.
/// </summary>
public sealed class ProxyServer : IAsyncDisposable
{
    private readonly object _gate = new();
    private readonly ILogger _logger;
    private readonly Heartbeat _heartbeat;
    private readonly ServerServices _services;
    private readonly ConnectionManager _connections = new();
    private readonly UpstreamPoolRegistry _pools = new();
    private readonly LoadBalancing.LoadBalancingPolicyRegistry? _policies;
    // Certificates by path and file stamp: a reload re-reads only the files that changed (new connections get the
    // new certificate; connections already up keep theirs).
    private readonly TlsCertificateCache _certificates = new();
    private readonly LimitZoneRegistry _limitZones;
    private readonly Dictionary<IPEndPoint, IConnectionListener> _listeners = [];
    private volatile bool _stopping;
    private bool _started;
    private Task? _stopTask;

    /// <summary>Creates a server; throws <see cref="ArgumentException"/> listing every problem when the configuration is not usable.</summary>
    public ProxyServer(ProxyConfig config, ILoggerFactory? loggerFactory = null, TimeProvider? timeProvider = null)
        : this(config, new ProxyServerOptions { LoggerFactory = loggerFactory, TimeProvider = timeProvider })
    {
    }

    /// <summary>Creates a server with options (an embedder's load-balancing policies, clock, logging).</summary>
    public ProxyServer(ProxyConfig config, ProxyServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(options);
        var time = options.TimeProvider ?? TimeProvider.System;
        _logger = (options.LoggerFactory ?? NullLoggerFactory.Instance).CreateLogger("FastProxy");
        _policies = options.LoadBalancingPolicies;
        var date = new DateHeader(time);
        var idleMemory = new IdleMemory(time, _connections, options.ReturnIdleMemory ? new MemoryReturnPolicy(time) : null, _logger);
        _heartbeat = new Heartbeat(time, TimeSpan.FromSeconds(1), _connections, _pools, date, idleMemory);
        // One registry for the server's lifetime: limit zones keep their state across reloads (nginx's shared zones),
        // on the server's clock so tests can move time.
        _limitZones = new LimitZoneRegistry(time);
        var errors = new List<string>();
        var snapshot = ProxySnapshot.TryBuild(config, _pools, _heartbeat, [], errors, _certificates, _logger, _limitZones, ClusterOptions(previous: null))
            ?? throw new ArgumentException("invalid configuration: " + string.Join("; ", errors), nameof(config));
        var accessLogs = new AccessLogRegistry(new LogTime(time));
        var plan = accessLogs.Prepare(config, snapshot.Maps, errors)
            ?? throw new ArgumentException("invalid configuration: " + string.Join("; ", errors), nameof(config));
        snapshot.AttachAccessLogs(plan);
        accessLogs.Commit(plan);
        _limitZones.Commit(snapshot.LimitZones);
        _heartbeat.ChangeInterval(Heartbeat.IntervalFor(snapshot.ShortestTimeout));
        _services = new ServerServices(snapshot, _heartbeat, date, _logger, _connections, _pools, ChooseScheduler())
        {
            AccessLogs = accessLogs,
        };
        idleMemory.Track(_services.HttpConnections);
    }

    /// <summary>
    /// Checks a configuration the way <see cref="ProxyServer(ProxyConfig, ILoggerFactory?, TimeProvider?)"/> would use it
    /// (upstream names resolved, every referenced group present) without binding anything: <c>fastproxy -t</c>.
    /// </summary>
    public static IReadOnlyList<string> Validate(ProxyConfig config) => Validate(config, null);

    /// <summary>As <see cref="Validate(ProxyConfig)"/>, with the load-balancing policies of <paramref name="options"/>.</summary>
    public static IReadOnlyList<string> Validate(ProxyConfig config, ProxyServerOptions? options)
    {
        ArgumentNullException.ThrowIfNull(config);
        var errors = new List<string>();
        using var heartbeat = new Heartbeat(TimeProvider.System, TimeSpan.FromSeconds(1));
        var pools = new UpstreamPoolRegistry();
        ProxySnapshot.TryBuild(config, pools, heartbeat, [], errors, clusterOptions: new ClusterBuildOptions { Policies = options?.LoadBalancingPolicies });
        pools.RetireAll();
        return errors;
    }

    private ClusterBuildOptions ClusterOptions(ProxySnapshot? previous) =>
        new() { Policies = _policies, Logger = _logger, Previous = previous };

    /// <summary>
    /// Pipes run their continuations inline by default (socket completions already arrive on thread-pool threads);
    /// FASTPROXY_PIPE_SCHEDULER=threadpool dispatches them to the thread pool instead, for measurements.
    /// </summary>
    private static PipeScheduler ChooseScheduler() =>
        string.Equals(Environment.GetEnvironmentVariable("FASTPROXY_PIPE_SCHEDULER"), "threadpool", StringComparison.OrdinalIgnoreCase)
            ? PipeScheduler.ThreadPool
            : PipeScheduler.Inline;

    /// <summary>The configuration in force.</summary>
    public ProxyConfig Config => _services.Snapshot.Config;

    /// <summary>The addresses actually listened on (with the real port where the configuration said 0).</summary>
    public IReadOnlyList<IPEndPoint> BoundEndPoints
    {
        get
        {
            lock (_gate)
            {
                var list = new List<IPEndPoint>(_listeners.Count);
                foreach (var listener in _listeners.Values)
                {
                    list.Add(listener.BoundEndPoint);
                }
                return list;
            }
        }
    }

    /// <summary>The bound address of a configured listen address (useful with port 0).</summary>
    public IPEndPoint? GetBoundEndPoint(IPEndPoint configured)
    {
        lock (_gate)
        {
            return _listeners.TryGetValue(configured, out var listener) ? listener.BoundEndPoint : null;
        }
    }

    /// <summary>Client connections open now.</summary>
    public int ConnectionCount => _connections.Count;

    /// <summary>Idle keep-alive connections parked without their HTTP state (for tests and diagnostics).</summary>
    internal int ParkedConnectionCount => _connections.Parked;

    /// <summary>Binds every listen address and starts accepting. A bind failure throws and leaves nothing bound.</summary>
    public Task StartAsync(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_gate)
        {
            if (_started)
            {
                throw new InvalidOperationException("The server is already started.");
            }
            var bound = new List<IConnectionListener>();
            try
            {
                foreach (var listen in _services.Snapshot.Listens)
                {
                    bound.Add(_services.Transport.Bind(listen.EndPoint, _logger));
                }
            }
            catch (SocketException)
            {
                foreach (var listener in bound)
                {
                    _ = listener.StopAsync();
                }
                throw;
            }
            foreach (var listener in bound)
            {
                _listeners[listener.ConfigEndPoint] = listener;
                listener.Start(OnAccept);
            }
            _heartbeat.Start();
            _services.Snapshot.StartHealthChecks();
            _started = true;
        }
        return Task.CompletedTask;
    }

    private void OnAccept(TransportConnection transport, IConnectionListener listener)
    {
        if (_stopping)
        {
            DropAccepted(transport);
            return;
        }
        int limit = _services.Snapshot.Config.WorkerConnections;
        if (!_connections.TryReserve(limit))
        {
            // nginx: "worker_connections are not enough" — the new connection is closed at once, never queued.
            Log.ConnectionLimit(_logger, limit);
            DropAccepted(transport);
            return;
        }
        // The TLS context of the address comes from the snapshot current at accept: a reload gives new
        // connections the new certificates while established ones keep their session.
        var tls = _services.Snapshot.GetListen(listener.ConfigEndPoint)?.Tls;
        var connection = new ClientConnection(_services, transport, listener.ConfigEndPoint, tls);
        _connections.Add(connection);
        connection.Start();
        if (_stopping)
        {
            connection.RequestStop();
        }
    }

    private static void DropAccepted(TransportConnection transport)
    {
        transport.Abort();
        _ = transport.CloseAsync(TimeSpan.Zero, TimeSpan.Zero);
    }

    /// <summary>
    /// Applies a new configuration without dropping a connection: new requests use the new routes, in-flight ones
    /// finish on the old; listen addresses are added and removed; upstream pools of unchanged groups stay warm. An
    /// invalid configuration (or a listen address that cannot be bound) changes nothing and is reported in
    /// <paramref name="errors"/>.
    /// </summary>
    public bool TryReload(ProxyConfig config, out IReadOnlyList<string> errors)
    {
        ArgumentNullException.ThrowIfNull(config);
        lock (_gate)
        {
            var list = new List<string>();
            var inUse = new HashSet<UpstreamPool>();
            var snapshot = ProxySnapshot.TryBuild(config, _pools, _heartbeat, inUse, list, _certificates, _logger, _limitZones, ClusterOptions(_services.Snapshot));
            var plan = snapshot is null ? null : _services.AccessLogs.Prepare(config, snapshot.Maps, list);
            if (snapshot is null || plan is null)
            {
                errors = list;
                Log.ReloadFailed(_logger, string.Join("; ", list));
                return false;
            }

            var added = new List<IConnectionListener>();
            var wanted = new HashSet<IPEndPoint>();
            foreach (var listen in snapshot.Listens)
            {
                wanted.Add(listen.EndPoint);
                if (_started && !_listeners.ContainsKey(listen.EndPoint))
                {
                    try
                    {
                        added.Add(_services.Transport.Bind(listen.EndPoint, _logger));
                    }
                    catch (SocketException e)
                    {
                        foreach (var listener in added)
                        {
                            _ = listener.StopAsync();
                        }
                        _services.AccessLogs.Abandon(plan);
                        list.Add($"bind() to {listen.EndPoint} failed ({e.SocketErrorCode})");
                        errors = list;
                        Log.ReloadFailed(_logger, list[^1]);
                        return false;
                    }
                }
            }

            snapshot.AttachAccessLogs(plan);
            var previous = _services.Snapshot;
            _services.SwapSnapshot(snapshot);
            _services.AccessLogs.Commit(plan);
            _limitZones.Commit(snapshot.LimitZones);
            // One checker per group and snapshot: the new snapshot's take over (with the health state copied at
            // build), the old ones stop; requests still running on the old snapshot keep their clusters.
            if (_started && !_stopping)
            {
                snapshot.StartHealthChecks();
            }
            _ = previous.StopHealthChecksAsync();
            foreach (var listener in added)
            {
                _listeners[listener.ConfigEndPoint] = listener;
                listener.Start(OnAccept);
            }
            var removed = new List<IPEndPoint>();
            foreach (var (endPoint, listener) in _listeners)
            {
                if (!wanted.Contains(endPoint))
                {
                    removed.Add(endPoint);
                    _ = listener.StopAsync();
                }
            }
            foreach (var endPoint in removed)
            {
                _listeners.Remove(endPoint);
            }
            _pools.RetireExcept(inUse);
            _heartbeat.ChangeInterval(Heartbeat.IntervalFor(snapshot.ShortestTimeout));
            Log.Reloaded(_logger);
            errors = [];
            return true;
        }
    }

    /// <summary>Like <see cref="TryReload"/>, throwing <see cref="ArgumentException"/> when the configuration is refused.</summary>
    public Task ReloadAsync(ProxyConfig config)
    {
        if (!TryReload(config, out var errors))
        {
            throw new ArgumentException("invalid configuration: " + string.Join("; ", errors), nameof(config));
        }
        return Task.CompletedTask;
    }

    /// <summary>
    /// Graceful stop: stops accepting, lets requests in flight finish for up to <paramref name="drainTimeout"/>
    /// (ProxyConfig.ShutdownTimeout by default), closes idle connections at once, then aborts what is left.
    /// </summary>
    public Task StopAsync(TimeSpan? drainTimeout = null)
    {
        lock (_gate)
        {
            return _stopTask ??= StopCoreAsync(drainTimeout ?? _services.Snapshot.Config.ShutdownTimeout);
        }
    }

    private async Task StopCoreAsync(TimeSpan drainTimeout)
    {
        _stopping = true;
        List<IConnectionListener> listeners;
        lock (_gate)
        {
            listeners = [.. _listeners.Values];
            _listeners.Clear();
        }
        // Connections learn of the stop before the listeners close: a response written from now on says
        // "Connection: close" (nginx's graceful quit), even while a listener is still shutting down. A connection
        // accepted meanwhile sees _stopping after it is registered and stops itself.
        _connections.RequestStopAll();
        foreach (var listener in listeners)
        {
            await listener.StopAsync();
        }
        Task healthStopped;
        lock (_gate)
        {
            healthStopped = _services.Snapshot.StopHealthChecksAsync();
        }
        var pending = Pending();
        if (pending.Count > 0)
        {
            Log.Stopping(_logger, pending.Count);
            try
            {
                await Task.WhenAll(pending).WaitAsync(drainTimeout);
            }
            catch (TimeoutException)
            {
                _connections.AbortAll();
                await Task.WhenAll(Pending());
            }
        }
        await healthStopped;
        _pools.RetireAll();
        _heartbeat.Dispose();
        // Every request has been logged by now: flush and close the access logs.
        await _services.AccessLogs.DisposeAsync();
    }

    /// <summary>
    /// Closes and reopens every access-log file (nginx's SIGUSR1, <c>fastproxy -s reopen</c>): after a rotation
    /// moved the files away, logging continues in new files under the configured names.
    /// </summary>
    public void ReopenLogs() => _services.AccessLogs.Reopen();

    private List<Task> Pending()
    {
        var tasks = new List<Task>();
        foreach (var connection in _connections.Connections)
        {
            if (connection.Completion is { IsCompleted: false } task)
            {
                tasks.Add(task);
            }
        }
        return tasks;
    }

    public async ValueTask DisposeAsync() => await StopAsync(TimeSpan.Zero);

    // For tests: the pools' counters.
    internal UpstreamPoolRegistry Pools => _pools;

    internal ServerServices Services => _services;
}
