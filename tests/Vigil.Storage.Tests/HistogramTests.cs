using Vigil.Otlp.Proto.Metrics;
using Vigil.Storage.Query;
using static Vigil.Storage.Tests.StoreHarness;

namespace Vigil.Storage.Tests;

public sealed class HistogramTests
{
    private static readonly TimeSpan Minute = TimeSpan.FromMinutes(1);
    private static readonly double[] Bounds = [1, 2, 5];

    /// <summary>Two delta points in different buckets: merged counts [1, 3, 4, 6], total 14, sum 50.</summary>
    private static StoreHarness TwoDeltaPoints()
    {
        var h = new StoreHarness();
        var first = HistogramPoint(At(0), At(5), Bounds, [1, 2, 3, 4], 30);
        first.Min = 0.5;
        first.Max = 8;
        var second = HistogramPoint(At(5), At(15), Bounds, [0, 1, 1, 2], 20);
        second.Min = 1.5;
        second.Max = 12;
        h.Send(Histogram("latency", AggregationTemporality.Delta, first));
        h.Send(Histogram("latency", AggregationTemporality.Delta, second));
        h.Clock.Advance(TimeSpan.FromSeconds(20));
        return h;
    }

    [Fact]
    public void DeltaHistogram_MergesCountSumMinMaxOverTheWindow()
    {
        var h = TwoDeltaPoints();

        Assert.Equal(14, h.Value("latency", AggregateFunction.Increase, Minute));
        Assert.Equal(14, h.Value("latency", AggregateFunction.Count, Minute));
        Assert.Equal(50, h.Value("latency", AggregateFunction.Sum, Minute));
        Assert.Equal(50 / 14.0, h.Value("latency", AggregateFunction.Avg, Minute), 12);
        Assert.Equal(14 / 60.0, h.Value("latency", AggregateFunction.Rate, Minute), 12);
        Assert.Equal(0.5, h.Value("latency", AggregateFunction.Min, Minute));
        Assert.Equal(12, h.Value("latency", AggregateFunction.Max, Minute));
    }

    [Theory]
    [InlineData(0.5, 4.25)] // rank 7: bucket (2,5] holds ranks 4..8 → 2 + 3·(7−4)/4
    [InlineData(0.05, 0.7)] // rank 0.7: bucket (0,1] → 0 + 1·0.7/1
    [InlineData(0.25, 11.0 / 6)] // rank 3.5: bucket (1,2] holds ranks 1..4 → 1 + 1·(3.5−1)/3
    [InlineData(0.9, 5)] // rank 12.6 lands in +Inf: the highest finite bound
    public void DeltaHistogram_QuantileInterpolatesLinearlyLikePrometheus(double q, double expected)
    {
        Assert.Equal(expected, TwoDeltaPoints().Value("latency", AggregateFunction.Quantile, Minute, quantile: q), 12);
    }

    [Fact]
    public void Histogram_QuantileOverOneBucketOfTheWindow_UsesOnlyThatBucket()
    {
        // Only the second point: counts [0,1,1,2], rank 1 of 4 → (1,2] → 2 (the whole window would say 11/6).
        Assert.Equal(2, TwoDeltaPoints().Value("latency", AggregateFunction.Quantile, TimeSpan.FromSeconds(10), T0.AddSeconds(15), quantile: 0.25), 12);
    }

    [Fact]
    public void CumulativeHistogram_FirstPointIsBaseline_ThenBucketDifferencesAreCounted()
    {
        var h = new StoreHarness();
        var start = At(-600);
        h.Send(Histogram("latency", AggregationTemporality.Cumulative, HistogramPoint(start, At(5), Bounds, [10, 10, 10, 10], 100)));
        h.Send(Histogram("latency", AggregationTemporality.Cumulative, HistogramPoint(start, At(15), Bounds, [10, 14, 10, 12], 130)));
        h.Clock.Advance(TimeSpan.FromSeconds(20));

        Assert.Equal(6, h.Value("latency", AggregateFunction.Increase, Minute));
        Assert.Equal(30, h.Value("latency", AggregateFunction.Sum, Minute));

        // Delta counts [0, 4, 0, 2]: rank 3 → (1,2] → 1 + 3/4.
        Assert.Equal(1.75, h.Value("latency", AggregateFunction.Quantile, Minute, quantile: 0.5), 12);
    }

