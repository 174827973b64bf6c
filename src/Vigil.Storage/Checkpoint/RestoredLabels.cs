using System.Buffers.Binary;

namespace Vigil.Storage.Checkpoint;

/// <summary>
/// Decodes the labels of the series keys a checkpoint restores, one (name, value) pair per distinct key entry:
/// 1 M series repeat a few thousand entries (tenant, model, status, route), so most entries cost a hash and a
/// lookup instead of two strings and two interning lookups (decision 035). A miss decodes through
/// <see cref="SeriesKeyBuilder.DecodeLabels"/>, so names and values are exactly what ingest would make.
/// </summary>
internal sealed class RestoredLabels(LabelNames names)
{
    // Bounded like the value pool: a checkpoint of unique values (an id per series) does not grow a second pool.
    private const int Limit = 65_536;

    private readonly Dictionary<byte[], KeyValuePair<string, string>> _entries = new(SeriesKeyComparer.Instance);
    private readonly byte[] _single = new byte[4 + 256];

    public LabelSet Decode(ReadOnlySpan<byte> key)
    {
        var lookup = _entries.GetAlternateLookup<ReadOnlySpan<byte>>();
        var count = 0;
        for (var at = 4; at < key.Length; count++)
        {
            at += EntryLength(key, at);
        }

        if (count == 0)
        {
            return LabelSet.Empty;
        }

        // Entries are sorted by name, so a repeated name is the previous one: the last value stands, as at ingest.
        var labelNames = new string[count];
        var values = new string[count];
        var n = 0;
        for (var at = 4; at < key.Length;)
        {
            var entry = key.Slice(at, EntryLength(key, at));
            if (!lookup.TryGetValue(entry, out var pair))
            {
                pair = DecodeOne(entry);
                if (_entries.Count < Limit)
                {
                    _entries.Add(entry.ToArray(), pair);
                }
            }

            if (n > 0 && string.Equals(labelNames[n - 1], pair.Key, StringComparison.Ordinal))
            {
                values[n - 1] = pair.Value;
            }
            else
            {
                labelNames[n] = pair.Key;
                values[n] = pair.Value;
                n++;
            }

            at += entry.Length;
        }

        if (n < count)
        {
            Array.Resize(ref labelNames, n);
            Array.Resize(ref values, n);
        }

        return new LabelSet(names.Layout(labelNames), values);
    }

    /// <summary>An entry of a series key (see SeriesKeyBuilder): u16 name length, name, u8 type, i32 value length, value.</summary>
    private static int EntryLength(ReadOnlySpan<byte> key, int at)
    {
        int nameLength = BinaryPrimitives.ReadUInt16LittleEndian(key[at..]);
        var length = 2 + 1 + 4 + (long)nameLength + BinaryPrimitives.ReadInt32LittleEndian(key[(at + 3 + nameLength)..]);
        if (length < 7 || length > key.Length - at)
        {
            throw CheckpointReader.Corrupt($"a series key entry of {length} bytes at {at} of {key.Length}");
        }

        return (int)length;
    }

    private KeyValuePair<string, string> DecodeOne(ReadOnlySpan<byte> entry)
    {
        // A key of this one entry (the metric id in front is not read).
        var single = entry.Length + 4 <= _single.Length ? _single.AsSpan(0, entry.Length + 4) : new byte[entry.Length + 4];
        entry.CopyTo(single[4..]);
        foreach (var pair in SeriesKeyBuilder.DecodeLabels(single, names))
        {
            return pair;
        }

        throw CheckpointReader.Corrupt("a series key entry without a label");
    }
}
