using Vigil.Otlp.Wire;
using Vigil.Storage.Checkpoint;
using Vigil.Storage.Compression;

namespace Vigil.Storage;

/// <summary>
/// Cumulative-to-delta bookkeeping shared by every cumulative kind: decides whether a point is new,
/// a reset, an already-counted repeat or a baseline.
/// </summary>
internal struct CumulativeState
{
    public ulong Start;
    public ulong Time;
    public bool HasLast;

    public enum Step
    {
        /// <summary>Already covered by a later point of the same run: count nothing.</summary>
        Stale,

        /// <summary>First point of a run that began before Vigil could see it: it is the baseline.</summary>
        Baseline,

        /// <summary>The producer restarted (start time moved): the whole value is new.</summary>
        Restart,

        /// <summary>Same run, later point: count the difference (or all of it if the value went down).</summary>
        Continue,
    }

    public readonly Step Classify(ulong start, ulong time, ulong knownSince)
    {
        if (!HasLast)
        {
            // A run that started after Vigil's view began is complete: count it all. Otherwise its
            // history is unknown, and counting it would fake a spike after every Vigil restart.
            return start != 0 && start >= knownSince ? Step.Restart : Step.Baseline;
        }

        if (start == Start || start == 0)
        {
            return time <= Time ? Step.Stale : Step.Continue;
        }

        return start > Start ? Step.Restart : Step.Stale;
    }

    public void Remember(ulong start, ulong time)
    {
        Start = start;
        Time = time;
        HasLast = true;
    }

    public readonly void Write(CheckpointWriter writer)
    {
        writer.WriteUInt64(Start);
        writer.WriteUInt64(Time);
        writer.WriteBool(HasLast);
    }

    public static CumulativeState Read(CheckpointReader reader) =>
        new() { Start = reader.ReadUInt64(), Time = reader.ReadUInt64(), HasLast = reader.ReadBool() };
}

internal sealed class CounterSeries(MetricState metric, byte[] key, LabelSet labels, int stripe)
    : PackedSeries<CounterBucket, CounterCodec>(metric, key, labels, stripe)
{
    private CumulativeState _cumulative;
    private double _lastValue;

    public string? Add(int bucket, ulong start, ulong time, double value, bool cumulative, ulong knownSince)
    {
        if (!double.IsFinite(value))
        {
            return RefusalReasons.NotFinite;
        }

        double delta;
        if (cumulative)
        {
            var step = _cumulative.Classify(start, time, knownSince);
            delta = step switch
            {
                CumulativeState.Step.Stale => double.NaN,
                CumulativeState.Step.Baseline => 0,
                CumulativeState.Step.Restart => value,
                _ => value >= _lastValue ? value - _lastValue : value,
            };
            if (double.IsNaN(delta))
            {
                return null;
            }

            _cumulative.Remember(start, time);
            _lastValue = value;
        }
        else
        {
            if (IsRepeat(start, time))
            {
                return null;
            }

            delta = value;
        }

        AddPoint(bucket, delta, (long)time);
        return null;
    }

    public bool Fold(int from, int to, ref double sum, ref double points)
    {
        var found = false;
        var buckets = Read(from, to);
        while (buckets.MoveNext())
        {
            var bucket = buckets.Current;
            sum += bucket.Sum;
            points += bucket.Points;
            found = true;
        }

        return found;
    }

    public override bool TryRead(int bucket, out Query.BucketView view)
    {
        var buckets = Read(bucket, bucket);
        var found = buckets.MoveNext();
        view = found ? new Query.BucketView { Kind = MetricKind.Counter, Value = buckets.Current.Sum, Count = buckets.Current.Points } : default;
        return found;
    }

    public override long ApproximateBytes => PackedApproximateBytes + 24;

    protected override void WriteState(CheckpointWriter writer, int head, int count)
    {
        _cumulative.Write(writer);
        writer.WriteDouble(_lastValue);
        WriteBuckets(writer);
    }

    protected override void ReadState(CheckpointReader reader, int count)
    {
        _cumulative = CumulativeState.Read(reader);
        _lastValue = reader.ReadDouble();
        ReadBuckets(reader, count);
    }
}

