using Vigil.Otlp.Proto.Metrics;
using static Vigil.Storage.Tests.StoreHarness;

namespace Vigil.Storage.Tests;

/// <summary>Label values are held once across series, through a bounded pool.</summary>
public sealed class LabelInterningTests
{
    [Fact]
    public void SeriesWithTheSameLabelValue_ShareOneString()
    {
        var h = new StoreHarness();
        h.Send(
            Counter("a", AggregationTemporality.Delta, Point(At(0), At(5), 1, Attr("tenant.id", "acme"), Attr("user", "u1"))),
            Counter("b", AggregationTemporality.Delta, Point(At(0), At(5), 1, Attr("tenant.id", "acme"), Attr("user", "u2"))));

        var a = Assert.Single(h.Store.ListSeries("a")).Labels["tenant.id"];
        var b = Assert.Single(h.Store.ListSeries("b")).Labels["tenant.id"];
        Assert.Equal("acme", a);
        Assert.Same(a, b);
    }

    [Fact]
    public void ValuePool_StopsSharingWhenFull_AndKeepsWhatItHolds()
    {
        var pool = new LabelNames();
        var first = pool.Value(new string('x', 3));
        for (var i = 0; i < 70_000; i++)
        {
            pool.Value($"v{i}");
        }

        // Past the bound a value is handed back as it came, so a flood of values cannot grow the pool.
        var late = new string('y', 3);
        Assert.Same(late, pool.Value(late));
        Assert.NotSame(pool.Value(new string('y', 3)), late);
        Assert.Same(first, pool.Value(new string('x', 3)));
    }

    [Fact]
    public void ValuePool_SharesAgainAfterItIsForgotten()
    {
        var pool = new LabelNames();
        for (var i = 0; i < 70_000; i++)
        {
            pool.Value($"v{i}");
        }

        pool.ForgetValues();

        // The count of held values starts over with the pool: a value is shared again, not handed back as it came.
        var held = pool.Value(new string('z', 3));
        Assert.Same(held, pool.Value(new string('z', 3)));
    }
}
