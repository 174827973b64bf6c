using System.Buffers;
using System.Buffers.Binary;

namespace Vigil.Storage.Checkpoint;

/// <summary>
/// The checkpoint file: a 24-byte header, then the payload.
/// <code>
/// header:  "VIGILCKP" | u32 version | u32 CRC-32C of the payload | i64 payload length
/// payload: u64 known-since (unix ns) | i64 first WAL segment not included | i64 resolution (ns) | u64 written at (unix ns)
///          i32 next metric id | i32 metrics, each: i32 id, str name, u8 kind, str unit, u8 monotonic, i64 overflow points
///          i32 series, each: i32 metric id, bytes key, u8 overflow, then the series state:
///            i32 newest bucket | 4 × (i64 start, i64 time) recent points | i32 next recent slot | i32[] bucket numbers
///            counter:   cumulative | f64 last value | per bucket: f64 sum, i32 points
///            gauge:     per bucket: f64 last, i64 last time, f64 min, f64 max, f64 sum, i32 count
///            histogram: cumulative | f64[] bounds | i64[] previous counts | i64 previous count | f64 previous sum
///                       | per bucket: u8 present, i64 count, f64 sum, f64 min, f64 max, u8 current layout, [f64[] bounds], i64[] counts
///            exponential: cumulative | previous point | per bucket: u8 present, [exponential bucket]
///              (exponential bucket: i32 scale, i64 count, f64 sum, f64 min, f64 max, i64 zero count, positive, negative;
///               a side: i32 offset, i64[] counts)
///            summary:   cumulative | i64 previous count | f64 previous sum | per bucket: u8 present, i64 count, f64 sum,
///                       i64 last time, f64[] quantiles, f64[] values
///          (cumulative: u64 start, u64 time, u8 has-last; str: i32 length + UTF-8; bytes/arrays: i32 length + items)
/// </code>
/// Little-endian throughout. A reader refuses another version rather than guessing.
/// </summary>
public static class CheckpointFormat
{
    public const int Version = 1;
    public const int HeaderBytes = 24;

    private static ReadOnlySpan<byte> Magic => "VIGILCKP"u8;

    /// <summary>The header of a payload of <paramref name="length"/> bytes whose CRC-32C (finished) is <paramref name="crc"/>.</summary>
    internal static void WriteHeader(Span<byte> header, uint crc, long length)
    {
        Magic.CopyTo(header);
        BinaryPrimitives.WriteUInt32LittleEndian(header[8..], Version);
        BinaryPrimitives.WriteUInt32LittleEndian(header[12..], crc);
        BinaryPrimitives.WriteInt64LittleEndian(header[16..], length);
    }

    /// <summary>
    /// Checks a checkpoint's header and, streaming the payload through in 64 KiB chunks, its length and
    /// checksum; leaves <paramref name="stream"/> at the end and returns the payload's length. Memory stays
    /// one chunk whatever the file's size: a second pass (<see cref="CheckpointReader"/>) parses it.
    /// </summary>
    internal static long Verify(Stream stream)
    {
        var header = new byte[HeaderBytes];
        var read = stream.ReadAtLeast(header, HeaderBytes, throwOnEndOfStream: false);
        if (read < HeaderBytes)
        {
            throw new CheckpointCorruptException($"corrupt checkpoint: the file ends after {read} bytes, inside the header");
        }

        if (!header.AsSpan(0, 8).SequenceEqual(Magic))
        {
            throw new CheckpointCorruptException("corrupt checkpoint: not a Vigil checkpoint (wrong magic)");
        }

        var version = BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(8));
        if (version != Version)
        {
            throw new CheckpointMismatchException($"checkpoint format version {version}; this Vigil reads version {Version}");
        }

        var crc = BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(12));
        var length = BinaryPrimitives.ReadInt64LittleEndian(header.AsSpan(16));
        if (length < 0 || length > stream.Length - stream.Position)
        {
            throw new CheckpointCorruptException($"corrupt checkpoint: the header promises {length} payload bytes, the file is shorter (truncated)");
        }

        var chunk = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            var running = Crc32C.Seed;
            for (var left = length; left > 0;)
            {
                read = stream.Read(chunk, 0, (int)Math.Min(chunk.Length, left));
                if (read == 0)
                {
                    throw new CheckpointCorruptException($"corrupt checkpoint: {length - left} of {length} payload bytes (truncated)");
                }

                running = Crc32C.Append(running, chunk.AsSpan(0, read));
                left -= read;
            }

            if (stream.Position != stream.Length)
            {
                throw new CheckpointCorruptException($"corrupt checkpoint: {stream.Length - stream.Position} bytes after the payload");
            }

            if (Crc32C.Finish(running) != crc)
            {
                throw new CheckpointCorruptException("corrupt checkpoint: checksum mismatch");
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }

        return length;
    }
}

/// <summary>What a checkpoint holds. <see cref="WalSegment"/>: the first WAL segment whose records are not in it.</summary>
public sealed record CheckpointInfo(long WalSegment, ulong KnownSinceUnixNano, int Metrics, int Series, long Bytes);
