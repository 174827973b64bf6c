using Vigil.Storage;

namespace Vigil.Query.Exposition;

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
