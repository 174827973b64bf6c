using System.Text;
using Vigil.Query.Api;
using Vigil.Query.Evaluation;
using Vigil.Storage;

namespace Vigil.Query.Tests;

public sealed class PromApiTests
{
    private static readonly DateTimeOffset Time = DateTimeOffset.FromUnixTimeMilliseconds(1_748_779_200_500);

    [Fact]
    public void InstantVector_IsWrittenInPrometheusShape()
    {
        var result = new InstantResult(Time, new VectorValue([new Sample(Labels.From([new("__name__", "up"), new("a", "b")]), 0.25)]));

        Assert.Equal(
            "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[{\"metric\":{\"__name__\":\"up\",\"a\":\"b\"},\"value\":[1748779200.5,\"0.25\"]}]}}",
            Encoding.UTF8.GetString(PromApi.InstantJson(result)));
    }

    [Fact]
    public void Scalar_IsWrittenAsOnePoint()
    {
        Assert.Equal(
            "{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\",\"result\":[1748779200.5,\"+Inf\"]}}",
            Encoding.UTF8.GetString(PromApi.InstantJson(new InstantResult(Time, new ScalarValue(double.PositiveInfinity)))));
    }

    [Fact]
    public void Matrix_ListsValuesPerSeries()
    {
        var series = new RangeSeries(Labels.From([new("tenant_id", "acme")]), [(Time, 1), (Time.AddSeconds(15), 2.5)]);

        Assert.Equal(
            "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[{\"metric\":{\"tenant_id\":\"acme\"},\"values\":[[1748779200.5,\"1\"],[1748779215.5,\"2.5\"]]}]}}",
            Encoding.UTF8.GetString(PromApi.RangeJson(new RangeResult([series]))));
    }

    [Fact]
    public void Error_HasPrometheusShape()
    {
        Assert.Equal(
            "{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"function x is not supported\"}",
            Encoding.UTF8.GetString(PromApi.ErrorJson("bad_data", "function x is not supported")));
    }

    [Fact]
    public void Listings_UsePrometheusNamesAndFilterByMatch()
    {
        var h = new QueryHarness();
        h.Delta("auth.requests", 5, 1, ("tenant.id", "acme"));
        h.Gauge("queue.depth", 5, 3, ("host", "a"));

        Assert.Equal(["auth_requests_total{tenant_id=\"acme\"}"], PromApi.Series(h.Engine, ["auth_requests_total"]).Select(l => l.ToString()));
        Assert.Equal(["__name__", "host", "tenant_id"], PromApi.LabelNames(h.Engine, []));
        Assert.Equal(["__name__", "tenant_id"], PromApi.LabelNames(h.Engine, ["{tenant_id=\"acme\"}"]));
        Assert.Equal(["auth_requests_total", "queue_depth"], PromApi.LabelValues(h.Engine, "__name__", []));
        Assert.Equal(["acme"], PromApi.LabelValues(h.Engine, "tenant_id", []));
        var metadata = PromApi.Metadata(h.Engine, null, -1);
        Assert.Equal("counter", metadata["auth_requests_total"].Type);
        Assert.Equal("gauge", metadata["queue_depth"].Type);
    }

    [Theory]
    [InlineData("1748779200.5", 1_748_779_200_500)]
    [InlineData("2025-06-01T12:00:00.5Z", 1_748_779_200_500)]
    public void Times_AcceptUnixSecondsAndRfc3339(string text, long expectedMs)
    {
        Assert.Equal(expectedMs, PromApi.ParseTime(text, "time", default).ToUnixTimeMilliseconds());
    }

    [Theory]
    [InlineData("15", 15)]
    [InlineData("0.5", 0.5)]
    [InlineData("1m", 60)]
    public void Steps_AcceptSecondsAndDurations(string text, double seconds)
    {
        Assert.Equal(TimeSpan.FromSeconds(seconds), PromApi.ParseDuration(text, "step"));
    }

    [Fact]
    public void BadTime_NamesTheParameter()
    {
        var e = Assert.Throws<PromQLException>(() => PromApi.ParseTime("yesterday", "start", default));

        Assert.Equal("invalid parameter \"start\": cannot parse \"yesterday\" to a valid timestamp", e.Message);
    }

    [Theory]
    [InlineData("1e300")]
    [InlineData("-9e18")]
    [InlineData("9e15")]
    [InlineData("Infinity")]
    [InlineData("-1")]
    [InlineData("9223372037")]
    [InlineData("20195523453")] // 2609: as nanoseconds it wraps onto 2025, whose buckets it would read
    [InlineData("1969-12-31T23:59:59Z")]
    [InlineData("9999-12-31T23:59:59Z")]
    public void TimesTheStoreCannotHold_AreRefusedNamingTheParameter(string text)
    {
        var e = Assert.Throws<PromQLException>(() => PromApi.ParseTime(text, "end", default));

        Assert.StartsWith($"invalid parameter \"end\": {text} is out of range: timestamps lie between 0 (1970-01-01T00:00:00Z) and 9223372036.854 (2262-04-11T23:47:16.854Z)", e.Message, StringComparison.Ordinal);
        Assert.Equal(PromQLException.BadData, e.ErrorType);
    }

    [Fact]
    public void TimesAtTheEdgesOfTheStore_AreAccepted()
    {
        Assert.Equal(WindowStore.EarliestTime, PromApi.ParseTime("0", "time", default));
        Assert.Equal(WindowStore.LatestTime, PromApi.ParseTime("9223372036.854", "time", default));
        Assert.Equal(WindowStore.LatestTime, PromApi.ParseTime("2262-04-11T23:47:16.854Z", "time", default));
        // The last millisecond whose nanoseconds fit a signed 64-bit integer.
        Assert.True(WindowStore.ToUnixNano(WindowStore.LatestTime) <= long.MaxValue);
        Assert.True(WindowStore.ToUnixNano(WindowStore.LatestTime.AddMilliseconds(1)) > long.MaxValue);
    }

    [Theory]
    [InlineData("99999999w")]
    [InlineData("NaN")]
    public void StepsThatAreNoDuration_AreRefusedNamingTheParameter(string text)
    {
        var e = Assert.Throws<PromQLException>(() => PromApi.ParseDuration(text, "step"));

        Assert.Equal($"invalid parameter \"step\": cannot parse \"{text}\" to a valid duration", e.Message);
    }

    [Fact]
    public void StepsLongerThanATimeSpan_AreRefusedAsOverflowing()
    {
        var e = Assert.Throws<PromQLException>(() => PromApi.ParseDuration("1e300", "step"));

        Assert.Equal($"invalid parameter \"step\": cannot parse \"1e300\" to a valid duration: it overflows (the longest is {(long)TimeSpan.MaxValue.TotalSeconds} seconds)", e.Message);
    }
}
