using FastProxy.Config;
using FastProxy.LoadBalancing;
using Microsoft.Extensions.Logging;

namespace FastProxy.Health;

/// <summary>
/// Active health checks of one upstream group (<c>health_check interval=5s fails=3 passes=2 uri=/health</c> in the
/// upstream block): ONE timer per group, driven by the cluster's <see cref="TimeProvider"/>; each tick runs a round
/// that probes every server not marked <c>down</c> concurrently (<see cref="HttpHealthProbe"/>), each probe bounded by
/// the timeout. A server is taken out after <c>fails</c> consecutive failed checks and put back (with slow_start, if
/// set) after <c>passes</c> consecutive good ones; servers start healthy. Rounds never overlap: a tick that finds the
/// previous round still running is skipped.
/// </summary>
/// <remarks>
/// Lifecycle: the engine creates one per cluster that has a <see cref="UpstreamConfig.HealthCheck"/> when a
/// configuration snapshot goes live, calls <see cref="Start"/>, and calls <see cref="StopAsync"/> (or disposes it)
/// when the snapshot is retired; stopping cancels probes in flight and waits for the round to end. Nothing here runs
/// per request.
/// </remarks>
internal sealed class ActiveHealthChecker : IAsyncDisposable
{
    private readonly ClusterState _cluster;
    private readonly HealthCheckConfig _config;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;
    private readonly byte[] _request;
    private readonly Func<DestinationState, CancellationToken, Task<HealthProbeResult>> _probe;
    private readonly CancellationTokenSource _stopping = new();   // never disposed: it has no timer, and late timer callbacks may still read it
    private readonly CancellationToken _stopToken;
    private readonly Lock _lifecycleLock = new();
    private ITimer? _timer;
    private Task _currentRound = Task.CompletedTask;
    private int _roundRunning;
    private bool _stopped;

    public ActiveHealthChecker(ClusterState cluster, ILogger? logger = null)
        : this(cluster, cluster.Config.HealthCheck ?? throw new ArgumentException($"upstream \"{cluster.Name}\" has no health_check", nameof(cluster)), logger, probe: null)
    {
    }

    /// <summary>For tests: <paramref name="probe"/> replaces the socket probe.</summary>
    internal ActiveHealthChecker(ClusterState cluster, HealthCheckConfig config, ILogger? logger, Func<DestinationState, CancellationToken, Task<HealthProbeResult>>? probe)
    {
        _cluster = cluster;
        _config = config;
        _timeProvider = cluster.TimeProvider;
        _logger = logger ?? cluster.Logger;
        // Host: the upstream's name, as $proxy_host for "proxy_pass http://NAME" (an implicit group is "host:port").
        _request = HttpHealthProbe.BuildRequest(config.Uri, cluster.Name);
        _probe = probe ?? ProbeWithSocketAsync;
        _stopToken = _stopping.Token;
    }

    /// <summary>Creates a checker when the group has a <c>health_check</c>, else null.</summary>
    public static ActiveHealthChecker? CreateFor(ClusterState cluster, ILogger? logger = null) =>
        cluster.Config.HealthCheck is null ? null : new ActiveHealthChecker(cluster, logger);

    /// <summary>The round started last (completed when none runs); tests await it after advancing time.</summary>
    internal Task CurrentRound => Volatile.Read(ref _currentRound);

    /// <summary>Starts checking: a first round now, then one every interval.</summary>
    public void Start()
    {
        lock (_lifecycleLock)
        {
            ObjectDisposedException.ThrowIf(_stopped, this);
            if (_timer is not null)
            {
                return;
            }
            _timer = _timeProvider.CreateTimer(static state => ((ActiveHealthChecker)state!).OnTick(), this, _config.Interval, _config.Interval);
        }
        OnTick();
    }

    /// <summary>Stops the timer, cancels probes in flight and waits for the running round to finish.</summary>
    public async Task StopAsync()
    {
        ITimer? timer;
        lock (_lifecycleLock)
        {
            if (_stopped)
            {
                return;
            }
            _stopped = true;
            timer = _timer;
            _timer = null;
        }
        if (timer is not null)
        {
            await timer.DisposeAsync().ConfigureAwait(false);
        }
        await _stopping.CancelAsync().ConfigureAwait(false);
        await CurrentRound.ConfigureAwait(false);   // the timer's DisposeAsync waited for a tick in flight, so this is the last round
    }

