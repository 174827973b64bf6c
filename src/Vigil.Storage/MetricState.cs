namespace Vigil.Storage;

/// <summary>A metric name: its kind (fixed by the first point), unit and series.</summary>
internal sealed class MetricState(int id, string name, MetricKind kind, string unit, bool monotonic)
{
    private readonly List<Series> _series = [];
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
        lock (_series)
        {
            _series.Add(series);
        }
    }

    /// <summary>Adds a series restored from a checkpoint: it counts against the limit but is never refused.</summary>
    public void AddRestored(Series series)
    {
        lock (_series)
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

    public Series[] Snapshot()
    {
        lock (_series)
        {
            return [.. _series];
        }
    }

    public int RemoveWhere(Func<Series, bool> predicate)
    {
        lock (_series)
        {
            var removed = 0;
            for (var i = _series.Count - 1; i >= 0; i--)
            {
                if (predicate(_series[i]))
                {
                    if (!ReferenceEquals(_series[i], Overflow))
                    {
                        Interlocked.Decrement(ref _seriesCount);
                    }
                    else
                    {
                        Overflow = null;
                    }

                    _series.RemoveAt(i);
                    removed++;
                }
            }

            if (removed > 0 && _series.Count < _series.Capacity / 4)
            {
                _series.TrimExcess();
            }

            return removed;
        }
    }
}
