using System.Collections;
using System.Diagnostics.CodeAnalysis;

namespace Vigil.Storage;

/// <summary>
/// A series' labels, immutable, in canonical key order: the names as one array shared by every series with
/// the same names (<see cref="LabelNames.Layout"/>; a metric's series have one or a few name sets), and the
/// values in a second array beside them. Two arrays of references instead of a hash table per series; a
/// lookup scans the handful of names, which costs what hashing the name would.
/// </summary>
internal sealed class LabelSet : IReadOnlyDictionary<string, string>
{
    public static readonly LabelSet Empty = new([], []);

    private readonly string[] _names;
    private readonly string[] _values;

    /// <param name="names">Distinct names, shared: never written to.</param>
    /// <param name="values">The value of each name, owned by this set.</param>
    public LabelSet(string[] names, string[] values)
    {
        if (names.Length != values.Length)
        {
            throw new ArgumentException($"{names.Length} label names but {values.Length} values");
        }

        _names = names;
        _values = values;
    }

    public int Count => _names.Length;

    public string this[string key] => TryGetValue(key, out var value) ? value : throw new KeyNotFoundException($"no label '{key}'");

    public IEnumerable<string> Keys => Iterate(_names);

    public IEnumerable<string> Values => Iterate(_values);

    /// <summary>Bytes this set holds of its own (the names array is shared, the strings pooled).</summary>
    public long OwnBytes => 24 + 24 + (_values.Length * 8L);

    /// <summary>Whether both sets hold the very same names array (shared through the pool).</summary>
    internal bool SharesNamesWith(LabelSet other) => ReferenceEquals(_names, other._names);

    public bool ContainsKey(string key) => IndexOf(key) >= 0;

    public bool TryGetValue(string key, [MaybeNullWhen(false)] out string value)
    {
        var index = IndexOf(key);
        value = index >= 0 ? _values[index] : null;
        return index >= 0;
    }

    public Enumerator GetEnumerator() => new(this);

    IEnumerator<KeyValuePair<string, string>> IEnumerable<KeyValuePair<string, string>>.GetEnumerator() => GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    private int IndexOf(string key)
    {
        var names = _names;
        for (var i = 0; i < names.Length; i++)
        {
            if (string.Equals(names[i], key, StringComparison.Ordinal))
            {
                return i;
            }
        }

        return -1;
    }

    // Not the arrays themselves: a caller could cast them back and write into the shared names.
    private static IEnumerable<string> Iterate(string[] items)
    {
        foreach (var item in items)
        {
            yield return item;
        }
    }

    public struct Enumerator : IEnumerator<KeyValuePair<string, string>>
    {
        private readonly LabelSet _set;
        private int _index;

        internal Enumerator(LabelSet set)
        {
            _set = set;
            _index = -1;
        }

        public readonly KeyValuePair<string, string> Current => new(_set._names[_index], _set._values[_index]);

        readonly object IEnumerator.Current => Current;

        public bool MoveNext() => ++_index < _set._names.Length;

        public void Reset() => _index = -1;

        public readonly void Dispose()
        {
        }
    }
}
