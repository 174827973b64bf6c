using System.Buffers.Binary;
using System.IO.Hashing;
using System.Runtime.InteropServices;
using System.Text;
using Vigil.Otlp.Wire;

namespace Vigil.Storage;

/// <summary>
/// The canonical byte form of a series identity: metric id, then the label set sorted by key, each
/// entry <c>[u16 key length][key][u8 type][u32 value length][value]</c>. Built in a reused scratch
/// buffer from raw OTLP attributes, so looking up a known series allocates nothing; labels are
/// materialised as strings only when a series is seen for the first time.
/// </summary>
internal sealed class SeriesKeyBuilder
{
    private const int EntryHeader = 2 + 1 + 4;

    private byte[] _entries = new byte[1024];
    private int _entriesLength;
    private Entry[] _index = new Entry[32];
    private int _count;

    private byte[] _resource = new byte[512];
    private int _resourceLength;
    private Entry[] _resourceIndex = new Entry[8];
    private int _resourceCount;

    private byte[] _key = new byte[1024];

    public int AttributeCount => _count;

    /// <summary>Keeps the configured identity attributes of a resource, sorted, for every point below it.</summary>
    public void SetResource(AttributeList attributes, IReadOnlyList<byte[]> identityKeys)
    {
        _resourceLength = 0;
        _resourceCount = 0;
        var reader = attributes.GetReader();
        while (reader.MoveNext())
        {
            if (!Contains(identityKeys, reader.Key))
            {
                continue;
            }

            Append(ref _resource, ref _resourceLength, ref _resourceIndex, ref _resourceCount, reader.Key, reader.ValueType, reader.Value);
        }

        Sort(_resource, _resourceIndex, _resourceCount);
    }

    public void ClearResource()
    {
        _resourceLength = 0;
        _resourceCount = 0;
    }

    /// <summary>
    /// Loads a point's attributes. Returns a refusal reason when a limit is exceeded. Their structure and
    /// text were checked by the reader's walk before the point got here (see PointHeader).
    /// </summary>
    public string? SetPoint(AttributeList attributes, int maxAttributes, int maxValueLength, int maxKeyLength = int.MaxValue)
    {
        _entriesLength = 0;
        _count = 0;
        var reader = attributes.GetReader();
        while (reader.MoveNext())
        {
            if (_count >= maxAttributes)
            {
                return RefusalReasons.TooManyAttributes;
            }

            if (reader.Value.Length > maxValueLength)
            {
                return RefusalReasons.AttributeTooLong;
            }

            if (reader.Key.Length > maxKeyLength)
            {
                return RefusalReasons.AttributeKeyTooLong;
            }

            Append(ref _entries, ref _entriesLength, ref _index, ref _count, reader.Key, reader.ValueType, reader.Value);
        }

        Sort(_entries, _index, _count);
        return null;
    }

    /// <summary>The first value of <paramref name="key"/> among the point's attributes loaded by <see cref="SetPoint"/>.</summary>
    public bool TryGetPointValue(ReadOnlySpan<byte> key, out AttributeValueType type, out ReadOnlySpan<byte> value)
    {
        // _index is sorted stably, so the first match is the one Build keeps.
        for (var i = 0; i < _count; i++)
        {
            var entry = _index[i];
            if (KeyOf(_entries, entry).SequenceEqual(key))
            {
                type = (AttributeValueType)_entries[entry.Start + 2 + entry.KeyLength];
                value = _entries.AsSpan(entry.Start + EntryHeader + entry.KeyLength, entry.Length - EntryHeader - entry.KeyLength);
                return true;
            }
        }

        type = AttributeValueType.Empty;
        value = default;
        return false;
    }

