using System.Net.Http.Headers;
using Grpc.Core;
using Grpc.Net.Client;
using Vigil.Alerting.Implementation;

namespace Vigil.Alerting.Receivers;

/// <summary>
/// OTLP logs: one log record per event to any OTLP receiver, over gRPC (<c>LogsService/Export</c>) or HTTP/protobuf
/// (<c>POST {endpoint}/v1/logs</c>). The request is encoded by hand (see docs/alerting.md for why not the SDK's
/// logging pipeline): the outbox needs the export's real outcome, and the record's time must be the alert's.
/// </summary>
public sealed class OtlpLogsReceiver : IAlertReceiver, IDisposable
{
    private static readonly Method<byte[], byte[]> ExportMethod = new(MethodType.Unary, "opentelemetry.proto.collector.logs.v1.LogsService", "Export",
        Marshallers.Create(static (byte[] b) => b, static b => b), Marshallers.Create(static (byte[] b) => b, static b => b));

    private readonly OtlpLogsOptions _options;
    private readonly HttpClient _http;
    private readonly TimeProvider _time;
    private readonly GrpcChannel? _channel;
    private readonly Uri _httpUrl;

    /// <param name="http">Used for http/protobuf; gRPC uses its own HTTP/2 channel.</param>
    public OtlpLogsReceiver(OtlpLogsOptions options, HttpClient http, TimeProvider timeProvider)
    {
        _options = options;
        _http = http;
        _time = timeProvider;
        var endpoint = options.Endpoint.TrimEnd('/');
        _httpUrl = new Uri(endpoint.EndsWith("/v1/logs", StringComparison.Ordinal) ? endpoint : endpoint + "/v1/logs");
        if (options.Protocol == "grpc")
        {
            _channel = GrpcChannel.ForAddress(endpoint);
        }
    }

    public string Name => _options.ReceiverName;

    public async Task DeliverAsync(IReadOnlyList<AlertEvent> events, CancellationToken cancellationToken)
    {
        if (events.Count == 0)
        {
            return;
        }

        var body = OtlpLogsEncoder.Encode(events, _time.GetUtcNow());
        if (_channel is null)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, _httpUrl) { Content = new ByteArrayContent(body) };
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/x-protobuf");
            foreach (var (k, v) in _options.Headers)
            {
                request.Headers.TryAddWithoutValidation(k, v);
            }

            await HttpDelivery.SendAsync(_http, request, _options.Timeout, Name, cancellationToken);
            return;
        }

        var headers = new Metadata();
        foreach (var (k, v) in _options.Headers)
        {
            headers.Add(k.ToLowerInvariant(), v);
        }

        try
        {
            await _channel.CreateCallInvoker().AsyncUnaryCall(ExportMethod, null,
                new CallOptions(headers, DateTime.UtcNow + _options.Timeout, cancellationToken), body);
        }
        catch (RpcException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw new AlertDeliveryException($"{Name}: OTLP/gRPC logs export failed: {ex.StatusCode} {ex.Status.Detail}", ex);
        }
    }

    public void Dispose() => _channel?.Dispose();
}
