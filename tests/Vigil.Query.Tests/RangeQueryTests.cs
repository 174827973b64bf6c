using Vigil.Query.Evaluation;
using Vigil.Storage;

namespace Vigil.Query.Tests;

public sealed class RangeQueryTests
{
    /// <summary>Deltas: globex 66 @15s, acme 20 @65s, acme 4 @125s.</summary>
    private static QueryHarness Requests()
    {
        var h = new QueryHarness();
        h.Clock.SetUtcNow(QueryHarness.At(200));
        h.Delta("auth.requests", 15, 66, ("tenant.id", "globex"));
        h.Delta("auth.requests", 65, 20, ("tenant.id", "acme"));
        h.Delta("auth.requests", 125, 4, ("tenant.id", "acme"));
        return h;
    }

    [Fact]
    public void RangeQuery_HasOnePointPerStepWhereTheExpressionHasAValue()
    {
        // [1m] at 60 s: buckets 10..60 → 66 + 20; at 120 s: 70..120 → 4; at 180 s: 130..180 → nothing.
        var result = Requests().Engine.QueryRange("sum(rate(auth_requests_total[1m]))", QueryHarness.At(60), QueryHarness.At(180), TimeSpan.FromMinutes(1));

        var series = Assert.Single(result.Series);
        Assert.Equal(Labels.Empty, series.Labels);
        Assert.Equal(2, series.Points.Count);
        Assert.Equal(QueryHarness.At(60), series.Points[0].Time);
        Assert.Equal(86 / 60.0, series.Points[0].Value, 12);
        Assert.Equal(QueryHarness.At(120), series.Points[1].Time);
        Assert.Equal(4 / 60.0, series.Points[1].Value, 12);
    }

    [Fact]
    public void RangeQuery_KeepsSeriesApartByLabels()
    {
        var result = Requests().Engine.QueryRange("auth_requests_total", QueryHarness.At(0), QueryHarness.At(120), TimeSpan.FromMinutes(1));

        Assert.Equal(2, result.Series.Count);
        // Bucket 60 starts at 60 s, so at 60 s it already holds the 20 stamped 65 s; nothing before 10 s.
        var acme = result.Series.Single(s => s.Labels.Get("tenant_id") == "acme");
        Assert.Equal([QueryHarness.At(60), QueryHarness.At(120)], acme.Points.Select(p => p.Time));
        Assert.Equal([20.0, 24], acme.Points.Select(p => p.Value));
        var globex = result.Series.Single(s => s.Labels.Get("tenant_id") == "globex");
        Assert.Equal([66.0, 66], globex.Points.Select(p => p.Value));
    }

    [Fact]
    public void ScalarRangeQuery_IsOneSeriesWithoutLabels()
    {
        var result = Requests().Engine.QueryRange("time()", QueryHarness.At(0), QueryHarness.At(20), TimeSpan.FromSeconds(10));

        var points = Assert.Single(result.Series).Points;
        Assert.Equal([T(0), T(10), T(20)], points.Select(p => p.Value));

        static double T(int s) => QueryHarness.At(s).ToUnixTimeSeconds();
    }

    [Fact]
    public void TooManySteps_AreRefusedAsPrometheusDoes()
    {
        var e = Assert.Throws<PromQLException>(() => Requests().Engine.QueryRange("1", QueryHarness.At(0), QueryHarness.At(11_001), TimeSpan.FromSeconds(1)));

        Assert.Equal("invalid parameter \"step\": exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)", e.Message);
    }

    [Fact]
    public void ZeroStep_IsRefused()
    {
        Assert.Throws<PromQLException>(() => Requests().Engine.QueryRange("1", QueryHarness.At(0), QueryHarness.At(10), TimeSpan.Zero));
    }

    [Fact]
    public void ElevenThousandSteps_AreTheMost_AsInPrometheus()
    {
        var result = Requests().Engine.QueryRange("1", QueryHarness.At(0), QueryHarness.At(1_100), TimeSpan.FromMilliseconds(100));

        Assert.Equal(11_001, Assert.Single(result.Series).Points.Count);
    }

    [Fact]
    public void RangeEndingAtTheLastInstant_StopsThere()
    {
        var end = DateTimeOffset.MaxValue;

        var result = Requests().Engine.QueryRange("1", end.AddSeconds(-25), end, TimeSpan.FromSeconds(10));

        Assert.Equal([end.AddSeconds(-25), end.AddSeconds(-15), end.AddSeconds(-5)], Assert.Single(result.Series).Points.Select(p => p.Time));
    }

    [Fact]
    public void OffsetBeforeTheStoresFirstTime_IsRefusedNamingTheOffset()
    {
        var e = Assert.Throws<PromQLException>(() => Requests().Engine.QueryRange("auth_requests_total offset 1h", WindowStore.EarliestTime, WindowStore.EarliestTime.AddMinutes(1), TimeSpan.FromSeconds(30)));

        Assert.Equal("offset 1h moves the evaluation time 1970-01-01T00:00:00Z before 1970-01-01T00:00:00Z, the earliest time Vigil's store holds", e.Message);
    }

    [Fact]
    public void NegativeOffsetPastTheStoresLastTime_IsRefusedNamingTheOffset()
    {
        var e = Assert.Throws<PromQLException>(() => Requests().Engine.Query("rate(auth_requests_total[5m] offset -1m)", WindowStore.LatestTime));

        Assert.Equal("offset -1m moves the evaluation time 2262-04-11T23:47:16.854Z past 2262-04-11T23:47:16.854Z, the latest time Vigil's store holds", e.Message);
    }
}
