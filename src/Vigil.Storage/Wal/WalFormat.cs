using System.Buffers.Binary;

namespace Vigil.Storage.Wal;

/// <summary>
/// The WAL's on-disk format, little-endian (decisions 005 and 030).
/// <para>Version 3 segment (written now): a 16-byte header <c>"VIGILWAL" [u32 version = 3] [u32 CRC-32C of the 12 bytes before]</c>,
/// then frames of a 24-byte header and a payload:
/// <c>[u32 frame magic] [u32 payload length] [i64 unix ms] [u32 CRC-32C of the payload] [u32 CRC-32C of the 20 header bytes before]</c>.
/// The header has its own checksum, so a damaged length is caught before it is believed, and the magic lets
/// replay find the next frame after damage by scanning for a header that validates. The magic says what the
/// payload is: <see cref="RecordMagic"/> one record as it was appended; <see cref="BlockMagic"/> a compressed
/// block of the records of one group commit, <c>[u8 codec] [u32 uncompressed length] [compressed bytes]</c>,
/// which decompress to <c>([varint record length] [record])*</c>. Codec 1 is Zstandard (one frame).</para>
/// <para>Version 2 segment (before decision 030; read, never written): the same, with record frames only. The
/// version is bumped only so that an older Vigil leaves a segment with blocks alone instead of skipping them as damage.</para>
/// <para>Version 1 segment (written before decision 005; read, never written): no segment header, records
/// <c>[u32 payload length] [u32 CRC-32C of time+payload] [i64 unix ms] [payload]</c>.</para>
/// </summary>
internal static class WalFormat
{
    public const int Version = 3;

    /// <summary>The oldest segment-header version this Vigil reads (version 1 has no header).</summary>
    public const int OldestHeaderVersion = 2;
    public const int SegmentHeaderBytes = 16;
    public const int RecordHeaderBytes = 24;
    public const int LengthOffset = 4;
    public const int LegacyHeaderBytes = 16;

    /// <summary>Rare in protobuf payloads (0xE2 0x57 0x4C 0x9A on disk); a false match still has to pass the header CRC.</summary>
    public const uint RecordMagic = 0x9A4C57E2;

    /// <summary>A compressed block (0xE3 0x57 0x4C 0x9A on disk): differs from <see cref="RecordMagic"/> in its first byte only.</summary>
    public const uint BlockMagic = 0x9A4C57E3;

    /// <summary>The bytes before a block's compressed data: codec, uncompressed length.</summary>
    public const int BlockPrefixBytes = 5;

    public const byte ZstdCodec = 1;

    /// <summary>What a block may decompress to, at most: a damaged or hostile length never allocates more.</summary>
    public const int MaxBlockBytes = 1 << 30;

    private const int TimeOffset = 8;
    private const int PayloadCrcOffset = 16;
    private const int HeaderCrcOffset = 20;

    public static ReadOnlySpan<byte> SegmentMagic => "VIGILWAL"u8;

    /// <summary>The three bytes both frame magics end with: replay scans for these, then checks the byte before.</summary>
    public static ReadOnlySpan<byte> MagicTail => [0x57, 0x4C, 0x9A];

    public static void WriteSegmentHeader(Span<byte> header)
    {
        SegmentMagic.CopyTo(header);
        BinaryPrimitives.WriteUInt32LittleEndian(header[8..], Version);
        BinaryPrimitives.WriteUInt32LittleEndian(header[12..], Crc32C.Compute(header[..12]));
    }

    /// <summary>Reads a segment header: its version, and whether its checksum holds.</summary>
    public static (uint Version, bool Intact) ReadSegmentHeader(ReadOnlySpan<byte> header) =>
        (BinaryPrimitives.ReadUInt32LittleEndian(header[8..]), Crc32C.Compute(header[..12]) == BinaryPrimitives.ReadUInt32LittleEndian(header[12..]));

    public static void WriteRecordHeader(Span<byte> header, ReadOnlySpan<byte> payload, long unixMs) =>
        WriteRecordHeader(header, default, payload, unixMs);

    /// <summary>The header of a record whose payload is <paramref name="prefix"/> followed by <paramref name="payload"/>.</summary>
    public static void WriteRecordHeader(Span<byte> header, ReadOnlySpan<byte> prefix, ReadOnlySpan<byte> payload, long unixMs)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(header, RecordMagic);
        BinaryPrimitives.WriteInt32LittleEndian(header[LengthOffset..], prefix.Length + payload.Length);
        BinaryPrimitives.WriteInt64LittleEndian(header[TimeOffset..], unixMs);
        BinaryPrimitives.WriteUInt32LittleEndian(header[PayloadCrcOffset..], Crc32C.Finish(Crc32C.Append(Crc32C.Append(Crc32C.Seed, prefix), payload)));
        BinaryPrimitives.WriteUInt32LittleEndian(header[HeaderCrcOffset..], Crc32C.Compute(header[..HeaderCrcOffset]));
    }

    /// <summary>The header of a block frame whose payload is <paramref name="payload"/> (codec, length, compressed bytes).</summary>
    public static void WriteBlockHeader(Span<byte> header, ReadOnlySpan<byte> payload, long unixMs)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(header, BlockMagic);
        BinaryPrimitives.WriteInt32LittleEndian(header[LengthOffset..], payload.Length);
        BinaryPrimitives.WriteInt64LittleEndian(header[TimeOffset..], unixMs);
        BinaryPrimitives.WriteUInt32LittleEndian(header[PayloadCrcOffset..], Crc32C.Compute(payload));
        BinaryPrimitives.WriteUInt32LittleEndian(header[HeaderCrcOffset..], Crc32C.Compute(header[..HeaderCrcOffset]));
    }

    /// <summary>True when <paramref name="header"/> is an intact frame header of either kind; <paramref name="block"/> says which.</summary>
    public static bool TryReadFrameHeader(ReadOnlySpan<byte> header, out bool block, out int payloadLength, out long unixMs, out uint payloadCrc)
    {
        var magic = BinaryPrimitives.ReadUInt32LittleEndian(header);
        block = magic == BlockMagic;
        payloadLength = BinaryPrimitives.ReadInt32LittleEndian(header[LengthOffset..]);
        unixMs = BinaryPrimitives.ReadInt64LittleEndian(header[TimeOffset..]);
        payloadCrc = BinaryPrimitives.ReadUInt32LittleEndian(header[PayloadCrcOffset..]);
        return (magic == RecordMagic || block)
            && Crc32C.Compute(header[..HeaderCrcOffset]) == BinaryPrimitives.ReadUInt32LittleEndian(header[HeaderCrcOffset..])
            && payloadLength >= 0;
    }

    /// <summary>A version-1 record header: payload length, the CRC over time and payload, the time.</summary>
    public static (int Length, uint Crc, long UnixMs) ReadLegacyHeader(ReadOnlySpan<byte> header) =>
        (BinaryPrimitives.ReadInt32LittleEndian(header), BinaryPrimitives.ReadUInt32LittleEndian(header[4..]), BinaryPrimitives.ReadInt64LittleEndian(header[8..]));

    public static uint LegacyChecksum(ReadOnlySpan<byte> header, ReadOnlySpan<byte> payload) =>
        Crc32C.Finish(Crc32C.Append(Crc32C.Append(Crc32C.Seed, header.Slice(8, 8)), payload));
}
