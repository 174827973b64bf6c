using System.Net;
using System.Net.Http.Headers;
using Grpc.Core;
using Grpc.Net.Client;
using Vigil.Otlp.Proto.Collector;

namespace Vigil.LoadTool;

/// <summary>What one export came back with: points the collector refused, or the error status.</summary>
internal readonly record struct SendResult(bool Ok, long Rejected, string? Status);

internal interface ISender : IDisposable
{
    Task<SendResult> SendAsync(byte[] request, CancellationToken cancellationToken);
}

/// <summary>
/// OTLP/gRPC Export with the request as raw bytes: a hand-made method with a pass-through
/// marshaller, so no service code generation and no re-encoding per call.
/// </summary>
internal sealed class GrpcSender : ISender
{
    private static readonly Marshaller<byte[]> Bytes = Marshallers.Create(static b => b, static b => b);

    private static readonly Method<byte[], byte[]> Export = new(
        MethodType.Unary, "opentelemetry.proto.collector.metrics.v1.MetricsService", "Export", Bytes, Bytes);

    private readonly GrpcChannel _channel;
    private readonly CallInvoker _invoker;

    public GrpcSender(IPEndPoint endpoint)
    {
        _channel = GrpcChannel.ForAddress($"http://{Authority(endpoint)}", new GrpcChannelOptions
        {
            HttpHandler = new SocketsHttpHandler { EnableMultipleHttp2Connections = true },
            MaxSendMessageSize = 64 * 1024 * 1024,
        });
        _invoker = _channel.CreateCallInvoker();
    }

    public async Task<SendResult> SendAsync(byte[] request, CancellationToken cancellationToken)
    {
        try
        {
            var call = _invoker.AsyncUnaryCall(Export, null, new CallOptions(deadline: DateTime.UtcNow.AddSeconds(30), cancellationToken: cancellationToken), request);
            var response = ExportMetricsServiceResponse.Parser.ParseFrom(await call.ResponseAsync);
            return new SendResult(true, response.PartialSuccess?.RejectedDataPoints ?? 0, null);
        }
        catch (RpcException e) when (!cancellationToken.IsCancellationRequested)
        {
            return new SendResult(false, 0, $"grpc {e.StatusCode}");
        }
    }

    public void Dispose() => _channel.Dispose();

    internal static string Authority(IPEndPoint endpoint) => endpoint.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{endpoint.Address}]:{endpoint.Port}" : endpoint.ToString();
}

/// <summary>
/// OTLP/HTTP: POST /v1/metrics with application/x-protobuf, one keep-alive connection per worker; or, with
/// <c>http2</c>, over cleartext HTTP/2 with prior knowledge (requests multiplexed on one connection, as gRPC's).
/// </summary>
internal sealed class HttpSender : ISender
{
    private static readonly MediaTypeHeaderValue Protobuf = new("application/x-protobuf");
    private readonly HttpClient _client;
    private readonly Uri _uri;

    public HttpSender(IPEndPoint endpoint, bool http2 = false)
    {
        _client = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = Timeout.InfiniteTimeSpan }) { Timeout = TimeSpan.FromSeconds(30) };
        if (http2)
        {
            _client.DefaultRequestVersion = HttpVersion.Version20;
            _client.DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact;
        }

        _uri = new Uri($"http://{GrpcSender.Authority(endpoint)}/v1/metrics");
    }

    public async Task<SendResult> SendAsync(byte[] request, CancellationToken cancellationToken)
    {
        using var content = new ByteArrayContent(request);
        content.Headers.ContentType = Protobuf;
        try
        {
            using var response = await _client.PostAsync(_uri, content, cancellationToken);
            var body = await response.Content.ReadAsByteArrayAsync(cancellationToken);
            if (response.StatusCode != HttpStatusCode.OK)
            {
                return new SendResult(false, 0, $"http {(int)response.StatusCode}");
            }

            var parsed = ExportMetricsServiceResponse.Parser.ParseFrom(body);
            return new SendResult(true, parsed.PartialSuccess?.RejectedDataPoints ?? 0, null);
        }
        catch (HttpRequestException e) when (!cancellationToken.IsCancellationRequested)
        {
            return new SendResult(false, 0, $"http transport error ({e.HttpRequestError})");
        }
    }

    public void Dispose() => _client.Dispose();
}
