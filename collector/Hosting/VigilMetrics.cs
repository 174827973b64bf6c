using System.Diagnostics;
using System.Diagnostics.Metrics;
using Vigil.Collector.Otlp;
using Vigil.Storage;

namespace Vigil.Collector;

/// <summary>
/// Vigil's self-telemetry (meter "Vigil"): accepted and refused points by reason, active series,
/// request durations. Exported by the OpenTelemetry SDK when telemetry.otlp_endpoint is set.
/// </summary>
public sealed class VigilMetrics : IDisposable
{
    public const string MeterName = "Vigil";

    private readonly Meter _meter;
    private readonly Histogram<double> _requestDuration;

    public VigilMetrics(WindowStore store, BodyRefusals bodyRefusals, IMeterFactory meterFactory)
    {
        _meter = meterFactory.Create(MeterName);
        _meter.CreateObservableCounter("vigil.ingest.points.accepted", () => store.Stats.Accepted, "{point}", "Data points accepted into the window store");
        _meter.CreateObservableCounter("vigil.ingest.points.refused", () => RefusedMeasurements(store), "{point}", "Data points refused, by reason (also reported in partial_success)");
        _meter.CreateObservableCounter("vigil.ingest.points.tenant_mismatch", () => TenantMismatchMeasurements(store), "{point}", "Data points refused as tenant_mismatch, by the tenant written to (the ingest key's or the resource's)");
        _meter.CreateObservableCounter("vigil.ingest.requests.refused", () => RefusedRequests(bodyRefusals), "{request}", "OTLP requests refused before decoding, by transport and reason (size, decompression ratio, broken gzip)");
        _meter.CreateObservableUpDownCounter("vigil.series.active", () => store.SeriesCount, "{series}", "Series held in the window store");
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

    private static IEnumerable<Measurement<long>> TenantMismatchMeasurements(WindowStore store)
    {
        foreach (var (tenant, count) in store.Stats.TenantMismatchByTenant)
        {
            yield return new Measurement<long>(count, new KeyValuePair<string, object?>(store.Options.TenantAttribute, tenant));
        }
    }

    private static IEnumerable<Measurement<long>> RefusedRequests(BodyRefusals refusals)
    {
        foreach (var ((transport, reason), count) in refusals.Counts)
        {
            yield return new Measurement<long>(count, new KeyValuePair<string, object?>("transport", transport), new KeyValuePair<string, object?>("reason", reason));
        }
    }

    public void Dispose() => _meter.Dispose();
}
