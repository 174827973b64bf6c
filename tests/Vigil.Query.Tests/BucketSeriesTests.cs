namespace Vigil.Query.Tests;

/// <summary>A classic histogram's _bucket series selected directly, bare and under rate/increase (issue #11 item 1).</summary>
public sealed class BucketSeriesTests
{
    /// <summary>
    /// latency (s), bounds 0.5 and 1, tenant a: at 30 s counts [2, 1, 1], at 50 s counts [0, 3, 0]. Cumulative per le over
    /// both: 0.5 → 2, 1 → 2 + 1 + 3 = 6, +Inf → 7.
    /// </summary>
    private static QueryHarness Latency()
    {
        var h = new QueryHarness();
        h.Clock.SetUtcNow(QueryHarness.At(60));
        h.Send(QueryHarness.Histogram("latency", "s", QueryHarness.HistogramPoint(29, 30, [0.5, 1], [2, 1, 1], 3, "a")));
        h.Send(QueryHarness.Histogram("latency", "s", QueryHarness.HistogramPoint(49, 50, [0.5, 1], [0, 3, 0], 2, "a")));
        return h;
    }

    [Fact]
    public void BareBuckets_AreCumulativePerLe_OverTheRetention()
    {
        var h = Latency();

        var buckets = h.Vector("latency_seconds_bucket", 60);

        Assert.Equal(
            new Dictionary<string, double>
            {
                ["latency_seconds_bucket{le=\"0.5\", tenant_id=\"a\"}"] = 2,
                ["latency_seconds_bucket{le=\"1\", tenant_id=\"a\"}"] = 6,
                ["latency_seconds_bucket{le=\"+Inf\", tenant_id=\"a\"}"] = 7,
            },
            buckets);
    }

    [Fact]
    public void IncreaseAndRate_ReadOnlyTheWindow_AndDropTheName()
    {
        var h = Latency();

        var increase = h.Vector("increase(latency_seconds_bucket[20s])", 60); // buckets starting at 50 s and 60 s
        var rate = h.Vector("rate(latency_seconds_bucket{le=\"1\"}[1m])", 60);

        Assert.Equal(0, increase["{le=\"0.5\", tenant_id=\"a\"}"]);
        Assert.Equal(3, increase["{le=\"1\", tenant_id=\"a\"}"]);
        Assert.Equal(3, increase["{le=\"+Inf\", tenant_id=\"a\"}"]);
        Assert.Equal(6.0 / 60, Assert.Single(rate).Value, 12);
    }

    [Fact]
    public void SumByLe_OfRatedBuckets_AggregatesAsAnyVector()
    {
        var h = Latency();
        h.Send(QueryHarness.Histogram("latency", "s", QueryHarness.HistogramPoint(49, 50, [0.5, 1], [4, 0, 0], 1, "b")));

        var sum = h.Vector("sum by (le) (increase(latency_seconds_bucket[1m]))", 60);

        Assert.Equal(6, sum["{le=\"0.5\"}"]); // a 2 + b 4
        Assert.Equal(10, sum["{le=\"1\"}"]);
        Assert.Equal(11, sum["{le=\"+Inf\"}"]);
    }

    [Fact]
    public void BucketsOfAnotherTenant_AreNotVisibleToATenantScope()
    {
        var h = Latency();
        h.Send(QueryHarness.Histogram("latency", "s", QueryHarness.HistogramPoint(49, 50, [0.5, 1], [4, 0, 0], 1, "b")));

        var scoped = h.Engine.ForTenant("tenant.id", "b").Query("latency_seconds_bucket{le=\"+Inf\"}", QueryHarness.At(60));

        var sample = Assert.Single(Assert.IsType<Evaluation.VectorValue>(scoped.Value).Samples);
        Assert.Equal("b", sample.Labels.Get("tenant_id"));
        Assert.Equal(4, sample.Value);
    }
}
