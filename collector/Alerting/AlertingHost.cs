using System.Diagnostics.Metrics;
using Vigil.Alerting;
using Vigil.Collector.Configuration;
using Vigil.Collector.Rules;
using Vigil.Rules;

namespace Vigil.Collector.Alerting;

/// <summary>
/// Hosts alert delivery: the rule engine's transitions go to the durable outbox (before any delivery),
/// delivery workers send them to Alertmanager, webhooks and OTLP logs with retries, and the live
/// stream serves them to SSE clients. Started after the rules, so the Alertmanager re-sender is seeded
/// with the alerts restored as firing.
/// </summary>
public sealed class AlertingHost : IHostedService, IAlertTransitionSink, IAsyncDisposable
{
    private readonly IServiceProvider _services;
    private readonly Meter _meter;

    public AlertingHost(VigilOptions options, TimeProvider time, ILoggerFactory loggers, IMeterFactory meters, IServiceProvider services)
    {
        _services = services;
        Service = new AlertingService(options.Alerting, options.DataDir, time, loggers);
        _meter = meters.Create(VigilMetrics.MeterName);
        Service.RegisterInstruments(_meter);
    }

    public AlertingService Service { get; }

    public void OnTransition(AlertTransition transition) => Service.OnTransition(transition);

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var rules = _services.GetRequiredService<RulesHost>();
        // Subscribed before the seed is taken: an evaluation between the two is seen, and Seed never overrides it.
        rules.Manager.Evaluated += Service.OnEvaluated;
        Service.Seed(Service.Factory.FiringFrom(rules.Manager.ActiveAlerts()));
        await Service.StartAsync(cancellationToken);
    }

    /// <summary>Stops the workers after in-flight deliveries; what is undelivered stays in the outbox for the next start.</summary>
    public Task StopAsync(CancellationToken cancellationToken)
    {
        _services.GetRequiredService<RulesHost>().Manager.Evaluated -= Service.OnEvaluated;
        return Service.StopAsync(cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        await Service.DisposeAsync();
        _meter.Dispose();
    }
}
