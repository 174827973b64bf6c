using Vigil.Storage;

namespace Vigil.Query.Tests;

public sealed class NameTranslationTests
{
    [Theory]
    [InlineData("auth.requests", "{request}", MetricKind.Counter, "auth_requests_total")]
    [InlineData("ai.run.duration", "s", MetricKind.Histogram, "ai_run_duration_seconds")]
    [InlineData("http.server.request.duration", "ms", MetricKind.Histogram, "http_server_request_duration_milliseconds")]
    [InlineData("ai.run.cost", "USD", MetricKind.Counter, "ai_run_cost_USD_total")]
    [InlineData("process.memory.usage", "By", MetricKind.Gauge, "process_memory_usage_bytes")]
    [InlineData("system.cpu.utilization", "1", MetricKind.Gauge, "system_cpu_utilization_ratio")]
    [InlineData("requests.total", "1", MetricKind.Counter, "requests_total")]
    [InlineData("network.io", "By/s", MetricKind.Gauge, "network_io_bytes_per_second")]
    [InlineData("queue.wait.seconds", "s", MetricKind.Gauge, "queue_wait_seconds")]
    [InlineData("gen_ai.client.token.usage", "{token}", MetricKind.Histogram, "gen_ai_client_token_usage")]
    [InlineData("2xx.responses", "", MetricKind.Counter, "_2xx_responses_total")]
    [InlineData("weird..name__x", "", MetricKind.Gauge, "weird_name_x")]
    public void MetricNames_FollowPrometheusOtlpTranslation(string name, string unit, MetricKind kind, string expected)
    {
        Assert.Equal(expected, PrometheusNames.MetricName(name, unit, kind));
    }

    [Theory]
    [InlineData("tenant.id", "tenant_id")]
    [InlineData("gen_ai.request.model", "gen_ai_request_model")]
    [InlineData("http..route", "http_route")]
    [InlineData("0day", "key_0day")]
    [InlineData("__reserved__", "__reserved__")]
    public void LabelNames_ReplaceInvalidCharacters(string attribute, string expected)
    {
        Assert.Equal(expected, PrometheusNames.LabelName(attribute));
    }

    [Fact]
    public void Catalog_MapsEveryPrometheusNameBackToTheVigilMetricAndRole()
    {
        var names = SeriesCatalog.NamesOf("ai.run.duration", MetricKind.Histogram, "s").ToDictionary(n => n.Name, n => n.Role);

        Assert.Equal(
            new Dictionary<string, SeriesRole>
            {
                ["ai_run_duration_seconds_bucket"] = SeriesRole.Bucket,
                ["ai_run_duration_seconds_sum"] = SeriesRole.Sum,
                ["ai_run_duration_seconds_count"] = SeriesRole.Count,
            },
            names);
    }

    [Fact]
    public void Catalog_TranslatesLabelMatchersBackToOtelAttributes()
    {
        var h = new QueryHarness();
        h.Delta("auth.requests", 5, 1, ("tenant.id", "acme"));

        var catalog = h.Engine.Catalog();

        Assert.Equal("auth.requests", catalog.Find("auth_requests_total")!.Metric);
        Assert.Equal("tenant.id", catalog.AttributeOf("auth.requests", "tenant_id"));
        Assert.Equal("auth_requests_total{tenant_id=\"acme\"}", Assert.Single(catalog.SeriesOf("auth.requests")).With(Labels.MetricName, "auth_requests_total").ToString());
    }
}