internal sealed class GaugeSeries(MetricState metric, byte[] key, LabelSet labels, int stripe)
    : PackedSeries<GaugeBucket, GaugeCodec>(metric, key, labels, stripe)
{
    public string? Add(int bucket, ulong start, ulong time, double value)
    {
        if (!double.IsFinite(value))
        {
            return RefusalReasons.NotFinite;
        }

        if (IsRepeat(start, time))
        {
            return null;
        }

        AddPoint(bucket, value, (long)time);
        return null;
    }

    public bool Fold(int from, int to, ref GaugeFold fold)
    {
        var found = false;
        var last = 0.0;
        var buckets = Read(from, to);
        while (buckets.MoveNext())
        {
            var bucket = buckets.Current;
            fold.Count += bucket.Count;
            fold.Sum += bucket.Sum;
            fold.Min = Math.Min(fold.Min, bucket.Min);
            fold.Max = Math.Max(fold.Max, bucket.Max);
            last = bucket.Last;
            found = true;
        }

        if (found)
        {
            // The series' own latest value; a group adds the latest values of its series.
            fold.Last += last;
            fold.Series++;
        }

        return found;
    }

    public override bool TryRead(int bucket, out Query.BucketView view)
    {
        var buckets = Read(bucket, bucket);
        var found = buckets.MoveNext();
        view = found ? new Query.BucketView { Kind = MetricKind.Gauge, Value = buckets.Current.Last, Count = buckets.Current.Count, Sum = buckets.Current.Sum } : default;
        return found;
    }

    public override long ApproximateBytes => PackedApproximateBytes;

    protected override void WriteState(CheckpointWriter writer, int head, int count) => WriteBuckets(writer);

    protected override void ReadState(CheckpointReader reader, int count) => ReadBuckets(reader, count);
}

internal struct GaugeFold
{
    public double Count;
    public double Sum;
    public double Min;
    public double Max;
    public double Last;
    public int Series;

    public static GaugeFold Empty => new() { Min = double.PositiveInfinity, Max = double.NegativeInfinity };
}

/// <summary>Explicit-bucket histogram buckets of one time bucket.</summary>
internal sealed class HistogramBucket
{
    public long Count;
    public double Sum;
    public double Min = double.PositiveInfinity;
    public double Max = double.NegativeInfinity;
    public double[] Bounds = [];
    public long[] Counts = [];
}

