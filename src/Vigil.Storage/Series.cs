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

    // The last few (start, time) pairs: a retried delta or gauge batch is recognised and not counted twice.
    private readonly long[] _recentStart = new long[RecentPoints];
    private readonly long[] _recentTime = new long[RecentPoints];
    private int _recentNext;

    protected Series(MetricState metric, byte[] key, IReadOnlyDictionary<string, string> labels, int stripe)
    {
        Metric = metric;
        Key = key;
        Labels = labels;
        Stripe = stripe;
    }

    public MetricState Metric { get; }

    public byte[] Key { get; }

    public IReadOnlyDictionary<string, string> Labels { get; }

    public int Stripe { get; }

    /// <summary>Bucket number of the newest point, used to expire idle series.</summary>
    public int LastBucket { get; protected set; } = int.MinValue;

    public bool Removed { get; set; }

    /// <summary>The metric's overflow series, where points of many series past the limit meet.</summary>
    public bool IsOverflow { get; init; }

    protected int Count { get; private set; }

    protected int Capacity => _buckets.Length;

    protected ReadOnlySpan<int> Buckets => _buckets.AsSpan(0, Count);

    /// <summary>True when this exact (start, time) was applied recently; otherwise remembers it.</summary>
    protected bool IsRepeat(ulong start, ulong time)
    {
        if (IsOverflow)
        {
            // Series folded in here routinely share (start, time): they are different points, not retries.
            return false;
        }

        for (var i = 0; i < RecentPoints; i++)
        {
            if (_recentTime[i] == (long)time && _recentStart[i] == (long)start)
            {
                return true;
            }
        }

        _recentStart[_recentNext] = (long)start;
        _recentTime[_recentNext] = (long)time;
        _recentNext = (_recentNext + 1) % RecentPoints;
        return false;
    }

    /// <summary>Finds or inserts the slot for a bucket number; in-order points append without searching.</summary>
    protected int Slot(int bucket)
    {
        if (bucket > LastBucket)
        {
            LastBucket = bucket;
        }

        var count = Count;
        if (count > 0 && _buckets[count - 1] == bucket)
        {
            return count - 1;
        }

        int position;
        if (count == 0 || _buckets[count - 1] < bucket)
        {
            position = count;
        }
        else
        {
            position = Array.BinarySearch(_buckets, 0, count, bucket);
            if (position >= 0)
            {
                return position;
            }

            position = ~position;
        }

        if (count == _buckets.Length)
        {
            var capacity = count * 2;
            Array.Resize(ref _buckets, capacity);
            Grow(capacity);
        }

        if (position < count)
        {
            Array.Copy(_buckets, position, _buckets, position + 1, count - position);
            Shift(position, count);
        }

        _buckets[position] = bucket;
        Clear(position);
        Count = count + 1;
        return position;
    }

    /// <summary>Drops buckets older than <paramref name="oldest"/>.</summary>
    public void Trim(int oldest)
    {
        var count = Count;
        var drop = 0;
        while (drop < count && _buckets[drop] < oldest)
        {
            drop++;
        }

        if (drop == 0)
        {
            return;
        }

        Array.Copy(_buckets, drop, _buckets, 0, count - drop);
        Remove(drop, count);
        Count = count - drop;
    }

    /// <summary>Slots whose bucket number lies in [from, to].</summary>
    public (int First, int End) Range(int from, int to)
    {
        var buckets = Buckets;
        var first = LowerBound(buckets, from);
        var end = LowerBound(buckets, to + 1);
        return (first, end);
    }

    public bool IsEmpty => Count == 0;

    public abstract long ApproximateBytes { get; }

    protected abstract void Grow(int capacity);

    /// <summary>Moves slots [position, count) one place right.</summary>
    protected abstract void Shift(int position, int count);

    /// <summary>Moves slots [drop, count) to the front.</summary>
    protected abstract void Remove(int drop, int count);

    protected abstract void Clear(int slot);

    protected long BaseBytes => 64 + (_buckets.Length * 4) + (RecentPoints * 16) + 24 + (Key.Length + 24);

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
