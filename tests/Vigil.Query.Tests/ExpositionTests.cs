using Vigil.Query.Exposition;
using Vigil.Rules;
using Vigil.Rules.Api;
using Vigil.Storage;

namespace Vigil.Query.Tests;

public sealed class ExpositionTests
{
    private static readonly MetricFamily[] Families =
    [
        new("auth_requests", FamilyType.Counter, "Requests \"seen\"\\ by\nVigil", string.Empty,
        [
            new("_total", [new("tenant_id", "a\"b\\c\nd")], 3),
            new("_total", [new("tenant_id", "x")], 1.5),
        ]),
        new("process_memory_usage_bytes", FamilyType.Gauge, "Memory", "bytes",
        [
            new(string.Empty, [], 1024),
        ]),
        new("ai_run_duration_seconds", FamilyType.Histogram, string.Empty, "seconds",
        [
            new("_bucket", [new("le", "1")], 1),
            new("_bucket", [new("le", "+Inf")], 2),
            new("_sum", [], 3.5),
            new("_count", [], 2),
        ]),
        new("odd_gauge", FamilyType.Gauge, string.Empty, "seconds", [new(string.Empty, [], double.PositiveInfinity), new(string.Empty, [new("k", "v")], double.NaN)]),
    ];

    [Fact]
    public void PrometheusText004_GoldenOutput()
    {
        const string expected =
            "# HELP auth_requests_total Requests \"seen\"\\\\ by\\nVigil\n" +
            "# TYPE auth_requests_total counter\n" +
            "auth_requests_total{tenant_id=\"a\\\"b\\\\c\\nd\"} 3\n" +
            "auth_requests_total{tenant_id=\"x\"} 1.5\n" +
            "# HELP process_memory_usage_bytes Memory\n" +
            "# TYPE process_memory_usage_bytes gauge\n" +
            "process_memory_usage_bytes 1024\n" +
            "# TYPE ai_run_duration_seconds histogram\n" +
            "ai_run_duration_seconds_bucket{le=\"1\"} 1\n" +
            "ai_run_duration_seconds_bucket{le=\"+Inf\"} 2\n" +
            "ai_run_duration_seconds_sum 3.5\n" +
            "ai_run_duration_seconds_count 2\n" +
            "# TYPE odd_gauge gauge\n" +
            "odd_gauge +Inf\n" +
            "odd_gauge{k=\"v\"} NaN\n";

        Assert.Equal(expected, ExpositionWriter.Write(Families, ExpositionFormat.PrometheusText));
    }

    [Fact]
    public void OpenMetrics10_GoldenOutput()
    {
        const string expected =
            "# TYPE auth_requests counter\n" +
            "# HELP auth_requests Requests \\\"seen\\\"\\\\ by\\nVigil\n" +
            "auth_requests_total{tenant_id=\"a\\\"b\\\\c\\nd\"} 3\n" +
            "auth_requests_total{tenant_id=\"x\"} 1.5\n" +
            "# TYPE process_memory_usage_bytes gauge\n" +
            "# UNIT process_memory_usage_bytes bytes\n" +
            "# HELP process_memory_usage_bytes Memory\n" +
            "process_memory_usage_bytes 1024\n" +
            "# TYPE ai_run_duration_seconds histogram\n" +
            "# UNIT ai_run_duration_seconds seconds\n" +
            "ai_run_duration_seconds_bucket{le=\"1\"} 1\n" +
            "ai_run_duration_seconds_bucket{le=\"+Inf\"} 2\n" +
            "ai_run_duration_seconds_sum 3.5\n" +
            "ai_run_duration_seconds_count 2\n" +
            "# TYPE odd_gauge gauge\n" +
            "odd_gauge +Inf\n" +
            "odd_gauge{k=\"v\"} NaN\n" +
            "# EOF\n";

        Assert.Equal(expected, ExpositionWriter.Write(Families, ExpositionFormat.OpenMetrics));
    }

    [Fact]
    public void FamiliesOfOneNameFromTwoSources_AreWrittenOnceWithAllSamples()
    {
        MetricFamily[] families =
        [
            new("ALERTS", FamilyType.Gauge, "first", string.Empty, [new(string.Empty, [new("alertname", "A")], 1)]),
            new("ALERTS", FamilyType.Gauge, "second", string.Empty, [new(string.Empty, [new("alertname", "B")], 1)]),
        ];

        Assert.Equal(
            "# HELP ALERTS first\n# TYPE ALERTS gauge\nALERTS{alertname=\"A\"} 1\nALERTS{alertname=\"B\"} 1\n",
            ExpositionWriter.Write(families, ExpositionFormat.PrometheusText));
    }

