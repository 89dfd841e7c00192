using Microsoft.Extensions.Logging;

namespace FastProxy.FunctionalTests.Infrastructure;

/// <summary>Writes the proxy's log to stderr when FASTPROXY_TEST_LOG is set (for debugging a failing test).</summary>
public sealed class TestLoggerFactory : ILoggerFactory, ILogger
{
    public static ILoggerFactory? FromEnvironment() =>
        Environment.GetEnvironmentVariable("FASTPROXY_TEST_LOG") is { Length: > 0 } ? new TestLoggerFactory() : null;

    public void AddProvider(ILoggerProvider provider) { }
    public ILogger CreateLogger(string categoryName) => this;
    public void Dispose() { }
    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        Console.Error.WriteLine($"[{logLevel}] {formatter(state, exception)} {exception}");
}
