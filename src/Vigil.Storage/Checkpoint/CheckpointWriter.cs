using System.Buffers.Binary;
using System.Text;

namespace Vigil.Storage.Checkpoint;

/// <summary>Little-endian primitives into a growing buffer: a chunk of a checkpoint that is streamed out, or one preserved series.</summary>
internal sealed class CheckpointWriter(int initialCapacity = 64 * 1024)
{
    private byte[] _buffer = new byte[Math.Max(initialCapacity, 64)];
    private int _length;

    public int Length => _length;

    public ReadOnlySpan<byte> Written => _buffer.AsSpan(0, _length);

    public byte[] Buffer => _buffer;

    /// <summary>Empties the buffer for reuse (a chunk that was flushed, a scratch record).</summary>
    public void Reset() => _length = 0;

    public void WriteByte(byte value) => Take(1)[0] = value;

    public void WriteBool(bool value) => WriteByte(value ? (byte)1 : (byte)0);

    public void WriteInt32(int value) => BinaryPrimitives.WriteInt32LittleEndian(Take(4), value);

    public void WriteUInt32(uint value) => BinaryPrimitives.WriteUInt32LittleEndian(Take(4), value);

    public void WriteInt64(long value) => BinaryPrimitives.WriteInt64LittleEndian(Take(8), value);

    public void WriteUInt64(ulong value) => BinaryPrimitives.WriteUInt64LittleEndian(Take(8), value);

    public void WriteDouble(double value) => BinaryPrimitives.WriteDoubleLittleEndian(Take(8), value);

    /// <summary>Reserves four bytes to be filled in later with <see cref="PatchInt32"/>.</summary>
    public int ReserveInt32()
    {
        var at = _length;
        Take(4);
        return at;
    }

    public void PatchInt32(int at, int value) => BinaryPrimitives.WriteInt32LittleEndian(_buffer.AsSpan(at, 4), value);

    public void WriteBytes(ReadOnlySpan<byte> value)
    {
        WriteInt32(value.Length);
        value.CopyTo(Take(value.Length));
    }

    /// <summary>Bytes as they are, without a length.</summary>
    public void WriteBytesRaw(ReadOnlySpan<byte> value) => value.CopyTo(Take(value.Length));

    public void WriteString(string value)
    {
        var length = Encoding.UTF8.GetByteCount(value);
        WriteInt32(length);
        Encoding.UTF8.GetBytes(value, Take(length));
    }

    public void WriteInt32s(ReadOnlySpan<int> values)
    {
        WriteInt32(values.Length);
        foreach (var value in values)
        {
            WriteInt32(value);
        }
    }

    public void WriteInt64s(ReadOnlySpan<long> values)
    {
        WriteInt32(values.Length);
        foreach (var value in values)
        {
            WriteInt64(value);
        }
    }

    public void WriteDoubles(ReadOnlySpan<double> values)
    {
        WriteInt32(values.Length);
        foreach (var value in values)
        {
            WriteDouble(value);
        }
    }

    private Span<byte> Take(int count)
    {
        if (_length + count > _buffer.Length)
        {
            Array.Resize(ref _buffer, (int)Math.Min(Array.MaxLength, Math.Max((long)_buffer.Length * 2, (long)_length + count)));
        }

        var span = _buffer.AsSpan(_length, count);
        _length += count;
        return span;
    }
}
