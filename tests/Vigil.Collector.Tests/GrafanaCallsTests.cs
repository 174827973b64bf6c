using System.Net;
using System.Text.Json;
using Google.Protobuf;

namespace Vigil.Collector.Tests;

/// <summary>What Grafana and Prometheus-configured exporters call besides queries (issue #11 items 3 and 4).</summary>
public sealed class GrafanaCallsTests : IAsyncLifetime
{
    private VigilServer _vigil = null!;
    private HttpClient _api = null!;

    public async Task InitializeAsync()
    {
        _vigil = await VigilServer.StartAsync();
        _api = new HttpClient { BaseAddress = _vigil.HttpUri };
    }

    public async Task DisposeAsync()
    {
        _api.Dispose();
        await _vigil.DisposeAsync();
    }

    private async Task<(HttpStatusCode Status, JsonElement Body)> GetAsync(string path)
    {
        using var response = await _api.GetAsync(path);
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
        return (response.StatusCode, body);
    }

    [Fact]
    public async Task PrometheusOtlpPath_IsAnAliasOfV1Metrics()
    {
        using var otlp = new HttpClient { BaseAddress = _vigil.OtlpHttpUri };
        using var content = new ByteArrayContent(OtlpRequests.DeltaCounter("auth.requests", 4, points: 2).ToByteArray());
        content.Headers.ContentType = new("application/x-protobuf");

        using var response = await otlp.PostAsync("/api/v1/otlp/v1/metrics", content);

        // Two points, each with its own "series" attribute: two series of tenant acme.
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var stored = _vigil.Store.ListSeries("auth.requests");
        Assert.Equal(["0", "1"], stored.Select(s => s.Labels["series"]).Order(StringComparer.Ordinal));
        Assert.All(stored, s => Assert.Equal("acme", s.Labels["tenant.id"]));
    }

    [Fact]
    public async Task QueryExemplars_AnswersEmpty_ForAValidQuery_And400ForABadOne()
    {
        var (status, body) = await GetAsync("/api/v1/query_exemplars?query=" + Uri.EscapeDataString("rate(auth_requests_total[5m])") + "&start=0&end=60");

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("success", body.GetProperty("status").GetString());
        Assert.Equal(0, body.GetProperty("data").GetArrayLength());

        var (badStatus, bad) = await GetAsync("/api/v1/query_exemplars?query=" + Uri.EscapeDataString("rate(auth_requests_total[5m]"));
        Assert.Equal(HttpStatusCode.BadRequest, badStatus);
        Assert.Equal("bad_data", bad.GetProperty("errorType").GetString());

        var (reversedStatus, reversed) = await GetAsync("/api/v1/query_exemplars?query=up&start=60&end=0");
        Assert.Equal(HttpStatusCode.BadRequest, reversedStatus);
        Assert.Contains("end timestamp must not be before start time", reversed.GetProperty("error").GetString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("sum by(job)(rate(auth_requests_total{tenant_id=\"acme\"}[5m]))")]
    [InlineData("  up   ==   1 ")]
    public async Task FormatQuery_GivesAQueryThatReadsBackTheSame(string query)
    {
        var (status, body) = await GetAsync("/api/v1/format_query?query=" + Uri.EscapeDataString(query));

        Assert.Equal(HttpStatusCode.OK, status);
        var formatted = body.GetProperty("data").GetString()!;

        // Formatting is idempotent, and the formatted text asks the same question as the original.
        var (_, again) = await GetAsync("/api/v1/format_query?query=" + Uri.EscapeDataString(formatted));
        Assert.Equal(formatted, again.GetProperty("data").GetString());
        Assert.Equal(Normalize(query), Normalize(formatted));
    }

    [Fact]
    public async Task FormatQuery_WithoutAQuery_Is400()
    {
        var (status, body) = await GetAsync("/api/v1/format_query");

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("invalid parameter \"query\": missing", body.GetProperty("error").GetString());
    }

    /// <summary>The query with spacing removed: what formatting may change.</summary>
    private static string Normalize(string query) => string.Concat(query.Where(c => !char.IsWhiteSpace(c)));
}
