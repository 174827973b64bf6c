using Vigil.Query.Evaluation;

namespace Vigil.Query.Tests;

/// <summary>histogram_quantile and _count/_sum over histograms ingested through OTLP.</summary>
public sealed class HistogramQueryTests
{
    private static readonly double[] Bounds = [1, 2, 5];

    /// <summary>
    /// ai.run.duration (s), delta: acme [1,2,3,4] sum 30 @5s and [0,1,1,2] sum 20 @15s (merged [1,3,4,6], 14 obs, sum 50);
    /// globex [4,0,0,0] sum 2 @15s. Queried at 55 s with [1m]: buckets 0..50 hold all of it.
    /// </summary>
    private static QueryHarness Durations()
    {
        var h = new QueryHarness();
        h.Clock.SetUtcNow(QueryHarness.At(60));
        h.Send(QueryHarness.Histogram("ai.run.duration", "s",
            QueryHarness.HistogramPoint(0, 5, Bounds, [1, 2, 3, 4], 30, "acme"),
            QueryHarness.HistogramPoint(5, 15, Bounds, [0, 1, 1, 2], 20, "acme"),
            QueryHarness.HistogramPoint(0, 15, Bounds, [4, 0, 0, 0], 2, "globex")));
        return h;
    }

    [Fact]
    public void HistogramQuantile_SumByLe_MergesEverySeries()
    {
        // Merged [5,3,4,6], 18 observations; rank 9 lies in (2,5] which holds ranks 8..12 → 2 + 3·(9−8)/4.
        var result = Durations().Vector("histogram_quantile(0.5, sum by (le) (rate(ai_run_duration_seconds_bucket[1m])))", 55);

        Assert.Equal(2.75, result["{}"], 12);
    }

    [Fact]
    public void HistogramQuantile_ByLeAndTenant_GivesOneQuantilePerTenant()
    {
        var result = Durations().Vector("histogram_quantile(0.5, sum(rate(ai_run_duration_seconds_bucket[1m])) by (le, tenant_id))", 55);

        Assert.Equal(4.25, result["{tenant_id=\"acme\"}"], 12);   // rank 7 in (2,5] holding 4..8 → 2 + 3·3/4
        Assert.Equal(0.5, result["{tenant_id=\"globex\"}"], 12);  // rank 2 of 4 in (0,1] → 0.5
    }

    [Fact]
    public void HistogramQuantile_OverRateWithoutSum_KeepsEverySeries()
    {
        var result = Durations().Vector("histogram_quantile(0.25, rate(ai_run_duration_seconds_bucket{tenant_id=\"acme\"}[1m]))", 55);

        Assert.Equal(11.0 / 6, result["{tenant_id=\"acme\"}"], 12); // rank 3.5 in (1,2] holding 1..4 → 1 + 2.5/3
    }

    [Fact]
    public void HistogramQuantile_QuantileAboveOne_IsPositiveInfinity()
    {
        Assert.Equal(double.PositiveInfinity, Durations().Vector("histogram_quantile(1.5, sum by (le) (rate(ai_run_duration_seconds_bucket[1m])))", 55)["{}"]);
    }

    [Fact]
    public void CountAndSum_RateAndAverage()
    {
        var h = Durations();

        Assert.Equal(14 / 60.0, h.Vector("rate(ai_run_duration_seconds_count[1m])", 55)["{tenant_id=\"acme\"}"], 12);
        Assert.Equal(50 / 60.0, h.Vector("rate(ai_run_duration_seconds_sum[1m])", 55)["{tenant_id=\"acme\"}"], 12);
        Assert.Equal(50 / 14.0, h.Vector("rate(ai_run_duration_seconds_sum[1m]) / rate(ai_run_duration_seconds_count[1m])", 55)["{tenant_id=\"acme\"}"], 12);
        Assert.Equal(4, h.Vector("ai_run_duration_seconds_count", 55)["ai_run_duration_seconds_count{tenant_id=\"globex\"}"]);
        Assert.Equal(2, h.Vector("ai_run_duration_seconds_sum", 55)["ai_run_duration_seconds_sum{tenant_id=\"globex\"}"]);
    }

    [Fact]
    public void BareBucketSeries_InfBucketIsTheCount_OfEachSeries()
    {
        var h = Durations();

        var inf = h.Vector("ai_run_duration_seconds_bucket{le=\"+Inf\"} - ignoring(le) ai_run_duration_seconds_count", 55);

        Assert.NotEmpty(inf);
        Assert.All(inf.Values, v => Assert.Equal(0, v));
    }

    [Fact]
    public void HistogramQuantile_OfAnotherShape_NamesTheSupportedShapes()
    {
        var e = Assert.Throws<PromQLException>(() => Durations().Engine.Query(
            "histogram_quantile(0.9, max by (le) (rate(ai_run_duration_seconds_bucket[1m])))", QueryHarness.At(55)));

        Assert.StartsWith("histogram_quantile supports histogram_quantile(q, rate(m_bucket[5m])) and histogram_quantile(q, sum by (le, …) (rate(m_bucket[5m])))", e.Message);
    }

    [Fact]
    public void HistogramQuantile_SumWithoutLe_IsRefused()
    {
        var e = Assert.Throws<PromQLException>(() => Durations().Engine.Query(
            "histogram_quantile(0.9, sum by (tenant_id) (rate(ai_run_duration_seconds_bucket[1m])))", QueryHarness.At(55)));

        Assert.Equal("histogram_quantile over ai_run_duration_seconds_bucket needs le in the grouping: sum by (le, tenant_id) (…)", e.Message);
    }

    [Fact]
    public void RangeQuery_EvaluatesAtEveryStep()
    {
        var h = Durations();
        h.Clock.SetUtcNow(QueryHarness.At(120));

        // [30s] windows: at 20 s buckets 0..20 hold all 18 observations; at 40 s (20..40) and 60 s nothing.
        var result = h.Engine.QueryRange("sum(increase(ai_run_duration_seconds_count[30s]))", QueryHarness.At(20), QueryHarness.At(60), TimeSpan.FromSeconds(20));

        var series = Assert.Single(result.Series);
        Assert.Equal((QueryHarness.At(20), 18.0), Assert.Single(series.Points));
    }
}
