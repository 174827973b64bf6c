using Google.Protobuf;
using Vigil.Otlp.Proto.Metrics;
using static Vigil.Storage.Tests.StoreHarness;

namespace Vigil.Storage.Tests;

/// <summary>The store's measure of how late a metric's points arrive, which query_offset: auto reads.</summary>
public sealed class ArrivalLagTests
{
    private static Metric Requests(params (DateTimeOffset Time, double Value)[] points) =>
        Counter("auth.requests", AggregationTemporality.Delta, [.. points.Select(p => Point(Nanos(p.Time.AddSeconds(-1)), Nanos(p.Time), p.Value))]);

    /// <summary>The smallest power of two milliseconds that is at least <paramref name="lag"/>: the histogram's bucket edge.</summary>
    private static TimeSpan Edge(TimeSpan lag)
    {
        long ms = 1;
        while (ms < lag.TotalMilliseconds)
        {
            ms *= 2;
        }

        return TimeSpan.FromMilliseconds(ms);
    }

    [Fact]
    public void PointsThatArriveThirtySecondsLate_GiveALagOfThirtySecondsRoundedUpToItsBucket()
    {
        var harness = new StoreHarness();
        for (var i = 0; i < 20; i++)
        {
            harness.Clock.Advance(TimeSpan.FromSeconds(10));
            harness.Send(Requests((harness.Clock.GetUtcNow().AddSeconds(-30), 1)));
        }

        Assert.Equal(Edge(TimeSpan.FromSeconds(30)), harness.Store.ArrivalLag("auth.requests"));
        Assert.Null(harness.Store.ArrivalLag("never.seen"));
    }

    [Fact]
    public void OneStraggler_DoesNotMoveTheP99()
    {
        var harness = new StoreHarness();
        harness.Clock.Advance(TimeSpan.FromHours(1));
        var now = harness.Clock.GetUtcNow();
        var onTime = Enumerable.Range(0, 200).Select(i => (now.AddMilliseconds(-(i % 5) - 200), 1.0)).ToArray();
        harness.Send(Requests([.. onTime, (now.AddMinutes(-50), 1.0)]));

        // 1 of 201 points is past the 99th percentile, so the quantile is the on-time points' bucket (up to 204 ms).
        Assert.Equal(Edge(TimeSpan.FromMilliseconds(204)), harness.Store.ArrivalLag("auth.requests"));
        Assert.Equal(Edge(TimeSpan.FromMinutes(50)), harness.Store.ArrivalLag("auth.requests", quantile: 1));
    }

    [Fact]
    public void TheLagForgetsMinutesOlderThanItsHistory()
    {
        var harness = new StoreHarness();
        harness.Send(Requests((harness.Clock.GetUtcNow().AddSeconds(-40), 1)));
        Assert.NotNull(harness.Store.ArrivalLag("auth.requests"));

        harness.Clock.Advance(TimeSpan.FromMinutes(ArrivalLag.Minutes + 1));

        Assert.Null(harness.Store.ArrivalLag("auth.requests"));
    }

    [Fact]
    public void WalReplay_IsNotCountedAsLateArrival()
    {
        var harness = new StoreHarness();
        harness.Clock.Advance(TimeSpan.FromMinutes(30));
        var request = Request([], Requests((harness.Clock.GetUtcNow().AddMinutes(-20), 1))).ToByteArray();

        var result = harness.Ingest.ApplyLogged(request);

        Assert.Equal(1, result.Accepted);
        Assert.Null(harness.Store.ArrivalLag("auth.requests"));
    }
}
