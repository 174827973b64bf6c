using System.Buffers;
using System.IO.Compression;

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

    /// <summary>Raised when a body (compressed or not) goes past the limit.</summary>
    public sealed class TooLargeException(string message) : Exception(message);

    /// <summary>Reads a stream up to <paramref name="limit"/> bytes, gunzipping when asked.</summary>
    public static async Task<RequestBody> ReadAsync(Stream body, bool gzip, long limit, int lengthHint, CancellationToken cancellationToken)
    {
        Stream source = body;
        GZipStream? unzip = null;
        if (gzip)
        {
            unzip = new GZipStream(body, CompressionMode.Decompress, leaveOpen: true);
            source = unzip;
        }

        var buffer = ArrayPool<byte>.Shared.Rent(Math.Clamp(gzip ? lengthHint * 4 : lengthHint, 4096, (int)Math.Min(limit + 1, 16 * 1024 * 1024)));
        var length = 0;
        try
        {
            while (true)
            {
                if (length == buffer.Length)
                {
                    if (length > limit)
                    {
                        break;
                    }

                    var larger = ArrayPool<byte>.Shared.Rent((int)Math.Min((long)buffer.Length * 2, limit + 1));
                    buffer.AsSpan(0, length).CopyTo(larger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = larger;
                }

                var read = await source.ReadAsync(buffer.AsMemory(length), cancellationToken);
                if (read == 0)
                {
                    break;
                }

                length += read;
                if (length > limit)
                {
                    break;
                }
            }

            if (length > limit)
            {
                throw new TooLargeException(gzip
                    ? $"decompressed body exceeds the {limit} byte limit; send smaller batches (exporter batch size)"
                    : $"body exceeds the {limit} byte limit; send smaller batches (exporter batch size)");
            }

            return new RequestBody(buffer, length);
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(buffer);
            throw;
        }
        finally
        {
            if (unzip is not null)
            {
                await unzip.DisposeAsync();
            }
        }
    }

    /// <summary>Copies a gRPC payload (already size-checked and decompressed by Grpc.AspNetCore) into a pooled buffer.</summary>
    public static RequestBody FromSequence(ReadOnlySequence<byte> payload)
    {
        var buffer = ArrayPool<byte>.Shared.Rent((int)Math.Max(payload.Length, 1));
        payload.CopyTo(buffer);
        return new RequestBody(buffer, (int)payload.Length);
    }
}
