using FastProxy.Config;
using FastProxy.Runtime;

namespace FastProxy.Diagnostics;

/// <summary>Where one <c>access_log</c> directive writes: the file's writer and the compiled format.</summary>
internal sealed class AccessLogTarget(AccessLogWriter writer, AccessLogFormat format)
{
    public AccessLogWriter Writer { get; } = writer;
    public AccessLogFormat Format { get; } = format;
}

/// <summary>
/// The access logs of one snapshot: a writer per distinct file (shared by every location and server that logs
/// there) and each format compiled against the snapshot's maps. Made by <see cref="AccessLogRegistry.Prepare"/>.
/// </summary>
internal sealed class AccessLogPlan
{
    private readonly Dictionary<string, AccessLogFormat> _formats = new(StringComparer.Ordinal);
    private readonly ProxyConfig _config;
    private readonly IReadOnlyDictionary<string, MapRuntime> _maps;

    internal AccessLogPlan(ProxyConfig config, IReadOnlyDictionary<string, MapRuntime> maps)
    {
        _config = config;
        _maps = maps;
    }

    /// <summary>The writer of each file, by full path.</summary>
    internal Dictionary<string, AccessLogWriter> Writers { get; } = new(StringComparer.Ordinal);

    /// <summary>Writers opened for this plan (closed again if the plan is abandoned).</summary>
    internal List<AccessLogWriter> Created { get; } = [];

    /// <summary>The targets of one location's (or server's) settings; empty for <c>access_log off</c>.</summary>
    public AccessLogTarget[] For(LocationSettings settings)
    {
        var logs = settings.AccessLogs;
        if (logs.Count == 0)
        {
            return [];
        }
        var targets = new List<AccessLogTarget>(logs.Count);
        lock (_formats)
        {
            foreach (var log in logs)
            {
                if (!Writers.TryGetValue(AccessLogRegistry.FullPath(log.Path, _config.Prefix), out var writer))
                {
                    continue; // syslog: and such never get here (the loader warns and drops them)
                }
                if (!_formats.TryGetValue(log.Format, out var format))
                {
                    var template = _config.LogFormats.GetValueOrDefault(log.Format) ?? AccessLogRegistry.Combined;
                    var escape = _config.LogFormatEscapes.GetValueOrDefault(log.Format, LogEscape.Default);
                    format = AccessLogFormat.Compile(log.Format, template, escape, _maps);
                    _formats[log.Format] = format;
                }
                targets.Add(new AccessLogTarget(writer, format));
            }
        }
        return [.. targets];
    }
}

/// <summary>
/// The access-log files of a <see cref="ProxyServer"/> across reloads. A file keeps its writer (and its background
/// thread and buffers) for as long as some configuration logs to it with the same buffer=/flush=; a reload opens the
/// files that are new and retires the ones no longer named. A retired writer is kept open (requests that started on
/// the old configuration may still log to it, as nginx's old workers keep their files) until the server stops, or
/// until more than <see cref="MaxRetired"/> writers are retired.
/// </summary>
internal sealed class AccessLogRegistry : IAsyncDisposable
{
    private const int MaxRetired = 16;

    /// <summary>nginx's predefined format (the loader always defines it; an embedder's config may not).</summary>
    internal static readonly ValueTemplate Combined = ValueTemplate.Parse(
        "$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent \"$http_referer\" \"$http_user_agent\"");

    private readonly object _gate = new();
    private readonly Dictionary<string, AccessLogWriter> _writers = new(StringComparer.Ordinal);
    private readonly List<AccessLogWriter> _retired = [];

    public AccessLogRegistry(LogTime time) => Time = time;

    public LogTime Time { get; }

    internal static string FullPath(string path, string? prefix) =>
        Path.IsPathRooted(path) ? path : Path.GetFullPath(path, prefix ?? Directory.GetCurrentDirectory());