    [Fact]
    public void CumulativeHistogram_CountDrop_IsAReset()
    {
        var h = new StoreHarness();
        var start = At(-600);
        h.Send(Histogram("latency", AggregationTemporality.Cumulative, HistogramPoint(start, At(5), Bounds, [10, 10, 10, 10], 100)));
        h.Send(Histogram("latency", AggregationTemporality.Cumulative, HistogramPoint(start, At(15), Bounds, [1, 0, 0, 1], 7)));
        h.Clock.Advance(TimeSpan.FromSeconds(20));

        Assert.Equal(2, h.Value("latency", AggregateFunction.Increase, Minute));
        Assert.Equal(7, h.Value("latency", AggregateFunction.Sum, Minute));
    }

    [Fact]
    public void CumulativeHistogram_RunStartedAfterStore_CountsFirstPointFully()
    {
        var h = new StoreHarness();
        h.Send(Histogram("latency", AggregationTemporality.Cumulative, HistogramPoint(At(1), At(5), Bounds, [1, 2, 0, 0], 3)));
        h.Clock.Advance(TimeSpan.FromSeconds(10));

        Assert.Equal(3, h.Value("latency", AggregateFunction.Increase, Minute));
    }

    [Fact]
    public void Histogram_QuantileOne_WithoutMax_IsUpperBoundOfHighestFilledBucket()
    {
        var h = new StoreHarness();
        h.Send(Histogram("latency", AggregationTemporality.Delta, HistogramPoint(At(0), At(5), Bounds, [2, 2, 0, 0], 5)));
        h.Clock.Advance(TimeSpan.FromSeconds(10));

        // Prometheus: rank 4 is reached in (1,2] → 2. The top bound 5 holds nothing.
        Assert.Equal(2, h.Value("latency", AggregateFunction.Quantile, Minute, quantile: 1));
    }

    [Fact]
    public void Histogram_QuantileZero_WithoutMin_IsLowerBoundOfLowestFilledBucket()
    {
        var h = new StoreHarness();
        h.Send(Histogram("latency", AggregationTemporality.Delta, HistogramPoint(At(0), At(5), Bounds, [0, 2, 2, 0], 5)));
        h.Clock.Advance(TimeSpan.FromSeconds(10));

        Assert.Equal(1, h.Value("latency", AggregateFunction.Quantile, Minute, quantile: 0));
    }

    [Fact]
    public void Histogram_QuantileAtTheEnds_WithMinAndMax_AnswersThem()
    {
        var h = TwoDeltaPoints();

        Assert.Equal(0.5, h.Value("latency", AggregateFunction.Quantile, Minute, quantile: 0));
        Assert.Equal(12, h.Value("latency", AggregateFunction.Quantile, Minute, quantile: 1));
    }

    [Fact]
    public void Histogram_DifferentLayoutsAcrossSeries_AreRebucketedOntoOne()
    {
        var h = new StoreHarness();
        h.Send(Histogram("latency", AggregationTemporality.Delta,
            HistogramPoint(At(0), At(5), [1, 2, 5], [1, 1, 1, 1], 10, Attr("pod", "a")),
            HistogramPoint(At(0), At(5), [2, 5], [4, 0, 0], 4, Attr("pod", "b"))));
        h.Clock.Advance(TimeSpan.FromSeconds(10));

        Assert.Equal(8, h.Value("latency", AggregateFunction.Count, Minute));

        // The merged layout's (1,2] bucket holds 1 + 4 = 5 of 8 → ranks 1..6; rank 4 → 1 + 3/5.
        var merged = h.Query("latency", AggregateFunction.Quantile, Minute, quantile: 0.5);
        Assert.Equal(1.6, Assert.Single(merged).Value, 12);
    }

    [Fact]
    public void DeltaHistogramRetry_IsNotCountedTwice()
    {
        var h = new StoreHarness();
        var metric = Histogram("latency", AggregationTemporality.Delta, HistogramPoint(At(0), At(5), Bounds, [1, 1, 1, 1], 10));
        h.Send(metric);
        h.Send(metric);
        h.Clock.Advance(TimeSpan.FromSeconds(10));

        Assert.Equal(4, h.Value("latency", AggregateFunction.Count, Minute));
    }
}
