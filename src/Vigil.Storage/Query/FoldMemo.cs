namespace Vigil.Storage.Query;

/// <summary>
/// A counter series' window sum as last read, reused while it is exact (decision 034): rules of a round read the
/// same series over the same window many times, and an idle series' buckets do not change between rounds.
/// Read and written under the series' stripe lock.
/// </summary>
internal sealed class FoldMemo
{
    private int _changes;
    private int _from;
    private int _to;
    private bool _whole;

    public double Sum { get; private set; }

    public double Points { get; private set; }

    public bool Present { get; private set; }

    /// <summary>
    /// Whether this memo is what a fold of <paramref name="series"/> over [from, to] would return: nothing changed
    /// since, and either the same window or one that still holds every bucket the series has, as the memo's did.
    /// </summary>
    public bool Holds(CounterSeries series, int from, int to)
    {
        if (series.Changes != _changes)
        {
            return false;
        }

        if (from == _from && to == _to)
        {
            return true;
        }

        return _whole && HoldsEverything(series, from, to);
    }

    public void Set(CounterSeries series, int from, int to, bool present, double sum, double points)
    {
        _changes = series.Changes;
        _from = from;
        _to = to;
        _whole = HoldsEverything(series, from, to);
        Present = present;
        Sum = sum;
        Points = points;
    }

    /// <summary>
    /// Every bucket of the series lies in [from, to]. Only known for a series with no packed chunk: its raw slots are
    /// then all it has (<see cref="Series.FirstBucket"/> the oldest, <see cref="Series.LastBucket"/> at least the newest).
    /// </summary>
    private static bool HoldsEverything(CounterSeries series, int from, int to) =>
        series.PackedBytes == 0 && series.FirstBucket >= from && series.LastBucket <= to;
}
