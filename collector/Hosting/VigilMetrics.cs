using System.Diagnostics;
using System.Diagnostics.Metrics;
using Vigil.Storage;

namespace Vigil.Collector;

/// <summary>
/// Vigil's self-telemetry (meter "Vigil"): accepted and refused points by reason, active series,
/// request durations, the WAL's health. Exported by the OpenTelemetry SDK when telemetry.otlp_endpoint is set.
/// </summary>
public sealed class VigilMetrics : IDisposable
{
    public const string MeterName = "Vigil";

    private readonly Meter _meter;
    private readonly Histogram<double> _requestDuration;

    public VigilMetrics(WindowStore store, WalService wal, IMeterFactory meterFactory)
    {
        _meter = meterFactory.Create(MeterName);
        _meter.CreateObservableCounter("vigil.ingest.points.accepted", () => store.Stats.Accepted, "{point}", "Data points accepted into the window store");
        _meter.CreateObservableCounter("vigil.ingest.points.refused", () => RefusedMeasurements(store), "{point}", "Data points refused, by reason (also reported in partial_success)");
        _meter.CreateObservableUpDownCounter("vigil.series.active", () => store.SeriesCount, "{series}", "Series held in the window store");
        _meter.CreateObservableGauge("vigil.wal.writable", () => wal.Log is { Unavailable: not null } ? 0 : 1, "1", "1 while the WAL can write; 0 while it refuses OTLP requests (e.g. a full disk)");
        _meter.CreateObservableCounter("vigil.wal.write.failures", () => wal.Log?.WriteFailures ?? 0, "{failure}", "WAL writes that failed; their requests were refused as retryable");
        _meter.CreateObservableCounter("vigil.wal.replay.skipped", () => ReplaySkipped(wal), "{record}", "WAL records start-up replay skipped, by reason (damaged, unappliable, unreadable_segment)");
        _requestDuration = _meter.CreateHistogram<double>("vigil.ingest.request.duration", "s", "Time to decode and store one OTLP export request");
    }

    public void RecordRequest(string transport, string outcome, long startedTimestamp)
    {
        var elapsed = Stopwatch.GetElapsedTime(startedTimestamp).TotalSeconds;
        _requestDuration.Record(elapsed, new KeyValuePair<string, object?>("transport", transport), new KeyValuePair<string, object?>("outcome", outcome));
    }

    private static IEnumerable<Measurement<long>> RefusedMeasurements(WindowStore store)
    {
        foreach (var (reason, count) in store.Stats.RefusedByReason)
        {
            yield return new Measurement<long>(count, new KeyValuePair<string, object?>("reason", reason));
        }
    }

    private static IEnumerable<Measurement<long>> ReplaySkipped(WalService wal)
    {
        if (wal.Recovery?.Replay is not { } replay)
        {
            yield break;
        }

        yield return new Measurement<long>(replay.DamagedRecords, new KeyValuePair<string, object?>("reason", "damaged"));
        yield return new Measurement<long>(replay.UnappliedRecords, new KeyValuePair<string, object?>("reason", "unappliable"));
        yield return new Measurement<long>(replay.UnreadableSegments, new KeyValuePair<string, object?>("reason", "unreadable_segment"));
    }

    public void Dispose() => _meter.Dispose();
}
