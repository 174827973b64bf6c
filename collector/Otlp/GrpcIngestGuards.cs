using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.IO.Compression;
using Grpc.Core;
using Grpc.Net.Compression;
using Vigil.Collector.Configuration;

namespace Vigil.Collector.Otlp;

/// <summary>
/// gRPC's gzip through <see cref="BoundedGzipStream"/>: a bomb stops at the decompression ratio or at
/// <c>ingest.max_request_size</c> with RESOURCE_EXHAUSTED naming the setting, and a message that does
/// not inflate gets INTERNAL with the reason (gRPC's status table: "could not decompress, but
/// compression algorithm supported"), where Grpc.AspNetCore's own provider answers UNKNOWN.
/// </summary>
internal sealed class BoundedGzipCompressionProvider(IngestOptions limits, BodyRefusals refusals) : ICompressionProvider
{
    public string EncodingName => "gzip";

    public Stream CreateCompressionStream(Stream stream, CompressionLevel? compressionLevel) =>
        new GZipStream(stream, compressionLevel ?? CompressionLevel.Fastest, leaveOpen: true);

    public Stream CreateDecompressionStream(Stream stream) =>
        new BoundedGzipStream(stream, limits.MaxRequestBytes, limits.MaxDecompressionRatio, GzipPayload.GrpcMessage, refusal =>
        {
            refusals.Add("grpc", refusal.Reason);
            return new RpcException(new Grpc.Core.Status(refusal.GrpcStatus, refusal.Message));
        });
}

/// <summary>
/// Reads the 5-byte prefix (compressed flag, big-endian u32 length) of a gRPC request's first message
/// before Grpc.AspNetCore does, and refuses a declared length past <c>ingest.max_request_size</c> with
/// RESOURCE_EXHAUSTED (gRPC's status for a message larger than the configured limit) and a flag other
/// than 0 or 1 with INTERNAL (a protocol error). Grpc.AspNetCore answers both with UNKNOWN: its frame
/// decoder throws an IOException past int.MaxValue and an InvalidDataException for the flag.
/// </summary>
internal static class GrpcFrameGuard
{
    private const int PrefixSize = 5;

    /// <summary>True when gRPC may go on reading; false when the refusal has been answered (trailers-only).</summary>
    public static async Task<bool> AdmitAsync(HttpContext context, long limit, BodyRefusals refusals)
    {
        if (!HttpMethods.IsPost(context.Request.Method)
            || context.Request.ContentType?.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase) != true)
        {
            return true;
        }

        var reader = context.Request.BodyReader;
        var read = await reader.ReadAtLeastAsync(PrefixSize, context.RequestAborted);
        var prefix = Prefix(read.Buffer);
        // Nothing consumed, nothing examined: gRPC's reader gets the same bytes at once.
        reader.AdvanceTo(read.Buffer.Start);
        if (prefix is not { } frame || (frame.Flag <= 1 && frame.Length <= limit))
        {
            return true;
        }

        var refusal = frame.Flag > 1
            ? new BodyRefusedException(BodyRefusalReasons.InvalidGrpcFrame, $"gRPC message prefix has compressed flag {frame.Flag}; it must be 0 (not compressed) or 1 (compressed as grpc-encoding says)")
            : BodyRefusedException.OverLimit(
                frame.Flag == 1 ? BodyRefusalReasons.CompressedTooLarge : BodyRefusalReasons.TooLarge,
                $"gRPC message of {frame.Length} bytes",
                limit);
        refusals.Add("grpc", refusal.Reason);
        context.Response.StatusCode = StatusCodes.Status200OK;
        context.Response.ContentType = "application/grpc";
        context.Response.Headers["grpc-status"] = ((int)refusal.GrpcStatus).ToString(CultureInfo.InvariantCulture);
        context.Response.Headers["grpc-message"] = Uri.EscapeDataString(refusal.Message);
        return false;
    }

    private static (byte Flag, uint Length)? Prefix(ReadOnlySequence<byte> buffer)
    {
        if (buffer.Length < PrefixSize)
        {
            return null;
        }

        Span<byte> prefix = stackalloc byte[PrefixSize];
        buffer.Slice(0, PrefixSize).CopyTo(prefix);
        return (prefix[0], BinaryPrimitives.ReadUInt32BigEndian(prefix[1..]));
    }
}
