using System.Buffers.Binary;
using System.Numerics;

namespace Vigil.Storage.Compression;

/// <summary>
/// Closed buckets of one series, packed: chunks back to back in one byte array, each
/// <c>[varint body length][varint bucket count][i32 first bucket][varint last - first][body]</c>.
/// Chunks hold consecutive runs of ascending bucket numbers, so expiring old buckets drops whole
/// chunks and reading one bucket decodes at most one chunk. The body encoding belongs to the kind.
/// </summary>
internal static class PackedChunks
{
    /// <summary>Buckets a chunk grows to before a new one starts.</summary>
    public const int ChunkBuckets = 32;

    /// <summary>A chunk split in two past this many (late points inserted into it).</summary>
    public const int MaxChunkBuckets = 64;

    /// <summary>Longest chunk header: two 5-byte varints, the first bucket, a 5-byte varint.</summary>
    public const int MaxHeader = 5 + 5 + 4 + 5;

    public static ChunkHeader ReadHeader(ReadOnlySpan<byte> packed, int at)
    {
        var reader = new ByteReader(packed, at);
        var bodyLength = (int)reader.ReadVarint();
        var count = (int)reader.ReadVarint();
        var first = reader.ReadInt32();
        var last = first + (int)reader.ReadVarint();
        return new ChunkHeader(at, reader.Position, bodyLength, count, first, last);
    }

    /// <summary>Writes a chunk's header into <paramref name="writer"/>; the body follows.</summary>
    public static void WriteHeader(ref ByteWriter writer, int bodyLength, int count, int first, int last)
    {
        writer.WriteVarint((uint)bodyLength);
        writer.WriteVarint((uint)count);
        writer.WriteInt32(first);
        writer.WriteVarint((uint)(last - first));
    }

    /// <summary>The first chunk whose last bucket is at or after <paramref name="bucket"/>; false when none is.</summary>
    public static bool TryFind(ReadOnlySpan<byte> packed, int bucket, out ChunkHeader chunk)
    {
        var at = 0;
        while (at < packed.Length)
        {
            chunk = ReadHeader(packed, at);
            if (chunk.Last >= bucket)
            {
                return true;
            }

            at = chunk.End;
        }

        chunk = default;
        return false;
    }

    /// <summary>The last chunk; false when there is none.</summary>
    public static bool TryLast(ReadOnlySpan<byte> packed, out ChunkHeader chunk)
    {
        chunk = default;
        var at = 0;
        var found = false;
        while (at < packed.Length)
        {
            chunk = ReadHeader(packed, at);
            found = true;
            at = chunk.End;
        }

        return found;
    }

    /// <summary>Replaces bytes [at, at + oldLength) with <paramref name="replacement"/>, growing the array only when it must.</summary>
    public static void Replace(ref byte[] packed, ref int length, int at, int oldLength, ReadOnlySpan<byte> replacement)
    {
        var needed = length - oldLength + replacement.Length;
        if (needed > packed.Length)
        {
            // An eighth of slack: a seal adds a few bytes, so it reallocates only every dozen seals or so; the slack stays held.
            var grown = new byte[needed + (needed / 8) + 16];
            packed.AsSpan(0, at).CopyTo(grown);
            packed.AsSpan(at + oldLength, length - at - oldLength).CopyTo(grown.AsSpan(at + replacement.Length));
            packed = grown;
        }
        else if (replacement.Length != oldLength)
        {
            packed.AsSpan(at + oldLength, length - at - oldLength).CopyTo(packed.AsSpan(at + replacement.Length));
        }

        replacement.CopyTo(packed.AsSpan(at));
        length = needed;
    }

    /// <summary>Drops the leading chunks whose buckets all lie before <paramref name="oldest"/>.</summary>
    public static void DropBefore(byte[] packed, ref int length, int oldest)
    {
        var at = 0;
        while (at < length)
        {
            var chunk = ReadHeader(packed.AsSpan(0, length), at);
            if (chunk.Last >= oldest)
            {
                break;
            }

            at = chunk.End;
        }

        if (at > 0)
        {
            packed.AsSpan(at, length - at).CopyTo(packed);
            length -= at;
        }
    }

