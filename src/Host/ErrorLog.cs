using System.Globalization;
using Microsoft.Extensions.Logging;

namespace FastProxy.Host;

/// <summary>
/// nginx's error_log: "2024/05/01 12:00:00 [error] 1234#7: message" lines to standard error or a file, from a
/// minimum level. <see cref="Reopen"/> reopens the file (SIGUSR1, after a log rotation). Writes are serialized: the
/// log is written on error paths and at start/stop, never per request.
/// </summary>
internal sealed class ErrorLog : ILoggerFactory, ILogger
{
    private readonly object _gate = new();
    private readonly string? _path;
    private readonly LogLevel _minimum;
    private TextWriter _writer;

    public ErrorLog(string? path, string level)
    {
        _path = path;
        _minimum = level switch
        {
            "debug" => LogLevel.Debug,
            "info" or "notice" => LogLevel.Information,
            "warn" => LogLevel.Warning,
            "error" => LogLevel.Error,
            _ => LogLevel.Critical, // crit, alert, emerg
        };
        _writer = Open();
    }

    private TextWriter Open()
    {
        if (_path is null || _path == "stderr" || _path == "/dev/stderr")
        {
            return Console.Error;
        }
        var directory = Path.GetDirectoryName(Path.GetFullPath(_path));
        if (!string.IsNullOrEmpty(directory))
        {
            Directory.CreateDirectory(directory);
        }
        return new StreamWriter(new FileStream(_path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete)) { AutoFlush = true };
    }

    public void Reopen()
    {
        if (_path is null)
        {
            return;
        }
        lock (_gate)
        {
            var old = _writer;
            _writer = Open();
            if (!ReferenceEquals(old, Console.Error))
            {
                old.Dispose();
            }
        }
    }

    public bool IsEnabled(LogLevel logLevel) => logLevel >= _minimum && logLevel != LogLevel.None;

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
            _writer.WriteLine(line);
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
            if (!ReferenceEquals(_writer, Console.Error))
            {
                _writer.Dispose();
            }
        }
    }
}
