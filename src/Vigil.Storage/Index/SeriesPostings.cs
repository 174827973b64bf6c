using System.Buffers;
using Vigil.Storage.Query;

namespace Vigil.Storage.Index;

/// <summary>
/// One metric's series in creation order, and an inverted index over their labels: label → value → the sorted
/// slot numbers of the series that carry it. A selector intersects the postings of its equality matchers (smallest
/// first) and tests every other matcher once per label value, not once per series; see
/// docs/decisions/029-label-postings.md.
/// </summary>
/// <remarks>
/// Writers (series creation, removal) hold the owner's lock. Readers hold it only to look postings up and then read
/// outside it: slot and postings arrays are only ever appended to (a full one is replaced by a larger copy, each
/// count published after its element), and a compaction builds a new generation instead of editing the old one.
/// Removal leaves a null slot behind that readers skip, and compacts once a quarter of the slots are dead.
/// </remarks>
internal sealed class SeriesPostings
{
    private Generation _current = new(4);

    /// <summary>Live series.</summary>
    public int Count => _current.SlotCount - _current.Dead;

    /// <summary>Adds a new series; the caller holds the lock.</summary>
    public void Add(Series series) => _current.Add(series);

    /// <summary>Every live series, in creation order; the caller holds the lock.</summary>
    public Series[] ToArray()
    {
        var generation = _current;
        var result = new Series[generation.SlotCount - generation.Dead];
        var next = 0;
        for (var i = 0; i < generation.SlotCount; i++)
        {
            if (generation.Slots[i] is { } series)
            {
                result[next++] = series;
            }
        }

        return result;
    }

