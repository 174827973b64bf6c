using Vigil.Otlp.Wire;
using Vigil.Storage.Checkpoint;

namespace Vigil.Storage;

/// <summary>
/// One side (positive or negative) of an exponential histogram: bucket i covers (base^i, base^(i+1)]
/// with base = 2^(2^-scale). Merging at a lower scale folds 2^d neighbours into one (index >> d),
/// as the OTLP data model specifies. Indexes are computed in 64 bits: two valid points of one scale
/// can lie further apart than an int spans. Callers first lower the scale until the union of both
/// ranges fits <see cref="MaxSpan"/> (<see cref="ExtraDownscale(long, long, int)"/>), so the array never
/// grows past it.
/// </summary>
internal sealed class ExponentialBuckets
{
    /// <summary>Wider spans than this are downscaled, like the SDK's max_size.</summary>
    public const int MaxSpan = 4096;

    public int Offset;
    public long[] Counts = [];
    public int Length;

    public bool IsEmpty => Length == 0;

    public void Add(ReadOnlySpan<ulong> counts, int offset, int shift, long sign)
    {
        for (var i = 0; i < counts.Length; i++)
        {
            if (counts[i] == 0)
            {
                continue;
            }

            AddAt((int)(((long)offset + i) >> shift), sign * (long)counts[i]);
        }
    }

    public void Add(ExponentialBuckets other, int shift, long sign)
    {
        for (var i = 0; i < other.Length; i++)
        {
            if (other.Counts[i] != 0)
            {
                AddAt((int)(((long)other.Offset + i) >> shift), sign * other.Counts[i]);
            }
        }
    }

    public void Downscale(int by)
    {
        if (by <= 0 || Length == 0)
        {
            return;
        }

        var first = (long)Offset >> by;
        var last = ((long)Offset + Length - 1) >> by;
        var counts = new long[last - first + 1];
        for (var i = 0; i < Length; i++)
        {
            counts[(((long)Offset + i) >> by) - first] += Counts[i];
        }

        Offset = (int)first;
        Counts = counts;
        Length = counts.Length;
    }

    /// <summary>
    /// How many more halvings of the scale make this side (shifted by <paramref name="myShift"/>) and the
    /// indexes [<paramref name="otherFirst"/>, <paramref name="otherLast"/>] (already at the common scale)
    /// fit <see cref="MaxSpan"/> together.
    /// </summary>
    public int ExtraDownscale(long otherFirst, long otherLast, int myShift)
    {
        var first = Length == 0 ? otherFirst : Math.Min((long)Offset >> myShift, otherFirst);
        var last = Length == 0 ? otherLast : Math.Max(((long)Offset + Length - 1) >> myShift, otherLast);
        var extra = 0;
        while ((last >> extra) - (first >> extra) + 1 > MaxSpan)
        {
            extra++;
        }

        return extra;
    }

    /// <summary><see cref="ExtraDownscale(long, long, int)"/> for the counts of a point at <paramref name="offset"/>, shifted by <paramref name="shift"/>.</summary>
    public int ExtraDownscale(int countsLength, int offset, int shift, int myShift) =>
        countsLength == 0 ? 0 : ExtraDownscale((long)offset >> shift, ((long)offset + countsLength - 1) >> shift, myShift);

    public void CopyFrom(ReadOnlySpan<ulong> counts, int offset)
    {
        if (Counts.Length < counts.Length)
        {
            Counts = new long[counts.Length];
        }

        for (var i = 0; i < counts.Length; i++)
        {
            Counts[i] = (long)counts[i];
        }

        Offset = offset;
        Length = counts.Length;
    }

    internal void Write(CheckpointWriter writer)
    {
        writer.WriteInt32(Offset);
        writer.WriteInt64s(Counts.AsSpan(0, Length));
    }

    internal void Read(CheckpointReader reader)
    {
        Offset = reader.ReadInt32();
        Counts = reader.ReadInt64s();
        Length = Counts.Length;
    }

