using System.Diagnostics;
using System.Diagnostics.Metrics;
using Vigil.Collector.Otlp;
using Vigil.Storage;

namespace Vigil.Collector;

/// <summary>
/// Vigil's self-telemetry (meter "Vigil"): accepted and refused points by reason, refused requests by
/// reason, active and evicted series, the memory limit's reading and level, request durations, the
/// WAL's health. Exported by the OpenTelemetry SDK when telemetry.otlp_endpoint is set.
/// </summary>
public sealed class VigilMetrics : IDisposable
{
    public const string MeterName = "Vigil";

    private readonly Meter _meter;
    private readonly Histogram<double> _requestDuration;

    public VigilMetrics(WindowStore store, IngestGate gate, BodyRefusals bodyRefusals, WalService wal, IMeterFactory meterFactory)
    {
        _meter = meterFactory.Create(MeterName);
        _meter.CreateObservableCounter("vigil.ingest.points.accepted", () => store.Stats.Accepted, "{point}", "Data points accepted into the window store");
        _meter.CreateObservableCounter("vigil.ingest.points.refused", () => RefusedMeasurements(store), "{point}", "Data points refused, by reason (also reported in partial_success)");
        _meter.CreateObservableCounter("vigil.ingest.points.tenant_mismatch", () => TenantMismatchMeasurements(store), "{point}", "Data points refused as tenant_mismatch, by the tenant written to (the ingest key's or the resource's)");
        _meter.CreateObservableCounter("vigil.ingest.requests.refused", () => RefusedRequests(bodyRefusals, gate), "{request}", "OTLP requests refused before storing, by reason: body limits and broken gzip (with transport), memory_limit (503 / UNAVAILABLE), inflight_limit, inflight_requests, tenant_rate (429 / RESOURCE_EXHAUSTED)");
        if (gate.Rates is { } rates)
        {
            _meter.CreateObservableCounter("vigil.ingest.points.rate_limited", () => RateLimitedMeasurements(rates, store), "{point}", "Data points refused (429 / RESOURCE_EXHAUSTED) because their tenant was over its data-point rate, by tenant");
        }

        _meter.CreateObservableUpDownCounter("vigil.series.active", () => store.SeriesCount, "{series}", "Series held in the window store");
        _meter.CreateObservableCounter("vigil.series.evicted", () => store.EvictedSeries, "{series}", "Series evicted after no point for the retention");
        if (gate.Memory is { } memory)
        {
            _meter.CreateObservableGauge("vigil.memory.used", () => memory.UsedBytes, "By", "Managed memory at the memory limit's last reading");
            _meter.CreateObservableGauge("vigil.memory.limit", () => MemoryLimits(memory), "By", "The memory limit: limit=soft refuses new series, limit=hard every request");
            _meter.CreateObservableGauge("vigil.memory.pressure", () => (int)memory.Pressure, "1", "0 normal, 1 new series of the largest tenants refused, 2 every new series refused, 3 every request refused");
            _meter.CreateObservableCounter("vigil.memory.collections.forced", () => memory.ForcedCollections, "{collection}", "Full collections forced by the memory limit");
        }
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

    private static IEnumerable<Measurement<long>> TenantMismatchMeasurements(WindowStore store)
    {
        foreach (var (tenant, count) in store.Stats.TenantMismatchByTenant)
        {
            yield return new Measurement<long>(count, new KeyValuePair<string, object?>(store.Options.TenantAttribute, tenant));
        }
    }

    private static IEnumerable<Measurement<long>> RateLimitedMeasurements(TenantRateLimiter rates, WindowStore store)
    {
        foreach (var (tenant, count) in rates.RefusedPointsByTenant)
        {
            yield return new Measurement<long>(count, new KeyValuePair<string, object?>(store.Options.TenantAttribute, tenant));
        }
    }

    /// <summary>One instrument for every request refused before decoding: the body limits (by transport) and admission (memory, in-flight bytes).</summary>
    private static IEnumerable<Measurement<long>> RefusedRequests(BodyRefusals refusals, IngestGate gate)
    {
        foreach (var ((transport, reason), count) in refusals.Counts)
        {
            yield return new Measurement<long>(count, new KeyValuePair<string, object?>("transport", transport), new KeyValuePair<string, object?>("reason", reason));
        }

        foreach (var (reason, count) in gate.RefusedRequests)
        {
            yield return new Measurement<long>(count, new KeyValuePair<string, object?>("reason", reason));
        }
    }

    private static Measurement<long>[] MemoryLimits(MemoryLimiter memory) =>
    [
        new(memory.SoftLimitBytes, new KeyValuePair<string, object?>("limit", "soft")),
        new(memory.HardLimitBytes, new KeyValuePair<string, object?>("limit", "hard")),
    ];

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
