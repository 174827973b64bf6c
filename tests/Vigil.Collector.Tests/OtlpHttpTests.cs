using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Vigil.Otlp.Proto.Collector;
using Vigil.Otlp.Proto.Rpc;

namespace Vigil.Collector.Tests;

/// <summary>OTLP/HTTP status semantics on a real Kestrel: each bad request gets its status and message, and the server keeps serving.</summary>
public sealed class OtlpHttpTests : IAsyncLifetime
{
    private VigilServer _vigil = null!;
    private HttpClient _http = null!;
    private VigilApi _api = null!;

    public async Task InitializeAsync()
    {
        _vigil = await VigilServer.StartAsync(o => o with { Ingest = o.Ingest with { MaxRequestBytes = 64 * 1024 } });
        _http = new HttpClient { BaseAddress = _vigil.OtlpHttpUri };
        _api = new VigilApi(_vigil.HttpUri);
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        _api.Dispose();
        await _vigil.DisposeAsync();
    }

    private Task<HttpResponseMessage> PostAsync(byte[] body, string contentType = "application/x-protobuf", string? encoding = null)
    {
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        if (encoding is not null)
        {
            content.Headers.ContentEncoding.Add(encoding);
        }

        return _http.PostAsync("/v1/metrics", content);
    }

    private async Task AssertStillServesAsync(string metric)
    {
        using var response = await PostAsync(OtlpRequests.DeltaCounter(metric, 7).Bytes());
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(7, await _api.ValueAsync(metric, "increase"));
    }

