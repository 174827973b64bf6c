using System.Text;
using Vigil.Query.Api;
using Vigil.Query.Evaluation;

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
}
