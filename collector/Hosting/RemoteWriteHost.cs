using System.Diagnostics.Metrics;
using Vigil.Collector.Configuration;
using Vigil.Collector.Rules;
using Vigil.Query.Exposition;
using Vigil.RemoteWrite;
using Vigil.Storage;

namespace Vigil.Collector;

/// <summary>
/// Runs remote write inside the collector: journals every rule evaluation, starts the queues once the WAL replay has
/// refilled the store (a queue must not move its series cursor over buckets the replay has yet to bring back), puts
/// the queues' figures on /metrics and the meter, and names a failing queue in /readyz (without making Vigil unready:
/// ingest and alerting are fine while a store is down).
/// </summary>
public sealed class RemoteWriteHost : IHostedService, IAsyncDisposable
{
    private readonly WalService _wal;
    private readonly RulesHost _rules;
    private readonly ILogger<RemoteWriteHost> _logger;
    private readonly Meter _meter;
    private readonly CancellationTokenSource _stopping = new();
    private Task? _starting;

    public RemoteWriteHost(VigilOptions options, WindowStore store, WalService wal, RulesHost rules, Readiness readiness, TimeProvider time,
        ILoggerFactory loggers, IMeterFactory meters)
    {
        _wal = wal;
        _rules = rules;
        _logger = loggers.CreateLogger<RemoteWriteHost>();
        Service = new RemoteWriteService(options.RemoteWrite, options.DataDir, store, time, loggers);
        _meter = meters.Create(VigilMetrics.MeterName);
        Service.RegisterInstruments(_meter);
        readiness.AddDetail(() => Service.Status()
            .Where(s => s.FailingSince is not null)
            .Select(s => new KeyValuePair<string, string>($"remote_write:{s.Name}", $"failing since {s.FailingSince:o}: {s.LastError}")));
    }

    public RemoteWriteService Service { get; }

    /// <summary>The queues' self-metrics on /metrics.</summary>
    public IExpositionSource Exposition => new DelegateExpositionSource(Service.Families);

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (Service.Enabled)
        {
            _rules.Manager.Evaluated += Service.OnEvaluated;
            _starting = StartAfterReplayAsync(_stopping.Token);
        }

        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _rules.Manager.Evaluated -= Service.OnEvaluated;
        await _stopping.CancelAsync();
        if (_starting is not null)
        {
            await _starting;
        }

        await Service.StopAsync(cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        await Service.DisposeAsync();
        _meter.Dispose();
        _stopping.Dispose();
    }

    private async Task StartAfterReplayAsync(CancellationToken stopping)
    {
        try
        {
            await _wal.Ready.WaitAsync(stopping);
        }
        catch (OperationCanceledException)
        {
            return;
        }
        catch (Exception e)
        {
            _logger.LogError(e, "Remote write does not start: the write-ahead log recovery failed");
            return;
        }

        await Service.StartAsync(stopping);
    }
}
