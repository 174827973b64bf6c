using System.Diagnostics.Metrics;
using System.Runtime.InteropServices;
using Vigil.Collector.Configuration;
using Vigil.Rules;
using Vigil.Storage;

namespace Vigil.Collector.Rules;

/// <summary>
/// Runs the rule engine inside the collector: loads the rules directory, evaluates on the groups'
/// intervals, and reloads on file change, SIGHUP and POST /-/reload. A bad file keeps the last good
/// rules; the problems are logged, shown by /api/v1/rules and counted in vigil.rules.reload.failures.
/// </summary>
public sealed class RulesHost : IHostedService, IAsyncDisposable
{
    public const string ReadinessPart = "rules";

    private readonly ILogger<RulesHost> _logger;
    private readonly Readiness _readiness;
    private readonly TimeProvider _time;
    private readonly RuleManagerOptions _options;
    private readonly Counter<long> _reloads;
    private readonly Meter _meter;
    private RuleFileWatcher? _watcher;
    private PosixSignalRegistration? _sighup;

    private readonly WalService _wal;
    private readonly CancellationTokenSource _stopping = new();
    private Task? _starting;

    public RulesHost(RulesLocation location, VigilOptions vigil, WindowStore store, IAlertTransitionSink sink, WalService wal, Readiness readiness, TimeProvider time, IMeterFactory meters, ILogger<RulesHost> logger)
    {
        _wal = wal;
        _logger = logger;
        _readiness = readiness;
        _time = time;
        _options = new RuleManagerOptions { RulesDirectory = location.Directory, DataDirectory = location.DataDirectory, Limits = vigil.RuleLimits };
        _meter = meters.Create(VigilMetrics.MeterName);
        Manager = new RuleManager(_options, store, time, sink, _meter);
        Manager.IterationMissed += (group, slot) => _logger.LogWarning(
            "Rule group {Group} was still evaluating at its tick for {Slot:O}; the tick is skipped (counted in vigil.rules.group.iterations_missed, logged once until the group keeps up again)",
            group, slot);
        _reloads = _meter.CreateCounter<long>("vigil.rules.reloads", "{reload}", "Rule reloads by outcome (success | failure)");
        _meter.CreateObservableGauge("vigil.rules.last_reload_success", () => Manager.LastReload?.Success == false ? 0 : 1, description: "1 when the last rule reload succeeded; 0 while the last good rules run because of a bad file");
        _meter.CreateObservableGauge("vigil.rules.loaded", () => Manager.Groups.Sum(g => g.Alerts.Count), "{rule}", "Alert rules running");
        readiness.Require(ReadinessPart);
    }

    public RuleManager Manager { get; }

    public string Directory => _options.RulesDirectory!;

    /// <summary>How long a resolved instance is remembered; a backtest forgets resolved instances as the live engine does.</summary>
    public TimeSpan ResolvedRetention => _options.ResolvedRetention;

    public RuleReloadResult Reload(string trigger)
    {
        var result = Manager.Reload();
        _reloads.Add(1, new KeyValuePair<string, object?>("outcome", result.Success ? "success" : "failure"));
        if (result.Success)
        {
            _logger.LogInformation("Rules reloaded ({Trigger}) from {Directory}: {Groups} group(s), {Alerts} alert rule(s), {Aggregates} aggregate(s)", trigger, Directory, result.Groups, result.AlertRules, result.Aggregates);
        }
        else
        {
            _logger.LogError("Rule reload ({Trigger}) found {Count} problem(s); the last good rules keep running:{NewLine}{Problems}", trigger, result.Problems.Count, Environment.NewLine, result.Error);
        }

        return result;
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (!System.IO.Directory.Exists(Directory))
        {
            _logger.LogWarning("Rules directory {Directory} does not exist; no rules are evaluated until it is created and reloaded", Directory);
            System.IO.Directory.CreateDirectory(Directory);
        }

        Reload("start");

        // Evaluate only once the WAL replay has refilled the store: on a half-replayed store a firing
        // alert would look like its series vanished and resolve, then fire again, paging twice.
        _starting = StartAfterReplayAsync(_stopping.Token);
        _watcher = new RuleFileWatcher(Directory, _options.WatchDebounce, _time, () => Reload("file change"));
        _watcher.Start();
        if (!OperatingSystem.IsWindows())
        {
            _sighup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, context =>
            {
                context.Cancel = true; // SIGHUP reloads; it does not stop Vigil
                Reload("SIGHUP");
            });
        }

        return Task.CompletedTask;
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
            _logger.LogError(e, "Rules are not evaluated: the write-ahead log recovery failed");
            return;
        }

        Manager.Start();
        _readiness.MarkReady(ReadinessPart);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync();
        if (_starting is not null)
        {
            await _starting;
        }

        _sighup?.Dispose();
        _watcher?.Dispose();
        Manager.Stop();
    }

    public async ValueTask DisposeAsync()
    {
        _sighup?.Dispose();
        _watcher?.Dispose();
        await Manager.DisposeAsync();
        _meter.Dispose();
        _stopping.Dispose();
    }
}

/// <summary>Where rules are read from and where alert state is kept.</summary>
public sealed record RulesLocation(string Directory, string DataDirectory)
{
    /// <summary>
    /// The configured directory, or else <c>./rules</c> when it exists, or else the default rule packs
    /// shipped beside the binary, so Vigil starts with its default rules from anywhere.
    /// </summary>
    public static string Resolve(string? configured)
    {
        if (!string.IsNullOrWhiteSpace(configured))
        {
            return configured;
        }

        return System.IO.Directory.Exists("rules") ? "rules" : Path.Combine(AppContext.BaseDirectory, "rules");
    }
}

/// <summary>Logs every alert transition; other sinks (delivery) are composed beside it.</summary>
public sealed class TransitionLog(ILogger<TransitionLog> logger) : IAlertTransitionSink
{
    public void OnTransition(AlertTransition transition) =>
        logger.LogInformation(
            "Alert {Alert} {Labels}: {From} -> {To} (value {Value}, threshold {Threshold}) {Reason}",
            transition.Alert, transition.InstanceLabels, transition.From, transition.To, transition.Value, transition.Threshold, transition.Reason);
}

/// <summary>
/// Fans one transition out to several sinks. One failing sink does not stop the others, but the failure is passed on:
/// the rule engine then keeps the transition journaled and offers it to every sink again, so each must take a
/// transition it has seen (same id) as one.
/// </summary>
public sealed class CompositeTransitionSink(IEnumerable<IAlertTransitionSink> sinks, ILogger<CompositeTransitionSink> logger) : IAlertTransitionSink
{
    private readonly IAlertTransitionSink[] _sinks = sinks.ToArray();

    public void OnTransition(AlertTransition transition)
    {
        Exception? failed = null;
        foreach (var sink in _sinks)
        {
            try
            {
                sink.OnTransition(transition);
            }
            catch (Exception e)
            {
                logger.LogError(e, "Alert transition sink {Sink} failed for {Alert}; the transition is offered again", sink.GetType().Name, transition.Alert);
                failed ??= e;
            }
        }

        if (failed is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failed);
        }
    }
}
