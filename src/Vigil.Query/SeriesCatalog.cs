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
/// Built once per query. From a reader with a label index (<see cref="IMetricCatalogReader"/>) it costs the
/// metrics' label names, not their series: a query of 10 series of a 1 M-series store reads no listing
/// (decision 035). A metric's series (<see cref="SeriesOf"/>) and <see cref="TargetInfo"/> are listed when
/// first asked for. Other readers are listed once, up front (<see cref="IWindowReader.ListSeries"/>).
/// </summary>
public sealed class SeriesCatalog
{
    private readonly Dictionary<string, PromSeriesName> _names = new(StringComparer.Ordinal);
    private readonly Dictionary<string, MetricEntry> _metrics = new(StringComparer.Ordinal);
    private readonly IWindowReader _reader;
    private readonly IReadOnlyCollection<string>? _resourceAttributes;
    private Dictionary<string, Labels>? _targetInfo;

    /// <param name="resourceAttributes">The store's <c>storage.resource_attributes</c>: which labels came from resources (target_info).</param>
    public SeriesCatalog(IWindowReader reader, IReadOnlyCollection<string>? resourceAttributes = null)
    {
        _reader = reader;
        _resourceAttributes = resourceAttributes;
        if (reader is IMetricCatalogReader catalog)
        {
            foreach (var metric in catalog.MetricLabelNames([]))
            {
                var entry = Add(metric.Metric, metric.Kind, metric.Unit);
                foreach (var attribute in metric.Attributes)
                {
                    entry.AddAttribute(attribute);
                }
            }

            return;
        }

        _targetInfo = new Dictionary<string, Labels>(StringComparer.Ordinal);
        foreach (var series in reader.ListSeries(null))
        {
            if (!_metrics.TryGetValue(series.Metric, out var entry))
            {
                entry = Add(series.Metric, series.Kind, series.Unit);
                entry.Series = [];
            }

            foreach (var (attribute, _) in series.Labels)
            {
                entry.AddAttribute(attribute);
            }

            entry.Series!.Add(Translate(series.Labels, null));
            AddTargetInfo(series.Labels);
        }
    }

    /// <summary>One <c>target_info</c> series per resource of the stored series (with <c>__name__</c>), sorted.</summary>
    public IEnumerable<Labels> TargetInfo
    {
        get
        {
            if (_targetInfo is null)
            {
                _targetInfo = new Dictionary<string, Labels>(StringComparer.Ordinal);
                foreach (var series in _reader.ListSeries(null))
                {
                    AddTargetInfo(series.Labels);
                }
            }

            return _targetInfo.Values.OrderBy(l => l.Key, StringComparer.Ordinal);
        }
    }

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

    /// <summary>Every series of a metric under Prometheus label names (without <c>__name__</c>), listed on first use.</summary>
    public IReadOnlyList<Labels> SeriesOf(string metric)
    {
        if (!_metrics.TryGetValue(metric, out var entry))
        {
            return [];
        }

        if (entry.Series is null)
        {
            entry.Series = [];
            foreach (var series in _reader.ListSeries(metric))
            {
                entry.Series.Add(Translate(series.Labels, null));
            }
        }

        return entry.Series;
    }

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

    private MetricEntry Add(string metric, MetricKind kind, string unit)
    {
        var entry = new MetricEntry(metric, kind, unit);
        _metrics[metric] = entry;
        foreach (var name in NamesOf(metric, kind, unit))
        {
            _names.TryAdd(name.Name, name);
        }

        return entry;
    }

    private void AddTargetInfo(IReadOnlyDictionary<string, string> labels)
    {
        if (_resourceAttributes is not null && OtlpConventions.TargetInfoOf(labels, _resourceAttributes) is { } info)
        {
            _targetInfo!.TryAdd(info.Key, info);
        }
    }

    private sealed class MetricEntry(string metric, MetricKind kind, string unit)
    {
        public string Metric { get; } = metric;

        public MetricKind Kind { get; } = kind;

        public string Unit { get; } = unit;

        public Dictionary<string, string> LabelToAttribute { get; } = new(StringComparer.Ordinal);

        public SortedSet<string> Attributes { get; } = new(StringComparer.Ordinal);

        /// <summary>Null until listed.</summary>
        public List<Labels>? Series { get; set; }

        public void AddAttribute(string attribute)
        {
            // Two attributes that translate to one label (tenant.id and tenant_id): the first seen wins.
            LabelToAttribute.TryAdd(PrometheusNames.LabelName(attribute), attribute);
            Attributes.Add(attribute);
        }
    }
}
