using Vigil.Otlp.Proto.Metrics;
using Vigil.Storage.Query;
using static Vigil.Storage.Tests.StoreHarness;

namespace Vigil.Storage.Tests;

public sealed class CounterTests
{
    private static readonly ulong RunBeforeStore = At(-3600);
    private static readonly ulong RunAfterStore = At(1);
    private static readonly TimeSpan Minute = TimeSpan.FromMinutes(1);
    private const AggregationTemporality Cumulative = AggregationTemporality.Cumulative;
    private const AggregationTemporality Delta = AggregationTemporality.Delta;

    [Fact]
    public void CumulativeCounter_FirstPointOfRunStartedBeforeStore_IsBaselineZero()
    {
        var h = new StoreHarness();
        h.Clock.Advance(TimeSpan.FromSeconds(30));

        var result = h.Send(Counter("auth.requests", Cumulative, Point(RunBeforeStore, At(5), 1000)));

        Assert.Equal(new IngestResult(1, 0, null), result);
        Assert.Equal(0, h.Value("auth.requests", AggregateFunction.Increase, Minute));
    }

    [Fact]
    public void CumulativeCounter_AfterBaseline_CountsDifferences()
    {
        var h = new StoreHarness();
        h.Send(Counter("c", Cumulative, Point(RunBeforeStore, At(5), 1000)));
        h.Send(Counter("c", Cumulative, Point(RunBeforeStore, At(15), 1030)));
        h.Send(Counter("c", Cumulative, Point(RunBeforeStore, At(25), 1045.5)));
        h.Clock.Advance(TimeSpan.FromSeconds(30));

        Assert.Equal(45.5, h.Value("c", AggregateFunction.Increase, Minute));
        Assert.Equal(15.5, h.Value("c", AggregateFunction.Increase, TimeSpan.FromSeconds(10), T0.AddSeconds(25)));
    }

    [Fact]
    public void CumulativeCounter_RunStartedAfterStore_CountsFirstPointFully()
    {
        var h = new StoreHarness();
        h.Clock.Advance(TimeSpan.FromSeconds(30));

        h.Send(Counter("c", Cumulative, IntPoint(RunAfterStore, At(5), 7)));

        Assert.Equal(7, h.Value("c", AggregateFunction.Increase, Minute));
    }

    [Fact]
    public void CumulativeCounter_RunWithoutStartTime_IsBaseline()
    {
        var h = new StoreHarness();
        h.Clock.Advance(TimeSpan.FromSeconds(30));

        h.Send(Counter("c", Cumulative, Point(0, At(5), 7)));
        h.Send(Counter("c", Cumulative, Point(0, At(15), 10)));

        Assert.Equal(3, h.Value("c", AggregateFunction.Increase, Minute));
    }

    [Fact]
    public void CumulativeCounter_KnownSinceMovedBack_TreatsOlderRunAsComplete()
    {
        var h = new StoreHarness();
        h.Store.KnownSinceUnixNano = At(-7200);
        h.Clock.Advance(TimeSpan.FromSeconds(30));

        h.Send(Counter("c", Cumulative, Point(RunBeforeStore, At(5), 12)));

        Assert.Equal(12, h.Value("c", AggregateFunction.Increase, Minute));
    }

    [Fact]
    public void CumulativeCounter_ResetWhenValueDrops_CountsNewRunFromZero()
    {
        var h = new StoreHarness();
        h.Send(Counter("c", Cumulative, Point(RunBeforeStore, At(5), 100)));
        h.Send(Counter("c", Cumulative, Point(RunBeforeStore, At(15), 150)));
        h.Send(Counter("c", Cumulative, Point(RunBeforeStore, At(25), 20)));
        h.Send(Counter("c", Cumulative, Point(RunBeforeStore, At(35), 26)));
        h.Clock.Advance(TimeSpan.FromSeconds(40));

        Assert.Equal(50 + 20 + 6, h.Value("c", AggregateFunction.Increase, Minute));
        Assert.Equal(20, h.Value("c", AggregateFunction.Increase, TimeSpan.FromSeconds(10), T0.AddSeconds(25)));
    }

    [Fact]
    public void CumulativeCounter_StartTimeMoved_CountsWholeValueOfNewRun()
    {
        var h = new StoreHarness();
        h.Send(Counter("c", Cumulative, Point(RunBeforeStore, At(5), 100)));
        h.Send(Counter("c", Cumulative, Point(RunBeforeStore, At(15), 110)));

        // Restarted producer: a new start time, and a value higher than before (no drop to detect).
        h.Send(Counter("c", Cumulative, Point(At(16), At(25), 500)));
        h.Send(Counter("c", Cumulative, Point(At(16), At(35), 502)));
        h.Clock.Advance(TimeSpan.FromSeconds(40));

        Assert.Equal(10 + 500 + 2, h.Value("c", AggregateFunction.Increase, Minute));
    }

    [Fact]
    public void CumulativeCounter_RepeatedPoint_IsNotCountedTwice()
    {
        var h = new StoreHarness();
        var request = Counter("c", Cumulative, Point(RunBeforeStore, At(15), 130));
        h.Send(Counter("c", Cumulative, Point(RunBeforeStore, At(5), 100)));
        h.Send(request);
        var retry = h.Send(request);
        h.Clock.Advance(TimeSpan.FromSeconds(30));

        Assert.Equal(new IngestResult(1, 0, null), retry);
        Assert.Equal(30, h.Value("c", AggregateFunction.Increase, Minute));
    }

