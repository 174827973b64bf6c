namespace Vigil.Query.Exposition;

/// <summary>Prometheus metric types as both exposition formats name them.</summary>
public enum FamilyType
{
    Counter,
    Gauge,
    Histogram,
    Summary,
    Unknown,
}

/// <summary>
/// One sample of a family. <see cref="Suffix"/> is appended to the family name: <c>_total</c> for counters,
/// <c>_bucket</c>/<c>_sum</c>/<c>_count</c> for histograms, empty for gauges. <see cref="TimestampMs"/> (unix milliseconds)
/// is written after the value when set, as <c>/federate</c> does; <c>/metrics</c> leaves it to the scraper.
/// </summary>
public sealed record ExpositionSample(string Suffix, IReadOnlyList<KeyValuePair<string, string>> Labels, double Value, long? TimestampMs = null);

/// <summary>
/// A metric family to expose. <see cref="Name"/> is the Prometheus family name without the counter's
/// <c>_total</c> (OpenMetrics' family name); <see cref="Unit"/> is the Prometheus unit (<c>seconds</c>) or empty.
/// </summary>
public sealed record MetricFamily(string Name, FamilyType Type, string Help, string Unit, IReadOnlyList<ExpositionSample> Samples)
{
    /// <summary>The name each sample goes by: family name plus the sample's suffix.</summary>
    public string SampleName(ExpositionSample sample) => Name + sample.Suffix;
}

/// <summary>Something that contributes metric families to <c>GET /metrics</c> (and to instant queries of their names).</summary>
public interface IExpositionSource
{
    IEnumerable<MetricFamily> Collect();
}
