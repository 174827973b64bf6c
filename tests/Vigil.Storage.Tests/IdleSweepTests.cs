using Vigil.Otlp.Proto.Metrics;
using static Vigil.Storage.Tests.StoreHarness;

namespace Vigil.Storage.Tests;

/// <summary>
/// An idle store's sweep costs nothing per series (issue 14: 1 M idle series must cost under 0.05
/// cores), yet every bucket and series still expires on time.
/// </summary>
public sealed class IdleSweepTests
{
    private const int Series = 500;

    private static StoreHarness Loaded()
    {
        var h = new StoreHarness();
        h.Clock.Advance(TimeSpan.FromSeconds(30));
        var points = Enumerable.Range(0, Series).Select(i => Point(0, At(5), i, Attr("host", "h" + i))).ToArray();
        h.Send(Gauge("load", points));
        return h;
    }

    [Fact]
    public void WithoutTraffic_SweepsSkipEverySeries_UntilSomethingCanExpire()
    {
        var h = Loaded();
        Assert.Equal(0, h.Store.Sweep());
        Assert.Equal(Series, h.Store.LastSweepVisited); // the first sweep walks them all

        for (var i = 0; i < 5; i++)
        {
            h.Clock.Advance(TimeSpan.FromSeconds(10));
            Assert.Equal(0, h.Store.Sweep());
            Assert.Equal(0, h.Store.LastSweepVisited);
        }

        // Past the retention the oldest bucket expires: the sweep walks again, and every series goes.
        h.Clock.Advance(h.Store.Options.Retention);
        Assert.Equal(Series, h.Store.Sweep());
        Assert.Equal(0, h.Store.SeriesCount);
    }

    [Fact]
    public void APointToOneSeries_MakesTheNextSweepWalkOnlyItsStripe()
    {
        var h = Loaded();
        h.Store.Sweep();
        h.Clock.Advance(TimeSpan.FromSeconds(10));
        h.Send(Gauge("load", Point(0, At(35), 1, Attr("host", "h7"))));

        h.Store.Sweep();

        Assert.InRange(h.Store.LastSweepVisited, 1, Series / 4); // one stripe of 64, not all 500
        Assert.Equal(0, h.Store.Sweep() + h.Store.LastSweepVisited);
    }

    [Fact]
    public void ASeriesWrittenLater_StillExpiresWithItsOwnBuckets()
    {
        var h = Loaded();
        h.Store.Sweep();

        // h0 keeps getting points; the rest stays idle and expires one retention after its point.
        for (var step = 1; step <= 3; step++)
        {
            h.Clock.Advance(TimeSpan.FromMinutes(30));
            h.Send(Gauge("load", Point(0, WindowStore.ToUnixNano(h.Clock.GetUtcNow()) - 1_000_000_000UL, step, Attr("host", "h0"))));
            h.Store.Sweep();
        }

        Assert.Equal(1, h.Store.SeriesCount);
        Assert.Equal(3, h.Value("load", Query.AggregateFunction.Last, TimeSpan.FromMinutes(1)));
    }
}