    // XOR of a double with its predecessor, as Gorilla does, but byte-aligned: a code of 5 bits says how
    // many leading zero bytes (0-3) and meaningful bytes (1-8) follow; 0 means "equal to the previous".
    public static int XorCode(ulong xor, out int bytes, out int shift)
    {
        if (xor == 0)
        {
            bytes = 0;
            shift = 0;
            return 0;
        }

        var lead = Math.Min(BitOperations.LeadingZeroCount(xor) / 8, 3);
        var trail = BitOperations.TrailingZeroCount(xor) / 8;
        bytes = 8 - lead - trail;
        shift = trail * 8;
        return 1 + (lead * 8) + (bytes - 1);
    }

    public static ulong ReadXor(ref ByteReader reader, int code)
    {
        if (code == 0)
        {
            return 0;
        }

        var lead = (code - 1) / 8;
        var bytes = ((code - 1) % 8) + 1;
        if (lead + bytes > 8)
        {
            throw new InvalidDataException($"packed bucket: XOR code {code} covers more than 8 bytes");
        }

        var value = reader.ReadBytes(bytes);
        return value << ((8 - lead - bytes) * 8);
    }

    public static uint ZigZag(long value) => (uint)((value << 1) ^ (value >> 63));

    public static ulong ZigZag64(long value) => (ulong)((value << 1) ^ (value >> 63));

    public static long UnZigZag64(ulong value) => (long)(value >> 1) ^ -(long)(value & 1);
}

internal readonly record struct ChunkHeader(int Start, int BodyStart, int BodyLength, int Count, int First, int Last)
{
    public int End => BodyStart + BodyLength;

    public int Length => End - Start;
}

/// <summary>Writes varints, fixed ints and partial words into a span (a stack buffer while packing).</summary>
internal ref struct ByteWriter(Span<byte> buffer)
{
    private readonly Span<byte> _buffer = buffer;

    public int Position { get; private set; }

    public readonly ReadOnlySpan<byte> Written => _buffer[..Position];

    public void WriteByte(byte value) => _buffer[Position++] = value;

    public void WriteVarint(uint value) => WriteVarint64(value);

    public void WriteVarint64(ulong value) => Position += Varint.Write(_buffer[Position..], value);

    public void WriteInt32(int value)
    {
        BinaryPrimitives.WriteInt32LittleEndian(_buffer[Position..], value);
        Position += 4;
    }

    /// <summary>The low <paramref name="count"/> bytes of <paramref name="value"/>, little-endian.</summary>
    public void WriteBytes(ulong value, int count)
    {
        for (var i = 0; i < count; i++)
        {
            _buffer[Position++] = (byte)value;
            value >>= 8;
        }
    }

    /// <summary>A double as its XOR with <paramref name="previous"/>: the code goes to the caller's control bits.</summary>
    public int XorCode(double value, double previous, out ulong bits, out int bytes)
    {
        var xor = BitConverter.DoubleToUInt64Bits(value) ^ BitConverter.DoubleToUInt64Bits(previous);
        var code = PackedChunks.XorCode(xor, out bytes, out var shift);
        bits = xor >> shift;
        return code;
    }
}

/// <summary>Reads what <see cref="ByteWriter"/> wrote; throws on a truncated or malformed chunk.</summary>
internal ref struct ByteReader(ReadOnlySpan<byte> buffer, int position)
{
    private readonly ReadOnlySpan<byte> _buffer = buffer;

    public int Position { get; private set; } = position;

    public byte ReadByte() => _buffer[Position++];

    public ulong ReadVarint()
    {
        ulong value = 0;
        for (var shift = 0; shift < 64; shift += 7)
        {
            var b = _buffer[Position++];
            value |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return value;
            }
        }

        throw new InvalidDataException("packed bucket: varint longer than 10 bytes");
    }

    public int ReadInt32()
    {
        var value = BinaryPrimitives.ReadInt32LittleEndian(_buffer[Position..]);
        Position += 4;
        return value;
    }

    public ulong ReadBytes(int count)
    {
        ulong value = 0;
        for (var i = 0; i < count; i++)
        {
            value |= (ulong)_buffer[Position++] << (i * 8);
        }

        return value;
    }

    public double ReadXorDouble(int code, double previous) =>
        BitConverter.UInt64BitsToDouble(BitConverter.DoubleToUInt64Bits(previous) ^ PackedChunks.ReadXor(ref this, code));
}

