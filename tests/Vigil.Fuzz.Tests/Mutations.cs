using System.Text;
using CsCheck;

namespace Vigil.Fuzz.Tests;

/// <summary>
/// Mutation-based generation over a seed corpus, as coverage fuzzers do without the coverage: pick a
/// seed, apply one to eight edits (bit flips, boundary bytes and varints, deletions, duplications,
/// insertions, truncation, splicing another seed). CsCheck shrinks a failure towards fewer, smaller edits.
/// </summary>
internal static class Mutations
{
    /// <summary>Bytes at boundaries decoders get wrong: zero, sign bits, all ones.</summary>
    private static readonly byte[] Interesting = [0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF];

    /// <summary>Varints at the edges of int32/int64 (lengths, counts, offsets) and one that never ends.</summary>
    private static readonly byte[][] Varints =
    [
        [0xFF, 0xFF, 0xFF, 0xFF, 0x0F],
        [0xFF, 0xFF, 0xFF, 0xFF, 0x07],
        [0x80, 0x80, 0x80, 0x80, 0x08],
        [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01],
        [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],
    ];

    private readonly record struct Edit(int Kind, int Position, int Length, int Value);

    private static readonly Gen<Edit> EditGen =
        Gen.Select(Gen.Int[0, 9], Gen.Int[0, int.MaxValue], Gen.Int[1, 64], Gen.Int[0, int.MaxValue], (k, p, l, v) => new Edit(k, p, l, v));

    /// <summary>Mutants of the seeds; <paramref name="tokens"/> are inserted whole by the text edit.</summary>
    public static Gen<byte[]> Of(IReadOnlyList<byte[]> seeds, IReadOnlyList<string>? tokens = null)
    {
        var tokenBytes = (tokens ?? []).Select(Encoding.UTF8.GetBytes).ToArray();
        return Gen.Select(Gen.Int[0, seeds.Count - 1], EditGen.Array[1, 8], (index, edits) => Apply(seeds, index, edits, tokenBytes));
    }

    /// <summary>Text mutants (PromQL, YAML, JSON), as strings; invalid UTF-8 decodes to U+FFFD.</summary>
    public static Gen<string> OfText(IReadOnlyList<string> seeds, IReadOnlyList<string> tokens) =>
        Of(seeds.Select(Encoding.UTF8.GetBytes).ToArray(), tokens).Select(bytes => Encoding.UTF8.GetString(bytes));

    private static byte[] Apply(IReadOnlyList<byte[]> seeds, int index, Edit[] edits, byte[][] tokens)
    {
        var data = new List<byte>(seeds[index]);
        foreach (var edit in edits)
        {
            var at = data.Count == 0 ? 0 : edit.Position % (data.Count + 1);
            var length = Math.Min(edit.Length, data.Count - Math.Min(at, data.Count));
            switch (edit.Kind)
            {
                case 0 when at < data.Count:
                    data[at] ^= (byte)(1 << (edit.Value % 8));
                    break;
                case 1 when at < data.Count:
                    data[at] = Interesting[edit.Value % Interesting.Length];
                    break;
                case 2:
                    data.RemoveRange(at, length);
                    break;
                case 3:
                    // Duplicate a span right after itself (repeated fields, nested messages).
                    data.InsertRange(at + length, data.GetRange(at, length));
                    break;
                case 4:
                    data.InsertRange(at, Enumerable.Range(0, edit.Length % 8 + 1).Select(i => (byte)(edit.Value >> (i * 3))));
                    break;
                case 5:
                    var varint = Varints[edit.Value % Varints.Length];
                    data.RemoveRange(at, Math.Min(varint.Length, data.Count - at));
                    data.InsertRange(at, varint);
                    break;
                case 6:
                    data.RemoveRange(at, data.Count - at);
                    break;
                case 7:
                    var other = seeds[edit.Value % seeds.Count];
                    var from = other.Length == 0 ? 0 : edit.Length % other.Length;
                    data.RemoveRange(at, data.Count - at);
                    data.AddRange(other.AsSpan(from).ToArray());
                    break;
                case 8 when tokens.Length > 0:
                    data.InsertRange(at, tokens[edit.Value % tokens.Length]);
                    break;
                case 9 when tokens.Length > 0:
                    // A token repeated: deep nesting, long chains.
                    var token = tokens[edit.Value % tokens.Length];
                    for (var i = 0; i < edit.Length; i++)
                    {
                        data.InsertRange(at, token);
                    }

                    break;
            }
        }

        return [.. data];
    }
}
