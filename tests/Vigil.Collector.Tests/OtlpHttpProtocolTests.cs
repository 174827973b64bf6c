using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using Grpc.Core;
using Grpc.Net.Client;

namespace Vigil.Collector.Tests;

/// <summary>
/// OTLP/HTTP on one cleartext port over HTTP/1.1 and over HTTP/2 with prior knowledge (h2c), as the
/// OpenTelemetry Collector serves it; the first bytes of a connection choose the protocol.
/// </summary>
public sealed class OtlpHttpProtocolTests : IAsyncLifetime
{
    private VigilServer _vigil = null!;
    private VigilApi _api = null!;

    public async Task InitializeAsync()
    {
        _vigil = await VigilServer.StartAsync();
        _api = new VigilApi(_vigil.HttpUri);
    }

    public async Task DisposeAsync()
    {
        _api.Dispose();
        await _vigil.DisposeAsync();
    }

    private async Task<HttpResponseMessage> PostAsync(Version version, string metric, long value)
    {
        using var http = new HttpClient
        {
            BaseAddress = _vigil.OtlpHttpUri,
            DefaultRequestVersion = version,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        var content = new ByteArrayContent(OtlpRequests.DeltaCounter(metric, value).Bytes());
        content.Headers.ContentType = new MediaTypeHeaderValue("application/x-protobuf");
        return await http.PostAsync("/v1/metrics", content);
    }

    [Fact]
    public async Task Http2PriorKnowledge_IsAnsweredOverHttp2_AndStored()
    {
        using var response = await PostAsync(HttpVersion.Version20, "h2c.requests", 5);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(HttpVersion.Version20, response.Version);
        Assert.Equal(5, await _api.ValueAsync("h2c.requests", "increase"));
    }

    [Fact]
    public async Task Http11_OnTheSamePort_IsAnsweredOverHttp11_AndStored()
    {
        using var response = await PostAsync(HttpVersion.Version11, "http1.requests", 3);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(HttpVersion.Version11, response.Version);
        Assert.Equal(3, await _api.ValueAsync("http1.requests", "increase"));
    }

    [Fact]
    public async Task BothProtocols_OnOnePort_AddUp()
    {
        using (var first = await PostAsync(HttpVersion.Version20, "mixed.requests", 2))
        {
            Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        }

        using (var second = await PostAsync(HttpVersion.Version11, "mixed.requests", 4))
        {
            Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        }

        Assert.Equal(6, await _api.ValueAsync("mixed.requests", "increase"));
    }

    /// <summary>Shorter than the 24-byte HTTP/2 preface: answered at the first byte that differs, not after more bytes or a timeout.</summary>
    [Fact]
    public async Task Http10Request_ShorterThanThePreface_IsAnswered()
    {
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, _vigil.OtlpHttp.Port);
        var stream = client.GetStream();
        await stream.WriteAsync("GET /v1/metrics HTTP/1.0\r\n\r\n"u8.ToArray());
        using var reader = new StreamReader(stream, Encoding.ASCII);
        var statusLine = await reader.ReadLineAsync();
        Assert.Equal("HTTP/1.1 405 Method Not Allowed", statusLine);
    }

    [Fact]
    public async Task GrpcOverH2c_OnTheOtlpHttpPort_IsNotServed()
    {
        using var channel = GrpcChannel.ForAddress(_vigil.OtlpHttpUri);
        var method = new Method<byte[], byte[]>(
            MethodType.Unary, "opentelemetry.proto.collector.metrics.v1.MetricsService", "Export", Marshallers.Create(static b => b, static b => b), Marshallers.Create(static b => b, static b => b));
        var error = await Assert.ThrowsAsync<RpcException>(async () =>
            await channel.CreateCallInvoker().AsyncUnaryCall(method, null, default, OtlpRequests.DeltaCounter("grpc.on.http", 1).Bytes()));

        // Routed by port: the gRPC service lives on the otlp-grpc listener only (HTTP 404, which gRPC reads as UNIMPLEMENTED).
        Assert.Equal(StatusCode.Unimplemented, error.StatusCode);
        Assert.Equal(0, _vigil.Store.SeriesCount);
    }
}
