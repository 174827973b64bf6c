using System.Diagnostics;
using Vigil.Otlp.Json;
using Vigil.Otlp.Proto.Collector;
using Vigil.Otlp.Wire;
using Vigil.Storage;

namespace Vigil.Collector.Otlp;

public enum OtlpOutcomeKind
{
    Success,
    InvalidArgument,
    /// <summary>Throttled: RESOURCE_EXHAUSTED with RetryInfo / HTTP 429 with Retry-After.</summary>
    Overloaded,

    /// <summary>Over the memory limit: UNAVAILABLE with RetryInfo / HTTP 503 with Retry-After.</summary>
    Unavailable,
}

/// <summary>What happened to one export, before it is put into a transport's terms.</summary>
public readonly record struct OtlpOutcome(OtlpOutcomeKind Kind, IngestResult Result, string? Message)
{
    public ExportMetricsServiceResponse ToResponse()
    {
        var response = new ExportMetricsServiceResponse();
        // Full success leaves partial_success unset, as the OTLP spec asks.
        if (Result.Rejected > 0 || Result.ErrorMessage is not null)
        {
            response.PartialSuccess = new ExportMetricsPartialSuccess
            {
                RejectedDataPoints = Result.Rejected,
                ErrorMessage = Result.ErrorMessage ?? string.Empty,
            };
        }

        return response;
    }
}

/// <summary>
/// The one ingest path behind OTLP/gRPC and OTLP/HTTP: admission, decoding, storing, and the
/// self-metrics of each request. The transports only translate bytes and statuses.
/// </summary>
public sealed class OtlpReceiver(OtlpIngest ingest, IngestGate gate, VigilMetrics metrics)
{
    public IngestGate Gate { get; } = gate;

    public OtlpOutcome ExportProtobuf(ReadOnlySpan<byte> body, string transport) => Export(body, json: false, transport);

    public OtlpOutcome ExportJson(ReadOnlySpan<byte> body, string transport) => Export(body, json: true, transport);

    private OtlpOutcome Export(ReadOnlySpan<byte> body, bool json, string transport)
    {
        var started = Stopwatch.GetTimestamp();
        var refusal = Gate.TryEnter(body.Length);
        if (refusal is { } refused)
        {
            metrics.RecordRequest(transport, refused.Memory ? "unavailable" : "throttled", started);
            return new OtlpOutcome(refused.Memory ? OtlpOutcomeKind.Unavailable : OtlpOutcomeKind.Overloaded, default, refused.Message);
        }

        try
        {
            var result = ingest.Ingest(json ? OtlpJsonTranscoder.ToProtobuf(body) : body);
            metrics.RecordRequest(transport, result.Rejected > 0 ? "partial" : "success", started);
            return new OtlpOutcome(OtlpOutcomeKind.Success, result, null);
        }
        catch (OtlpFormatException e)
        {
            metrics.RecordRequest(transport, "invalid", started);
            return new OtlpOutcome(OtlpOutcomeKind.InvalidArgument, default, $"malformed OTLP metrics request: {e.Message}");
        }
        finally
        {
            Gate.Exit(body.Length);
        }
    }
}
