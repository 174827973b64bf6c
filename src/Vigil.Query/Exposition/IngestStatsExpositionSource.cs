using Vigil.Storage;

namespace Vigil.Query.Exposition;

/// <summary>
/// Vigil's own ingest counters on <c>/metrics</c>, named from their OTel names (meter "Vigil") as Prometheus
/// would name them: <c>vigil_ingest_points_accepted_total</c>, <c>vigil_ingest_points_refused_total{reason}</c>,
/// <c>vigil_ingest_points_tenant_mismatch_total{tenant_id}</c>, <c>vigil_series_active</c>.
/// </summary>
public sealed class IngestStatsExpositionSource(WindowStore store) : IExpositionSource
{
    public IEnumerable<MetricFamily> Collect()
    {
        yield return Families.Counter("vigil.ingest.points.accepted", "{point}", "Data points accepted into the window store",
            [new ExpositionSample("_total", [], store.Stats.Accepted)]);

        var refused = store.Stats.RefusedByReason
            .OrderBy(r => r.Key, StringComparer.Ordinal)
            .Select(r => new ExpositionSample("_total", [new("reason", r.Key)], r.Value))
            .ToList();
        yield return Families.Counter("vigil.ingest.points.refused", "{point}", "Data points refused, by reason (also reported in partial_success)", refused);

        var tenantLabel = PrometheusNames.LabelName(store.Options.TenantAttribute);
        var mismatches = store.Stats.TenantMismatchByTenant
            .OrderBy(r => r.Key, StringComparer.Ordinal)
            .Select(r => new ExpositionSample("_total", [new(tenantLabel, r.Key)], r.Value))
            .ToList();
        yield return Families.Counter("vigil.ingest.points.tenant_mismatch", "{point}", "Data points refused as tenant_mismatch, by the tenant written to (the ingest key's or the resource's)", mismatches);

        yield return Families.Gauge("vigil.series.active", "{series}", "Series held in the window store",
            [new ExpositionSample(string.Empty, [], store.SeriesCount)]);
    }
}

/// <summary>Builds families from OTel names and units, translated by <see cref="PrometheusNames"/>.</summary>
public static class Families
{
    public static MetricFamily Counter(string otelName, string unit, string help, IReadOnlyList<ExpositionSample> samples)
    {
        var name = PrometheusNames.MetricName(otelName, unit, MetricKind.Counter);
        return new MetricFamily(name[..^"_total".Length], FamilyType.Counter, help, PrometheusNames.Unit(unit), samples);
    }

    public static MetricFamily Gauge(string otelName, string unit, string help, IReadOnlyList<ExpositionSample> samples) =>
        new(PrometheusNames.MetricName(otelName, unit, MetricKind.Gauge), FamilyType.Gauge, help, PrometheusNames.Unit(unit), samples);

    /// <summary>Only the samples carrying <paramref name="label"/>=<paramref name="value"/>; families left empty are dropped.</summary>
    public static IEnumerable<MetricFamily> WithLabel(IEnumerable<MetricFamily> families, string label, string value)
    {
        foreach (var family in families)
        {
            List<ExpositionSample> kept = [.. family.Samples.Where(s => s.Labels.Any(l => l.Key == label && l.Value == value))];
            if (kept.Count > 0)
            {
                yield return family with { Samples = kept };
            }
        }
    }

    /// <summary>Attribute names become label names (dots → underscores); labels are sorted.</summary>
    public static IReadOnlyList<KeyValuePair<string, string>> Labels(IEnumerable<KeyValuePair<string, string>> attributes) =>
        [.. attributes.Select(a => new KeyValuePair<string, string>(PrometheusNames.LabelName(a.Key), a.Value))
            .Where(a => a.Value.Length > 0)
            .OrderBy(a => a.Key, StringComparer.Ordinal)];
}

/// <summary>A source fed by a callback: the hook the collector uses for families computed elsewhere.</summary>
public sealed class DelegateExpositionSource(Func<IEnumerable<MetricFamily>> collect) : IExpositionSource
{
    public IEnumerable<MetricFamily> Collect() => collect();
}
