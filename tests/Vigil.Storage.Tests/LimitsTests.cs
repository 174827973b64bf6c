using Vigil.Otlp.Proto.Metrics;
using Vigil.Storage.Query;
using static Vigil.Storage.Tests.StoreHarness;

namespace Vigil.Storage.Tests;

public sealed class LimitsTests
{
    private static readonly TimeSpan Minute = TimeSpan.FromMinutes(1);
    private const AggregationTemporality Delta = AggregationTemporality.Delta;

    [Fact]
    public void SeriesPastTheLimit_AreRefusedWithReason_AndKeptInTheOverflowSeries()
    {
        var h = new StoreHarness(new WindowStoreOptions { MaxSeriesPerMetric = 2 });

        var result = h.Send(Counter("c", Delta,
            Point(At(0), At(5), 1, Attr("user", "a")),
            Point(At(0), At(5), 2, Attr("user", "b")),
            Point(At(0), At(5), 4, Attr("user", "c")),
            Point(At(0), At(5), 8, Attr("user", "d"))));
        h.Clock.Advance(TimeSpan.FromSeconds(10));

        Assert.Equal(2, result.Accepted);
        Assert.Equal(2, result.Rejected);
        Assert.Contains("2 point(s) refused: " + RefusalReasons.SeriesLimit, result.ErrorMessage, StringComparison.Ordinal);
        Assert.Contains("limit 2", result.ErrorMessage, StringComparison.Ordinal);
        Assert.Equal(2, h.Store.Stats.RefusedByReason[RefusalReasons.SeriesLimit]);
        Assert.Equal(2, h.Store.Stats.Accepted);

        var overflow = Assert.Single(h.Query("c", AggregateFunction.Increase, Minute, matchers: [new LabelMatcher("otel.metric.overflow", MatchOp.Equal, "true")]));
        Assert.Equal(12, overflow.Value);
        Assert.Equal(15, h.Value("c", AggregateFunction.Increase, Minute));
        Assert.Equal(3, h.Store.SeriesCount);
        Assert.Contains(h.Store.ListSeries("c"), s => s.Labels.TryGetValue("otel.metric.overflow", out var v) && v == "true");
    }

    [Fact]
    public void ExistingSeries_KeepAcceptingPointsAtTheLimit()
    {
        var h = new StoreHarness(new WindowStoreOptions { MaxSeriesPerMetric = 1 });
        h.Send(Counter("c", Delta, Point(At(0), At(5), 1, Attr("user", "a"))));

        var result = h.Send(Counter("c", Delta, Point(At(5), At(8), 1, Attr("user", "a"))));

        Assert.Equal(new IngestResult(1, 0, null), result);
    }

    [Fact]
    public void SeriesLimit_IsPerMetric()
    {
        var h = new StoreHarness(new WindowStoreOptions { MaxSeriesPerMetric = 1 });

        var result = h.Send(Counter("a", Delta, Point(At(0), At(5), 1, Attr("k", "1"))), Counter("b", Delta, Point(At(0), At(5), 1, Attr("k", "2"))));

        Assert.Equal(new IngestResult(2, 0, null), result);
    }

    [Fact]
    public void PointOlderThanRetention_IsRefused()
    {
        var h = new StoreHarness(new WindowStoreOptions { Retention = TimeSpan.FromMinutes(10) });

        var result = h.Send(Gauge("g", Point(0, At(-601), 1), Point(0, At(-590), 2)));

        Assert.Equal(1, result.Accepted);
        Assert.Equal(1, result.Rejected);
        Assert.Contains(RefusalReasons.TooOld, result.ErrorMessage, StringComparison.Ordinal);
        Assert.Contains("retention 00:10:00", result.ErrorMessage, StringComparison.Ordinal);
        Assert.Equal(2, h.Value("g", AggregateFunction.Sum, TimeSpan.FromMinutes(10)));
    }

    [Fact]
    public void PointTooFarInTheFuture_IsRefused()
    {
        var h = new StoreHarness(new WindowStoreOptions { FutureTolerance = TimeSpan.FromMinutes(1) });

        var result = h.Send(Gauge("g", Point(0, At(75), 1), Point(0, At(55), 2)));

        Assert.Equal(1, result.Accepted);
        Assert.Equal(1, result.Rejected);
        Assert.Contains(RefusalReasons.TooNew, result.ErrorMessage, StringComparison.Ordinal);
        Assert.Contains("check the sender's clock", result.ErrorMessage, StringComparison.Ordinal);
        Assert.Equal(1, h.Store.Stats.RefusedByReason[RefusalReasons.TooNew]);
    }

    [Fact]
    public void MetricSeenAsGauge_RefusesSumPoints_NamingTheExistingKind()
    {
        var h = new StoreHarness();
        h.Send(Gauge("x", Point(0, At(1), 1)));

        var result = h.Send(Counter("x", Delta, Point(At(0), At(2), 5), Point(At(0), At(3), 5)));

        Assert.Equal(0, result.Accepted);
        Assert.Equal(2, result.Rejected);
        Assert.Equal($"2 point(s) refused: {RefusalReasons.KindConflict} (e.g. metric \"x\" is a gauge; a metric name keeps the type it was first seen with)", result.ErrorMessage);
        Assert.Equal(MetricKind.Gauge, h.Store.KindOf("x"));
    }

