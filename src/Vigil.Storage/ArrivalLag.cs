using System.Numerics;

namespace Vigil.Storage;

/// <summary>
/// How late a metric's points arrive: arrival time minus point time, in a log-scale histogram per minute of
/// arrival, kept for <see cref="Minutes"/> minutes. Rules read a high quantile of it to pick an evaluation offset
/// (query_offset: auto). Benign races: two sessions rolling the same minute slot at once may lose a few counts;
/// the figure is an estimate either way.
/// </summary>
internal sealed class ArrivalLag
{
    /// <summary>Minutes of history a quantile reads.</summary>
    public const int Minutes = 10;

    /// <summary>Bucket i holds lags in [2^(i-1), 2^i) ms, bucket 0 lags under 1 ms (and points from the future).</summary>
    public const int Buckets = 26;

    private const int Slots = Minutes + 1;
    private readonly long[] _minuteOf = new long[Slots];
    private readonly long[,] _counts = new long[Slots, Buckets];

    public static int BucketOf(long lagNanos)
    {
        var ms = lagNanos / 1_000_000;
        return ms <= 0 ? 0 : Math.Min(Buckets - 1, BitOperations.Log2((ulong)ms) + 1);
    }

    /// <summary>The upper edge of bucket <paramref name="bucket"/>: what a lag in it is at most.</summary>
    public static TimeSpan UpperEdge(int bucket) => TimeSpan.FromMilliseconds(bucket == 0 ? 1 : 1L << bucket);

    /// <summary>Adds one request's counts for this metric (a session counts locally, per point, and flushes once).</summary>
    public void Add(long minute, ReadOnlySpan<int> counts)
    {
        var slot = (int)(minute % Slots);
        if (Volatile.Read(ref _minuteOf[slot]) != minute)
        {
            lock (_counts)
            {
                if (_minuteOf[slot] != minute)
                {
                    for (var b = 0; b < Buckets; b++)
                    {
                        _counts[slot, b] = 0;
                    }

                    Volatile.Write(ref _minuteOf[slot], minute);
                }
            }
        }

        for (var b = 0; b < counts.Length; b++)
        {
            if (counts[b] != 0)
            {
                Interlocked.Add(ref _counts[slot, b], counts[b]);
            }
        }
    }

    /// <summary>The <paramref name="quantile"/> of the lags that arrived in the last <see cref="Minutes"/> minutes, as the upper edge of its bucket; null without any.</summary>
    public TimeSpan? Quantile(long nowMinute, double quantile)
    {
        Span<long> totals = stackalloc long[Buckets];
        long all = 0;
        for (var slot = 0; slot < Slots; slot++)
        {
            var minute = Volatile.Read(ref _minuteOf[slot]);
            if (minute > nowMinute - Minutes && minute <= nowMinute)
            {
                for (var b = 0; b < Buckets; b++)
                {
                    var n = Volatile.Read(ref _counts[slot, b]);
                    totals[b] += n;
                    all += n;
                }
            }
        }

        if (all == 0)
        {
            return null;
        }

        var rank = (long)Math.Ceiling(quantile * all);
        long seen = 0;
        for (var b = 0; b < Buckets; b++)
        {
            seen += totals[b];
            if (seen >= rank)
            {
                return UpperEdge(b);
            }
        }

        return UpperEdge(Buckets - 1);
    }
}
