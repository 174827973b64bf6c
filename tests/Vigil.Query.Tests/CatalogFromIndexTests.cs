using Vigil.Query.Evaluation;
using Vigil.Storage;
using Vigil.Storage.Query;

namespace Vigil.Query.Tests;

/// <summary>
/// A query's catalog comes from the label index (decision 035): it lists no series of the store to learn names
/// and label names, and it says exactly what a catalog built from the whole listing says.
/// </summary>
public sealed class CatalogFromIndexTests
{
    private const int BigSeries = 5000;

    /// <summary>"big": 5,000 gauge series; "small": 10 counter series, value i + 1 each, tenant t0 or t1.</summary>
    private static QueryHarness BigAndSmall()
    {
        var h = new QueryHarness();
        h.Clock.SetUtcNow(QueryHarness.At(60));
        for (var i = 0; i < BigSeries; i++)
        {
            h.Gauge("big", 30, i, ("host", "h" + i));
        }

        for (var i = 0; i < 10; i++)
        {
            h.Delta("small", 40, i + 1, ("tenant.id", "t" + (i % 2)), ("route", "/r" + i));
        }

        return h;
    }

    [Fact]
    public void QueryOfTenSeries_ListsNoSeriesOfTheStore()
    {
        var h = BigAndSmall();
        var counting = new CountingReader(h.Store);
        var engine = new PromQueryEngine(counting, PromQueryOptions.From(h.Store.Options), h.Clock);

        var result = Assert.IsType<VectorValue>(engine.Query("sum by (tenant_id) (small_total{tenant_id=\"t1\"})", QueryHarness.At(60)).Value);

        // t1 holds the odd i: values 2 + 4 + 6 + 8 + 10.
        var sample = Assert.Single(result.Samples);
        Assert.Equal("t1", sample.Labels.Get("tenant_id"));
        Assert.Equal(30, sample.Value);
        Assert.Equal(0, counting.SeriesListed);
    }

    [Fact]
    public void SeriesApi_StillListsWhatItReturns()
    {
        var h = BigAndSmall();
        var counting = new CountingReader(h.Store);
        var catalog = new SeriesCatalog(counting);

        Assert.Equal(10, catalog.SeriesOf("small").Count);
        Assert.Equal(10, counting.SeriesListed);
    }

    [Fact]
    public void CatalogFromTheIndex_SaysWhatTheListedCatalogSays_WithRemovedSeriesAndCollidingLabels()
    {
        var h = new QueryHarness();
        h.Clock.SetUtcNow(QueryHarness.At(20));

        // The first series carries tenant_id and an attribute no other has; it expires below.
        h.Delta("jobs", 10, 1, ("tenant_id", "old"), ("gone.soon", "x"));
        h.Gauge("swept.metric", 10, 1, ("host", "a"));
        h.Clock.SetUtcNow(QueryHarness.At(4000));
        h.Delta("jobs", 3990, 2, ("tenant.id", "a"), ("queue", "q1"));
        h.Delta("jobs", 3990, 3, ("tenant_id", "b"), ("queue", "q2"));
        for (var i = 0; i < 6; i++)
        {
            h.Delta("jobs", 3990, 10 + i, ("tenant.id", "c" + i), ("service.name", "svc"), ("host.name", "h" + i));
        }

        h.Gauge("empty.labels", 3990, 7);
        h.Store.Sweep();
        Assert.Equal(9, h.Store.SeriesCount);

        var indexed = new SeriesCatalog(h.Store, ["service.name", "host.name"]);
        var listed = new SeriesCatalog(new ListingOnlyReader(h.Store), ["service.name", "host.name"]);

        Assert.Equal(listed.Names.Select(n => n.Name), indexed.Names.Select(n => n.Name));
        foreach (var metric in new[] { "jobs", "empty.labels", "swept.metric", "none" })
        {
            Assert.Equal(listed.AttributesOf(metric), indexed.AttributesOf(metric));
            Assert.Equal(listed.SeriesOf(metric).Select(l => l.Key), indexed.SeriesOf(metric).Select(l => l.Key));
            foreach (var label in new[] { "tenant_id", "queue", "gone_soon", "service_name", "host_name", "job", "unknown" })
            {
                Assert.Equal(listed.AttributeOf(metric, label), indexed.AttributeOf(metric, label));
            }
        }

        Assert.Equal(listed.TargetInfo.Select(l => l.Key), indexed.TargetInfo.Select(l => l.Key));

        // Derived independently: the expired series' attributes are gone, and tenant.id was met first among the live.
        Assert.DoesNotContain("gone.soon", indexed.AttributesOf("jobs"));
        Assert.Equal("tenant.id", indexed.AttributeOf("jobs", "tenant_id"));
        Assert.Equal(6, indexed.TargetInfo.Count());
    }

    [Fact]
    public void TenantCatalog_FromTheIndex_SaysWhatTheTenantsListingSays_AndListsNothing()
    {
        var h = BigAndSmall();
        h.Delta("jobs", 40, 1, ("tenant.id", "t0"), ("queue", "q"));
        h.Delta("jobs", 40, 2, ("tenant.id", "t1"), ("worker", "w"));
        foreach (var tenant in new[] { "t0", "t1", "nobody" })
        {
            var counting = new CountingReader(h.Store);
            var indexed = new SeriesCatalog(new TenantScopedReader(counting, "tenant.id", tenant));
            Assert.Equal(0, counting.SeriesListed);
            var listed = new SeriesCatalog(new ListingOnlyReader(new TenantScopedReader(h.Store, "tenant.id", tenant)));

            Assert.Equal(listed.Names.Select(n => n.Name), indexed.Names.Select(n => n.Name));
            foreach (var metric in new[] { "jobs", "small", "big" })
            {
                Assert.Equal(listed.AttributesOf(metric), indexed.AttributesOf(metric));
            }
        }

        // Derived independently: t1 has a jobs series with worker and small series with route, and no big series.
        var t1 = new SeriesCatalog(new TenantScopedReader(h.Store, "tenant.id", "t1"));
        Assert.Equal(["tenant.id", "worker"], t1.AttributesOf("jobs"));
        Assert.Equal(["route", "tenant.id"], t1.AttributesOf("small"));
        Assert.Empty(t1.AttributesOf("big"));
        Assert.Null(t1.Find("big"));
    }

    /// <summary>A reader through <see cref="IWindowReader"/> only, counting the series its listings hand out.</summary>
    private class ListingOnlyReader(IWindowReader inner) : IWindowReader
    {
        protected IWindowReader Inner => inner;

        public int SeriesListed { get; private set; }

        public IReadOnlyList<AggregateSample> Aggregate(AggregateQuery query) => inner.Aggregate(query);

        public MetricKind? KindOf(string metric) => inner.KindOf(metric);

        public IReadOnlyList<SeriesInfo> ListSeries(string? metric)
        {
            var series = inner.ListSeries(metric);
            SeriesListed += series.Count;
            return series;
        }

        public void ReadBucket(DateTimeOffset bucketStart, IBucketVisitor visitor) => inner.ReadBucket(bucketStart, visitor);
    }

    /// <summary>The store with its label index as well: what the engine reads when it queries the store.</summary>
    private sealed class CountingReader(WindowStore store) : ListingOnlyReader(store), IMetricCatalogReader
    {
        public IReadOnlyList<MetricLabelNames> MetricLabelNames(IReadOnlyList<LabelMatcher> scope) => ((WindowStore)Inner).MetricLabelNames(scope);
    }
}