    /// <summary>
    /// The label names live series carry, in the order a walk of the series in creation order meets them first (a
    /// catalog's "first seen wins"). Takes <paramref name="gate"/> for the lookups; walks only until every name is met.
    /// </summary>
    public List<string> LabelNames(Lock gate)
    {
        Generation generation;
        int slotCount;
        KeyValuePair<string, LabelPostings>[] labels;
        lock (gate)
        {
            generation = _current;
            slotCount = generation.SlotCount;
            labels = [.. generation.Labels];
        }

        var slots = Volatile.Read(ref generation.Slots);
        var pending = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, label) in labels)
        {
            var (values, valueCount) = label.Snapshot();
            for (var v = 0; v < valueCount && !pending.Contains(name); v++)
            {
                foreach (var id in values[v].Snapshot())
                {
                    if (id < slotCount && slots[id] is not null)
                    {
                        pending.Add(name); // a label only removed series had is not listed
                        break;
                    }
                }
            }
        }

        var result = new List<string>(pending.Count);
        for (var i = 0; i < slotCount && pending.Count > 0; i++)
        {
            if (slots[i] is { } series)
            {
                foreach (var name in series.Labels.Keys)
                {
                    if (pending.Remove(name))
                    {
                        result.Add(name);
                    }
                }
            }
        }

        return result;
    }

    /// <summary>Removes the series <paramref name="predicate"/> picks, calling <paramref name="removed"/> for each; the caller holds the lock.</summary>
    public int RemoveWhere(Func<Series, bool> predicate, Action<Series> removed)
    {
        var generation = _current;
        var count = 0;
        for (var i = 0; i < generation.SlotCount; i++)
        {
            if (generation.Slots[i] is { } series && predicate(series))
            {
                removed(series);
                generation.Slots[i] = null;
                count++;
            }
        }

        generation.Dead += count;
        if (count > 0 && generation.Dead * 4 >= generation.SlotCount)
        {
            _current = generation.Compacted();
        }

        return count;
    }

    /// <summary>Approximate bytes of the slots and postings, beside what the series themselves hold.</summary>
    public long ApproximateBytes()
    {
        var generation = _current;
        long bytes = 24 + (generation.Slots.Length * 8L) + 64;
        foreach (var label in generation.Labels.Values)
        {
            // Entry of the label map, its value map and array; per value an entry, a postings object and its array.
            bytes += 48 + 80 + (label.Values.Length * 8L);
            for (var i = 0; i < label.ValueCount; i++)
            {
                bytes += 40 + 32 + 24 + (label.Values[i].Ids.Length * 4L);
            }
        }

        return bytes;
    }

    /// <summary>
    /// The series matching every matcher (a missing label matching as the empty string), in creation order. Takes
    /// <paramref name="gate"/> (the lock writers hold) only for the lookups; dispose the result to give its buffer back.
    /// </summary>
    public SeriesSelection Select(IReadOnlyList<LabelMatcher> matchers, Lock gate)
    {
        Generation generation;
        int slotCount;
        Span<int> order = matchers.Count <= 16 ? stackalloc int[matchers.Count] : new int[matchers.Count];
        var looked = new Lookup[matchers.Count];
        lock (gate)
        {
            generation = _current;
            slotCount = generation.SlotCount;
            for (var i = 0; i < matchers.Count; i++)
            {
                var matcher = matchers[i];
                generation.Labels.TryGetValue(matcher.Name, out var label);
                Postings? postings = null;
                if (matcher.Op == MatchOp.Equal && matcher.Value.Length > 0)
                {
                    if (label is null || !label.ByValue.TryGetValue(matcher.Value, out postings))
                    {
                        return SeriesSelection.Empty;
                    }
                }

                looked[i] = new Lookup(label, postings);
            }
        }

        var candidates = new IdSet(slotCount);
        try
        {
            // Equality matchers first, the one with the fewest series leading: later steps only narrow that set.
            var equalities = 0;
            for (var i = 0; i < matchers.Count; i++)
            {
                if (looked[i].Postings is not null)
                {
                    order[equalities++] = i;
                }
            }

            for (var i = 1; i < equalities; i++)
            {
                for (var j = i; j > 0 && looked[order[j]].Postings!.Count < looked[order[j - 1]].Postings!.Count; j--)
                {
                    (order[j], order[j - 1]) = (order[j - 1], order[j]);
                }
            }

            foreach (var i in order[..equalities])
            {
                candidates.Intersect(looked[i].Postings!.Snapshot());
                if (candidates.IsEmpty)
                {
                    break;
                }
            }

            for (var i = 0; i < matchers.Count && !candidates.IsEmpty; i++)
            {
                if (looked[i].Postings is null)
                {
                    Apply(ref candidates, matchers[i], looked[i].Label, generation);
                }
            }

            return new SeriesSelection(generation.Slots, slotCount, candidates);
        }
        catch
        {
            candidates.Dispose();
            throw;
        }
    }

    private static void Apply(ref IdSet candidates, LabelMatcher matcher, LabelPostings? label, Generation generation)
    {
        var emptyMatches = matcher.Matches(string.Empty);
        if (label is null)
        {
            // No series has the label: all match as "" or none does.
            if (!emptyMatches)
            {
                candidates.Clear();
            }

            return;
        }

        var (values, valueCount) = label.Snapshot();
        if (!candidates.IsAll && candidates.Count <= valueCount)
        {
            // Fewer candidates than values: testing each candidate's own value is the cheaper way.
            candidates.Filter(generation.Slots, matcher);
            return;
        }

        // Each value is tested once; the series of the values that disagree with how "" matches are gathered, and
        // then kept (the matcher needs a value) or dropped (it also takes series without the label).
        var flipped = new IdSet(candidates.Limit);
        try
        {
            for (var v = 0; v < valueCount; v++)
            {
                if (matcher.Matches(values[v].Value) != emptyMatches)
                {
                    flipped.Append(values[v].Snapshot());
                }
            }

            flipped.SortAppended();
            if (emptyMatches)
            {
                candidates.Subtract(flipped);
            }
            else
            {
                candidates.Intersect(flipped.Ids);
            }
        }
        finally
        {
            flipped.Dispose();
        }
    }

    private readonly record struct Lookup(LabelPostings? Label, Postings? Postings);

    /// <summary>The slots and postings as of one compaction; removal only nulls slots, so readers never see a moved one.</summary>
    private sealed class Generation(int capacity)
    {
        public Series?[] Slots = new Series?[capacity];

        public int SlotCount;

        public int Dead;

        public readonly Dictionary<string, LabelPostings> Labels = new(StringComparer.Ordinal);

        public void Add(Series series)
        {
            var slot = SlotCount;
            var slots = Slots;
            if (slot == slots.Length)
            {
                Array.Resize(ref slots, slots.Length * 2);
            }

            slots[slot] = series;
            Volatile.Write(ref Slots, slots);
            foreach (var (name, value) in series.Labels)
            {
                if (!Labels.TryGetValue(name, out var label))
                {
                    label = new LabelPostings();
                    Labels.Add(name, label);
                }

                label.Add(value, slot);
            }

            Volatile.Write(ref SlotCount, slot + 1);
        }

        public Generation Compacted()
        {
            var next = new Generation(Math.Max(4, (int)Math.Min(Array.MaxLength, (long)(SlotCount - Dead) * 2)));
            for (var i = 0; i < SlotCount; i++)
            {
                if (Slots[i] is { } series)
                {
                    next.Add(series);
                }
            }

            return next;
        }
    }

    /// <summary>One label's values, in first-seen order, with their postings.</summary>
    private sealed class LabelPostings
    {
        public readonly Dictionary<string, Postings> ByValue = new(StringComparer.Ordinal);

        public Postings[] Values = new Postings[2];

        public int ValueCount;

        public void Add(string value, int slot)
        {
            if (!ByValue.TryGetValue(value, out var postings))
            {
                postings = new Postings(value);
                ByValue.Add(value, postings);
                var values = Values;
                if (ValueCount == values.Length)
                {
                    Array.Resize(ref values, values.Length * 2);
                }

                values[ValueCount] = postings;
                Volatile.Write(ref Values, values);
                Volatile.Write(ref ValueCount, ValueCount + 1);
            }

            postings.Add(slot);
        }

        public (Postings[] Values, int Count) Snapshot()
        {
            // Count first: an array read after it holds at least that many.
            var count = Volatile.Read(ref ValueCount);
            return (Volatile.Read(ref Values), count);
        }
    }

    /// <summary>Sorted slot numbers of the series with one label value: an int per series, no object.</summary>
    private sealed class Postings(string value)
    {
        public readonly string Value = value;

        public int[] Ids = new int[1];

        public int Count;

        public void Add(int slot)
        {
            var ids = Ids;
            if (Count == ids.Length)
            {
                Array.Resize(ref ids, ids.Length * 2);
            }

            ids[Count] = slot;
            Volatile.Write(ref Ids, ids);
            Volatile.Write(ref Count, Count + 1);
        }

        public ReadOnlySpan<int> Snapshot()
        {
            var count = Volatile.Read(ref Count);
            return Volatile.Read(ref Ids).AsSpan(0, count);
        }
    }
}

