using System.Globalization;
using System.Net;
using System.Text.Json;
using Google.Protobuf;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Vigil.Collector.Configuration;
using Vigil.Otlp.Proto.Collector;
using Vigil.Otlp.Proto.Common;
using Vigil.Otlp.Proto.Metrics;
using Vigil.Query.Exposition;
using Vigil.Rules;
using Vigil.Rules.Api;
using Vigil.Tests.Shared;

namespace Vigil.Collector.Tests;

/// <summary>
/// Vigil as a Prometheus data source: (a) a real Prometheus scrapes Vigil's /metrics and answers from its own
/// query API; (b) the requests Grafana's Prometheus data source sends, answered with hand-computed values.
/// </summary>
public sealed class PrometheusInteropTests
{
    // A fixed, minute-aligned clock near now: 10 s buckets start on it, and the WAL sees plausible times.
    private static readonly DateTimeOffset T0 = DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds() / 60 * 60);

    [Fact]
    public async Task RealPrometheus_ScrapesSelfMetricsAlertsAndAggregates()
    {
        var alert = new ActiveAlert("auth", "AuthFailureRateHigh",
            new Dictionary<string, string> { ["alertname"] = "AuthFailureRateHigh", ["severity"] = "P1", ["tenant.id"] = "acme" },
            new Dictionary<string, string>(), AlertState.Firing, DateTimeOffset.FromUnixTimeSeconds(1_750_000_000), null, 0.3, 40, Severity.P1,
            "https://runbooks/x", "> 0.2", TimeSpan.FromMinutes(5));
        var recorded = new RecordedSample("ai.run.cost_per_run", new Dictionary<string, string> { ["tenant.id"] = "acme" }, 0.25, 8, DateTimeOffset.UtcNow);
        await using var vigil = await StartVigilAsync(services =>
            services.AddSingleton<IExpositionSource>(new RulesExpositionSource(() => [recorded], () => [alert])));
        using var otlp = new HttpClient { BaseAddress = vigil.OtlpHttpUri };
        // 3 points on 3 series accepted, then 1 refused: auth.requests is a counter, not a gauge.
        await PostOtlpAsync(otlp, OtlpRequests.DeltaCounter("auth.requests", 5, points: 3));
        await PostOtlpAsync(otlp, OtlpRequests.Gauge("auth.requests", 1));

        await using var prometheus = await RealPrometheus.StartAsync(vigil.HttpUri);

        Assert.Equal(1, await prometheus.ValueAsync("up{job=\"vigil\"}"));
        Assert.Equal(3, await prometheus.ValueAsync("vigil_ingest_points_accepted_total{job=\"vigil\"}"));
        Assert.Equal(1, await prometheus.ValueAsync("vigil_ingest_points_refused_total{job=\"vigil\",reason=\"metric already exists with another type\"}"));
        Assert.Equal(3, await prometheus.ValueAsync("vigil_series_active{job=\"vigil\"}"));
        Assert.Equal(1, await prometheus.ValueAsync("ALERTS{job=\"vigil\",alertname=\"AuthFailureRateHigh\",alertstate=\"firing\",tenant_id=\"acme\",severity=\"P1\"}"));
        Assert.Equal(1_750_000_000, await prometheus.ValueAsync("ALERTS_FOR_STATE{job=\"vigil\",alertname=\"AuthFailureRateHigh\"}"));
        Assert.Equal(0.25, await prometheus.ValueAsync("ai_run_cost_per_run{job=\"vigil\",tenant_id=\"acme\"}"));
        // Prometheus read the families' types from Vigil's exposition.
        Assert.Equal("counter", await prometheus.MetadataTypeAsync("vigil_ingest_points_accepted"));

        // Vigil's own query API answers the same exposed series from their current values.
        using var api = new HttpClient { BaseAddress = vigil.HttpUri };
        using var own = JsonDocument.Parse(await api.GetStringAsync("/api/v1/query?query=" + Uri.EscapeDataString("ALERTS{alertstate=\"firing\"}")));
        var ownAlert = Assert.Single(own.RootElement.GetProperty("data").GetProperty("result").EnumerateArray());
        Assert.Equal("AuthFailureRateHigh", ownAlert.GetProperty("metric").GetProperty("alertname").GetString());
        Assert.Equal("1", ownAlert.GetProperty("value")[1].GetString());
    }

    [Fact]
    public async Task GrafanaRequests_InstantAndRangeQueries_GetAndFormPost()
    {
        var (vigil, api) = await StartWithGrafanaDataAsync();
        await using var _ = vigil;
        using var __ = api;
        var at = Seconds(T0.AddSeconds(60));

        // acme: 3 failures + 9 successes, globex: 4 successes, all inside [5m] at T0+60s.
        var rates = await api.GetJsonAsync($"/api/v1/query?query={Escape("sum by (tenant_id) (rate(auth_requests_total[5m]))")}&time={at}");
        Assert.Equal("vector", rates.GetProperty("data").GetProperty("resultType").GetString());
        Assert.Equal(new Dictionary<string, double> { ["acme"] = 12 / 300.0, ["globex"] = 4 / 300.0 }, ByLabel(rates, "tenant_id"));
        Assert.Equal(at, rates.GetProperty("data").GetProperty("result")[0].GetProperty("value")[0].GetDouble().ToString(CultureInfo.InvariantCulture));

        var ratio = await api.PostFormAsync("/api/v1/query", new()
        {
            ["query"] = "sum by (tenant_id) (rate(auth_requests_total{auth_outcome=\"failure\"}[5m])) / sum by (tenant_id) (rate(auth_requests_total[5m]))",
            ["time"] = at,
        });
        // globex has no failure series, so the division has no globex pair (as in Prometheus).
        Assert.Equal(new Dictionary<string, double> { ["acme"] = 0.25 }, ByLabel(ratio, "tenant_id"));

        // [1,2,3,4] in (0,1] (1,2] (2,5] (5,+Inf): rank 5 of 10 lies in (2,5] holding ranks 3..6 → 2 + 3·2/3.
        var p50 = await api.GetJsonAsync($"/api/v1/query?query={Escape("histogram_quantile(0.5, sum by (le) (rate(ai_run_duration_seconds_bucket[5m])))")}&time={at}");
        Assert.Equal(4.0, Value(p50.GetProperty("data").GetProperty("result")[0]), 12);

        // Range: [1m] at T0+10 and T0+40 covers the buckets at 0 s and 10 s (16 requests); at T0+70 nothing.
        var range = await api.GetJsonAsync(
            $"/api/v1/query_range?query={Escape("sum(increase(auth_requests_total[1m]))")}&start={Seconds(T0.AddSeconds(10))}&end={Seconds(T0.AddSeconds(70))}&step=30");
        AssertMatrix(range, [(Seconds(T0.AddSeconds(10)), "16"), (Seconds(T0.AddSeconds(40)), "16")]);

        var rangePost = await api.PostFormAsync("/api/v1/query_range", new()
        {
            ["query"] = "sum(increase(auth_requests_total[1m]))",
            ["start"] = Seconds(T0.AddSeconds(10)),
            ["end"] = Seconds(T0.AddSeconds(70)),
            ["step"] = "30s",
        });
        AssertMatrix(rangePost, [(Seconds(T0.AddSeconds(10)), "16"), (Seconds(T0.AddSeconds(40)), "16")]);

        // Grafana's "Save & test" asks for 1+1.
        var health = await api.GetJsonAsync("/api/v1/query?query=1%2B1");
        Assert.Equal("scalar", health.GetProperty("data").GetProperty("resultType").GetString());
        Assert.Equal("2", health.GetProperty("data").GetProperty("result")[1].GetString());
    }

    [Fact]
    public async Task GrafanaRequests_LabelsSeriesMetadataAndBuildInfo()
    {
        var (vigil, api) = await StartWithGrafanaDataAsync();
        await using var _ = vigil;
        using var __ = api;

        var labels = Strings(await api.GetJsonAsync("/api/v1/labels"));
        Assert.Superset(new HashSet<string> { "__name__", "auth_outcome", "service_name", "tenant_id" }, labels.ToHashSet());
        Assert.Equal(labels.Order(StringComparer.Ordinal), labels);

        Assert.Equal(["acme", "globex"], Strings(await api.GetJsonAsync("/api/v1/label/tenant_id/values")));
        var names = Strings(await api.GetJsonAsync("/api/v1/label/__name__/values"));
        Assert.Superset(
            new HashSet<string> { "auth_requests_total", "ai_run_duration_seconds_bucket", "ai_run_duration_seconds_count", "ai_run_duration_seconds_sum", "vigil_series_active" },
            names.ToHashSet());
        Assert.Equal(["failure", "success"], Strings(await api.GetJsonAsync($"/api/v1/label/auth_outcome/values?match[]={Escape("auth_requests_total{tenant_id=\"acme\"}")}")));

        var series = await api.GetJsonAsync($"/api/v1/series?match[]={Escape("auth_requests_total{tenant_id=\"acme\"}")}&start=0&end={Seconds(T0)}");
        Assert.Equal(
            ["auth_requests_total|failure|acme", "auth_requests_total|success|acme"],
            series.GetProperty("data").EnumerateArray().Select(s => $"{s.GetProperty("__name__").GetString()}|{s.GetProperty("auth_outcome").GetString()}|{s.GetProperty("tenant_id").GetString()}"));
        var seriesPost = await api.PostFormAsync("/api/v1/series", new() { ["match[]"] = "auth_requests_total{tenant_id=\"globex\"}" });
        Assert.Equal("success", Assert.Single(seriesPost.GetProperty("data").EnumerateArray()).GetProperty("auth_outcome").GetString());

        // Without match[], /api/v1/series keeps Vigil's own shape.
        var vigilSeries = await api.GetJsonAsync("/api/v1/series?metric=auth.requests");
        Assert.Equal("auth.requests", vigilSeries.GetProperty("data")[0].GetProperty("metric").GetString());

        var metadata = (await api.GetJsonAsync("/api/v1/metadata")).GetProperty("data");
        Assert.Equal("counter", metadata.GetProperty("auth_requests_total")[0].GetProperty("type").GetString());
        Assert.Equal("histogram", metadata.GetProperty("ai_run_duration_seconds")[0].GetProperty("type").GetString());
        Assert.Equal("seconds", metadata.GetProperty("ai_run_duration_seconds")[0].GetProperty("unit").GetString());

        var build = (await api.GetJsonAsync("/api/v1/status/buildinfo")).GetProperty("data");
        Assert.Equal("2.45.0", build.GetProperty("version").GetString());
    }

    [Fact]
    public async Task UnsupportedPromQL_AnswersPrometheusErrorShape()
    {
        var (vigil, api) = await StartWithGrafanaDataAsync();
        await using var _ = vigil;
        using var __ = api;

        using var response = await api.Http.GetAsync($"/api/v1/query?query={Escape("holt_winters(up[5m], 0.5, 0.5)")}");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"function holt_winters is not supported\"}", await response.Content.ReadAsStringAsync());

        using var missing = await api.Http.GetAsync("/api/v1/query_range?query=1");
        Assert.Equal(HttpStatusCode.BadRequest, missing.StatusCode);
        Assert.Contains("invalid parameter \\\"start\\\": missing", await missing.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Metrics_NegotiatesOpenMetricsOrText_OnTheApiPortOnly()
    {
        var (vigil, api) = await StartWithGrafanaDataAsync();
        await using var _ = vigil;
        using var __ = api;

        using var openMetricsRequest = new HttpRequestMessage(HttpMethod.Get, "/metrics");
        openMetricsRequest.Headers.TryAddWithoutValidation("Accept", "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5");
        using var openMetrics = await api.Http.SendAsync(openMetricsRequest);
        var openMetricsText = await openMetrics.Content.ReadAsStringAsync();
        Assert.Equal("application/openmetrics-text; version=1.0.0; charset=utf-8", openMetrics.Content.Headers.ContentType!.ToString());
        Assert.EndsWith("# EOF\n", openMetricsText, StringComparison.Ordinal);
        Assert.Contains("# TYPE vigil_ingest_points_accepted counter\n", openMetricsText, StringComparison.Ordinal);
        // 3 auth.requests points + 1 histogram point.
        Assert.Contains("\nvigil_ingest_points_accepted_total 4\n", openMetricsText, StringComparison.Ordinal);

        using var text = await api.Http.GetAsync("/metrics");
        Assert.Equal("text/plain; version=0.0.4; charset=utf-8", text.Content.Headers.ContentType!.ToString());
        Assert.Contains("# TYPE vigil_ingest_points_accepted_total counter\n", await text.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        using var otlpPort = new HttpClient { BaseAddress = vigil.OtlpHttpUri };
        using var elsewhere = await otlpPort.GetAsync("/metrics");
        Assert.Equal(HttpStatusCode.NotFound, elsewhere.StatusCode);
    }

    /// <summary>
    /// Vigil on a fake clock at T0+60s with: auth.requests (delta) acme failure 3 and success 9 at T0+5s,
    /// globex success 4 at T0+15s; ai.run.duration (s) for acme, bounds [1,2,5], counts [1,2,3,4], sum 30 at T0+5s.
    /// </summary>
    private static async Task<(VigilServer Vigil, GrafanaClient Api)> StartWithGrafanaDataAsync()
    {
        var clock = new FakeTimeProvider(T0.AddSeconds(60));
        var vigil = await VigilServer.StartAsync(time: clock);
        using var otlp = new HttpClient { BaseAddress = vigil.OtlpHttpUri };
        await PostOtlpAsync(otlp, OtlpRequests.Merge(
            OtlpRequests.Wrap(DeltaSum("auth.requests", 5, (3, "failure"), (9, "success")), "acme"),
            OtlpRequests.Wrap(DeltaSum("auth.requests", 15, (4, "success")), "globex"),
            OtlpRequests.Wrap(Histogram("ai.run.duration", 5, [1, 2, 5], [1, 2, 3, 4], 30), "acme")));
        return (vigil, new GrafanaClient(vigil.HttpUri));
    }

    private static Metric DeltaSum(string name, int seconds, params (long Value, string Outcome)[] points)
    {
        var sum = new Sum { AggregationTemporality = AggregationTemporality.Delta, IsMonotonic = true };
        foreach (var (value, outcome) in points)
        {
            var point = new NumberDataPoint { StartTimeUnixNano = Nanos(T0), TimeUnixNano = Nanos(T0.AddSeconds(seconds)), AsInt = value };
            point.Attributes.Add(new KeyValue { Key = "auth.outcome", Value = new AnyValue { StringValue = outcome } });
            sum.DataPoints.Add(point);
        }

        return new Metric { Name = name, Unit = "{request}", Sum = sum };
    }

    private static Metric Histogram(string name, int seconds, double[] bounds, ulong[] counts, double sum)
    {
        var point = new HistogramDataPoint { StartTimeUnixNano = Nanos(T0), TimeUnixNano = Nanos(T0.AddSeconds(seconds)), Count = (ulong)counts.Sum(c => (long)c), Sum = sum };
        point.ExplicitBounds.AddRange(bounds);
        point.BucketCounts.AddRange(counts);
        var histogram = new Histogram { AggregationTemporality = AggregationTemporality.Delta };
        histogram.DataPoints.Add(point);
        return new Metric { Name = name, Unit = "s", Histogram = histogram };
    }

    private static ulong Nanos(DateTimeOffset time) => (ulong)time.ToUnixTimeMilliseconds() * 1_000_000UL;

    private static string Seconds(DateTimeOffset time) => (time.ToUnixTimeMilliseconds() / 1000.0).ToString(CultureInfo.InvariantCulture);

    private static string Escape(string query) => Uri.EscapeDataString(query);

    private static async Task PostOtlpAsync(HttpClient otlp, ExportMetricsServiceRequest request)
    {
        using var content = new ByteArrayContent(request.ToByteArray());
        content.Headers.ContentType = new("application/x-protobuf");
        using var response = await otlp.PostAsync("/v1/metrics", content);
        response.EnsureSuccessStatusCode();
    }

    /// <summary>Vigil with extra services, on OS ports (as <see cref="VigilServer"/>, which takes no service hook).</summary>
    private static async Task<StartedVigil> StartVigilAsync(Action<IServiceCollection> services)
    {
        var dataDir = VigilServer.NewDataDir();
        var options = new VigilOptions
        {
            OtlpGrpc = new IPEndPoint(IPAddress.Loopback, 0),
            OtlpHttp = new IPEndPoint(IPAddress.Loopback, 0),
            Http = new IPEndPoint(IPAddress.Loopback, 0),
            DataDir = dataDir,
        };
        var app = VigilApp.Build(options, configure: builder => services(builder.Services));
        await app.StartAsync();
        var readiness = app.Services.GetRequiredService<Readiness>();
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!readiness.IsReady && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }

        Assert.True(readiness.IsReady, "Vigil did not become ready within 30s");
        return new StartedVigil(app, dataDir);
    }

    private static Dictionary<string, double> ByLabel(JsonElement response, string label) =>
        response.GetProperty("data").GetProperty("result").EnumerateArray()
            .ToDictionary(r => r.GetProperty("metric").GetProperty(label).GetString()!, Value);

    private static double Value(JsonElement result) => double.Parse(result.GetProperty("value")[1].GetString()!, CultureInfo.InvariantCulture);

    private static List<string> Strings(JsonElement response) => [.. response.GetProperty("data").EnumerateArray().Select(v => v.GetString()!)];

    private static void AssertMatrix(JsonElement response, (string Time, string Value)[] expected)
    {
        var data = response.GetProperty("data");
        Assert.Equal("matrix", data.GetProperty("resultType").GetString());
        var series = Assert.Single(data.GetProperty("result").EnumerateArray());
        Assert.Empty(series.GetProperty("metric").EnumerateObject());
        Assert.Equal(
            expected,
            series.GetProperty("values").EnumerateArray().Select(v => (v[0].GetDouble().ToString(CultureInfo.InvariantCulture), v[1].GetString()!)));
    }

    private sealed class StartedVigil(WebApplication app, string dataDir) : IAsyncDisposable
    {
        public Uri HttpUri => new($"http://127.0.0.1:{app.Services.GetRequiredService<Listeners>().EndPoint(Listeners.Http).Port}");

        public Uri OtlpHttpUri => new($"http://127.0.0.1:{app.Services.GetRequiredService<Listeners>().EndPoint(Listeners.OtlpHttp).Port}");

        public async ValueTask DisposeAsync()
        {
            await app.StopAsync();
            await app.DisposeAsync();
            if (Directory.Exists(dataDir))
            {
                Directory.Delete(dataDir, recursive: true);
            }
        }
    }

    /// <summary>What Grafana's Prometheus data source does over HTTP: GET with query strings, POST with forms.</summary>
    private sealed class GrafanaClient(Uri baseUri) : IDisposable
    {
        public HttpClient Http { get; } = new() { BaseAddress = baseUri };

        public async Task<JsonElement> GetJsonAsync(string url)
        {
            using var response = await Http.GetAsync(url);
            return await ReadAsync(response, url);
        }

        public async Task<JsonElement> PostFormAsync(string url, Dictionary<string, string> form)
        {
            using var content = new FormUrlEncodedContent(form);
            using var response = await Http.PostAsync(url, content);
            return await ReadAsync(response, url);
        }

        public void Dispose() => Http.Dispose();

        private static async Task<JsonElement> ReadAsync(HttpResponseMessage response, string url)
        {
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.IsSuccessStatusCode, $"{url}: {(int)response.StatusCode} {body}");
            using var document = JsonDocument.Parse(body);
            Assert.Equal("success", document.RootElement.GetProperty("status").GetString());
            return document.RootElement.Clone();
        }
    }
}
