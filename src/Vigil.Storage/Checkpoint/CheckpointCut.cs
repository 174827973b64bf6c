namespace Vigil.Storage.Checkpoint;

/// <summary>
/// A checkpoint between its cut (<see cref="WindowStore.BeginCheckpoint"/>) and the end of its
/// writing: the metric-level state at the cut, and the series that changed before the writer reached
/// them, each with the state it had at the cut. Dispose it when the checkpoint is written or abandoned;
/// until then changed series keep preserving their state here.
/// </summary>
public sealed class CheckpointCut : IDisposable
{
    // Per stripe, touched only under that stripe's lock: preserving needs no lock of its own.
    private readonly Dictionary<Series, byte[]>?[] _preserved;
    private readonly CheckpointWriter?[] _scratch;
    private long _preservedSeries;
    private long _preservedBytes;
    private long _peakPreservedBytes;

    internal CheckpointCut(
        WindowStore store, int epoch, long walSegment, ulong knownSince, ulong at, int nextMetricId, MetricState[] metrics, long[] overflowPoints, int series, int stripes)
    {
        Store = store;
        Epoch = epoch;
        WalSegment = walSegment;
        KnownSinceUnixNano = knownSince;
        AtUnixNano = at;
        NextMetricId = nextMetricId;
        Metrics = metrics;
        OverflowPoints = overflowPoints;
        Series = series;
        _preserved = new Dictionary<Series, byte[]>?[stripes];
        _scratch = new CheckpointWriter?[stripes];
    }

    /// <summary>The first WAL segment whose records are not in this checkpoint.</summary>
    public long WalSegment { get; }

    /// <summary>Series in the store at the cut: the checkpoint holds exactly these.</summary>
    public int Series { get; }

    /// <summary>Series that changed after the cut before the writer reached them, so preserved their state first.</summary>
    public long PreservedSeries => Interlocked.Read(ref _preservedSeries);

    /// <summary>The most bytes of preserved state held at once: the copy-on-write's extra memory.</summary>
    public long PeakPreservedBytes => Interlocked.Read(ref _peakPreservedBytes);

    internal WindowStore Store { get; }

    internal int Epoch { get; }

    internal ulong KnownSinceUnixNano { get; }

    internal ulong AtUnixNano { get; }

    internal int NextMetricId { get; }

    internal MetricState[] Metrics { get; }

    internal long[] OverflowPoints { get; }

    /// <summary>Test seam: called on the writer's thread after each series it wrote, with the count so far.</summary>
    internal Action<int>? AfterSeries { get; set; }

    public void Dispose() => Store.EndCheckpoint(this);

    /// <summary>Saves the series' state at the cut; called under its stripe lock, before it changes.</summary>
    internal void Preserve(Series series)
    {
        var scratch = _scratch[series.Stripe] ??= new CheckpointWriter(4 * 1024);
        scratch.Reset();
        WindowStore.WriteSeriesRecord(scratch, series);
        (_preserved[series.Stripe] ??= new(ReferenceEqualityComparer.Instance)).Add(series, scratch.Written.ToArray());
        series.CheckpointEpoch = Epoch;
        Interlocked.Increment(ref _preservedSeries);
        var held = Interlocked.Add(ref _preservedBytes, scratch.Length);
        for (var peak = Interlocked.Read(ref _peakPreservedBytes); held > peak; peak = Interlocked.Read(ref _peakPreservedBytes))
        {
            Interlocked.CompareExchange(ref _peakPreservedBytes, held, peak);
        }
    }

    /// <summary>The preserved state of a series, handed over once; called under its stripe lock.</summary>
    internal byte[]? TakePreserved(Series series)
    {
        if (_preserved[series.Stripe] is not { } preserved || !preserved.Remove(series, out var bytes))
        {
            return null;
        }

        Interlocked.Add(ref _preservedBytes, -bytes.Length);
        return bytes;
    }
}