    [Fact]
    public void StampedSamples_CarryMillisecondsInText_AndSecondsInOpenMetrics()
    {
        // 2025-06-01T12:00:00.250Z: 1748779200250 ms.
        MetricFamily[] families = [new("up", FamilyType.Unknown, string.Empty, string.Empty, [new(string.Empty, [new("job", "a")], 1, 1_748_779_200_250)])];

        Assert.Equal("# TYPE up untyped\nup{job=\"a\"} 1 1748779200250\n", ExpositionWriter.Write(families, ExpositionFormat.PrometheusText));
        Assert.Equal("# TYPE up unknown\nup{job=\"a\"} 1 1748779200.25\n# EOF\n", ExpositionWriter.Write(families, ExpositionFormat.OpenMetrics));
    }

    [Theory]
    [InlineData("application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1", ExpositionFormat.OpenMetrics)]
    [InlineData("application/openmetrics-text", ExpositionFormat.OpenMetrics)]
    [InlineData("application/openmetrics-text; version=0.0.1", ExpositionFormat.PrometheusText)]
    [InlineData("application/openmetrics-text;q=0", ExpositionFormat.PrometheusText)]
    [InlineData("text/plain;version=0.0.4", ExpositionFormat.PrometheusText)]
    [InlineData("*/*", ExpositionFormat.PrometheusText)]
    [InlineData(null, ExpositionFormat.PrometheusText)]
    public void AcceptHeader_ChoosesTheFormat(string? accept, ExpositionFormat expected)
    {
        Assert.Equal(expected, ExpositionWriter.Negotiate(accept));
    }

    [Fact]
    public void RulesSource_ExposesAlertsAlertsForStateAndRecordedAggregates()
    {
        var activeAt = new DateTimeOffset(2025, 6, 1, 12, 0, 0, TimeSpan.Zero);
        var alert = new ActiveAlert("auth", "AuthFailures",
            new Dictionary<string, string> { ["alertname"] = "AuthFailures", ["severity"] = "P1", ["tenant.id"] = "acme" },
            new Dictionary<string, string>(), AlertState.Firing, activeAt, null, 0.3, 40, Severity.P1, "https://runbooks/x", "> 0.2", TimeSpan.FromMinutes(5));
        var recorded = new RecordedSample("ai.run.cost_per_run", new Dictionary<string, string> { ["tenant.id"] = "acme" }, 0.25, 8, activeAt);
        var source = new RulesExpositionSource(() => [recorded, recorded with { Value = null }], () => [alert]);

        var text = ExpositionWriter.Write(source.Collect(), ExpositionFormat.PrometheusText);

        Assert.Equal(
            "# HELP ALERTS Pending and firing alert instances of Vigil's rules (value 1).\n" +
            "# TYPE ALERTS gauge\n" +
            "ALERTS{alertname=\"AuthFailures\",alertstate=\"firing\",severity=\"P1\",tenant_id=\"acme\"} 1\n" +
            "# HELP ALERTS_FOR_STATE When each pending or firing alert instance became active (unix seconds).\n" +
            "# TYPE ALERTS_FOR_STATE gauge\n" +
            "ALERTS_FOR_STATE{alertname=\"AuthFailures\",severity=\"P1\",tenant_id=\"acme\"} 1748779200\n" +
            "# HELP ai_run_cost_per_run Recorded aggregate ai.run.cost_per_run (Vigil rules).\n" +
            "# TYPE ai_run_cost_per_run gauge\n" +
            "ai_run_cost_per_run{tenant_id=\"acme\"} 0.25\n",
            text);
    }

    [Fact]
    public void ExposedFamilies_AnswerInstantQueriesAtTheCurrentTimeOnly()
    {
        var alert = new ActiveAlert("auth", "AuthFailures", new Dictionary<string, string> { ["alertname"] = "AuthFailures", ["tenant.id"] = "acme" },
            new Dictionary<string, string>(), AlertState.Pending, QueryHarness.T0, null, 0.3, 40, Severity.P1, "u", "> 0.2", TimeSpan.FromMinutes(5));
        var h = new QueryHarness([new RulesExpositionSource(() => [], () => [alert])]);

        var now = h.Vector("ALERTS{alertstate=\"pending\"}", 0);
        Assert.Equal(1, now["ALERTS{alertname=\"AuthFailures\", alertstate=\"pending\", tenant_id=\"acme\"}"]);
        Assert.Empty(h.Vector("ALERTS{alertstate=\"firing\"}", 0));
        Assert.Empty(h.Vector("ALERTS", -600));
    }
}