/// <summary>A set of slot numbers below <see cref="Limit"/>, sorted, in a pooled buffer; starts as every slot.</summary>
internal struct IdSet(int limit) : IDisposable
{
    private int[]? _ids;
    private int _count;

    /// <summary>Slots at or past it were added after the selection started and are not part of it.</summary>
    public readonly int Limit { get; } = limit;

    public bool IsAll { get; private set; } = true;

    public readonly int Count => IsAll ? Limit : _count;

    public readonly bool IsEmpty => Count == 0;

    public readonly ReadOnlySpan<int> Ids => _ids.AsSpan(0, _count);

    public void Clear()
    {
        IsAll = false;
        _count = 0;
    }

    /// <summary>Keeps the ids also in <paramref name="sorted"/> (ascending).</summary>
    public void Intersect(ReadOnlySpan<int> sorted)
    {
        sorted = Below(sorted, Limit);
        if (IsAll)
        {
            IsAll = false;
            Ensure(sorted.Length);
            sorted.CopyTo(_ids);
            _count = sorted.Length;
            return;
        }

        var ids = _ids.AsSpan(0, _count);
        int kept = 0, j = 0;
        foreach (var id in ids)
        {
            while (j < sorted.Length && sorted[j] < id)
            {
                j++;
            }

            if (j == sorted.Length)
            {
                break;
            }

            if (sorted[j] == id)
            {
                ids[kept++] = id;
            }
        }

        _count = kept;
    }

