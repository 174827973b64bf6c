using System.Buffers.Binary;
using System.Text;

namespace Vigil.Storage.Checkpoint;

/// <summary>
/// Reads what <see cref="CheckpointWriter"/> wrote. Every read is bounds-checked and every length is
/// checked against the bytes left, so a damaged file ends in <see cref="CheckpointCorruptException"/>,
/// never in a huge allocation or an index error.
/// </summary>
internal sealed class CheckpointReader(byte[] buffer, int start, int end)
{
    private int _position = start;

    public int Remaining => end - _position;

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
        if (count > Remaining)
        {
            throw Corrupt("the payload ends in the middle of a value");
        }

        var span = buffer.AsSpan(_position, count);
        _position += count;
        return span;
    }
}