internal sealed class HistogramSeries(MetricState metric, byte[] key, LabelSet labels, int stripe)
    : Series(metric, key, labels, stripe)
{
    private HistogramBucket?[] _values = new HistogramBucket?[4];
    private CumulativeState _cumulative;
    private double[] _bounds = [];
    private long[] _previousCounts = [];
    private long _previousCount;
    private double _previousSum;

    public string? Add(int bucket, ulong start, ulong time, in HistogramValue value, bool cumulative, ulong knownSince)
    {
        if ((value.HasSum && !double.IsFinite(value.Sum)) || (long)value.Count < 0)
        {
            return value.HasSum && !double.IsFinite(value.Sum) ? RefusalReasons.NotFinite : RefusalReasons.NegativeCount;
        }

        if (!value.ExplicitBounds.SequenceEqual(_bounds))
        {
            // New bucket layout (the producer was reconfigured, so its run restarted): older time
            // buckets keep theirs and are re-bucketed when merged at query time.
            _bounds = value.ExplicitBounds.ToArray();
            _previousCounts = new long[value.BucketCounts.Length];
            _previousCount = 0;
            _previousSum = 0;
        }

        if (cumulative)
        {
            var step = _cumulative.Classify(start, time, knownSince);
            if (step == CumulativeState.Step.Stale)
            {
                return null;
            }

            var reset = step == CumulativeState.Step.Restart || (long)value.Count < _previousCount || _previousCounts.Length != value.BucketCounts.Length;
            var target = Target(bucket);
            if (step != CumulativeState.Step.Baseline)
            {
                var fromZero = reset;
                for (var i = 0; i < value.BucketCounts.Length && i < target.Counts.Length; i++)
                {
                    var delta = (long)value.BucketCounts[i] - (fromZero ? 0 : _previousCounts[i]);
                    target.Counts[i] += Math.Max(delta, 0);
                }

                target.Count += (long)value.Count - (fromZero ? 0 : _previousCount);
                target.Sum += value.Sum - (fromZero ? 0 : _previousSum);
            }

            if (_previousCounts.Length != value.BucketCounts.Length)
            {
                _previousCounts = new long[value.BucketCounts.Length];
            }

            for (var i = 0; i < value.BucketCounts.Length; i++)
            {
                _previousCounts[i] = (long)value.BucketCounts[i];
            }

            _previousCount = (long)value.Count;
            _previousSum = value.Sum;
            _cumulative.Remember(start, time);
            return null;
        }

        if (IsRepeat(start, time))
        {
            return null;
        }

        var deltaTarget = Target(bucket);
        for (var i = 0; i < value.BucketCounts.Length && i < deltaTarget.Counts.Length; i++)
        {
            deltaTarget.Counts[i] += (long)value.BucketCounts[i];
        }

        deltaTarget.Count += (long)value.Count;
        deltaTarget.Sum += value.Sum;
        if (value.HasMin)
        {
            deltaTarget.Min = Math.Min(deltaTarget.Min, value.Min);
        }

        if (value.HasMax)
        {
            deltaTarget.Max = Math.Max(deltaTarget.Max, value.Max);
        }

        return null;
    }

    private HistogramBucket Target(int bucket)
    {
        var slot = Slot(bucket);
        var target = _values[slot] ??= new HistogramBucket();
        if (target.Bounds != _bounds)
        {
            target.Counts = target.Counts.Length == 0
                ? new long[_bounds.Length + 1]
                : HistogramMath.Rebucket(target.Counts, target.Bounds, _bounds);
            target.Bounds = _bounds;
        }

        return target;
    }

    public bool Fold(int from, int to, ref HistogramFold fold)
    {
        var (first, end) = Range(from, to);
        for (var i = first; i < end; i++)
        {
            var bucket = _values[i]!;
            fold.Count += bucket.Count;
            fold.Sum += bucket.Sum;
            fold.Min = Math.Min(fold.Min, bucket.Min);
            fold.Max = Math.Max(fold.Max, bucket.Max);
            if (bucket.Counts.Length == 0)
            {
                continue;
            }

            if (fold.Bounds is null)
            {
                fold.Bounds = _bounds;
                fold.Counts = new long[_bounds.Length + 1];
            }

            var counts = bucket.Bounds == fold.Bounds || bucket.Bounds.AsSpan().SequenceEqual(fold.Bounds)
                ? bucket.Counts
                : HistogramMath.Rebucket(bucket.Counts, bucket.Bounds, fold.Bounds);
            for (var b = 0; b < counts.Length && b < fold.Counts!.Length; b++)
            {
                fold.Counts[b] += counts[b];
            }
        }

        return end > first;
    }

    public override bool TryRead(int bucket, out Query.BucketView view)
    {
        var slot = SlotOf(bucket);
        var value = slot < 0 ? null : _values[slot];
        view = value is null ? default : new Query.BucketView
        {
            Kind = MetricKind.Histogram, Count = value.Count, Sum = value.Sum, Bounds = value.Bounds, BucketCounts = value.Counts,
        };
        return value is not null;
    }

    public override long ApproximateBytes
    {
        get
        {
            long bytes = BaseBytes + (Capacity * 8L) + (_previousCounts.Length * 8L) + (_bounds.Length * 8L);
            foreach (var value in _values)
            {
                if (value is not null)
                {
                    bytes += 64 + (value.Counts.Length * 8L);
                }
            }

            return bytes;
        }
    }

    protected override void WriteState(CheckpointWriter writer, int head, int count)
    {
        _cumulative.Write(writer);
        writer.WriteDoubles(_bounds);
        writer.WriteInt64s(_previousCounts);
        writer.WriteInt64(_previousCount);
        writer.WriteDouble(_previousSum);
        for (var i = head; i < head + count; i++)
        {
            var bucket = _values[i];
            writer.WriteBool(bucket is not null);
            if (bucket is null)
            {
                continue;
            }

            writer.WriteInt64(bucket.Count);
            writer.WriteDouble(bucket.Sum);
            writer.WriteDouble(bucket.Min);
            writer.WriteDouble(bucket.Max);

            // Most buckets use the series' current layout: a flag instead of the bounds again.
            var current = ReferenceEquals(bucket.Bounds, _bounds);
            writer.WriteBool(current);
            if (!current)
            {
                writer.WriteDoubles(bucket.Bounds);
            }

            writer.WriteInt64s(bucket.Counts);
        }
    }

    protected override void ReadState(CheckpointReader reader, int count)
    {
        _cumulative = CumulativeState.Read(reader);
        _bounds = reader.ReadDoubles();
        _previousCounts = reader.ReadInt64s();
        _previousCount = reader.ReadInt64();
        _previousSum = reader.ReadDouble();
        for (var i = 0; i < count; i++)
        {
            if (!reader.ReadBool())
            {
                continue;
            }

            var bucket = new HistogramBucket
            {
                Count = reader.ReadInt64(),
                Sum = reader.ReadDouble(),
                Min = reader.ReadDouble(),
                Max = reader.ReadDouble(),
            };

            // Shared by reference again, as ingest left it: Target() compares layouts by reference.
            bucket.Bounds = reader.ReadBool() ? _bounds : reader.ReadDoubles();
            bucket.Counts = reader.ReadInt64s();
            _values[i] = bucket;
        }
    }

    protected override void Grow(int capacity) => Array.Resize(ref _values, capacity);

    protected override void Shift(int position, int count) => ShiftArray(_values, position, count);

    protected override void Remove(int drop, int count)
    {
        RemoveArray(_values, drop, count);
        Array.Clear(_values, count - drop, drop);
    }

    protected override void Clear(int slot) => _values[slot] = null;
}