    private void AddAt(int index, long value)
    {
        if (Length == 0)
        {
            if (Counts.Length == 0)
            {
                Counts = new long[8];
            }

            Offset = index;
            Length = 1;
            Counts[0] = value;
            return;
        }

        if (index < Offset)
        {
            var grow = Offset - index;
            var counts = new long[Math.Max(Length + grow, Counts.Length)];
            Array.Copy(Counts, 0, counts, grow, Length);
            Counts = counts;
            Offset = index;
            Length += grow;
        }
        else if (index >= Offset + Length)
        {
            var length = index - Offset + 1;
            if (length > Counts.Length)
            {
                Array.Resize(ref Counts, Math.Max(length, Counts.Length * 2));
            }
            else
            {
                // Capacity left over from a longer copy (CopyFrom) may hold old counts.
                Counts.AsSpan(Length, length - Length).Clear();
            }

            Length = length;
        }

        Counts[index - Offset] += value;
    }
}

internal sealed class ExponentialBucket
{
    public int Scale = 20;
    public long Count;
    public double Sum;
    public double Min = double.PositiveInfinity;
    public double Max = double.NegativeInfinity;
    public long ZeroCount;
    public readonly ExponentialBuckets Positive = new();
    public readonly ExponentialBuckets Negative = new();

    /// <summary>Adds (sign 1) or subtracts (sign -1) a point, lowering this bucket's scale when needed.</summary>
    public void Add(in ExponentialHistogramValue value, long sign)
    {
        // Bring both to the common scale first, then lower it until the union of the ranges fits.
        var scale = Math.Min(Scale, value.Scale);
        var extra = Math.Max(
            Positive.ExtraDownscale(value.PositiveCounts.Length, value.PositiveOffset, value.Scale - scale, Scale - scale),
            Negative.ExtraDownscale(value.NegativeCounts.Length, value.NegativeOffset, value.Scale - scale, Scale - scale));
        scale -= extra;
        Rescale(scale);
        Positive.Add(value.PositiveCounts, value.PositiveOffset, value.Scale - scale, sign);
        Negative.Add(value.NegativeCounts, value.NegativeOffset, value.Scale - scale, sign);
        ZeroCount += sign * (long)value.ZeroCount;
        Count += sign * (long)value.Count;
        Sum += sign * value.Sum;
    }

    /// <summary>Adds (sign 1) or subtracts (sign -1) another bucket; min and max only follow additions.</summary>
    public void Merge(ExponentialBucket other, long sign = 1)
    {
        var scale = Math.Min(Scale, other.Scale);
        var extra = Math.Max(
            Positive.ExtraDownscale(other.Positive.Length, other.Positive.Offset, other.Scale - scale, Scale - scale),
            Negative.ExtraDownscale(other.Negative.Length, other.Negative.Offset, other.Scale - scale, Scale - scale));
        scale -= extra;
        Rescale(scale);
        Positive.Add(other.Positive, other.Scale - scale, sign);
        Negative.Add(other.Negative, other.Scale - scale, sign);

        ZeroCount += sign * other.ZeroCount;
        Count += sign * other.Count;
        Sum += sign * other.Sum;
        if (sign > 0)
        {
            Min = Math.Min(Min, other.Min);
            Max = Math.Max(Max, other.Max);
        }
    }

    public void Rescale(int scale)
    {
        if (scale < Scale)
        {
            Positive.Downscale(Scale - scale);
            Negative.Downscale(Scale - scale);
            Scale = scale;
        }
    }

    internal void Write(CheckpointWriter writer)
    {
        writer.WriteInt32(Scale);
        writer.WriteInt64(Count);
        writer.WriteDouble(Sum);
        writer.WriteDouble(Min);
        writer.WriteDouble(Max);
        writer.WriteInt64(ZeroCount);
        Positive.Write(writer);
        Negative.Write(writer);
    }

    internal void Read(CheckpointReader reader)
    {
        Scale = reader.ReadInt32();
        Count = reader.ReadInt64();
        Sum = reader.ReadDouble();
        Min = reader.ReadDouble();
        Max = reader.ReadDouble();
        ZeroCount = reader.ReadInt64();
        Positive.Read(reader);
        Negative.Read(reader);
    }
}

