using Vigil.Otlp.Proto.Metrics;
using Vigil.Storage.Query;
using static Vigil.Storage.Tests.StoreHarness;

namespace Vigil.Storage.Tests;

public sealed class SweepTests
{
    private static readonly TimeSpan TenSeconds = TimeSpan.FromSeconds(10);
    private const AggregationTemporality Delta = AggregationTemporality.Delta;

    private static StoreHarness TwoSeries()
    {
        var h = new StoreHarness(new WindowStoreOptions { Retention = TimeSpan.FromMinutes(10) });
        h.Send(Counter("c", Delta, Point(At(0), At(5), 1, Attr("k", "old")), Point(At(0), At(5), 2, Attr("k", "busy"))));
        h.Clock.Advance(TimeSpan.FromMinutes(5));
        h.Send(Counter("c", Delta, Point(At(295), At(305), 4, Attr("k", "busy"))));
        return h;
    }

    [Fact]
    public void Sweep_WithinRetention_RemovesNothing()
    {
        var h = TwoSeries();

        Assert.Equal(0, h.Store.Sweep());
        Assert.Equal(3, h.Value("c", AggregateFunction.Increase, TenSeconds, T0.AddSeconds(5)));
    }

    [Fact]
    public void Sweep_PastRetention_DropsOldBucketsAndEmptySeries()
    {
        var h = TwoSeries();
        h.Clock.Advance(TimeSpan.FromMinutes(6));

        var removed = h.Store.Sweep();

        Assert.Equal(1, removed);
        Assert.Equal(1, h.Store.SeriesCount);
        Assert.Equal("busy", Assert.Single(h.Store.ListSeries("c")).Labels["k"]);

        // The old bucket of the surviving series is gone too; its recent one stays.
        Assert.Empty(h.Query("c", AggregateFunction.Increase, TenSeconds, T0.AddSeconds(5)));
        Assert.Equal(4, h.Value("c", AggregateFunction.Increase, TenSeconds, T0.AddSeconds(305)));
    }

    [Fact]
    public void Sweep_FreesSeriesBudget()
    {
        var h = new StoreHarness(new WindowStoreOptions { Retention = TimeSpan.FromMinutes(10), MaxSeriesPerMetric = 1 });
        h.Send(Counter("c", Delta, Point(At(0), At(5), 1, Attr("k", "a"))));
        h.Clock.Advance(TimeSpan.FromMinutes(11));
        h.Store.Sweep();

        var result = h.Send(Counter("c", Delta, Point(At(650), At(655), 1, Attr("k", "b"))));

        Assert.Equal(new IngestResult(1, 0, null), result);
    }

    [Fact]
    public void Sweep_ExpiredOverflowSeries_IsRemovedAndRecreatedOnDemand()
    {
        var h = new StoreHarness(new WindowStoreOptions { Retention = TimeSpan.FromMinutes(10), MaxSeriesPerMetric = 1 });
        h.Send(Counter("c", Delta, Point(At(0), At(5), 1, Attr("k", "a")), Point(At(0), At(5), 2, Attr("k", "b"))));
        h.Clock.Advance(TimeSpan.FromMinutes(5));
        h.Send(Counter("c", Delta, Point(At(295), At(305), 1, Attr("k", "a"))));
        h.Clock.Advance(TimeSpan.FromMinutes(6));

        Assert.Equal(1, h.Store.Sweep());
        Assert.Equal(1, h.Store.SeriesCount);

        var result = h.Send(Counter("c", Delta, Point(At(650), At(655), 7, Attr("k", "z"))));

        Assert.Equal(1, result.Rejected);
        var overflow = h.Query("c", AggregateFunction.Increase, TenSeconds, T0.AddSeconds(655), matchers: [new LabelMatcher("otel.metric.overflow", MatchOp.Equal, "true")]);
        Assert.Equal(7, Assert.Single(overflow).Value);
    }

    [Fact]
    public void CumulativeSeries_RecreatedAfterSweep_RestartsFromABaseline()
    {
        var h = new StoreHarness(new WindowStoreOptions { Retention = TimeSpan.FromMinutes(10) });
        var start = At(-60);
        h.Send(Counter("c", AggregationTemporality.Cumulative, Point(start, At(5), 100)));
        h.Clock.Advance(TimeSpan.FromMinutes(11));
        h.Store.Sweep();

        h.Send(Counter("c", AggregationTemporality.Cumulative, Point(start, At(665), 900)));

        // The run's history since 5s is unknown; counting 800 would fake a spike.
        Assert.Equal(0, h.Value("c", AggregateFunction.Increase, TimeSpan.FromMinutes(1)));
    }
}
