using System.Buffers;
using Vigil.Collector.Configuration;

namespace Vigil.Collector.Otlp;

/// <summary>A request body read into a pooled buffer; return it with Dispose.</summary>
public sealed class RequestBody : IDisposable
{
    private byte[]? _buffer;

    private RequestBody(byte[] buffer, int length)
    {
        _buffer = buffer;
        Length = length;
    }

    public int Length { get; }

    public ReadOnlySpan<byte> Span => _buffer.AsSpan(0, Length);

    public ReadOnlyMemory<byte> Memory => _buffer.AsMemory(0, Length);

    public void Dispose()
    {
        if (_buffer is not null)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = null;
        }
    }

    // Chunks double from 64 KiB to 1 MiB, so a 20 MiB body is about twenty pooled arrays: few enough
    // that the pool's buckets (a fixed number of arrays each) keep them for the next request instead of
    // leaving garbage, and small enough that no body-sized array stays cached per thread, as a single
    // doubling buffer did (RSS under a run of bombs is measured in docs/ingest.md).
    private const int FirstChunk = 64 * 1024;
    private const int LargestChunk = 1024 * 1024;

    /// <summary>
    /// Reads an HTTP body of at most <c>ingest.max_request_size</c> bytes, compressed and decompressed,
    /// gunzipping it when asked, or throws <see cref="BodyRefusedException"/>. The body is gathered in
    /// pooled chunks as bytes actually arrive (never sized from Content-Length or a gzip trailer), so a
    /// refused body costs at most the limit, in chunks the next request reuses; an accepted body of more
    /// than one chunk is copied once into a pooled buffer of its size.
    /// </summary>
    public static async Task<RequestBody> ReadAsync(Stream body, bool gzip, long? contentLength, IngestOptions limits, CancellationToken cancellationToken)
    {
        var limit = limits.MaxRequestBytes;
        if (contentLength > limit)
        {
            throw BodyRefusedException.OverLimit(
                gzip ? BodyRefusalReasons.CompressedTooLarge : BodyRefusalReasons.TooLarge,
                gzip ? $"compressed body of {contentLength} bytes" : $"body of {contentLength} bytes",
                limit);
        }

        await using var gunzip = gzip ? new BoundedGzipStream(body, limit, limits.MaxDecompressionRatio, GzipPayload.HttpBody) : null;
        var source = (Stream?)gunzip ?? body;
        byte[]? chunk = ArrayPool<byte>.Shared.Rent((int)Math.Clamp(gzip ? FirstChunk : contentLength ?? FirstChunk, 4096, FirstChunk));
        List<byte[]>? full = null;
        var filled = 0;
        var total = 0L;
        try
        {
            while (true)
            {
                if (filled == chunk.Length)
                {
                    (full ??= []).Add(chunk);
                    chunk = null;
                    chunk = ArrayPool<byte>.Shared.Rent(Math.Min(full[^1].Length * 2, LargestChunk));
                    filled = 0;
                }

                var read = await source.ReadAsync(chunk.AsMemory(filled), cancellationToken);
                if (read == 0)
                {
                    break;
                }

                filled += read;
                total += read;
                if (total > limit)
                {
                    // Only a plain body gets here: the gzip stream refuses past the limit itself.
                    throw BodyRefusedException.OverLimit(BodyRefusalReasons.TooLarge, "body", limit);
                }
            }

            if (full is null)
            {
                var whole = new RequestBody(chunk, filled);
                chunk = null;
                return whole;
            }

            var buffer = ArrayPool<byte>.Shared.Rent((int)total);
            var offset = 0;
            foreach (var piece in full)
            {
                piece.CopyTo(buffer, offset);
                offset += piece.Length;
            }

            chunk.AsSpan(0, filled).CopyTo(buffer.AsSpan(offset));
            return new RequestBody(buffer, (int)total);
        }
        finally
        {
            if (chunk is not null)
            {
                ArrayPool<byte>.Shared.Return(chunk);
            }

            if (full is not null)
            {
                foreach (var piece in full)
                {
                    ArrayPool<byte>.Shared.Return(piece);
                }
            }
        }
    }

    /// <summary>Copies a gRPC payload (size-checked and decompressed before, see GrpcIngestGuards) into a pooled buffer.</summary>
    public static RequestBody FromSequence(ReadOnlySequence<byte> payload)
    {
        var buffer = ArrayPool<byte>.Shared.Rent((int)Math.Max(payload.Length, 1));
        payload.CopyTo(buffer);
        return new RequestBody(buffer, (int)payload.Length);
    }
}