internal sealed class ExponentialHistogramSeries(MetricState metric, byte[] key, LabelSet labels, int stripe)
    : Series(metric, key, labels, stripe)
{
    private ExponentialBucket?[] _values = new ExponentialBucket?[4];
    private CumulativeState _cumulative;

    // The previous cumulative point, kept to subtract from the next one.
    private readonly ExponentialBucket _previous = new();

    public string? Add(int bucket, ulong start, ulong time, in ExponentialHistogramValue value, bool cumulative, ulong knownSince)
    {
        if (value.HasSum && !double.IsFinite(value.Sum))
        {
            return RefusalReasons.NotFinite;
        }

        // The reader refuses these already (OtlpPointRules); this backstop keeps index arithmetic safe for any caller.
        if (!OtlpPointRules.BucketsFit(value.Scale, value.PositiveOffset, value.PositiveCounts.Length)
            || !OtlpPointRules.BucketsFit(value.Scale, value.NegativeOffset, value.NegativeCounts.Length)
            || value.Count > long.MaxValue)
        {
            return RefusalReasons.BucketLayout;
        }

        if (cumulative)
        {
            var step = _cumulative.Classify(start, time, knownSince);
            if (step == CumulativeState.Step.Stale)
            {
                return null;
            }

            var target = Target(bucket);
            var reset = step == CumulativeState.Step.Restart || (long)value.Count < _previous.Count;
            if (step != CumulativeState.Step.Baseline)
            {
                target.Add(value, 1);
                if (!reset)
                {
                    target.Merge(_previous, -1);
                }
            }

            _previous.Scale = value.Scale;
            _previous.Positive.CopyFrom(value.PositiveCounts, value.PositiveOffset);
            _previous.Negative.CopyFrom(value.NegativeCounts, value.NegativeOffset);
            _previous.ZeroCount = (long)value.ZeroCount;
            _previous.Count = (long)value.Count;
            _previous.Sum = value.Sum;
            _cumulative.Remember(start, time);
            return null;
        }

        if (IsRepeat(start, time))
        {
            return null;
        }

        var deltaTarget = Target(bucket);
        deltaTarget.Add(value, 1);
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

    private ExponentialBucket Target(int bucket)
    {
        var slot = Slot(bucket);
        return _values[slot] ??= new ExponentialBucket();
    }

    public bool Fold(int from, int to, ref ExponentialFold fold)
    {
        var (first, end) = Range(from, to);
        for (var i = first; i < end; i++)
        {
            fold.Merged ??= new ExponentialBucket();
            fold.Merged.Merge(_values[i]!);
        }

        return end > first;
    }

    /// <summary>Count and sum only: remote write 1.0 sends exponential histograms as their _count and _sum.</summary>
    public override bool TryRead(int bucket, out Query.BucketView view)
    {
        var slot = SlotOf(bucket);
        var value = slot < 0 ? null : _values[slot];
        view = value is null ? default : new Query.BucketView { Kind = MetricKind.ExponentialHistogram, Count = value.Count, Sum = value.Sum };
        return value is not null;
    }

    public override long ApproximateBytes
    {
        get
        {
            long bytes = BaseBytes + (Capacity * 8L) + 200;
            foreach (var value in _values)
            {
                if (value is not null)
                {
                    bytes += 120 + ((value.Positive.Counts.Length + value.Negative.Counts.Length) * 8L);
                }
            }

            return bytes;
        }
    }

    protected override void WriteState(CheckpointWriter writer, int head, int count)
    {
        _cumulative.Write(writer);
        _previous.Write(writer);
        for (var i = head; i < head + count; i++)
        {
            var bucket = _values[i];
            writer.WriteBool(bucket is not null);
            bucket?.Write(writer);
        }
    }

    protected override void ReadState(CheckpointReader reader, int count)
    {
        _cumulative = CumulativeState.Read(reader);
        _previous.Read(reader);
        for (var i = 0; i < count; i++)
        {
            if (reader.ReadBool())
            {
                var bucket = new ExponentialBucket();
                bucket.Read(reader);
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

internal struct ExponentialFold
{
    public ExponentialBucket? Merged;
}