/// <summary>
/// A value that is a short decimal (a gauge of 50.3, a count of 17) written as the integer m of m / 10^k:
/// XOR codes stop at 29, so code 30 says "a zigzag varint of m minus the previous m, at the previous k" and
/// code 31 "a byte k, then a zigzag varint of m". Chosen only when shorter than the XOR, and only when the
/// division gives back the very same bits, so reads stay bit-identical. Decoding costs one division.
/// </summary>
internal struct DecimalCoder
{
    public const int SameScale = 30;
    public const int NewScale = 31;
    private const int MaxScale = 6;

    private static readonly double[] Powers = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000];

    // The previous value as m / 10^k; k = -1 when it went as an XOR (m is then unknown).
    private int _scale;
    private long _mantissa;

    /// <summary>The previous value is 0 (m 0 at k 0), as the XOR's starting value is.</summary>
    public void Reset()
    {
        _scale = 0;
        _mantissa = 0;
    }

    /// <summary>The code to write <paramref name="value"/> with: <paramref name="xorCode"/> unless a decimal form is shorter than its bytes.</summary>
    public readonly int Choose(double value, int xorCode, int xorBytes, out long mantissa, out int scale)
    {
        mantissa = 0;
        scale = -1;
        if (xorBytes <= 1)
        {
            return xorCode;
        }

        if (_scale >= 0 && Exact(value, _scale, out var same) && VarintBytes(PackedChunks.ZigZag64(same - _mantissa)) < xorBytes)
        {
            mantissa = same;
            scale = _scale;
            return SameScale;
        }

        for (var k = 0; k <= MaxScale; k++)
        {
            if (Exact(value, k, out var m))
            {
                if (1 + VarintBytes(PackedChunks.ZigZag64(m)) < xorBytes)
                {
                    mantissa = m;
                    scale = k;
                    return NewScale;
                }

                break;
            }
        }

        return xorCode;
    }

    /// <summary>Writes what <see cref="Choose"/> picked (nothing for an XOR code: the caller writes its bytes) and remembers it.</summary>
    public void Write(ref ByteWriter writer, int code, long mantissa, int scale)
    {
        if (code == SameScale)
        {
            writer.WriteVarint64(PackedChunks.ZigZag64(mantissa - _mantissa));
        }
        else if (code == NewScale)
        {
            writer.WriteByte((byte)scale);
            writer.WriteVarint64(PackedChunks.ZigZag64(mantissa));
        }

        Remember(code, mantissa, scale);
    }

    /// <summary>Reads a value written under <paramref name="code"/>: decimal, or an XOR against <paramref name="previous"/>.</summary>
    public double Read(ref ByteReader reader, int code, double previous)
    {
        long mantissa;
        int scale;
        if (code == SameScale)
        {
            if (_scale < 0)
            {
                throw new InvalidDataException("packed bucket: a same-scale decimal after an XOR value");
            }

            scale = _scale;
            mantissa = _mantissa + PackedChunks.UnZigZag64(reader.ReadVarint());
        }
        else if (code == NewScale)
        {
            scale = reader.ReadByte();
            if (scale > MaxScale)
            {
                throw new InvalidDataException($"packed bucket: decimal scale {scale}");
            }

            mantissa = PackedChunks.UnZigZag64(reader.ReadVarint());
        }
        else
        {
            _scale = -1;
            return reader.ReadXorDouble(code, previous);
        }

        Remember(code, mantissa, scale);
        return mantissa / Powers[scale];
    }

    private void Remember(int code, long mantissa, int scale)
    {
        _scale = code is SameScale or NewScale ? scale : -1;
        _mantissa = mantissa;
    }

    private static bool Exact(double value, int scale, out long mantissa)
    {
        var scaled = Math.Round(value * Powers[scale]);
        mantissa = 0;
        if (!(Math.Abs(scaled) < 9e15))
        {
            return false;
        }

        mantissa = (long)scaled;
        return BitConverter.DoubleToUInt64Bits(mantissa / Powers[scale]) == BitConverter.DoubleToUInt64Bits(value);
    }

    private static int VarintBytes(ulong value) => Math.Max(1, (70 - System.Numerics.BitOperations.LeadingZeroCount(value)) / 7);
}
