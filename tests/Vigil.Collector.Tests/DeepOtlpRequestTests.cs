using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Google.Protobuf;
using Vigil.Otlp.Proto.Rpc;
using Vigil.Tests.Shared;

namespace Vigil.Collector.Tests;

/// <summary>OTLP/HTTP requests whose attribute values nest 100,000 levels deep: a 400 with the limit, and the server keeps ingesting.</summary>
public sealed class DeepOtlpRequestTests : IAsyncLifetime
{
    private const int Depth = 100_000;

    private VigilServer _vigil = null!;
    private HttpClient _http = null!;
    private VigilApi _api = null!;

    public async Task InitializeAsync()
    {
        _vigil = await VigilServer.StartAsync();
        _http = new HttpClient { BaseAddress = _vigil.OtlpHttpUri };
        _api = new VigilApi(_vigil.HttpUri);
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        _api.Dispose();
        await _vigil.DisposeAsync();
    }

    [Fact]
    public async Task DeepJsonAttribute_Is400_AndTheNextRequestIsStored()
    {
        var json = DeepAnyValue.JsonRequest(DeepAnyValue.Json(Depth, DeepAnyValue.Shape.Alternating));

        using var response = await PostAsync(Encoding.UTF8.GetBytes(json), "application/json");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        using var status = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(3, status.RootElement.GetProperty("code").GetInt32());
        Assert.Contains("nested deeper than", status.RootElement.GetProperty("message").GetString(), StringComparison.Ordinal);
        await AssertStillIngestsAsync("after.json");
    }

    [Fact]
    public async Task DeepProtobufAttribute_Is400_AndTheNextRequestIsStored()
    {
        var request = OtlpRequests.Gauge("deep.gauge", 1);
        var point = request.ResourceMetrics[0].ScopeMetrics[0].Metrics[0].Gauge.DataPoints[0];
        // NumberDataPoint.attributes = 7: appending a KeyValue to the encoded point adds one attribute.
        var attribute = Concat([0x0A, 4, .. "deep"u8], Header(2, DeepAnyValue.Protobuf(Depth, DeepAnyValue.Shape.Alternating)));
        var pointBytes = Concat(point.ToByteArray(), Header(7, attribute));
        var body = Wrap(pointBytes);

        using var response = await PostAsync(body, "application/x-protobuf");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var status = Status.Parser.ParseFrom(await response.Content.ReadAsByteArrayAsync());
        Assert.Contains("attribute value nested deeper than 32 levels", status.Message, StringComparison.Ordinal);
        await AssertStillIngestsAsync("after.protobuf");
    }

    private async Task AssertStillIngestsAsync(string metric)
    {
        using var response = await PostAsync(OtlpRequests.DeltaCounter(metric, 3).ToByteArray(), "application/x-protobuf");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(3, await _api.ValueAsync(metric, "increase"));
    }

    private Task<HttpResponseMessage> PostAsync(byte[] body, string contentType)
    {
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        return _http.PostAsync("/v1/metrics", content);
    }

    // request.resource_metrics(1) → scope_metrics(2) → metrics(2) → {name(1), gauge(5) → data_points(1)}
    private static byte[] Wrap(byte[] point)
    {
        var metric = Concat([0x0A, 10, .. "deep.gauge"u8], Header(5, Header(1, point)));
        return Header(1, Header(2, Header(2, metric)));
    }

    private static byte[] Header(int field, byte[] payload)
    {
        using var buffer = new MemoryStream();
        var output = new CodedOutputStream(buffer);
        output.WriteTag(field, WireFormat.WireType.LengthDelimited);
        output.WriteLength(payload.Length);
        output.Flush();
        buffer.Write(payload);
        return buffer.ToArray();
    }

    private static byte[] Concat(byte[] a, byte[] b) => [.. a, .. b];
}
