using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using Vigil.Query.Exposition;
using Vigil.Rules;
using Vigil.Storage;

namespace Vigil.RemoteWrite;

/// <summary>
/// Prometheus remote write (protocol 1.0) from Vigil: one <see cref="RemoteWriteQueue"/> per <c>remote_write</c> entry,
/// the aggregates journal they share (fed by <see cref="OnEvaluated"/>), pruning, and the queues' self-metrics. Start it
/// only once the store holds everything the WAL replay brings back: the series cursor moves past a bucket once sent.
/// </summary>
public sealed class RemoteWriteService : IAsyncDisposable
{
    private static readonly TimeSpan PruneInterval = TimeSpan.FromMinutes(1);

    private readonly IReadOnlyList<RemoteWriteQueue> _queues;
    private readonly RemoteWriteState? _state;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly bool _journal;
    private CancellationTokenSource? _stopping;
    private List<Task> _loops = [];

    public RemoteWriteService(
        IReadOnlyList<RemoteWriteOptions> remotes, string dataDirectory, WindowStore store, TimeProvider time, ILoggerFactory loggers,
        Func<RemoteWriteOptions, HttpMessageHandler?>? handlers = null)
    {
        _time = time;
        _logger = loggers.CreateLogger("Vigil.RemoteWrite");
        if (remotes.Count == 0)
        {
            _queues = [];
            return;
        }

        _state = new RemoteWriteState(dataDirectory);
        _queues = [.. remotes.Select(r => new RemoteWriteQueue(r, _state, store, time, _logger, handlers?.Invoke(r)))];
        _journal = remotes.Any(r => r.SendsAggregates);
    }

    public bool Enabled => _queues.Count > 0;

    /// <summary>The rule engine's hook: journals the evaluation's recorded aggregates, ALERTS and ALERTS_FOR_STATE at its time.</summary>
    public void OnEvaluated(GroupEvaluation evaluation)
    {
        if (!_journal || _state is null)
        {
            return;
        }

        var at = evaluation.At.ToUnixTimeMilliseconds();
        var samples = new List<(long, IReadOnlyList<KeyValuePair<string, string>>, double)>();
        foreach (var family in RulesExpositionSource.ToFamilies(evaluation.Recorded, evaluation.Active))
        {
            foreach (var sample in family.Samples)
            {
                samples.Add((at, SampleLabels.FromExposition(family.SampleName(sample), sample.Labels), sample.Value));
            }
        }

        try
        {
            _state.Append(samples);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            _logger.LogError(e, "Remote write: could not journal {Count} aggregate sample(s) of group {Group}", samples.Count, evaluation.Group);
            return;
        }

        foreach (var queue in _queues)
        {
            queue.Wake();
        }
    }

    public Task StartAsync(CancellationToken cancellationToken = default)
    {
        if (_state is null)
        {
            return Task.CompletedTask;
        }

        _stopping = new CancellationTokenSource();
        var token = _stopping.Token;
        _loops = [.. _queues.Select(q => Task.Run(() => q.RunAsync(token), CancellationToken.None)), Task.Run(() => PruneLoopAsync(token), CancellationToken.None)];
        foreach (var queue in _queues)
        {
            _logger.LogInformation("Remote write {Queue}: sending {Send} to {Url}", queue.Name, string.Join(", ", queue.Options.Send), queue.Options.Url);
        }

        return Task.CompletedTask;
    }

    /// <summary>Stops the queues; a request in flight is abandoned and sent again from the cursor on the next start.</summary>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        if (_stopping is null)
        {
            return;
        }

