using System.Collections.Concurrent;
using Grpc.Core;

namespace Vigil.Collector.Otlp;

/// <summary>
/// Why an OTLP request body was refused before decoding. The values are the <c>reason</c> label of
/// the self-metric <c>vigil.ingest.requests.refused</c>; docs/ingest.md lists each with its answer.
/// </summary>
public static class BodyRefusalReasons
{
    /// <summary>A plain or decompressed body (or a gRPC frame) past <c>ingest.max_request_size</c>.</summary>
    public const string TooLarge = "body_too_large";

    /// <summary>The gzip bytes themselves past <c>ingest.max_request_size</c>.</summary>
    public const string CompressedTooLarge = "compressed_body_too_large";

    /// <summary>Inflating past <c>ingest.max_decompression_ratio</c> times the compressed bytes.</summary>
    public const string DecompressionRatio = "decompression_ratio";

    public const string InvalidGzip = "invalid_gzip";

    public const string TruncatedGzip = "truncated_gzip";

    /// <summary>A gRPC message prefix whose compressed flag is neither 0 nor 1.</summary>
    public const string InvalidGrpcFrame = "invalid_grpc_frame";
}

/// <summary>
/// A body refused before decoding, with the message the sender reads. Status mapping lives here, once:
/// a size refusal is 413 / RESOURCE_EXHAUSTED (no RetryInfo, so OTLP exporters do not retry it); a
/// broken gzip stream is 400 / INTERNAL, as gRPC's status-code table has it for "could not decompress",
/// and so is a broken gRPC frame (a protocol error).
/// </summary>
public sealed class BodyRefusedException(string reason, string message) : Exception(message)
{
    public string Reason { get; } = reason;

    private bool IsSize => Reason is BodyRefusalReasons.TooLarge or BodyRefusalReasons.CompressedTooLarge or BodyRefusalReasons.DecompressionRatio;

    public int HttpStatus => IsSize ? StatusCodes.Status413PayloadTooLarge : StatusCodes.Status400BadRequest;

    /// <summary>The <c>google.rpc.Status</c> code in an OTLP/HTTP error body.</summary>
    public int HttpBodyCode => (int)(IsSize ? StatusCode.ResourceExhausted : StatusCode.InvalidArgument);

    public StatusCode GrpcStatus => IsSize ? StatusCode.ResourceExhausted : StatusCode.Internal;

    /// <summary>A size refusal (<see cref="BodyRefusalReasons.TooLarge"/> or <see cref="BodyRefusalReasons.CompressedTooLarge"/>) for <paramref name="what"/>, e.g. "decompressed body".</summary>
    public static BodyRefusedException OverLimit(string reason, string what, long limit) =>
        new(reason, $"{what} exceeds the {limit} byte limit (ingest.max_request_size); send smaller batches (exporter batch size)");
}

/// <summary>Counts of refused bodies by (transport, reason), observed by <see cref="VigilMetrics"/>.</summary>
public sealed class BodyRefusals
{
    private readonly ConcurrentDictionary<(string Transport, string Reason), long> _counts = new();

    public void Add(string transport, string reason) => _counts.AddOrUpdate((transport, reason), 1, static (_, count) => count + 1);

    public IEnumerable<KeyValuePair<(string Transport, string Reason), long>> Counts => _counts;
}