    [Fact]
    public void KindConflict_OnlyRefusesTheConflictingMetric()
    {
        var h = new StoreHarness();
        h.Send(Gauge("x", Point(0, At(1), 1)));

        var result = h.Send(Histogram("x", Delta, HistogramPoint(At(0), At(2), [1], [1, 1], 3)), Gauge("y", Point(0, At(2), 1)));

        Assert.Equal(1, result.Accepted);
        Assert.Equal(1, result.Rejected);
    }

    [Fact]
    public void AttributesPerPoint_AtTheLimitAccepted_OverTheLimitRefused()
    {
        var h = new StoreHarness(new WindowStoreOptions { MaxAttributesPerPoint = 2 });

        var result = h.Send(Gauge("g",
            Point(0, At(1), 1, Attr("a", "1"), Attr("b", "2")),
            Point(0, At(2), 1, Attr("a", "1"), Attr("b", "2"), Attr("c", "3"))));

        Assert.Equal(1, result.Accepted);
        Assert.Equal(1, result.Rejected);
        Assert.Contains(RefusalReasons.TooManyAttributes, result.ErrorMessage, StringComparison.Ordinal);
        Assert.Contains("limit 2", result.ErrorMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void AttributeValueLength_AtTheLimitAccepted_OverTheLimitRefused()
    {
        var h = new StoreHarness(new WindowStoreOptions { MaxAttributeValueLength = 5 });

        var result = h.Send(Gauge("g", Point(0, At(1), 1, Attr("a", "abcde")), Point(0, At(2), 1, Attr("a", "abcdef"))));

        Assert.Equal(1, result.Accepted);
        Assert.Equal(1, result.Rejected);
        Assert.Contains(RefusalReasons.AttributeTooLong, result.ErrorMessage, StringComparison.Ordinal);
        Assert.Equal("abcde", Assert.Single(h.Store.ListSeries("g")).Labels["a"]);
    }

    [Fact]
    public void AttributeKeyLength_AtTheLimitAccepted_OverTheLimitRefused_NamingTheSetting()
    {
        var h = new StoreHarness(new WindowStoreOptions { MaxAttributeKeyLength = 5 });

        var result = h.Send(Gauge("g", Point(0, At(1), 1, Attr("abcde", "x")), Point(0, At(2), 1, Attr("abcdef", "y"))));

        Assert.Equal(1, result.Accepted);
        Assert.Equal(1, result.Rejected);
        Assert.Contains($"1 point(s) refused: {RefusalReasons.AttributeKeyTooLong} (e.g. metric \"g\", limit 5 bytes (storage.max_attribute_key_length))", result.ErrorMessage, StringComparison.Ordinal);
        Assert.Equal("x", Assert.Single(h.Store.ListSeries("g")).Labels["abcde"]);
    }

    [Fact]
    public void MetricNameLength_AtTheLimitAccepted_OverTheLimitRefusedWithoutAMetric()
    {
        var h = new StoreHarness(new WindowStoreOptions { MaxMetricNameLength = 5 });

        var result = h.Send(Gauge("abcde", Point(0, At(1), 1)), Gauge("abcdef", Point(0, At(1), 1), Point(0, At(2), 2)));

        Assert.Equal(1, result.Accepted);
        Assert.Equal(2, result.Rejected);
        Assert.Equal($"2 point(s) refused: {RefusalReasons.MetricNameTooLong} (limit 5 bytes (storage.max_metric_name_length))", result.ErrorMessage);
        Assert.Single(h.Store.ListSeries("abcde"));
        Assert.Empty(h.Store.ListSeries("abcdef"));
    }

    [Fact]
    public void DifferentRefusals_AreEachReportedWithCounts()
    {
        var h = new StoreHarness(new WindowStoreOptions { MaxAttributesPerPoint = 1 });

        var result = h.Send(Gauge("g", Point(0, At(-7200), 1), Point(0, At(-7200), 1), Point(0, At(1), 1, Attr("a", "1"), Attr("b", "2"))));

        Assert.Equal(3, result.Rejected);
        Assert.StartsWith($"2 point(s) refused: {RefusalReasons.TooOld}", result.ErrorMessage, StringComparison.Ordinal);
        Assert.Contains($"; 1 point(s) refused: {RefusalReasons.TooManyAttributes}", result.ErrorMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void InvalidOptions_AreRefusedWithEveryProblem()
    {
        var options = new WindowStoreOptions { Resolution = TimeSpan.FromMilliseconds(1500), MaxSeriesPerMetric = 0 };

        var error = Assert.Throws<ArgumentException>(() => new WindowStore(options, TimeProvider.System));

        Assert.Contains("storage.resolution", error.Message, StringComparison.Ordinal);
        Assert.Contains("storage.max_series_per_metric", error.Message, StringComparison.Ordinal);
    }
}
