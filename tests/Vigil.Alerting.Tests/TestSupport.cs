using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using Vigil.Rules;

namespace Vigil.Alerting.Tests;

/// <summary>Transitions as the rule engine would publish them.</summary>
internal static class Transitions
{
    public static readonly DateTimeOffset Start = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    public static AlertTransition Firing(DateTimeOffset at, string alert = "AuthFailureRateHigh", Severity severity = Severity.P1,
        string tenant = "acme", AlertState from = AlertState.Pending, string group = "auth") =>
        Make(alert, group, severity, tenant, from, AlertState.Firing, at, firedAt: at, resolvedAt: null);

    public static AlertTransition Resolved(DateTimeOffset firedAt, DateTimeOffset at, string alert = "AuthFailureRateHigh",
        Severity severity = Severity.P1, string tenant = "acme", string group = "auth") =>
        Make(alert, group, severity, tenant, AlertState.Firing, AlertState.Resolved, at, firedAt, at);

    public static AlertTransition Make(string alert, string group, Severity severity, string tenant, AlertState from, AlertState to,
        DateTimeOffset at, DateTimeOffset? firedAt, DateTimeOffset? resolvedAt)
    {
        var instance = LabelSet.Sorted([new("tenant.id", tenant)]);
        var labels = LabelSet.Sorted(instance);
        labels["alertname"] = alert;
        labels["severity"] = severity.ToString();
        labels["team"] = "identity";
        var annotations = LabelSet.Sorted([new("summary", $"{alert} in {tenant}"), new("description", "failure ratio above threshold")]);
        return new AlertTransition(group, alert, labels, instance, from, to, at, 0.31, 120, "> 0.2", severity,
            $"https://runbooks.example.com/{alert}", annotations, TimeSpan.FromMinutes(10), firedAt?.AddMinutes(-2), firedAt, resolvedAt,
            "test");
    }

    public static FakeTimeProvider Clock(DateTimeOffset? start = null) => new(start ?? Start);
}

internal sealed class TempDir : IDisposable
{
    public TempDir() => Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "vigil-alerting-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a leftover temp dir is harmless.
        }
    }
}

/// <summary>An ILogger that keeps what was logged.</summary>
internal sealed class ListLogger : ILogger
{
    public ConcurrentQueue<(LogLevel Level, string Message, Exception? Exception)> Entries { get; } = new();

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        Entries.Enqueue((logLevel, formatter(state, exception), exception));
}

/// <summary>A receiver in the test process: records events, fails the first N calls.</summary>
internal sealed class RecordingReceiver(string name, int failFirst = 0, bool alwaysFail = false) : IAlertReceiver
{
    private int _calls;

    public string Name { get; } = name;

    public ConcurrentQueue<AlertEvent> Delivered { get; } = new();

    public int Calls => Volatile.Read(ref _calls);

    public Task DeliverAsync(IReadOnlyList<AlertEvent> events, CancellationToken cancellationToken)
    {
        var call = Interlocked.Increment(ref _calls);
        if (alwaysFail || call <= failFirst)
        {
            throw new AlertDeliveryException($"{Name}: refused (call {call})");
        }

        foreach (var e in events)
        {
            Delivered.Enqueue(e);
        }

        return Task.CompletedTask;
    }
}

/// <summary>A request the local HTTP server received.</summary>
internal sealed record ReceivedRequest(string Path, byte[] Body, IReadOnlyDictionary<string, string> Headers, int AnsweredStatus);

/// <summary>Kestrel on 127.0.0.1 with an ephemeral port, recording every request; answers 500 to the first N.</summary>
internal sealed class LocalHttpServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private int _failuresLeft;

    private LocalHttpServer(WebApplication app, int failFirst)
    {
        _app = app;
        _failuresLeft = failFirst;
    }

    public ConcurrentQueue<ReceivedRequest> Requests { get; } = new();

    public Uri BaseAddress { get; private set; } = null!;

    public static async Task<LocalHttpServer> StartAsync(int failFirst = 0, bool http2Only = false, Action<WebApplication>? configure = null,
        Action<IServiceCollection>? services = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(System.Net.IPAddress.Loopback, 0,
            o => o.Protocols = http2Only ? HttpProtocols.Http2 : HttpProtocols.Http1AndHttp2));
        if (http2Only)
        {
            builder.Services.AddGrpc();
        }

        services?.Invoke(builder.Services);

        var app = builder.Build();
        var server = new LocalHttpServer(app, failFirst);
        if (configure is not null)
        {
            configure(app);
        }
        else
        {
            app.Run(server.HandleAsync);
        }

        await app.StartAsync();
        server.BaseAddress = new Uri(app.Urls.First());
        return server;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private async Task HandleAsync(HttpContext context)
    {
        using var body = new MemoryStream();
        await context.Request.Body.CopyToAsync(body);
        var status = Interlocked.Decrement(ref _failuresLeft) >= 0 ? 500 : 200;
        var headers = context.Request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase);
        Requests.Enqueue(new ReceivedRequest(context.Request.Path, body.ToArray(), headers, status));
        context.Response.StatusCode = status;
        if (status != 200)
        {
            await context.Response.WriteAsync("receiver is down for the test");
        }
    }
}