    private static async Task<Status> ReadStatusAsync(HttpResponseMessage response)
    {
        Assert.Equal("application/x-protobuf", response.Content.Headers.ContentType?.MediaType);
        return Status.Parser.ParseFrom(await response.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task Protobuf_FullSuccess_LeavesPartialSuccessUnset()
    {
        using var response = await PostAsync(OtlpRequests.DeltaCounter("auth.requests", 4, points: 3).Bytes());
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = ExportMetricsServiceResponse.Parser.ParseFrom(await response.Content.ReadAsByteArrayAsync());
        Assert.Null(body.PartialSuccess);
        Assert.Equal(12, await _api.ValueAsync("auth.requests", "increase"));
    }

    [Fact]
    public async Task Json_IsAcceptedAndAnsweredInJson()
    {
        var now = OtlpRequests.NowNanos();
        var json = $$$"""
            {"resourceMetrics":[{"resource":{"attributes":[{"key":"tenant.id","value":{"stringValue":"acme"}}]},
              "scopeMetrics":[{"scope":{"name":"curl"},"metrics":[{"name":"tenant.requests","unit":"{request}","futureField":1,
                "sum":{"aggregationTemporality":1,"isMonotonic":true,"dataPoints":[
                  {"attributes":[{"key":"tenant.decision","value":{"stringValue":"denied"}}],"startTimeUnixNano":"{{{now - 1_000_000_000}}}","timeUnixNano":"{{{now}}}","asInt":"6"},
                  {"attributes":[{"key":"tenant.decision","value":{"stringValue":"allowed"}}],"startTimeUnixNano":{{{now - 1_000_000_000}}},"timeUnixNano":{{{now}}},"asInt":3}]}}]}]}]}
            """;
        using var response = await PostAsync(Encoding.UTF8.GetBytes(json), "application/json");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.False(document.RootElement.TryGetProperty("partialSuccess", out _));
        Assert.Equal(6, await _api.ValueAsync("tenant.requests", "increase", match: ["tenant.decision=denied", "tenant.id=acme"]));
        Assert.Equal(3, await _api.ValueAsync("tenant.requests", "increase", match: ["tenant.decision!=denied"]));
    }

    [Fact]
    public async Task Json_WithAUtf8ByteOrderMark_IsAccepted()
    {
        var now = OtlpRequests.NowNanos();
        var json = $$$"""{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"bom.requests","sum":{"aggregationTemporality":1,"isMonotonic":true,"dataPoints":[{"startTimeUnixNano":"{{{now - 1_000_000_000}}}","timeUnixNano":"{{{now}}}","asInt":"8"}]}}]}]}]}""";
        using var response = await PostAsync([0xEF, 0xBB, 0xBF, .. Encoding.UTF8.GetBytes(json)], "application/json");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(8, await _api.ValueAsync("bom.requests", "increase"));
    }

    [Fact]
    public async Task GzipProtobuf_IsDecompressed()
    {
        using var compressed = new MemoryStream();
        await using (var gzip = new GZipStream(compressed, CompressionLevel.Fastest, leaveOpen: true))
        {
            gzip.Write(OtlpRequests.DeltaCounter("ai.runs", 9).Bytes());
        }

        using var response = await PostAsync(compressed.ToArray(), encoding: "gzip");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(9, await _api.ValueAsync("ai.runs", "increase"));
    }

    [Fact]
    public async Task MalformedProtobuf_Is400WithMessage_AndServerKeepsServing()
    {
        using var response = await PostAsync(Encoding.ASCII.GetBytes("this is not protobuf at all"));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var status = await ReadStatusAsync(response);
        Assert.Equal(3, status.Code); // INVALID_ARGUMENT
        Assert.StartsWith("malformed OTLP metrics request:", status.Message);
        await AssertStillServesAsync("after.garbage");
    }

    [Fact]
    public async Task TruncatedBody_Is400NamingTheField_AndStoresNothingOfIt()
    {
        var full = OtlpRequests.Merge(OtlpRequests.DeltaCounter("partial.first", 5), OtlpRequests.DeltaCounter("partial.second", 5)).Bytes();
        using var response = await PostAsync(full[..(full.Length - 7)]);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var status = await ReadStatusAsync(response);
        Assert.Contains("resource_metrics[1]", status.Message);
        Assert.Contains("truncated", status.Message);
        // The intact first resource was not applied either: a 400 means resend after fixing, so nothing is half-stored.
        Assert.Empty(_vigil.Store.ListSeries("partial.first"));
        await AssertStillServesAsync("after.truncated");
    }

    [Fact]
    public async Task MalformedJson_Is400InJson()
    {
        using var response = await PostAsync("{\"resourceMetrics\": [ {"u8.ToArray(), "application/json");
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(3, document.RootElement.GetProperty("code").GetInt32());
        Assert.Contains("invalid OTLP/JSON", document.RootElement.GetProperty("message").GetString());
    }

    [Fact]
    public async Task WrongContentType_Is415()
    {
        using var response = await PostAsync("hello"u8.ToArray(), "text/plain");
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
        Assert.Contains("application/x-protobuf", await response.Content.ReadAsStringAsync());
        await AssertStillServesAsync("after.415");
    }

    [Fact]
    public async Task OversizeBody_Is413()
    {
        var big = OtlpRequests.DeltaCounter("too.big", 1, points: 3000).Bytes();
        Assert.True(big.Length > 64 * 1024);
        using var response = await PostAsync(big);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Contains("exceeds the 65536 byte limit", (await ReadStatusAsync(response)).Message);
        Assert.Empty(_vigil.Store.ListSeries("too.big"));
        await AssertStillServesAsync("after.413");
    }

    [Fact]
    public async Task GzipBomb_DecompressedOverLimit_Is413()
    {
        using var compressed = new MemoryStream();
        await using (var gzip = new GZipStream(compressed, CompressionLevel.SmallestSize, leaveOpen: true))
        {
            gzip.Write(new byte[1024 * 1024]);
        }

        Assert.True(compressed.Length < 64 * 1024);
        using var response = await PostAsync(compressed.ToArray(), encoding: "gzip");
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Contains("decompressed body exceeds", (await ReadStatusAsync(response)).Message);
        await AssertStillServesAsync("after.bomb");
    }

    [Fact]
    public async Task KindConflict_IsPartialSuccessWithReason()
    {
        using (var first = await PostAsync(OtlpRequests.DeltaCounter("ai.run.cost", 2).Bytes()))
        {
            Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        }

        var mixed = OtlpRequests.Merge(OtlpRequests.Gauge("ai.run.cost", 1.5), OtlpRequests.DeltaCounter("ai.run.cost", 3));
        using var response = await PostAsync(mixed.Bytes());
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = ExportMetricsServiceResponse.Parser.ParseFrom(await response.Content.ReadAsByteArrayAsync());
        Assert.Equal(1, body.PartialSuccess.RejectedDataPoints);
        Assert.Contains("\"ai.run.cost\" is a counter", body.PartialSuccess.ErrorMessage);
        Assert.Equal(5, await _api.ValueAsync("ai.run.cost", "increase"));
        Assert.Equal(1, _vigil.Store.Stats.RefusedByReason.Values.Sum());
    }

    [Fact]
    public async Task TracesAndLogs_Are404WithMessage()
    {
        using var response = await _http.PostAsync("/v1/traces", new ByteArrayContent([]));
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Contains("metrics only", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task ApiPaths_AreNotServedOnTheOtlpPort()
    {
        using var response = await _http.GetAsync("/api/v1/series");
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        using var health = await _api.GetAsync("/healthz");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
    }
}
