using System.Net;
using System.Text.Json;
using Google.Protobuf;

namespace Vigil.Collector.Tests;

public sealed class AggregateApiTests : IAsyncLifetime
{
    private VigilServer _vigil = null!;
    private VigilApi _api = null!;

    public async Task InitializeAsync()
    {
        _vigil = await VigilServer.StartAsync();
        _api = new VigilApi(_vigil.HttpUri);
        using var http = new HttpClient { BaseAddress = _vigil.OtlpHttpUri };
        foreach (var request in new[] { OtlpRequests.DeltaCounter("auth.requests", 4, "acme", points: 2), OtlpRequests.DeltaCounter("auth.requests", 1, "globex") })
        {
            using var content = new ByteArrayContent(request.ToByteArray());
            content.Headers.ContentType = new("application/x-protobuf");
            using var response = await http.PostAsync("/v1/metrics", content);
            response.EnsureSuccessStatusCode();
        }
    }

    public async Task DisposeAsync()
    {
        _api.Dispose();
        await _vigil.DisposeAsync();
    }

    [Fact]
    public async Task By_GroupsAndMatchers_Filter()
    {
        var byTenant = await _api.AggregateAsync("auth.requests", "increase", by: "tenant.id");
        Assert.Equal([("acme", 8.0), ("globex", 1.0)], byTenant.Select(s => (s.Labels["tenant.id"], s.Value)).OrderBy(x => x.Item1));
        Assert.Equal(8, await _api.ValueAsync("auth.requests", "increase", match: ["tenant.id=~ac.*"]));
        Assert.Equal(1, await _api.ValueAsync("auth.requests", "increase", match: ["tenant.id!~ac.*"]));
        Assert.Equal(4, await _api.ValueAsync("auth.requests", "increase", match: ["tenant.id=\"acme\"", "series=1"]));
        Assert.Equal(3, await _api.ValueAsync("auth.requests", "count"));
    }

    [Fact]
    public async Task UnknownMetric_IsEmptySuccess()
    {
        Assert.Empty(await _api.AggregateAsync("no.such.metric", "increase"));
    }

    [Theory]
    [InlineData("/api/v1/aggregate?fn=increase", "missing parameter 'metric'")]
    [InlineData("/api/v1/aggregate?metric=auth.requests&fn=median", "'median' is not one of")]
    [InlineData("/api/v1/aggregate?metric=auth.requests&fn=increase&window=5 minutes", "is not a duration")]
    [InlineData("/api/v1/aggregate?metric=auth.requests&fn=increase&window=2h", "longer than the retention")]
    [InlineData("/api/v1/aggregate?metric=auth.requests&fn=quantile&q=0.9", "quantile does not apply to auth.requests, a counter")]
    [InlineData("/api/v1/aggregate?metric=auth.requests&fn=increase&match=tenant.id=~(", "does not compile")]
    [InlineData("/api/v1/aggregate?metric=auth.requests&fn=increase&at=yesterday", "neither RFC 3339")]
    public async Task BadQueries_Are400WithActionableJson(string url, string expected)
    {
        using var response = await _api.GetAsync(url);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("error", body.RootElement.GetProperty("status").GetString());
        Assert.Contains(expected, body.RootElement.GetProperty("error").GetString());
    }

    [Fact]
    public async Task At_InThePast_SeesOnlyOlderBuckets()
    {
        var past = DateTimeOffset.UtcNow.AddMinutes(-20).ToUnixTimeSeconds();
        var body = await _api.GetJsonAsync($"/api/v1/aggregate?metric=auth.requests&fn=increase&window=5m&at={past}");
        Assert.Equal(0, body.GetProperty("data").GetArrayLength());
    }

    [Fact]
    public async Task Series_ListsLabelsKindAndUnit()
    {
        var body = await _api.GetJsonAsync("/api/v1/series?metric=auth.requests");
        var series = body.GetProperty("data").EnumerateArray().ToList();
        Assert.Equal(3, series.Count);
        Assert.All(series, s =>
        {
            Assert.Equal("counter", s.GetProperty("kind").GetString());
            Assert.Equal("{request}", s.GetProperty("unit").GetString());
            Assert.Equal("test", s.GetProperty("labels").GetProperty("service.name").GetString());
        });
    }

    [Fact]
    public async Task Readyz_ReportsReadyParts()
    {
        var body = await _api.GetJsonAsync("/readyz");
        Assert.Equal("ready", body.GetProperty("status").GetString());
        Assert.True(body.GetProperty("parts").GetProperty("storage").GetBoolean());
    }
}
