using System.Buffers.Binary;
using System.Numerics;

namespace Vigil.Storage;

/// <summary>CRC-32C (Castagnoli) with the hardware instruction where there is one; shared by the WAL and checkpoints.</summary>
internal static class Crc32C
{
    public const uint Seed = 0xFFFFFFFFu;

    /// <summary>Continues a running CRC (start from <see cref="Seed"/>, finish with <see cref="Finish"/>).</summary>
    public static uint Append(uint crc, ReadOnlySpan<byte> data)
    {
        var i = 0;
        for (; i + 8 <= data.Length; i += 8)
        {
            crc = BitOperations.Crc32C(crc, BinaryPrimitives.ReadUInt64LittleEndian(data[i..]));
        }

        for (; i < data.Length; i++)
        {
            crc = BitOperations.Crc32C(crc, data[i]);
        }

        return crc;
    }

    public static uint Finish(uint crc) => ~crc;

    public static uint Compute(ReadOnlySpan<byte> data) => Finish(Append(Seed, data));
}