    public ValueTask DisposeAsync() => new(StopAsync());

    /// <summary>Test hook: runs one round now (after the running one, if any) and completes when it is done.</summary>
    internal async Task RunRoundAsync()
    {
        while (Interlocked.CompareExchange(ref _roundRunning, 1, 0) != 0)
        {
            await CurrentRound.ConfigureAwait(false);
        }
        Task round = RunRoundCoreAsync();
        Volatile.Write(ref _currentRound, round);
        await round.ConfigureAwait(false);
    }

    private void OnTick()
    {
        if (_stopToken.IsCancellationRequested)
        {
            return;
        }
        if (Interlocked.CompareExchange(ref _roundRunning, 1, 0) != 0)
        {
            HealthLog.RoundSkipped(_logger, _cluster.Name);
            return;
        }
        Volatile.Write(ref _currentRound, RunRoundCoreAsync());
    }

    /// <summary>One round: every server checked concurrently; runs with _roundRunning held and releases it.</summary>
    private async Task RunRoundCoreAsync()
    {
        try
        {
            await Task.Yield();   // off the timer callback (or the caller of Start)
            IReadOnlyList<DestinationState> destinations = _cluster.Destinations;
            var checks = new List<Task>(destinations.Count);
            foreach (DestinationState destination in destinations)
            {
                if (destination.Health != DestinationHealth.Down)
                {
                    checks.Add(CheckAsync(destination));
                }
            }
            await Task.WhenAll(checks).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            HealthLog.RoundFailed(_logger, _cluster.Name, e);
        }
        catch (OperationCanceledException)
        {
            // stopping
        }
        finally
        {
            Volatile.Write(ref _roundRunning, 0);
        }
    }

    private async Task CheckAsync(DestinationState destination)
    {
        HealthProbeResult result;
        using (var timeout = new CancellationTokenSource(_config.Timeout, _timeProvider))
        using (var linked = CancellationTokenSource.CreateLinkedTokenSource(timeout.Token, _stopToken))
        {
            try
            {
                result = await _probe(destination, linked.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                result = new(HealthProbeOutcome.TimedOut);
            }
        }
        if (_stopToken.IsCancellationRequested)
        {
            return;   // a probe cut short by stopping says nothing about the server
        }
        Apply(destination, result, _timeProvider.GetTimestamp());
    }

    /// <summary>Counts consecutive results and flips the destination after fails failures / passes passes.</summary>
    internal void Apply(DestinationState destination, HealthProbeResult result, long now)
    {
        if (result.Passed)
        {
            destination.ActiveConsecutiveFails = 0;
            int passes = ++destination.ActiveConsecutivePasses;
            if (destination.Health == DestinationHealth.Unhealthy && passes >= _config.Passes
                && destination.SetActiveHealth(healthy: true, now))
            {
                _cluster.OnActiveHealthChanged(destination);
                HealthLog.Healthy(_logger, destination.EndPoint, _cluster.Name, passes);
            }
            return;
        }

        destination.ActiveConsecutivePasses = 0;
        int fails = ++destination.ActiveConsecutiveFails;
        HealthLog.CheckFailed(_logger, destination.EndPoint, _cluster.Name, result.Outcome, result.Status);
        if (fails >= _config.Fails && destination.SetActiveHealth(healthy: false, now))
        {
            _cluster.OnActiveHealthChanged(destination);
            HealthLog.Unhealthy(_logger, destination.EndPoint, _cluster.Name, fails, result.Outcome, result.Status);
        }
    }

    private Task<HealthProbeResult> ProbeWithSocketAsync(DestinationState destination, CancellationToken cancellationToken) =>
        HttpHealthProbe.ProbeAsync(destination.EndPoint, _request, _config.MinStatus, _config.MaxStatus, cancellationToken);
}
