using System.Buffers.Binary;
using System.Numerics;
using System.Text;

namespace Vigil.Query.Evaluation;

/// <summary>
/// XXH64 (seed 0) as its specification defines it, and Prometheus' label-set hash built on it: limit_ratio picks series
/// by that hash, so Vigil picks the series Prometheus picks.
/// </summary>
internal static class XxHash64
{
    private const ulong Prime1 = 0x9E3779B185EBCA87;
    private const ulong Prime2 = 0xC2B2AE3D27D4EB4F;
    private const ulong Prime3 = 0x165667B19E3779F9;
    private const ulong Prime4 = 0x85EBCA77C2B2AE63;
    private const ulong Prime5 = 0x27D4EB2F165667C5;

    /// <summary>Prometheus' <c>labels.Hash()</c>: XXH64 of each name and value, each followed by a 0xff byte, in name order.</summary>
    public static ulong OfLabels(Labels labels)
    {
        var bytes = new List<byte>();
        foreach (var (name, value) in labels.Pairs)
        {
            bytes.AddRange(Encoding.UTF8.GetBytes(name));
            bytes.Add(0xff);
            bytes.AddRange(Encoding.UTF8.GetBytes(value));
            bytes.Add(0xff);
        }

        return Hash([.. bytes]);
    }

    // Wrapping arithmetic is the algorithm; the build checks overflow elsewhere.
    public static ulong Hash(ReadOnlySpan<byte> data)
    {
        unchecked
        {
            var length = (ulong)data.Length;
            ulong h;
            if (data.Length >= 32)
            {
                ulong v1 = Prime1 + Prime2, v2 = Prime2, v3 = 0, v4 = 0 - Prime1;
                while (data.Length >= 32)
                {
                    v1 = Round(v1, BinaryPrimitives.ReadUInt64LittleEndian(data));
                    v2 = Round(v2, BinaryPrimitives.ReadUInt64LittleEndian(data[8..]));
                    v3 = Round(v3, BinaryPrimitives.ReadUInt64LittleEndian(data[16..]));
                    v4 = Round(v4, BinaryPrimitives.ReadUInt64LittleEndian(data[24..]));
                    data = data[32..];
                }

                h = BitOperations.RotateLeft(v1, 1) + BitOperations.RotateLeft(v2, 7) + BitOperations.RotateLeft(v3, 12) + BitOperations.RotateLeft(v4, 18);
                h = Merge(Merge(Merge(Merge(h, v1), v2), v3), v4);
            }
            else
            {
                h = Prime5;
            }

            h += length;
            while (data.Length >= 8)
            {
                h ^= Round(0, BinaryPrimitives.ReadUInt64LittleEndian(data));
                h = (BitOperations.RotateLeft(h, 27) * Prime1) + Prime4;
                data = data[8..];
            }

            if (data.Length >= 4)
            {
                h ^= BinaryPrimitives.ReadUInt32LittleEndian(data) * Prime1;
                h = (BitOperations.RotateLeft(h, 23) * Prime2) + Prime3;
                data = data[4..];
            }

            foreach (var b in data)
            {
                h ^= b * Prime5;
                h = BitOperations.RotateLeft(h, 11) * Prime1;
            }

            h ^= h >> 33;
            h *= Prime2;
            h ^= h >> 29;
            h *= Prime3;
            h ^= h >> 32;
            return h;
        }
    }

    private static ulong Round(ulong acc, ulong input) => unchecked(BitOperations.RotateLeft(acc + (input * Prime2), 31) * Prime1);

    private static ulong Merge(ulong acc, ulong value) => unchecked(((acc ^ Round(0, value)) * Prime1) + Prime4);
}