    /// <summary>Drops the ids in <paramref name="other"/>.</summary>
    public void Subtract(in IdSet other)
    {
        var remove = other.Ids;
        if (IsAll)
        {
            IsAll = false;
            Ensure(Limit);
            int next = 0, r = 0;
            for (var id = 0; id < Limit; id++)
            {
                if (r < remove.Length && remove[r] == id)
                {
                    r++;
                    continue;
                }

                _ids![next++] = id;
            }

            _count = next;
            return;
        }

        var ids = _ids.AsSpan(0, _count);
        int kept = 0, j = 0;
        foreach (var id in ids)
        {
            while (j < remove.Length && remove[j] < id)
            {
                j++;
            }

            if (j < remove.Length && remove[j] == id)
            {
                continue;
            }

            ids[kept++] = id;
        }

        _count = kept;
    }

    /// <summary>Keeps the ids whose series <paramref name="matcher"/> accepts (and that are still live).</summary>
    public void Filter(Series?[] slots, LabelMatcher matcher)
    {
        var ids = _ids.AsSpan(0, _count);
        var kept = 0;
        foreach (var id in ids)
        {
            if (slots[id] is { } series && matcher.Matches(series.Labels.GetValueOrDefault(matcher.Name)))
            {
                ids[kept++] = id;
            }
        }

        _count = kept;
    }

    /// <summary>Appends ids in any order (see <see cref="SortAppended"/>).</summary>
    public void Append(ReadOnlySpan<int> ids)
    {
        ids = Below(ids, Limit);
        IsAll = false;
        Ensure(_count + ids.Length);
        ids.CopyTo(_ids.AsSpan(_count));
        _count += ids.Length;
    }

    public readonly void SortAppended() => _ids.AsSpan(0, _count).Sort();

    public void Dispose()
    {
        if (_ids is not null)
        {
            ArrayPool<int>.Shared.Return(_ids);
            _ids = null;
        }

        _count = 0;
    }

    private static ReadOnlySpan<int> Below(ReadOnlySpan<int> sorted, int limit)
    {
        // Postings are appended in slot order, so only the tail can be past the limit.
        var end = sorted.Length;
        while (end > 0 && sorted[end - 1] >= limit)
        {
            end--;
        }

        return sorted[..end];
    }

    private void Ensure(int capacity)
    {
        if (_ids is not null && _ids.Length >= capacity)
        {
            return;
        }

        // Pooled: a selection's scratch ids cost no garbage per query.
        var grown = ArrayPool<int>.Shared.Rent(Math.Max(capacity, 16));
        if (_ids is not null)
        {
            _ids.AsSpan(0, _count).CopyTo(grown);
            ArrayPool<int>.Shared.Return(_ids);
        }

        _ids = grown;
    }
}

/// <summary>The series a selection picked, in creation order; a dead slot (removed meanwhile) is skipped.</summary>
internal struct SeriesSelection(Series?[] slots, int slotCount, IdSet ids) : IDisposable
{
    private IdSet _ids = ids;
    private int _position = -1;

    public static SeriesSelection Empty
    {
        get
        {
            var none = new IdSet(0);
            none.Clear();
            return new SeriesSelection([], 0, none);
        }
    }

    /// <summary>The next live series, or null at the end.</summary>
    public Series? Next()
    {
        while (true)
        {
            _position++;
            int slot;
            if (_ids.IsAll)
            {
                if (_position >= slotCount)
                {
                    return null;
                }

                slot = _position;
            }
            else
            {
                if (_position >= _ids.Count)
                {
                    return null;
                }

                slot = _ids.Ids[_position];
            }

            if (slots[slot] is { } series)
            {
                return series;
            }
        }
    }

    public void Dispose() => _ids.Dispose();
}
