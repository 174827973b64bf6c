namespace Vigil.Storage.Query;

/// <summary>
/// The window store as one tenant sees it: every aggregation gets the matcher
/// <c>{tenant attribute}="tenant"</c>, listings keep only that tenant's series, and a metric the tenant
/// has no series of is unknown. What a read key bound to a tenant queries through (docs/security.md).
/// </summary>
public sealed class TenantScopedReader(IWindowReader inner, string tenantAttribute, string tenant) : IWindowReader, IMetricCatalogReader
{
    private readonly LabelMatcher _matcher = new(tenantAttribute, MatchOp.Equal, tenant);

    public string Tenant { get; } = tenant;

    public IReadOnlyList<AggregateSample> Aggregate(AggregateQuery query) =>
        inner.Aggregate(query with { Matchers = [.. query.Matchers, _matcher] });

    public MetricKind? KindOf(string metric) => ListSeries(metric).Count > 0 ? inner.KindOf(metric) : null;

    public IReadOnlyList<SeriesInfo> ListSeries(string? metric) =>
        [.. inner.ListSeries(metric).Where(s => s.Labels.TryGetValue(tenantAttribute, out var value) && _matcher.Matches(value))];

    /// <summary>The tenant's metrics and label names, through the inner reader's label index when it has one.</summary>
    public IReadOnlyList<MetricLabelNames> MetricLabelNames(IReadOnlyList<LabelMatcher> scope)
    {
        if (inner is IMetricCatalogReader catalog)
        {
            return catalog.MetricLabelNames([.. scope, _matcher]);
        }

        var result = new List<MetricLabelNames>();
        foreach (var group in ListSeries(null).Where(s => scope.All(m => m.Matches(s.Labels.GetValueOrDefault(m.Name) ?? string.Empty))).GroupBy(s => s.Metric, StringComparer.Ordinal))
        {
            var first = group.First();
            result.Add(new MetricLabelNames(first.Metric, first.Kind, first.Unit, [.. group.SelectMany(s => s.Labels.Keys).Distinct(StringComparer.Ordinal)]));
        }

        return result;
    }

    public void ReadBucket(DateTimeOffset bucketStart, IBucketVisitor visitor) => inner.ReadBucket(bucketStart, new TenantVisitor(tenantAttribute, _matcher, visitor));

    private sealed class TenantVisitor(string attribute, LabelMatcher matcher, IBucketVisitor inner) : IBucketVisitor
    {
        public void Visit(string metric, string unit, IReadOnlyDictionary<string, string> labels, in BucketView view)
        {
            if (labels.TryGetValue(attribute, out var value) && matcher.Matches(value))
            {
                inner.Visit(metric, unit, labels, view);
            }
        }
    }
}
