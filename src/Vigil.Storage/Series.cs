using System.Numerics;
using Vigil.Storage.Checkpoint;

namespace Vigil.Storage;

/// <summary>
/// One series: its labels and a sparse, time-ordered run of buckets (only buckets that received data
/// exist). Each kind keeps its bucket values in parallel arrays beside the shared bucket index array.
/// All members are called under the series' stripe lock.
/// </summary>
internal abstract class Series
{
    private const int RecentPoints = 4;

    // Bucket numbers (time / resolution since 2020-01-01), ascending.
    private int[] _buckets = new int[4];

    // The last few (start, time) pairs, interleaved: a retried delta or gauge batch is recognised and not
    // counted twice. Made on the first delta or gauge point: cumulative series never read it.
    private long[]? _recent;
    private int _recentNext;

    protected Series(MetricState metric, byte[] key, LabelSet labels, int stripe)
    {
        Metric = metric;
        Key = key;
        Labels = labels;
        Stripe = stripe;
    }

    public MetricState Metric { get; }

    public byte[] Key { get; }

    public LabelSet Labels { get; }

    public int Stripe { get; }

    /// <summary>Bucket number of the newest point, used to expire idle series.</summary>
    public int LastBucket { get; protected set; } = int.MinValue;

    public bool Removed { get; set; }

    /// <summary>The checkpoint epoch this series was last written or preserved in (see WindowStore.Checkpoint.cs).</summary>
    public int CheckpointEpoch;

    /// <summary>Its tenant's traffic counter, found on the series' first accepted point; null until then, <see cref="TenantTraffic.Counter.None"/> without a tenant.</summary>
    public TenantTraffic.Counter? Traffic { get; set; }

    /// <summary>The metric's overflow series, where points of many series past the limit meet.</summary>
    public bool IsOverflow { get; init; }

    /// <summary>Bumped by every change to the buckets: a read memo (<see cref="Query.FoldMemo"/>) is stale once it moved.</summary>
    public int Changes;

    /// <summary>The last window sum read from this series, or null before its first read (rule reads, decision 034).</summary>
    public Query.FoldMemo? Memo;

    protected int Count { get; private set; }

    protected int Capacity => _buckets.Length;

    // Live slots are [_head, _head + Count): expiring old buckets only moves the head, and the arrays
    // are compacted when an append reaches their end, so a sweep costs O(1) per series, not a copy.
    private int _head;

    protected ReadOnlySpan<int> Buckets => _buckets.AsSpan(_head, Count);

    /// <summary>True when this exact (start, time) was applied recently; otherwise remembers it.</summary>
    protected bool IsRepeat(ulong start, ulong time)
    {
        if (IsOverflow)
        {
            // Series folded in here routinely share (start, time): they are different points, not retries.
            return false;
        }

        // Zeros until written, as before it was made lazily: a (0, 0) point still matches an empty ring.
        var recent = _recent ??= new long[RecentPoints * 2];
        for (var i = 0; i < recent.Length; i += 2)
        {
            if (recent[i + 1] == (long)time && recent[i] == (long)start)
            {
                return true;
            }
        }

        recent[_recentNext * 2] = (long)start;
        recent[(_recentNext * 2) + 1] = (long)time;
        _recentNext = (_recentNext + 1) % RecentPoints;
        return false;
    }

    /// <summary>Finds or inserts the slot for a bucket number; in-order points append without searching.</summary>
    protected int Slot(int bucket)
    {
        Changes++;
        if (bucket > LastBucket)
        {
            LastBucket = bucket;
        }

        var end = _head + Count;
        if (Count > 0 && _buckets[end - 1] == bucket)
        {
            return end - 1;
        }

        int position;
        if (Count == 0 || _buckets[end - 1] < bucket)
        {
            position = end;
        }
        else
        {
            position = Array.BinarySearch(_buckets, _head, Count, bucket);
            if (position >= 0)
            {
                return position;
            }

            position = ~position;
        }

        if (end == _buckets.Length)
        {
            if (_head > 0)
            {
                // Compact: move the live slots to the front instead of growing.
                var head = _head;
                Array.Copy(_buckets, head, _buckets, 0, Count);
                Remove(head, end);
                _head = 0;
                position -= head;
                end = Count;
            }
            else
            {
                var capacity = end * 2;
                Array.Resize(ref _buckets, capacity);
                Grow(capacity);
            }
        }

        if (position < end)
        {
            Array.Copy(_buckets, position, _buckets, position + 1, end - position);
            Shift(position, end);
        }

        _buckets[position] = bucket;
        Clear(position);
        Count++;
        return position;
    }

    /// <summary>Drops buckets older than <paramref name="oldest"/>.</summary>
    public void Trim(int oldest)
    {
        Changes++;
        while (Count > 0 && _buckets[_head] < oldest)
        {
            Clear(_head); // releases what a dropped slot references
            _head++;
            Count--;
        }

        if (Count == 0)
        {
            _head = 0;
        }

        TrimPacked(oldest);
    }

    /// <summary>Drops the oldest <paramref name="count"/> slots (a packed kind has just sealed them).</summary>
    protected void DropOldest(int count)
    {
        for (var i = 0; i < count; i++)
        {
            Clear(_head);
            _head++;
        }

        Count -= count;
        if (Count == 0)
        {
            _head = 0;
        }
    }

    /// <summary>Bucket numbers of slots [first, end).</summary>
    protected ReadOnlySpan<int> BucketsOf(int first, int end) => _buckets.AsSpan(first, end - first);

    /// <summary>The slot of the oldest live bucket.</summary>
    protected int Head => _head;

