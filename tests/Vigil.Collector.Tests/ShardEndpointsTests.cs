using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Google.Protobuf;
using Microsoft.Extensions.Time.Testing;
using Vigil.Collector.Security;
using Vigil.Otlp.Proto.Collector;

namespace Vigil.Collector.Tests;

/// <summary>
/// What a shard answers for rebalancing and for a global view: <c>/api/v1/status/tenants</c> (series, accepted
/// points/s over the last minute, refused points) and <c>/federate</c> (Prometheus' federation contract).
/// </summary>
public sealed class ShardEndpointsTests
{
    // Minute-aligned, so every point below lands in a bucket the store keeps.
    private static readonly DateTimeOffset T0 = DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds() / 60 * 60);

    [Fact]
    public async Task TenantStatus_CountsSeriesRateAndRefusals_MostSeriesFirst_AndAReadKeySeesItsOwnLine()
    {
        var clock = new FakeTimeProvider(T0);
        await using var vigil = await VigilServer.StartAsync(TestKeys.WithReadKeys, clock);
        using var otlp = new HttpClient { BaseAddress = vigil.OtlpHttpUri };

        // a: 3 series, 3 points now and 3 more 30 s later; b: 1 series, 1 point, then 2 points older than the retention.
        await PostAsync(otlp, OtlpRequests.DeltaCounterAt("tenant.requests", clock.GetUtcNow(), "a", ("http.route", "/1", 1), ("http.route", "/2", 1), ("http.route", "/3", 1)));
        await PostAsync(otlp, OtlpRequests.DeltaCounterAt("tenant.requests", clock.GetUtcNow(), "b", ("http.route", "/1", 1)));
        clock.Advance(TimeSpan.FromSeconds(30));
        await PostAsync(otlp, OtlpRequests.DeltaCounterAt("tenant.requests", clock.GetUtcNow(), "a", ("http.route", "/1", 1), ("http.route", "/2", 1), ("http.route", "/3", 1)));
        var tooOld = clock.GetUtcNow().AddHours(-2);
        await PostAsync(otlp, OtlpRequests.DeltaCounterAt("tenant.requests", tooOld, "b", ("http.route", "/1", 1), ("http.route", "/2", 1)), refused: 2);
        clock.Advance(TimeSpan.FromSeconds(30));

        using var admin = ReadScopeTests.Client(vigil, TestKeys.AdminToken);
        var status = await ReadScopeTests.JsonAsync(admin, "/api/v1/status/tenants");
        Assert.Equal("success", status.GetProperty("status").GetString());
        var lines = status.GetProperty("data").EnumerateArray().ToList();
        Assert.Equal(["a", "b"], lines.Select(l => l.GetProperty("tenant").GetString()));
        // One minute since each tenant was first seen: a took 6 points in it, b 1.
        AssertLine(lines[0], series: 3, perSecond: 6 / 60.0, accepted: 6, refused: 0);
        AssertLine(lines[1], series: 1, perSecond: 1 / 60.0, accepted: 1, refused: 2);

        // A quiet minute later the rate is 0; the totals stay.
        clock.Advance(TimeSpan.FromSeconds(60));
        var quiet = (await ReadScopeTests.JsonAsync(admin, "/api/v1/status/tenants")).GetProperty("data").EnumerateArray().ToList();
        AssertLine(quiet[0], series: 3, perSecond: 0, accepted: 6, refused: 0);

        using var a = ReadScopeTests.Client(vigil, TestKeys.ReadA);
        var own = (await ReadScopeTests.JsonAsync(a, "/api/v1/status/tenants")).GetProperty("data").EnumerateArray().ToList();
        Assert.Equal("a", Assert.Single(own).GetProperty("tenant").GetString());
        using var none = ReadScopeTests.Client(vigil);
        using var refusedWithoutKey = await none.GetAsync("/api/v1/status/tenants");
        Assert.Equal(HttpStatusCode.Unauthorized, refusedWithoutKey.StatusCode);
    }

    [Fact]
    public async Task Federate_AnswersTheLatestValueOfEachMatchingSeries_WithTimestamps_InPrometheusText()
    {
        var clock = new FakeTimeProvider(T0);
        await using var vigil = await VigilServer.StartAsync(time: clock);
        using var otlp = new HttpClient { BaseAddress = vigil.OtlpHttpUri };
        await PostAsync(otlp, OtlpRequests.DeltaCounterAt("tenant.requests", clock.GetUtcNow(), "a", ("http.route", "/1", 2), ("http.route", "/2", 5)));
        clock.Advance(TimeSpan.FromSeconds(20));
        await PostAsync(otlp, OtlpRequests.DeltaCounterAt("tenant.requests", clock.GetUtcNow(), "a", ("http.route", "/1", 3)));
        await PostAsync(otlp, OtlpRequests.DeltaCounterAt("tenant.requests", clock.GetUtcNow(), "b", ("http.route", "/1", 7)));
        clock.Advance(TimeSpan.FromSeconds(10));

        using var api = new HttpClient { BaseAddress = vigil.HttpUri };
        using var response = await api.GetAsync("/federate?match[]=" + Uri.EscapeDataString("tenant_requests_total{tenant_id=\"a\"}")
            + "&match[]=" + Uri.EscapeDataString("{__name__=\"tenant_requests_total\",http_route=\"/1\"}"));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, body);
        Assert.StartsWith("text/plain; version=0.0.4", response.Content.Headers.ContentType!.ToString());
        var ms = clock.GetUtcNow().ToUnixTimeMilliseconds();
        // Both selectors match a's /1 series: it is written once. job is service.name, as the query API derives it (decision 028). Counters are the running total the query API gives.
        Assert.Equal(
            "# TYPE tenant_requests_total untyped\n"
            + $"tenant_requests_total{{http_route=\"/1\",job=\"test\",service_name=\"test\",tenant_id=\"a\"}} 5 {ms}\n"
            + $"tenant_requests_total{{http_route=\"/1\",job=\"test\",service_name=\"test\",tenant_id=\"b\"}} 7 {ms}\n"
            + $"tenant_requests_total{{http_route=\"/2\",job=\"test\",service_name=\"test\",tenant_id=\"a\"}} 5 {ms}\n",
            body);
    }

    [Fact]
    public async Task Federate_WithATenantsReadKey_AnswersThatTenantsSeriesOnly()
    {
        await using var vigil = await VigilServer.StartAsync(TestKeys.WithReadKeys);
        var now = DateTimeOffset.UtcNow;
        await ReadScopeTests.SendAsync(vigil, OtlpRequests.Merge(
            OtlpRequests.DeltaCounterAt("tenant.requests", now, "a", ("http.route", "/1", 2)),
            OtlpRequests.DeltaCounterAt("tenant.requests", now, "b", ("http.route", "/1", 3))));

        using var a = ReadScopeTests.Client(vigil, TestKeys.ReadA);
        var federated = await a.GetStringAsync("/federate?match[]=" + Uri.EscapeDataString("{__name__=\"tenant_requests_total\"}"));
        var samples = federated.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => !l.StartsWith('#')).ToList();
        Assert.StartsWith("tenant_requests_total{http_route=\"/1\",job=\"test\",service_name=\"test\",tenant_id=\"a\"} 2 ", Assert.Single(samples));
    }

    [Theory]
    [InlineData("", "no match[] parameter provided")]
    [InlineData("?match[]=", "match[]=: parse error: the query is empty")]
    [InlineData("?match[]=up&match[]=%7B%7D", "match[]={}: parse error at char 1: vector selector must contain at least one non-empty matcher")]
    [InlineData("?match[]=rate(x%5B5m%5D)", "match[] must be a series selector")]
    [InlineData("?match[]=x%7Ba%3D", "parse error")]
    public async Task Federate_WithoutOrWithABadMatch_Is400_InPlainText(string query, string expected)
    {
        await using var vigil = await VigilServer.StartAsync();
        using var api = new HttpClient { BaseAddress = vigil.HttpUri };
        using var response = await api.GetAsync("/federate" + query);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.StartsWith("text/plain", response.Content.Headers.ContentType!.ToString());
        Assert.Contains(expected, await response.Content.ReadAsStringAsync());
    }

    private static void AssertLine(JsonElement line, int series, double perSecond, long accepted, long refused)
    {
        var tenant = line.GetProperty("tenant").GetString();
        Assert.True(series == line.GetProperty("series").GetInt32(), $"{tenant}: series {line}");
        Assert.True(Math.Abs(perSecond - line.GetProperty("acceptedPointsPerSecond").GetDouble()) < 0.001, $"{tenant}: rate {line}");
        Assert.True(accepted == line.GetProperty("acceptedPoints").GetInt64(), $"{tenant}: accepted {line}");
        Assert.True(refused == line.GetProperty("refusedPoints").GetInt64(), $"{tenant}: refused {line}");
    }

    private static async Task PostAsync(HttpClient http, ExportMetricsServiceRequest request, int refused = 0)
    {
        using var content = new ByteArrayContent(request.ToByteArray());
        content.Headers.ContentType = new MediaTypeHeaderValue("application/x-protobuf");
        using var response = await http.PostAsync("/v1/metrics", content);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var answer = ExportMetricsServiceResponse.Parser.ParseFrom(await response.Content.ReadAsByteArrayAsync());
        Assert.Equal(refused, answer.PartialSuccess?.RejectedDataPoints ?? 0);
    }
}