        await _stopping.CancelAsync();
        await Task.WhenAll(_loops);
        _stopping.Dispose();
        _stopping = null;
    }

    public IReadOnlyList<RemoteWriteQueueStatus> Status() => [.. _queues.Select(q => q.Status())];

    /// <summary>The queues' self-metrics for <c>/metrics</c>, named as Prometheus names its own remote-write metrics.</summary>
    public IEnumerable<MetricFamily> Families()
    {
        if (_queues.Count == 0)
        {
            yield break;
        }

        var status = Status();
        IReadOnlyList<ExpositionSample> Per(string suffix, Func<RemoteWriteQueueStatus, double> value) =>
            [.. status.Select(s => new ExpositionSample(suffix, [new("remote_name", s.Name), new("url", s.Url)], value(s)))];

        yield return Query.Exposition.Families.Counter("vigil.remote_write.samples.sent", "{sample}", "Samples the receiver took", Per("_total", s => s.SamplesSent));
        yield return Query.Exposition.Families.Counter("vigil.remote_write.samples.failed", "{sample}", "Samples dropped: refused for good (4xx other than 429) or older than max_age", Per("_total", s => s.SamplesFailed));
        yield return Query.Exposition.Families.Counter("vigil.remote_write.samples.retried", "{sample}", "Samples sent again after a 5xx, a 429 or no answer", Per("_total", s => s.SamplesRetried));
        yield return Query.Exposition.Families.Gauge("vigil.remote_write.samples.pending", "{sample}", "Samples journaled or in flight, not yet taken", Per(string.Empty, s => s.SamplesPending));
        yield return Query.Exposition.Families.Gauge("vigil.remote_write.highest_sent_timestamp", "s", "Timestamp of the newest sample the receiver took (unix seconds)",
            Per(string.Empty, s => s.HighestSent is { } h ? h.ToUnixTimeMilliseconds() / 1000.0 : 0));
        yield return Query.Exposition.Families.Gauge("vigil.remote_write.lag", "s", "How far the newest sent sample is behind now", Per(string.Empty, s => s.Lag.TotalSeconds));
    }

    /// <summary>The same figures as OpenTelemetry instruments on Vigil's meter (exported with telemetry.otlp_endpoint).</summary>
    public void RegisterInstruments(Meter meter)
    {
        if (_queues.Count == 0)
        {
            return;
        }

        IEnumerable<Measurement<T>> Per<T>(Func<RemoteWriteQueueStatus, T> value)
            where T : struct =>
            Status().Select(s => new Measurement<T>(value(s), new KeyValuePair<string, object?>("remote_name", s.Name), new KeyValuePair<string, object?>("url", s.Url)));

        meter.CreateObservableCounter("vigil.remote_write.samples.sent", () => Per(s => s.SamplesSent), "{sample}", "Samples the receiver took");
        meter.CreateObservableCounter("vigil.remote_write.samples.failed", () => Per(s => s.SamplesFailed), "{sample}", "Samples dropped: refused for good or older than max_age");
        meter.CreateObservableCounter("vigil.remote_write.samples.retried", () => Per(s => s.SamplesRetried), "{sample}", "Samples sent again after a 5xx, a 429 or no answer");
        meter.CreateObservableGauge("vigil.remote_write.samples.pending", () => Per(s => s.SamplesPending), "{sample}", "Samples journaled or in flight, not yet taken");
        meter.CreateObservableGauge("vigil.remote_write.highest_sent_timestamp", () => Per(s => s.HighestSent is { } h ? h.ToUnixTimeMilliseconds() / 1000.0 : 0), "s", "Newest sample the receiver took");
        meter.CreateObservableGauge("vigil.remote_write.lag", () => Per(s => s.Lag.TotalSeconds), "s", "How far the newest sent sample is behind now");
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        foreach (var queue in _queues)
        {
            queue.Dispose();
        }

        _state?.Dispose();
    }

    private async Task PruneLoopAsync(CancellationToken stopping)
    {
        var names = _queues.Select(q => q.Name).ToList();
        var maxAge = _queues.Max(q => q.Options.Queue.MaxAge);
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                var aggregateQueues = _queues.Where(q => q.Options.SendsAggregates).ToList();
                long? sentByAll = aggregateQueues.Count == 0 ? null : aggregateQueues.Min(q => q.AggregateSeq);
                _state!.Prune(names, sentByAll, (_time.GetUtcNow() - maxAge).ToUnixTimeMilliseconds());
                await Task.Delay(PruneInterval, _time, stopping);
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                _logger.LogWarning(e, "Remote write: pruning the journal failed; trying again later");
                await Task.Delay(PruneInterval, _time, stopping).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
    }
}
