using System.Buffers.Binary;
using System.Text;

namespace Vigil.Storage.Checkpoint;

/// <summary>
/// Reads what <see cref="CheckpointWriter"/> wrote, from a buffer or streamed from a file in 64 KiB
/// chunks (a value longer than a chunk grows the buffer to fit it). Every read is bounds-checked and
/// every length is checked against the bytes left, so a damaged file ends in
/// <see cref="CheckpointCorruptException"/>, never in a huge allocation or an index error.
/// </summary>
internal sealed class CheckpointReader
{
    private const int ChunkBytes = 64 * 1024;

    private readonly Stream? _stream;
    private byte[] _buffer;
    private int _position;
    private int _end;
    private long _unread;

    public CheckpointReader(byte[] buffer, int start, int end)
    {
        _buffer = buffer;
        _position = start;
        _end = end;
    }

    /// <summary>Reads the next <paramref name="length"/> bytes of <paramref name="stream"/>, a chunk at a time.</summary>
    public CheckpointReader(Stream stream, long length)
    {
        _stream = stream;
        _buffer = new byte[(int)Math.Min(ChunkBytes, Math.Max(length, 16))];
        _unread = length;
    }

    public long Remaining => _end - _position + _unread;

    public byte ReadByte() => Take(1)[0];

    public bool ReadBool() => ReadByte() switch
    {
        0 => false,
        1 => true,
        var other => throw Corrupt($"a flag holds {other}"),
    };

    public int ReadInt32() => BinaryPrimitives.ReadInt32LittleEndian(Take(4));

    public long ReadInt64() => BinaryPrimitives.ReadInt64LittleEndian(Take(8));

    public ulong ReadUInt64() => BinaryPrimitives.ReadUInt64LittleEndian(Take(8));

    public double ReadDouble() => BinaryPrimitives.ReadDoubleLittleEndian(Take(8));

    /// <summary>A count of items of <paramref name="itemBytes"/> bytes each that must still fit in the payload.</summary>
    public int ReadCount(int itemBytes)
    {
        var count = ReadInt32();
        if (count < 0 || (long)count * itemBytes > Remaining)
        {
            throw Corrupt($"a count of {count} does not fit the {Remaining} bytes left");
        }

        return count;
    }

    public byte[] ReadBytes() => Take(ReadCount(1)).ToArray();

    public string ReadString() => Encoding.UTF8.GetString(Take(ReadCount(1)));

    public long[] ReadInt64s()
    {
        var values = new long[ReadCount(8)];
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = ReadInt64();
        }

        return values;
    }

    public double[] ReadDoubles()
    {
        var values = new double[ReadCount(8)];
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = ReadDouble();
        }

        return values;
    }

    public static CheckpointCorruptException Corrupt(string problem) => new($"corrupt checkpoint: {problem}");

    private ReadOnlySpan<byte> Take(int count)
    {
        if (count > _end - _position)
        {
            Fill(count);
        }

        var span = _buffer.AsSpan(_position, count);
        _position += count;
        return span;
    }

    /// <summary>Moves the unread bytes to the front and reads on until <paramref name="count"/> are buffered.</summary>
    private void Fill(int count)
    {
        if (count > Remaining)
        {
            throw Corrupt("the payload ends in the middle of a value");
        }

        var buffered = _end - _position;
        if (count > _buffer.Length)
        {
            var grown = new byte[Math.Max(count, _buffer.Length * 2)];
            _buffer.AsSpan(_position, buffered).CopyTo(grown);
            _buffer = grown;
        }
        else
        {
            _buffer.AsSpan(_position, buffered).CopyTo(_buffer);
        }

        _position = 0;
        _end = buffered;
        var wanted = (int)Math.Min(_buffer.Length - _end, _unread);
        var read = _stream!.ReadAtLeast(_buffer.AsSpan(_end, wanted), wanted, throwOnEndOfStream: false);
        if (read < wanted)
        {
            throw Corrupt("the file ended while it was read, after its checksum was verified (it changed meanwhile)");
        }

        _end += read;
        _unread -= read;
    }
}
