using System.Net;
using Grpc.Core;
using Grpc.Net.Client;
using Vigil.Otlp.Proto.Collector;
using Vigil.Otlp.Proto.Rpc;

namespace Vigil.Collector.Tests;

/// <summary>OTLP/gRPC status semantics, through Grpc.Net.Client with raw bytes so bad requests can be sent.</summary>
public sealed class OtlpGrpcTests
{
    private static readonly Marshaller<byte[]> Raw = Marshallers.Create(static b => b, static b => b);

    private static Method<byte[], byte[]> Export(string service = "opentelemetry.proto.collector.metrics.v1.MetricsService") =>
        new(MethodType.Unary, service, "Export", Raw, Raw);

    private static async Task<ExportMetricsServiceResponse> CallAsync(GrpcChannel channel, byte[] request, Metadata? headers = null, string? service = null)
    {
        var invoker = channel.CreateCallInvoker();
        var response = await invoker.AsyncUnaryCall(Export(service ?? "opentelemetry.proto.collector.metrics.v1.MetricsService"), null, new CallOptions(headers), request);
        return ExportMetricsServiceResponse.Parser.ParseFrom(response);
    }

    [Fact]
    public async Task GzipRequest_IsAccepted()
    {
        await using var vigil = await VigilServer.StartAsync();
        using var channel = GrpcChannel.ForAddress(vigil.GrpcUri);
        using var api = new VigilApi(vigil.HttpUri);
        var response = await CallAsync(channel, OtlpRequests.DeltaCounter("auth.requests", 11).Bytes(), new Metadata { { "grpc-internal-encoding-request", "gzip" } });
        Assert.Null(response.PartialSuccess);
        Assert.Equal(11, await api.ValueAsync("auth.requests", "increase"));
    }

    [Fact]
    public async Task MalformedRequest_IsInvalidArgumentWithMessage_AndServerKeepsServing()
    {
        await using var vigil = await VigilServer.StartAsync();
        using var channel = GrpcChannel.ForAddress(vigil.GrpcUri);
        var error = await Assert.ThrowsAsync<RpcException>(() => CallAsync(channel, [0x0A, 0xFF, 0xFF, 0x01, 0x02]));
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains("runs past the end of the message", error.Status.Detail);

        var ok = await CallAsync(channel, OtlpRequests.DeltaCounter("after.invalid", 1).Bytes());
        Assert.Null(ok.PartialSuccess);
    }

    [Fact]
    public async Task OversizeRequest_IsResourceExhausted()
    {
        await using var vigil = await VigilServer.StartAsync(o => o with { Ingest = o.Ingest with { MaxRequestBytes = 16 * 1024 } });
        using var channel = GrpcChannel.ForAddress(vigil.GrpcUri);
        var big = OtlpRequests.DeltaCounter("too.big", 1, points: 1000).Bytes();
        var error = await Assert.ThrowsAsync<RpcException>(() => CallAsync(channel, big));
        Assert.Equal(StatusCode.ResourceExhausted, error.StatusCode);
        Assert.Empty(vigil.Store.ListSeries("too.big"));
    }

    [Fact]
    public async Task TraceService_IsUnimplemented()
    {
        await using var vigil = await VigilServer.StartAsync();
        using var channel = GrpcChannel.ForAddress(vigil.GrpcUri);
        var error = await Assert.ThrowsAsync<RpcException>(() => CallAsync(channel, [], service: "opentelemetry.proto.collector.trace.v1.TraceService"));
        Assert.Equal(StatusCode.Unimplemented, error.StatusCode);
    }

    [Fact]
    public async Task OverMemoryLimit_IsRetryable_WithRetryInfoAndRetryAfter()
    {
        // A 1-byte limit: every request finds the heap above it.
        await using var vigil = await VigilServer.StartAsync(o => o with { Ingest = o.Ingest with { MemoryLimitBytes = 1, RetryAfter = TimeSpan.FromSeconds(7) } });
        using var channel = GrpcChannel.ForAddress(vigil.GrpcUri);
        var error = await Assert.ThrowsAsync<RpcException>(() => CallAsync(channel, OtlpRequests.DeltaCounter("refused", 1).Bytes()));
        Assert.Equal(StatusCode.Unavailable, error.StatusCode);
        var details = error.Trailers.GetValueBytes("grpc-status-details-bin");
        Assert.NotNull(details);
        var status = Vigil.Otlp.Proto.Rpc.Status.Parser.ParseFrom(details);
        var retry = RetryInfo.Parser.ParseFrom(Assert.Single(status.Details, d => d.TypeUrl == "type.googleapis.com/google.rpc.RetryInfo").Value);
        Assert.Equal(7, retry.RetryDelay.Seconds);

        using var http = new HttpClient { BaseAddress = vigil.OtlpHttpUri };
        using var content = new ByteArrayContent(OtlpRequests.DeltaCounter("refused", 1).Bytes());
        content.Headers.ContentType = new("application/x-protobuf");
        using var response = await http.PostAsync("/v1/metrics", content);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(7), response.Headers.RetryAfter?.Delta);
        Assert.Empty(vigil.Store.ListSeries("refused"));
    }
}