internal struct HistogramFold
{
    public double Count;
    public double Sum;
    public double Min;
    public double Max;
    public double[]? Bounds;
    public long[]? Counts;

    public static HistogramFold Empty => new() { Min = double.PositiveInfinity, Max = double.NegativeInfinity };
}

internal sealed class SummaryBucket
{
    public long Count;
    public double Sum;
    public long LastTime;
    public double[] Quantiles = [];
    public double[] Values = [];
}

internal sealed class SummarySeries(MetricState metric, byte[] key, LabelSet labels, int stripe)
    : Series(metric, key, labels, stripe)
{
    private SummaryBucket?[] _values = new SummaryBucket?[4];
    private CumulativeState _cumulative;
    private long _previousCount;
    private double _previousSum;

    public string? Add(int bucket, ulong start, ulong time, in SummaryValue value, ulong knownSince)
    {
        if (!double.IsFinite(value.Sum))
        {
            return RefusalReasons.NotFinite;
        }

        // OTLP summaries are cumulative by definition: count and sum since start_time.
        var step = _cumulative.Classify(start, time, knownSince);
        if (step == CumulativeState.Step.Stale)
        {
            return null;
        }

        var slot = Slot(bucket);
        var target = _values[slot] ??= new SummaryBucket();
        if (step != CumulativeState.Step.Baseline)
        {
            var reset = step == CumulativeState.Step.Restart || (long)value.Count < _previousCount;
            target.Count += (long)value.Count - (reset ? 0 : _previousCount);
            target.Sum += value.Sum - (reset ? 0 : _previousSum);
        }

        if ((long)time >= target.LastTime)
        {
            target.LastTime = (long)time;
            if (target.Quantiles.Length != value.Quantiles.Length || target.Values.Length != value.Values.Length)
            {
                target.Quantiles = new double[value.Quantiles.Length];
                target.Values = new double[value.Values.Length];
            }

            value.Quantiles.CopyTo(target.Quantiles);
            value.Values.CopyTo(target.Values);
        }

        _previousCount = (long)value.Count;
        _previousSum = value.Sum;
        _cumulative.Remember(start, time);
        return null;
    }

    public bool Fold(int from, int to, double quantile, ref HistogramFold fold, ref double latestQuantile)
    {
        var (first, end) = Range(from, to);
        for (var i = first; i < end; i++)
        {
            fold.Count += _values[i]!.Count;
            fold.Sum += _values[i]!.Sum;
        }

        if (end > first)
        {
            var last = _values[end - 1]!;
            for (var q = 0; q < last.Quantiles.Length; q++)
            {
                if (Math.Abs(last.Quantiles[q] - quantile) < 1e-9)
                {
                    latestQuantile = double.IsNaN(latestQuantile) ? last.Values[q] : Math.Max(latestQuantile, last.Values[q]);
                }
            }
        }

        return end > first;
    }

    public override bool TryRead(int bucket, out Query.BucketView view)
    {
        var slot = SlotOf(bucket);
        var value = slot < 0 ? null : _values[slot];
        view = value is null ? default : new Query.BucketView
        {
            Kind = MetricKind.Summary, Count = value.Count, Sum = value.Sum, Quantiles = value.Quantiles, QuantileValues = value.Values,
        };
        return value is not null;
    }

    public override long ApproximateBytes => BaseBytes + (Capacity * 64L);

    protected override void WriteState(CheckpointWriter writer, int head, int count)
    {
        _cumulative.Write(writer);
        writer.WriteInt64(_previousCount);
        writer.WriteDouble(_previousSum);
        for (var i = head; i < head + count; i++)
        {
            var bucket = _values[i];
            writer.WriteBool(bucket is not null);
            if (bucket is null)
            {
                continue;
            }

            writer.WriteInt64(bucket.Count);
            writer.WriteDouble(bucket.Sum);
            writer.WriteInt64(bucket.LastTime);
            writer.WriteDoubles(bucket.Quantiles);
            writer.WriteDoubles(bucket.Values);
        }
    }

    protected override void ReadState(CheckpointReader reader, int count)
    {
        _cumulative = CumulativeState.Read(reader);
        _previousCount = reader.ReadInt64();
        _previousSum = reader.ReadDouble();
        for (var i = 0; i < count; i++)
        {
            if (reader.ReadBool())
            {
                var bucket = new SummaryBucket
                {
                    Count = reader.ReadInt64(),
                    Sum = reader.ReadDouble(),
                    LastTime = reader.ReadInt64(),
                    Quantiles = reader.ReadDoubles(),
                    Values = reader.ReadDoubles(),
                };
                if (bucket.Values.Length != bucket.Quantiles.Length)
                {
                    throw CheckpointReader.Corrupt("a summary has more quantiles than values or the reverse");
                }

                _values[i] = bucket;
            }
        }
    }

    protected override void Grow(int capacity) => Array.Resize(ref _values, capacity);

    protected override void Shift(int position, int count) => ShiftArray(_values, position, count);

    protected override void Remove(int drop, int count)
    {
        RemoveArray(_values, drop, count);
        Array.Clear(_values, count - drop, drop);
    }

    protected override void Clear(int slot) => _values[slot] = null;
}