    [Fact]
    public void CumulativeCounter_OlderPointOfSameRun_IsIgnored()
    {
        var h = new StoreHarness();
        h.Send(Counter("c", Cumulative, Point(RunBeforeStore, At(5), 100)));
        h.Send(Counter("c", Cumulative, Point(RunBeforeStore, At(25), 130)));
        h.Send(Counter("c", Cumulative, Point(RunBeforeStore, At(15), 120)));
        h.Clock.Advance(TimeSpan.FromSeconds(30));

        Assert.Equal(30, h.Value("c", AggregateFunction.Increase, Minute));
    }

    [Fact]
    public void DeltaCounter_PointsAreAdded()
    {
        var h = new StoreHarness();
        h.Send(Counter("c", Delta, Point(At(0), At(5), 3), Point(At(5), At(8), 4)));
        h.Send(Counter("c", Delta, IntPoint(At(8), At(15), 5)));
        h.Clock.Advance(TimeSpan.FromSeconds(20));

        Assert.Equal(12, h.Value("c", AggregateFunction.Increase, Minute));
        Assert.Equal(12, h.Value("c", AggregateFunction.Sum, Minute));
        Assert.Equal(3, h.Value("c", AggregateFunction.Count, Minute));
        Assert.Equal(12 / 60.0, h.Value("c", AggregateFunction.Rate, Minute), 12);
    }

    [Fact]
    public void DeltaRetry_SameSeriesSameStartAndEnd_IsNotCountedTwice()
    {
        var h = new StoreHarness();
        var batch = Counter("c", Delta, Point(At(0), At(5), 3, Attr("k", "a")), Point(At(0), At(5), 4, Attr("k", "b")));
        h.Send(batch);
        var retry = h.Send(batch);
        h.Clock.Advance(TimeSpan.FromSeconds(10));

        Assert.Equal(2, retry.Accepted);
        Assert.Equal(7, h.Value("c", AggregateFunction.Increase, Minute));
        Assert.Equal(2, h.Value("c", AggregateFunction.Count, Minute));
    }

    [Fact]
    public void DeltaPoints_SameTimesInDifferentSeries_AreBothCounted()
    {
        var h = new StoreHarness();
        h.Send(Counter("c", Delta, Point(At(0), At(5), 3, Attr("k", "a"))));
        h.Send(Counter("c", Delta, Point(At(0), At(5), 3, Attr("k", "b"))));
        h.Clock.Advance(TimeSpan.FromSeconds(10));

        Assert.Equal(6, h.Value("c", AggregateFunction.Increase, Minute));
    }

    [Fact]
    public void DeltaPoint_SameEndButNewStart_IsCounted()
    {
        var h = new StoreHarness();
        h.Send(Counter("c", Delta, Point(At(0), At(5), 3)));
        h.Send(Counter("c", Delta, Point(At(1), At(5), 3)));
        h.Clock.Advance(TimeSpan.FromSeconds(10));

        Assert.Equal(6, h.Value("c", AggregateFunction.Increase, Minute));
    }

    [Fact]
    public void OutOfOrderDeltaPoints_LandInTheirOwnBuckets()
    {
        var h = new StoreHarness();
        h.Clock.Advance(TimeSpan.FromMinutes(2));
        h.Send(Counter("c", Delta, Point(At(60), At(65), 5)));
        h.Send(Counter("c", Delta, Point(At(20), At(25), 2)));
        h.Send(Counter("c", Delta, Point(At(40), At(45), 3)));
        var tenSeconds = TimeSpan.FromSeconds(10);

        Assert.Equal(2, h.Value("c", AggregateFunction.Increase, tenSeconds, T0.AddSeconds(25)));
        Assert.Equal(3, h.Value("c", AggregateFunction.Increase, tenSeconds, T0.AddSeconds(45)));
        Assert.Equal(5, h.Value("c", AggregateFunction.Increase, tenSeconds, T0.AddSeconds(65)));
        Assert.Empty(h.Query("c", AggregateFunction.Increase, tenSeconds, T0.AddSeconds(35)));
        Assert.Equal(5, h.Value("c", AggregateFunction.Increase, TimeSpan.FromSeconds(30), T0.AddSeconds(45)));
        Assert.Equal(10, h.Value("c", AggregateFunction.Increase, Minute, T0.AddSeconds(65)));
    }

    [Fact]
    public void NonFiniteValue_IsRefused()
    {
        var h = new StoreHarness();

        var result = h.Send(Counter("c", Delta, Point(At(0), At(5), double.NaN), Point(At(0), At(6), double.PositiveInfinity), Point(At(0), At(7), 1)));

        Assert.Equal(1, result.Accepted);
        Assert.Equal(2, result.Rejected);
        Assert.Contains("as_double is NaN or infinite", result.ErrorMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void NoRecordedValuePoint_IsAcceptedButStoresNothing()
    {
        var h = new StoreHarness();
        var marker = new NumberDataPoint { StartTimeUnixNano = At(0), TimeUnixNano = At(5), Flags = 1 };

        var result = h.Send(Counter("c", Delta, marker));

        Assert.Equal(new IngestResult(1, 0, null), result);
        Assert.Equal(0, h.Store.SeriesCount);
    }

    [Fact]
    public void PointWithoutTimestamp_IsRefused()
    {
        var h = new StoreHarness();

        var result = h.Send(Counter("c", Delta, Point(0, 0, 1)));

        Assert.Equal(1, result.Rejected);
        Assert.Contains(RefusalReasons.NoTimestamp, result.ErrorMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void NonMonotonicDeltaSum_IsACounterOfSignedDeltas()
    {
        var h = new StoreHarness();
        h.Send(Sum("inflight.change", Delta, monotonic: false, Point(At(0), At(5), 4), Point(At(5), At(6), -6)));
        h.Clock.Advance(TimeSpan.FromSeconds(10));

        Assert.Equal(MetricKind.Counter, h.Store.KindOf("inflight.change"));
        Assert.Equal(-2, h.Value("inflight.change", AggregateFunction.Sum, Minute));
    }
}