    /// <summary>Whether the resource's identity attributes include <paramref name="key"/>.</summary>
    public bool ResourceHas(ReadOnlySpan<byte> key)
    {
        for (var i = 0; i < _resourceCount; i++)
        {
            if (KeyOf(_resource, _resourceIndex[i]).SequenceEqual(key))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Adds one label to the point loaded by <see cref="SetPoint"/> (the tenant an ingest key stamps).</summary>
    public void AddPointValue(ReadOnlySpan<byte> key, AttributeValueType type, ReadOnlySpan<byte> value)
    {
        Append(ref _entries, ref _entriesLength, ref _index, ref _count, key, type, value);
        Sort(_entries, _index, _count);
    }

    /// <summary>Loads string labels (tools, tests, rule unit tests).</summary>
    public void SetLabels(IReadOnlyDictionary<string, string> labels)
    {
        _entriesLength = 0;
        _count = 0;
        foreach (var (name, value) in labels)
        {
            Append(ref _entries, ref _entriesLength, ref _index, ref _count, Encoding.UTF8.GetBytes(name), AttributeValueType.String, Encoding.UTF8.GetBytes(value));
        }

        Sort(_entries, _index, _count);
    }

    /// <summary>Merges resource and point entries (the point wins on equal keys) behind the metric id.</summary>
    public ReadOnlySpan<byte> Build(int metricId)
    {
        var needed = 4 + _entriesLength + _resourceLength;
        if (_key.Length < needed)
        {
            Array.Resize(ref _key, Math.Max(needed, _key.Length * 2));
        }

        BinaryPrimitives.WriteInt32LittleEndian(_key, metricId);
        var length = 4;
        int p = 0, r = 0;
        ReadOnlySpan<byte> previous = default;
        while (p < _count || r < _resourceCount)
        {
            Entry entry;
            byte[] source;
            if (r >= _resourceCount)
            {
                entry = _index[p++];
                source = _entries;
            }
            else if (p >= _count)
            {
                entry = _resourceIndex[r++];
                source = _resource;
            }
            else
            {
                var cmp = KeyOf(_entries, _index[p]).SequenceCompareTo(KeyOf(_resource, _resourceIndex[r]));
                if (cmp <= 0)
                {
                    if (cmp == 0)
                    {
                        r++;
                    }

                    entry = _index[p++];
                    source = _entries;
                }
                else
                {
                    entry = _resourceIndex[r++];
                    source = _resource;
                }
            }

            var key = KeyOf(source, entry);
            if (!previous.IsEmpty && key.SequenceEqual(previous))
            {
                continue; // a repeated key on one point: the first one stands
            }

            source.AsSpan(entry.Start, entry.Length).CopyTo(_key.AsSpan(length));
            previous = _key.AsSpan(length + 2, entry.KeyLength);
            length += entry.Length;
        }

        return _key.AsSpan(0, length);
    }

    /// <summary>
    /// Turns a canonical key back into labels. Allocates: first sight of a series only. With a pool, names,
    /// values and the name set are the pool's shared copies.
    /// </summary>
    public static LabelSet DecodeLabels(ReadOnlySpan<byte> key, LabelNames? names = null)
    {
        var count = 0;
        for (var at = 4; at < key.Length; count++)
        {
            int nameLength = BinaryPrimitives.ReadUInt16LittleEndian(key[at..]);
            at += EntryHeader + nameLength + BinaryPrimitives.ReadInt32LittleEndian(key[(at + 3 + nameLength)..]);
        }

        if (count == 0)
        {
            return LabelSet.Empty;
        }

        var labelNames = new string[count];
        var values = new string[count];
        var n = 0;
        var position = 4;
        ReadOnlySpan<byte> previous = default;
        while (position < key.Length)
        {
            int keyLength = BinaryPrimitives.ReadUInt16LittleEndian(key[position..]);
            var nameBytes = key.Slice(position + 2, keyLength);
            var type = (AttributeValueType)key[position + 2 + keyLength];
            var valueLength = BinaryPrimitives.ReadInt32LittleEndian(key[(position + 3 + keyLength)..]);
            var text = AttributeReader.FormatValue(type, key.Slice(position + EntryHeader + keyLength, valueLength));
            position += EntryHeader + keyLength + valueLength;

            // Names are sorted, so a repeated one is the previous: the last value stands, as a dictionary's would.
            if (n > 0 && nameBytes.SequenceEqual(previous))
            {
                values[n - 1] = names is null ? text : names.Value(text);
                continue;
            }

            previous = nameBytes;
            labelNames[n] = names is null ? Encoding.UTF8.GetString(nameBytes) : names.Get(nameBytes);
            values[n] = names is null ? text : names.Value(text);
            n++;
        }

        if (n < count)
        {
            Array.Resize(ref labelNames, n);
            Array.Resize(ref values, n);
        }

        return new LabelSet(names is null ? labelNames : names.Layout(labelNames), values);
    }

    private static bool Contains(IReadOnlyList<byte[]> keys, ReadOnlySpan<byte> key)
    {
        for (var i = 0; i < keys.Count; i++)
        {
            if (key.SequenceEqual(keys[i]))
            {
                return true;
            }
        }

        return false;
    }

    private static void Append(ref byte[] buffer, ref int length, ref Entry[] index, ref int count, ReadOnlySpan<byte> key, AttributeValueType type, ReadOnlySpan<byte> value)
    {
        var keyLength = Math.Min(key.Length, ushort.MaxValue);
        var size = EntryHeader + keyLength + value.Length;
        if (buffer.Length < length + size)
        {
            Array.Resize(ref buffer, Math.Max(length + size, buffer.Length * 2));
        }

        if (index.Length == count)
        {
            Array.Resize(ref index, count * 2);
        }

        var span = buffer.AsSpan(length);
        BinaryPrimitives.WriteUInt16LittleEndian(span, (ushort)keyLength);
        key[..keyLength].CopyTo(span[2..]);
        span[2 + keyLength] = (byte)type;
        BinaryPrimitives.WriteInt32LittleEndian(span[(3 + keyLength)..], value.Length);
        value.CopyTo(span[(EntryHeader + keyLength)..]);
        index[count++] = new Entry(length, keyLength, size);
        length += size;
    }

    private static ReadOnlySpan<byte> KeyOf(byte[] buffer, Entry entry) => buffer.AsSpan(entry.Start + 2, entry.KeyLength);

    // Insertion sort: points carry a handful of attributes, and this allocates nothing.
    private static void Sort(byte[] buffer, Entry[] index, int count)
    {
        for (var i = 1; i < count; i++)
        {
            var current = index[i];
            var j = i - 1;
            while (j >= 0 && KeyOf(buffer, index[j]).SequenceCompareTo(KeyOf(buffer, current)) > 0)
            {
                index[j + 1] = index[j];
                j--;
            }

            index[j + 1] = current;
        }
    }

    [StructLayout(LayoutKind.Auto)]
    private readonly record struct Entry(int Start, int KeyLength, int Length);
}

/// <summary>Byte-array keys compared by content, looked up by span without allocating.</summary>
internal sealed class SeriesKeyComparer : IEqualityComparer<byte[]>, IAlternateEqualityComparer<ReadOnlySpan<byte>, byte[]>, IAlternateEqualityComparer<HashedSeriesKey, byte[]>
{
    public static readonly SeriesKeyComparer Instance = new();

    public bool Equals(byte[]? x, byte[]? y) => x.AsSpan().SequenceEqual(y);

    public int GetHashCode(byte[] obj) => Hash(obj);

    public bool Equals(ReadOnlySpan<byte> alternate, byte[] other) => alternate.SequenceEqual(other);

    public int GetHashCode(ReadOnlySpan<byte> alternate) => Hash(alternate);

    public byte[] Create(ReadOnlySpan<byte> alternate) => alternate.ToArray();

    public bool Equals(HashedSeriesKey alternate, byte[] other) => alternate.Bytes.SequenceEqual(other);

    public int GetHashCode(HashedSeriesKey alternate) => alternate.Hash;

    public byte[] Create(HashedSeriesKey alternate) => alternate.Bytes.ToArray();

    // XXH3, seeded at random per process as HashCode is (colliding keys cannot be prepared in advance): vectorised, it
    // hashes a canonical key (~300 B) several times faster than HashCode.AddBytes' 4-byte steps, and the series lookup
    // it feeds was the largest single cost of ingest in an on-CPU profile (docs/performance.md).
    private static readonly long Seed = Random.Shared.NextInt64();

    public static int Hash(ReadOnlySpan<byte> key)
    {
        var hash = XxHash3.HashToUInt64(key, Seed);
        return (int)hash ^ (int)(hash >> 32);
    }
}

/// <summary>A canonical key with its hash, which picked the stripe: the stripe's map reuses it instead of hashing again.</summary>
internal readonly ref struct HashedSeriesKey(ReadOnlySpan<byte> bytes, int hash)
{
    public ReadOnlySpan<byte> Bytes { get; } = bytes;

    public int Hash { get; } = hash;
}

/// <summary>
/// Label names and values shared by every series that has them ("tenant.id" and "tenant-0042" once, not
/// once per series). Bounded: past <see cref="Limit"/> distinct names or <see cref="ValueLimit"/> values,
/// new ones are not shared, so odd senders cannot grow it; a value costs a lookup on first sight of a series only.
/// </summary>
internal sealed class LabelNames
{
    private const int Limit = 4096;

    // About 100 B a value: the pool stays under 7 MB while the values of a fleet (tenants, workspaces,
    // services, models, statuses) are held once instead of once per series.
    private const int ValueLimit = 65_536;

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, string> _names = new(StringComparer.Ordinal);
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, string> _values = new(StringComparer.Ordinal);
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string[], string[]> _layouts = new(NameSetComparer.Instance);

    // Sizes counted beside the dictionaries: ConcurrentDictionary.Count takes every one of its locks, which made each
    // new value of a checkpoint load or a burst of new series wait on all of them (decision 035's profile). A race may
    // overshoot a limit by a few entries per thread; the limits are bounds on memory, not exact sizes.
    private int _nameCount;
    private int _valueCount;
    private int _layoutCount;

    /// <summary>The shared copy of a label value, or the value itself once the pool is full.</summary>
    public string Value(string value)
    {
        if (_values.TryGetValue(value, out var shared))
        {
            return shared;
        }

        return Pooled(_values, value, ref _valueCount, ValueLimit);
    }

    /// <summary>
    /// Lets go of the pooled values (a sweep that removed series calls it): live series keep the copies they share,
    /// series made later share anew, and values of series that are gone, or of a flood of unique ones, do not stay
    /// held, nor keep the pool full for the values that come after them.
    /// </summary>
    public void ForgetValues()
    {
        _values.Clear();
        Volatile.Write(ref _valueCount, 0);
    }

    /// <summary>
    /// The shared array of a set of label names (in key order), or <paramref name="names"/> itself once
    /// <see cref="Limit"/> sets are held. Never forgotten: name sets are few, and live series hold them anyway.
    /// </summary>
    public string[] Layout(string[] names)
    {
        if (_layouts.TryGetValue(names, out var shared))
        {
            return shared;
        }

        return Pooled(_layouts, names, ref _layoutCount, Limit);
    }

    public string Get(ReadOnlySpan<byte> utf8)
    {
        var name = Encoding.UTF8.GetString(utf8);
        if (_names.TryGetValue(name, out var shared))
        {
            return shared;
        }

        return Pooled(_names, name, ref _nameCount, Limit);
    }

    /// <summary>The pool's copy of <paramref name="item"/> (added while under <paramref name="limit"/>), or the item itself.</summary>
    private static T Pooled<T>(System.Collections.Concurrent.ConcurrentDictionary<T, T> pool, T item, ref int count, int limit)
        where T : notnull
    {
        if (Volatile.Read(ref count) >= limit)
        {
            return pool.TryGetValue(item, out var held) ? held : item;
        }

        if (pool.TryAdd(item, item))
        {
            Interlocked.Increment(ref count);
            return item;
        }

        return pool.TryGetValue(item, out var shared) ? shared : item;
    }
}

/// <summary>Name sets compared by content (ordinal).</summary>
internal sealed class NameSetComparer : IEqualityComparer<string[]>
{
    public static readonly NameSetComparer Instance = new();

    public bool Equals(string[]? x, string[]? y) => x.AsSpan().SequenceEqual(y, StringComparer.Ordinal);

    public int GetHashCode(string[] obj)
    {
        var hash = default(HashCode);
        foreach (var name in obj)
        {
            hash.Add(name, StringComparer.Ordinal);
        }

        return hash.ToHashCode();
    }
}
