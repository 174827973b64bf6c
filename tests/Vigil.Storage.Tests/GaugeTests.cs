using Vigil.Otlp.Proto.Metrics;
using Vigil.Storage.Query;
using static Vigil.Storage.Tests.StoreHarness;

namespace Vigil.Storage.Tests;

public sealed class GaugeTests
{
    private static readonly TimeSpan Minute = TimeSpan.FromMinutes(1);

    private static StoreHarness WithPoints()
    {
        var h = new StoreHarness();
        h.Send(Gauge("queue.depth", Point(0, At(1), 5), IntPoint(0, At(2), 1), Point(0, At(4), 9.5)));
        h.Send(Gauge("queue.depth", Point(0, At(3), 3)));
        h.Send(Gauge("queue.depth", IntPoint(0, At(12), 4)));
        h.Clock.Advance(TimeSpan.FromSeconds(20));
        return h;
    }

    [Theory]
    [InlineData(AggregateFunction.Last, 4)]
    [InlineData(AggregateFunction.Min, 1)]
    [InlineData(AggregateFunction.Max, 9.5)]
    [InlineData(AggregateFunction.Sum, 22.5)]
    [InlineData(AggregateFunction.Count, 5)]
    [InlineData(AggregateFunction.Avg, 4.5)]
    public void Gauge_WindowAggregates(AggregateFunction function, double expected)
    {
        Assert.Equal(expected, WithPoints().Value("queue.depth", function, Minute));
    }

    [Fact]
    public void Gauge_LastInsideABucket_IsTheLatestTimestampNotTheLatestArrival()
    {
        var h = WithPoints();

        // Bucket [0s,10s): points at 1, 2, 4 then 3 arrived late; the value at 4s is the last.
        Assert.Equal(9.5, h.Value("queue.depth", AggregateFunction.Last, TimeSpan.FromSeconds(10), T0.AddSeconds(5)));
        Assert.Equal(4, h.Value("queue.depth", AggregateFunction.Count, TimeSpan.FromSeconds(10), T0.AddSeconds(5)));
    }

    [Fact]
    public void Gauge_SampleCount_IsDataPoints()
    {
        var sample = Assert.Single(WithPoints().Query("queue.depth", AggregateFunction.Avg, Minute));
        Assert.Equal(5, sample.Samples);
    }

    [Fact]
    public void Gauge_LastOverAGroup_AddsEachSeriesLatestValue()
    {
        var h = new StoreHarness();
        h.Send(Gauge("g", Point(0, At(1), 2, Attr("pod", "a")), Point(0, At(2), 3, Attr("pod", "b"))));
        h.Send(Gauge("g", Point(0, At(11), 5, Attr("pod", "a"))));
        h.Clock.Advance(TimeSpan.FromSeconds(20));

        Assert.Equal(8, h.Value("g", AggregateFunction.Last, Minute));
    }

    [Fact]
    public void Gauge_RepeatedPoint_IsNotCountedTwice()
    {
        var h = new StoreHarness();
        var metric = Gauge("g", Point(0, At(1), 2));
        h.Send(metric);
        h.Send(metric);
        h.Clock.Advance(TimeSpan.FromSeconds(10));

        Assert.Equal(1, h.Value("g", AggregateFunction.Count, Minute));
        Assert.Equal(2, h.Value("g", AggregateFunction.Sum, Minute));
    }

    [Fact]
    public void NonMonotonicCumulativeSum_IsStoredAsGaugeLevels()
    {
        var h = new StoreHarness();
        h.Send(Sum("connections", AggregationTemporality.Cumulative, monotonic: false, Point(At(-100), At(1), 10), Point(At(-100), At(11), 7)));
        h.Clock.Advance(TimeSpan.FromSeconds(20));

        Assert.Equal(MetricKind.Gauge, h.Store.KindOf("connections"));
        Assert.Equal(7, h.Value("connections", AggregateFunction.Last, Minute));
        Assert.Equal(10, h.Value("connections", AggregateFunction.Max, Minute));
    }

    [Fact]
    public void Gauge_EmptyWindow_ReturnsNoSample()
    {
        var h = WithPoints();
        Assert.Empty(h.Query("queue.depth", AggregateFunction.Last, TimeSpan.FromSeconds(10), T0.AddSeconds(-30)));
    }
}
