namespace Vigil.Storage;

/// <summary>
/// Unsigned LEB128 varints, as protobuf writes them: the WAL's tenant-binding prefix and the record lengths inside
/// its blocks, and the gaps and counts of packed buckets.
/// </summary>
internal static class Varint
{
    public static int Length(ulong value)
    {
        var length = 1;
        while (value >= 0x80)
        {
            value >>= 7;
            length++;
        }

        return length;
    }

    /// <summary>Writes <paramref name="value"/> at the start of <paramref name="destination"/>; the bytes written.</summary>
    public static int Write(Span<byte> destination, ulong value)
    {
        var i = 0;
        while (value >= 0x80)
        {
            destination[i++] = (byte)(value | 0x80);
            value >>= 7;
        }

        destination[i++] = (byte)value;
        return i;
    }

    /// <summary>Reads a varint of at most 5 bytes; false when <paramref name="source"/> ends inside it or it is longer.</summary>
    public static bool TryRead(ReadOnlySpan<byte> source, out uint value, out int length)
    {
        value = 0;
        for (length = 0; length < 5 && length < source.Length;)
        {
            var b = source[length];
            value |= (uint)(b & 0x7F) << (7 * length);
            length++;
            if (b < 0x80)
            {
                return true;
            }
        }

        return false;
    }
}
