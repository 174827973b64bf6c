using Vigil.Storage;
using Vigil.Storage.Query;

namespace Vigil.Query;

/// <summary>Which Prometheus series a queryable name stands for.</summary>
public enum SeriesRole
{
    /// <summary><c>x_total</c> of a counter.</summary>
    Counter,

    /// <summary>A gauge under its own name.</summary>
    Gauge,

    /// <summary><c>x_bucket</c> of a histogram.</summary>
    Bucket,

    /// <summary><c>x_sum</c> of a histogram or summary.</summary>
    Sum,

    /// <summary><c>x_count</c> of a histogram or summary.</summary>
    Count,

    /// <summary>An exponential histogram under its base name, as a Prometheus native histogram.</summary>
    Native,

    /// <summary>A summary under its base name (the <c>quantile</c> series).</summary>
    SummaryQuantile,
}

/// <summary>One queryable Prometheus name and the Vigil metric behind it.</summary>
public sealed record PromSeriesName(string Name, string FamilyName, string Metric, MetricKind Kind, string Unit, SeriesRole Role)
{
    /// <summary>The Prometheus metadata type of the family.</summary>
    public string Type => Kind switch
    {
        MetricKind.Counter => "counter",
        MetricKind.Gauge => "gauge",
        MetricKind.Histogram or MetricKind.ExponentialHistogram => "histogram",
        _ => "summary",
    };
}

/// <summary>
/// A snapshot of the store's metrics under their Prometheus names, with the reverse maps a query needs:
/// Prometheus name → Vigil metric and role, Prometheus label → OTel attribute name per metric.
/// Built once per query from <see cref="IWindowReader.ListSeries"/>.
/// </summary>
public sealed class SeriesCatalog
{
    private readonly Dictionary<string, PromSeriesName> _names = new(StringComparer.Ordinal);
    private readonly Dictionary<string, MetricEntry> _metrics = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Labels> _targetInfo = new(StringComparer.Ordinal);

    /// <param name="resourceAttributes">The store's <c>storage.resource_attributes</c>: which labels came from resources (target_info).</param>
    public SeriesCatalog(IWindowReader reader, IReadOnlyCollection<string>? resourceAttributes = null)
    {
        foreach (var series in reader.ListSeries(null))
        {
            if (!_metrics.TryGetValue(series.Metric, out var entry))
            {
                entry = new MetricEntry(series.Metric, series.Kind, series.Unit);
                _metrics[series.Metric] = entry;
                foreach (var name in NamesOf(series.Metric, series.Kind, series.Unit))
                {
                    _names.TryAdd(name.Name, name);
                }
            }

            var labels = new List<KeyValuePair<string, string>>(series.Labels.Count + 2);
            foreach (var (attribute, value) in series.Labels)
            {
                var label = PrometheusNames.LabelName(attribute);
                // Two attributes that translate to one label (tenant.id and tenant_id): the first seen wins.
                entry.LabelToAttribute.TryAdd(label, attribute);
                entry.Attributes.Add(attribute);
                labels.Add(new(label, value));
            }

            OtlpConventions.AddDerived(labels, series.Labels);
            entry.Series.Add(Labels.From(labels));
            if (resourceAttributes is not null && OtlpConventions.TargetInfoOf(series.Labels, resourceAttributes) is { } info)
            {
                _targetInfo.TryAdd(info.Key, info);
            }
        }
    }

    /// <summary>One <c>target_info</c> series per resource of the stored series (with <c>__name__</c>), sorted.</summary>
    public IEnumerable<Labels> TargetInfo => _targetInfo.Values.OrderBy(l => l.Key, StringComparer.Ordinal);

    public IEnumerable<PromSeriesName> Names => _names.Values;

