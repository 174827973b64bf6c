namespace Vigil.Storage.Query;

/// <summary>One metric with at least one series, and the attribute names its series carry (in first-seen order).</summary>
public sealed record MetricLabelNames(string Metric, MetricKind Kind, string Unit, IReadOnlyList<string> Attributes);

/// <summary>
/// A reader that can say which metrics it holds and their label names without listing their series: what a
/// PromQL query needs to translate names (decision 035). Readers without it are listed instead.
/// </summary>
public interface IMetricCatalogReader
{
    /// <summary>
    /// The metrics with series that match every matcher of <paramref name="scope"/> (none: every series), in the
    /// order <see cref="IWindowReader.ListSeries"/> lists them, each with the attribute names in the order a walk of
    /// those series in that listing meets them first.
    /// </summary>
    IReadOnlyList<MetricLabelNames> MetricLabelNames(IReadOnlyList<LabelMatcher> scope);
}