    /// <summary>
    /// The writers a configuration needs: existing ones where the file and its buffer settings stay, new ones
    /// opened otherwise. A file that cannot be opened is an error (nginx refuses to start or reload then).
    /// </summary>
    public AccessLogPlan? Prepare(ProxyConfig config, IReadOnlyDictionary<string, MapRuntime> maps, List<string> errors)
    {
        var plan = new AccessLogPlan(config, maps);
        // One writer per file; a directive with buffer= decides the file's buffering (the loader refuses two
        // different ones).
        var files = new Dictionary<string, AccessLogConfig>(StringComparer.Ordinal);
        foreach (var settings in AllSettings(config))
        {
            foreach (var log in settings.AccessLogs)
            {
                string path = FullPath(log.Path, config.Prefix);
                if (!files.TryGetValue(path, out var existing) || (existing.BufferSize == 0 && log.BufferSize > 0))
                {
                    files[path] = log;
                }
            }
        }
        lock (_gate)
        {
            foreach (var (path, log) in files)
            {
                if (_writers.TryGetValue(path, out var writer) && writer.BufferSize == log.BufferSize && writer.FlushInterval == log.Flush)
                {
                    plan.Writers[path] = writer;
                    continue;
                }
                writer = new AccessLogWriter(path, log.BufferSize, log.Flush);
                plan.Created.Add(writer);
                plan.Writers[path] = writer;
                if (writer.OpenError is { } error)
                {
                    errors.Add($"open() \"{path}\" failed ({error})");
                }
            }
        }
        if (errors.Count > 0)
        {
            Abandon(plan);
            return null;
        }
        return plan;
    }

    /// <summary>The plan is in force: its writers become the current ones; writers it does not use are retired.</summary>
    public void Commit(AccessLogPlan plan)
    {
        lock (_gate)
        {
            var kept = new HashSet<AccessLogWriter>(plan.Writers.Values);
            foreach (var writer in _writers.Values)
            {
                if (!kept.Contains(writer))
                {
                    _retired.Add(writer);
                }
            }
            _writers.Clear();
            foreach (var (path, writer) in plan.Writers)
            {
                _writers[path] = writer;
            }
            while (_retired.Count > MaxRetired)
            {
                _ = _retired[0].DisposeAsync();
                _retired.RemoveAt(0);
            }
        }
    }

    /// <summary>The plan will not be used (the reload failed): close what it opened.</summary>
    public void Abandon(AccessLogPlan plan)
    {
        foreach (var writer in plan.Created)
        {
            _ = writer.DisposeAsync();
        }
    }

    /// <summary>SIGUSR1 (<c>fastproxy -s reopen</c>): every file is closed and opened again, for log rotation.</summary>
    public void Reopen()
    {
        lock (_gate)
        {
            foreach (var writer in _writers.Values)
            {
                writer.Reopen();
            }
            foreach (var writer in _retired)
            {
                writer.Reopen();
            }
        }
    }

    /// <summary>The writers in use (for tests and diagnostics).</summary>
    internal IReadOnlyCollection<AccessLogWriter> Writers
    {
        get
        {
            lock (_gate)
            {
                return [.. _writers.Values];
            }
        }
    }

    /// <summary>Flushes and closes every file (after the last request has been logged).</summary>
    public async ValueTask DisposeAsync()
    {
        List<AccessLogWriter> all;
        lock (_gate)
        {
            all = [.. _writers.Values, .. _retired];
            _writers.Clear();
            _retired.Clear();
        }
        foreach (var writer in all)
        {
            await writer.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>The distinct access-log files a configuration writes (full paths), for <c>fastproxy -t</c>.</summary>
    internal static IReadOnlyCollection<string> Files(ProxyConfig config)
    {
        var files = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var settings in AllSettings(config))
        {
            foreach (var log in settings.AccessLogs)
            {
                files.Add(FullPath(log.Path, config.Prefix));
            }
        }
        return files;
    }

    private static IEnumerable<LocationSettings> AllSettings(ProxyConfig config)
    {
        var stack = new Stack<LocationConfig>();
        foreach (var server in config.Servers)
        {
            yield return server.Settings;
            foreach (var location in server.Locations)
            {
                stack.Push(location);
            }
            while (stack.Count > 0)
            {
                var location = stack.Pop();
                yield return location.Settings;
                foreach (var nested in location.Locations)
                {
                    stack.Push(nested);
                }
            }
        }
    }
}
