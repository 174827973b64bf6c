using Google.Protobuf;
using Grpc.Core;
using Vigil.Otlp.Proto.Collector;
using Vigil.Otlp.Proto.Rpc;
using GrpcStatus = Grpc.Core.Status;

namespace Vigil.Collector.Otlp;

/// <summary>
/// <c>opentelemetry.proto.collector.metrics.v1.MetricsService/Export</c>, bound by hand so the request
/// arrives as raw bytes for Vigil's own reader instead of a generated object graph.
/// Grpc.AspNetCore binds only virtual methods declared on the bound type, hence the virtual Export.
/// </summary>
[BindServiceMethod(typeof(OtlpGrpcMetricsService), nameof(BindService))]
public class OtlpGrpcMetricsService(OtlpReceiver receiver)
{
    private static readonly Method<RequestBody, ExportMetricsServiceResponse> ExportMethod = new(
        MethodType.Unary,
        "opentelemetry.proto.collector.metrics.v1.MetricsService",
        "Export",
        new Marshaller<RequestBody>(
            static (_, _) => throw new InvalidOperationException("Vigil does not send metrics requests"),
            static context => RequestBody.FromSequence(context.PayloadAsReadOnlySequence())),
        new Marshaller<ExportMetricsServiceResponse>(
            static (response, context) => context.Complete(response.ToByteArray()),
            static context => ExportMetricsServiceResponse.Parser.ParseFrom(context.PayloadAsReadOnlySequence())));

    public static void BindService(ServiceBinderBase binder, OtlpGrpcMetricsService? service) =>
        binder.AddMethod(ExportMethod, service is null ? null : service.Export);

    public virtual async Task<ExportMetricsServiceResponse> Export(RequestBody request, ServerCallContext context)
    {
        OtlpOutcome outcome;
        using (request)
        {
            var (binding, refusal) = receiver.Authenticate(context.GetHttpContext().Request.Headers, "grpc");
            outcome = refusal ?? await receiver.ExportAsync(request, json: false, "grpc", binding, context.CancellationToken);
        }

        return outcome.Kind switch
        {
            OtlpOutcomeKind.Success => outcome.ToResponse(),
            OtlpOutcomeKind.Unauthenticated => throw new RpcException(new GrpcStatus(StatusCode.Unauthenticated, outcome.Message!)),
            OtlpOutcomeKind.Overloaded => throw Retryable(StatusCode.ResourceExhausted, outcome),
            OtlpOutcomeKind.Unavailable => throw Retryable(StatusCode.Unavailable, outcome),
            _ => throw new RpcException(new GrpcStatus(StatusCode.InvalidArgument, outcome.Message!)),
        };
    }

    /// <summary>A refusal the exporter retries: the status plus RetryInfo in grpc-status-details-bin.</summary>
    private RpcException Retryable(StatusCode code, OtlpOutcome outcome)
    {
        var message = outcome.Message!;
        var retryInfo = new RetryInfo
        {
            RetryDelay = new Vigil.Otlp.Proto.Rpc.Duration { Seconds = (long)(outcome.RetryAfter ?? receiver.Gate.Options.RetryAfter).TotalSeconds },
        };
        var status = new Vigil.Otlp.Proto.Rpc.Status { Code = (int)code, Message = message };
        status.Details.Add(new AnyDetail { TypeUrl = "type.googleapis.com/google.rpc.RetryInfo", Value = retryInfo.ToByteString() });
        var trailers = new Metadata { { "grpc-status-details-bin", status.ToByteArray() } };
        return new RpcException(new GrpcStatus(code, message), trailers);
    }
}