    /// <summary>Every queryable name of one Vigil metric: <c>x_total</c>; <c>x</c>; <c>x_bucket</c>, <c>x_sum</c>, <c>x_count</c>…</summary>
    public static IEnumerable<PromSeriesName> NamesOf(string metric, MetricKind kind, string unit)
    {
        var family = PrometheusNames.MetricName(metric, unit, kind);
        switch (kind)
        {
            case MetricKind.Counter:
                yield return new PromSeriesName(family, family, metric, kind, unit, SeriesRole.Counter);
                break;
            case MetricKind.Gauge:
                yield return new PromSeriesName(family, family, metric, kind, unit, SeriesRole.Gauge);
                break;
            case MetricKind.Histogram or MetricKind.ExponentialHistogram:
                if (kind == MetricKind.ExponentialHistogram)
                {
                    yield return new PromSeriesName(family, family, metric, kind, unit, SeriesRole.Native);
                }

                yield return new PromSeriesName(family + "_bucket", family, metric, kind, unit, SeriesRole.Bucket);
                yield return new PromSeriesName(family + "_sum", family, metric, kind, unit, SeriesRole.Sum);
                yield return new PromSeriesName(family + "_count", family, metric, kind, unit, SeriesRole.Count);
                break;
            default:
                yield return new PromSeriesName(family, family, metric, kind, unit, SeriesRole.SummaryQuantile);
                yield return new PromSeriesName(family + "_sum", family, metric, kind, unit, SeriesRole.Sum);
                yield return new PromSeriesName(family + "_count", family, metric, kind, unit, SeriesRole.Count);
                break;
        }
    }

    public PromSeriesName? Find(string name) => _names.GetValueOrDefault(name);

    /// <summary>The names a selector's <c>__name__</c> matchers accept.</summary>
    public IEnumerable<PromSeriesName> Resolve(IReadOnlyList<LabelMatcher> matchers)
    {
        var nameMatchers = matchers.Where(m => m.Name == Labels.MetricName).ToList();
        var exact = nameMatchers.FirstOrDefault(m => m.Op == MatchOp.Equal);
        if (exact is not null)
        {
            return Find(exact.Value) is { } found && nameMatchers.All(m => m.Matches(found.Name)) ? [found] : [];
        }

        return _names.Values.Where(n => nameMatchers.All(m => m.Matches(n.Name))).OrderBy(n => n.Name, StringComparer.Ordinal);
    }

    /// <summary>The OTel attribute names of a metric's series (the <c>by</c> list that keeps every series apart).</summary>
    public IReadOnlyList<string> AttributesOf(string metric) =>
        _metrics.TryGetValue(metric, out var entry) ? [.. entry.Attributes] : [];

    /// <summary>The OTel attribute behind a Prometheus label of a metric; unknown labels pass through (they match as empty).</summary>
    public string AttributeOf(string metric, string label) =>
        _metrics.TryGetValue(metric, out var entry) && entry.LabelToAttribute.TryGetValue(label, out var attribute) ? attribute : label;

    /// <summary>Every series of a metric under Prometheus label names (without <c>__name__</c>).</summary>
    public IReadOnlyList<Labels> SeriesOf(string metric) =>
        _metrics.TryGetValue(metric, out var entry) ? entry.Series : [];

    /// <summary>Turns store labels (OTel names) into Prometheus labels, with job and instance, and a name when given.</summary>
    public static Labels Translate(IReadOnlyDictionary<string, string> labels, string? name)
    {
        var pairs = new List<KeyValuePair<string, string>>(labels.Count + 3);
        foreach (var (attribute, value) in labels)
        {
            pairs.Add(new(PrometheusNames.LabelName(attribute), value));
        }

        OtlpConventions.AddDerived(pairs, labels);

        if (name is not null)
        {
            pairs.Add(new(Labels.MetricName, name));
        }

        return Labels.From(pairs);
    }

    private sealed class MetricEntry(string metric, MetricKind kind, string unit)
    {
        public string Metric { get; } = metric;

        public MetricKind Kind { get; } = kind;

        public string Unit { get; } = unit;

        public Dictionary<string, string> LabelToAttribute { get; } = new(StringComparer.Ordinal);

        public SortedSet<string> Attributes { get; } = new(StringComparer.Ordinal);

        public List<Labels> Series { get; } = [];
    }
}