    /// <summary>Moves the live slots to the front and cuts the arrays to <paramref name="capacity"/> (after a restore sealed most of them).</summary>
    protected void ShrinkSlots(int capacity)
    {
        if (capacity < Count || capacity >= _buckets.Length)
        {
            return;
        }

        if (_head > 0)
        {
            var end = _head + Count;
            Array.Copy(_buckets, _head, _buckets, 0, Count);
            Remove(_head, end);
            _head = 0;
        }

        Array.Resize(ref _buckets, capacity);
        Grow(capacity);
    }

    /// <summary>A kind that packs closed buckets drops those older than <paramref name="oldest"/>.</summary>
    protected virtual void TrimPacked(int oldest)
    {
    }

    /// <summary>Whether a kind holds packed (closed) buckets beside the raw slots.</summary>
    protected virtual bool HasPacked => false;

    /// <summary>Slots whose bucket number lies in [from, to].</summary>
    public (int First, int End) Range(int from, int to)
    {
        var buckets = Buckets;
        var first = LowerBound(buckets, from);
        var end = LowerBound(buckets, to + 1);
        return (_head + first, _head + end);
    }

    /// <summary>The slot of one bucket number, or -1 when the series has no data in it.</summary>
    protected int SlotOf(int bucket)
    {
        var (first, end) = Range(bucket, bucket);
        return end > first ? first : -1;
    }

    /// <summary>What the series holds in one bucket (see <see cref="Query.BucketView"/>); false when it holds nothing there.</summary>
    public abstract bool TryRead(int bucket, out Query.BucketView view);

    /// <summary>
    /// Writes what a restart needs to continue this series exactly: the live buckets (oldest first),
    /// the newest bucket, the recent (start, time) ring, then the kind's own values and state.
    /// </summary>
    internal void WriteCheckpoint(CheckpointWriter writer)
    {
        writer.WriteInt32(LastBucket);
        for (var i = 0; i < RecentPoints * 2; i++)
        {
            // (start, time) pairs, as the two arrays this ring replaced wrote them; zeros for a ring never made.
            writer.WriteInt64(_recent is null ? 0 : _recent[i]);
        }

        writer.WriteInt32(_recentNext);
        WriteBucketNumbers(writer);
        WriteState(writer, _head, Count);
    }

    /// <summary>Restores what <see cref="WriteCheckpoint"/> wrote into a new, empty series.</summary>
    internal void ReadCheckpoint(CheckpointReader reader)
    {
        LastBucket = reader.ReadInt32();
        for (var i = 0; i < RecentPoints * 2; i++)
        {
            var value = reader.ReadInt64();
            if (value != 0 || _recent is not null)
            {
                (_recent ??= new long[RecentPoints * 2])[i] = value;
            }
        }

        _recentNext = reader.ReadInt32();
        if ((uint)_recentNext >= RecentPoints)
        {
            throw CheckpointReader.Corrupt($"recent-point position {_recentNext}");
        }

        var count = reader.ReadCount(sizeof(int));
        var capacity = Math.Max(_buckets.Length, (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(count, 1)));
        if (capacity > _buckets.Length)
        {
            Array.Resize(ref _buckets, capacity);
            Grow(capacity);
        }

        for (var i = 0; i < count; i++)
        {
            _buckets[i] = reader.ReadInt32();
            if (i > 0 && _buckets[i] <= _buckets[i - 1])
            {
                throw CheckpointReader.Corrupt("bucket numbers out of order");
            }
        }

        _head = 0;
        Count = count;
        ReadState(reader, count);
        Restored();
    }

    /// <summary>Writes every live bucket number, oldest first, as <see cref="CheckpointWriter.WriteInt32s"/> does.</summary>
    protected virtual void WriteBucketNumbers(CheckpointWriter writer) => writer.WriteInt32s(Buckets);

    /// <summary>Called once a restore has filled the slots (a packed kind seals the closed ones).</summary>
    protected virtual void Restored()
    {
    }

    /// <summary>Writes the kind's slots [head, head + count) and its per-series state.</summary>
    protected abstract void WriteState(CheckpointWriter writer, int head, int count);

    /// <summary>Reads what <see cref="WriteState"/> wrote into slots [0, count).</summary>
    protected abstract void ReadState(CheckpointReader reader, int count);

    public bool IsEmpty => Count == 0 && !HasPacked;

    /// <summary>The oldest bucket number held (int.MaxValue when empty): what a sweep would expire first.</summary>
    public int FirstBucket => Count > 0 ? _buckets[_head] : int.MaxValue;

    public abstract long ApproximateBytes { get; }

    protected abstract void Grow(int capacity);

    /// <summary>Moves slots [position, count) one place right.</summary>
    protected abstract void Shift(int position, int count);

    /// <summary>Moves slots [drop, count) to the front.</summary>
    protected abstract void Remove(int drop, int count);

    protected abstract void Clear(int slot);

    protected long BaseBytes => 64 + (_buckets.Length * 4) + 24 + (_recent is null ? 0 : (RecentPoints * 16) + 24) + (Key.Length + 24);

    private static int LowerBound(ReadOnlySpan<int> buckets, int value)
    {
        int lo = 0, hi = buckets.Length;
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (buckets[mid] < value)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }

        return lo;
    }

    protected static void ShiftArray<T>(T[] array, int position, int count) => Array.Copy(array, position, array, position + 1, count - position);

    protected static void RemoveArray<T>(T[] array, int drop, int count) => Array.Copy(array, drop, array, 0, count - drop);
}
