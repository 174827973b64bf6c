using System.IO.Hashing;
using System.Text;

namespace Vigil.Query.Evaluation;

/// <summary>
/// Prometheus' label-set hash: limit_ratio picks series by it, so Vigil picks the series Prometheus picks.
/// </summary>
internal static class LabelHash
{
    /// <summary>Prometheus' <c>labels.Hash()</c>: XXH64 (seed 0) of each name and value, each followed by a 0xff byte, in name order.</summary>
    public static ulong Of(Labels labels)
    {
        var bytes = new List<byte>();
        foreach (var (name, value) in labels.Pairs)
        {
            bytes.AddRange(Encoding.UTF8.GetBytes(name));
            bytes.Add(0xff);
            bytes.AddRange(Encoding.UTF8.GetBytes(value));
            bytes.Add(0xff);
        }

        return XxHash64.HashToUInt64([.. bytes]);
    }
}
