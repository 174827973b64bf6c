using Vigil.Storage.Index;
using Vigil.Storage.Query;

namespace Vigil.Storage;

/// <summary>A metric name: its kind (fixed by the first point), unit and series, indexed by label (<see cref="SeriesPostings"/>).</summary>
internal sealed class MetricState(int id, string name, MetricKind kind, string unit, bool monotonic)
{
    private readonly Lock _lock = new();
    private readonly SeriesPostings _series = new();
    private int _seriesCount;

    public int Id { get; } = id;

    public string Name { get; } = name;

    public MetricKind Kind { get; } = kind;

    public string Unit { get; } = unit;

    public bool Monotonic { get; } = monotonic;

    public Series? Overflow { get; set; }

    /// <summary>How late this metric's points arrive (query_offset: auto).</summary>
    public ArrivalLag Lag { get; } = new();

    /// <summary>Canonical key of the overflow series, kept once built.</summary>
    public byte[]? OverflowKey { get; set; }

    /// <summary>Points folded into the overflow series since start.</summary>
    public long OverflowPoints;

    public int SeriesCount => Volatile.Read(ref _seriesCount);

    public bool TryReserveSeries(int limit)
    {
        while (true)
        {
            var current = Volatile.Read(ref _seriesCount);
            if (current >= limit)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _seriesCount, current + 1, current) == current)
            {
                return true;
            }
        }
    }

    /// <summary>Gives back a reservation whose series was not created after all.</summary>
    public void ReleaseReservation() => Interlocked.Decrement(ref _seriesCount);

    public void Add(Series series)
    {
        lock (_lock)
        {
            _series.Add(series);
        }
    }

    /// <summary>Adds a series restored from a checkpoint: it counts against the limit but is never refused.</summary>
    public void AddRestored(Series series)
    {
        lock (_lock)
        {
            if (series.IsOverflow)
            {
                Overflow = series;
                OverflowKey = series.Key;
            }
            else
            {
                Interlocked.Increment(ref _seriesCount);
            }

            _series.Add(series);
        }
    }

    /// <summary>A copy of every series, in creation order: for whole-store walks (checkpoints), not queries.</summary>
    public Series[] Snapshot()
    {
        lock (_lock)
        {
            return _series.ToArray();
        }
    }

    /// <summary>The attribute names of the live series, in first-seen order, from the label index; null with no series.</summary>
    public List<string>? LabelNames() => _series.Count > 0 ? _series.LabelNames(_lock) : null;

    /// <summary>The series <paramref name="matchers"/> select, through the label index; dispose it after reading.</summary>
    public SeriesSelection Select(IReadOnlyList<LabelMatcher> matchers) => _series.Select(matchers, _lock);

    /// <summary>Approximate bytes of the label index of this metric.</summary>
    public long IndexBytes()
    {
        lock (_lock)
        {
            return _series.ApproximateBytes();
        }
    }

    public int RemoveWhere(Func<Series, bool> predicate)
    {
        lock (_lock)
        {
            return _series.RemoveWhere(predicate, removed =>
            {
                if (!ReferenceEquals(removed, Overflow))
                {
                    Interlocked.Decrement(ref _seriesCount);
                }
                else
                {
                    Overflow = null;
                }
            });
        }
    }
}
