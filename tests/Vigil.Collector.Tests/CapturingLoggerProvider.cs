using Microsoft.Extensions.Logging;

namespace Vigil.Collector.Tests;

/// <summary>Keeps every log message (with its exception) a test's Vigil writes, to assert on what was or was not logged.</summary>
internal sealed class CapturingLoggerProvider : ILoggerProvider
{
    public List<string> Messages { get; } = [];

    public ILogger CreateLogger(string categoryName) => new Logger(this);

    public void Dispose()
    {
    }

    private sealed class Logger(CapturingLoggerProvider provider) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (provider.Messages)
            {
                provider.Messages.Add(formatter(state, exception) + exception);
            }
        }
    }
}
