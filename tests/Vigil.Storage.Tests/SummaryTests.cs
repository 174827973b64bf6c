using Vigil.Storage.Query;
using static Vigil.Storage.Tests.StoreHarness;

namespace Vigil.Storage.Tests;

public sealed class SummaryTests
{
    private static readonly TimeSpan Minute = TimeSpan.FromMinutes(1);

    private static StoreHarness ThreePoints()
    {
        var h = new StoreHarness();
        var start = At(-600);
        h.Send(Summary("rpc.duration", SummaryPoint(start, At(5), 10, 100, (0.5, 9), (0.99, 30))));
        h.Send(Summary("rpc.duration", SummaryPoint(start, At(15), 15, 160, (0.5, 11), (0.99, 40))));
        h.Send(Summary("rpc.duration", SummaryPoint(start, At(25), 18, 190, (0.5, 10), (0.99, 35))));
        h.Clock.Advance(TimeSpan.FromSeconds(30));
        return h;
    }

    [Fact]
    public void Summary_CountAndSum_AreDifferencedFromTheBaseline()
    {
        var h = ThreePoints();

        Assert.Equal(8, h.Value("rpc.duration", AggregateFunction.Count, Minute));
        Assert.Equal(8, h.Value("rpc.duration", AggregateFunction.Increase, Minute));
        Assert.Equal(90, h.Value("rpc.duration", AggregateFunction.Sum, Minute));
        Assert.Equal(90 / 8.0, h.Value("rpc.duration", AggregateFunction.Avg, Minute), 12);
        Assert.Equal(3, h.Value("rpc.duration", AggregateFunction.Count, TimeSpan.FromSeconds(10), T0.AddSeconds(25)));
    }

    [Fact]
    public void Summary_Quantile_IsTheLatestReportedValueInTheWindow()
    {
        var h = ThreePoints();

        Assert.Equal(35, h.Value("rpc.duration", AggregateFunction.Quantile, Minute, quantile: 0.99));
        Assert.Equal(40, h.Value("rpc.duration", AggregateFunction.Quantile, TimeSpan.FromSeconds(10), T0.AddSeconds(15), quantile: 0.99));
        Assert.Equal(10, h.Value("rpc.duration", AggregateFunction.Quantile, Minute, quantile: 0.5));
    }

    [Fact]
    public void Summary_QuantileNotReported_GivesNoSample()
    {
        Assert.Empty(ThreePoints().Query("rpc.duration", AggregateFunction.Quantile, Minute, quantile: 0.75));
    }

    [Fact]
    public void Summary_CountDrop_IsAReset()
    {
        var h = new StoreHarness();
        var start = At(-600);
        h.Send(Summary("s", SummaryPoint(start, At(5), 10, 100)));
        h.Send(Summary("s", SummaryPoint(start, At(15), 4, 8)));
        h.Clock.Advance(TimeSpan.FromSeconds(20));

        Assert.Equal(4, h.Value("s", AggregateFunction.Count, Minute));
        Assert.Equal(8, h.Value("s", AggregateFunction.Sum, Minute));
    }

    [Theory]
    [InlineData(AggregateFunction.Min)]
    [InlineData(AggregateFunction.Max)]
    [InlineData(AggregateFunction.Last)]
    public void Summary_MinMaxLast_AreNotApplicable(AggregateFunction function)
    {
        var error = Assert.Throws<QueryException>(() => ThreePoints().Query("rpc.duration", function, Minute));
        Assert.Contains("summary", error.Message, StringComparison.Ordinal);
    }
}
