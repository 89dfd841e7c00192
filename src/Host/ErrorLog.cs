using System.Globalization;
using System.Text;
using FastProxy.Diagnostics;
using Microsoft.Extensions.Logging;

namespace FastProxy.Host;

/// <summary>
/// nginx's error_log: "2024/05/01 12:00:00 [error] 1234#7: message" lines to standard error or a file, from a
/// minimum level. <see cref="Reopen"/> reopens the file (SIGUSR1, after a log rotation); <see cref="Reconfigure"/>
/// follows a reload that changed <c>error_log</c>. The file is opened for appending as nginx opens it
/// (<see cref="AppendFile"/>). Writes are serialized: the log is written on error paths and at start/stop, never
/// per request.
/// </summary>
internal sealed class ErrorLog : ILoggerFactory, ILogger
{
    private readonly object _gate = new();
    private string? _path;
    private volatile int _minimum;
    private AppendFile? _file;

    public ErrorLog(string? path, string level)
    {
        _path = path;
        _minimum = (int)ParseLevel(level);
        _file = Open(path);
    }

    /// <summary>
    /// The file an <c>error_log</c> path names: null (standard error) for none or <c>stderr</c>; a relative path
    /// under the prefix, as nginx resolves it.
    /// </summary>
    public static string? ResolvePath(string? path, string prefix)
    {
        if (path is null || path == "stderr" || path == "/dev/stderr")
        {
            return null;
        }
        return Path.IsPathRooted(path) ? path : Path.GetFullPath(path, prefix);
    }

    /// <summary>nginx's levels: debug, info, notice, warn, error, crit, alert, emerg.</summary>
    private static LogLevel ParseLevel(string level) => level switch
    {
        "debug" => LogLevel.Debug,
        "info" or "notice" => LogLevel.Information,
        "warn" => LogLevel.Warning,
        "error" => LogLevel.Error,
        _ => LogLevel.Critical, // crit, alert, emerg
    };

    private static AppendFile? Open(string? path)
    {
        if (path is null)
        {
            return null;
        }
        var file = AppendFile.Open(path, out string? error);
        if (file is null)
        {
            // nginx goes on logging to stderr when it cannot open its error log.
            Console.Error.WriteLine($"fastproxy: [alert] could not open error log file: open() \"{path}\" failed ({error})");
        }
        return file;
    }

    public void Reopen()
    {
        lock (_gate)
        {
            _file?.Dispose();
            _file = Open(_path);
        }
    }

    /// <summary>A reload changed error_log: write to the new file, from the new level.</summary>
    public void Reconfigure(string? path, string level)
    {
        lock (_gate)
        {
            _minimum = (int)ParseLevel(level);
            if (path == _path)
            {
                return;
            }
            _file?.Dispose();
            _path = path;
            _file = Open(path);
        }
    }

    public bool IsEnabled(LogLevel logLevel) => logLevel >= (LogLevel)_minimum && logLevel != LogLevel.None;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (!IsEnabled(logLevel))
        {
            return;
        }
        string level = logLevel switch
        {
            LogLevel.Trace or LogLevel.Debug => "debug",
            LogLevel.Information => "notice",
            LogLevel.Warning => "warn",
            LogLevel.Error => "error",
            _ => "crit",
        };
        var line = string.Create(CultureInfo.InvariantCulture,
            $"{DateTime.Now:yyyy/MM/dd HH:mm:ss} [{level}] {Environment.ProcessId}#{Environment.CurrentManagedThreadId}: {formatter(state, exception)}");
        if (exception is not null)
        {
            line += Environment.NewLine + exception;
        }
        lock (_gate)
        {
            if (_file is { } file)
            {
                file.Write(Encoding.UTF8.GetBytes(line + "\n"), out _);
            }
            else
            {
                Console.Error.WriteLine(line);
            }
        }
    }

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public ILogger CreateLogger(string categoryName) => this;

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _file?.Dispose();
            _file = null;
            _path = null;
        }
    }
}
