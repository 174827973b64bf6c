using System.Text.Unicode;

namespace Vigil.Otlp.Wire;

/// <summary>
/// What a data point must hold for Vigil to store it: the OTLP metrics data model's rules (metrics.proto)
/// plus the limits of the store. <see cref="OtlpMetricsReader"/> applies them identically in the check
/// pass (before the WAL) and in the apply pass (live and on replay), so a point refused here never reaches
/// the store and a logged request can always be applied. One exception, for speed: in the apply pass a
/// point's attribute text is checked by the sink's own walk over the attributes (see <see cref="PointHeader"/>).
/// Each check returns null or a constant reason that names the field (relative to the data point), so
/// refusing allocates nothing. docs/ingest.md lists them.
/// </summary>
public static class OtlpPointRules
{
    /// <summary>Most bucket counts (per side for exponential histograms) and summary quantiles in one point.</summary>
    public const int MaxBuckets = 16384;

    public const int MinScale = -10;
    public const int MaxScale = 20;

    public const string NoName = "metric without a name";
    public const string NameText = "name is not valid UTF-8 or contains a NUL byte";
    public const string UnitText = "unit is not valid UTF-8 or contains a NUL byte";
    public const string NoTemporality = "aggregation_temporality is unspecified; set DELTA or CUMULATIVE";
    public const string ResourceAttributesText = "resource.attributes: a key or string value is not valid UTF-8 or contains a NUL byte";
    public const string AttributesText = "attributes: a key or string value is not valid UTF-8 or contains a NUL byte";

    public const string NoValue = "number data point without a value (set as_double or as_int)";
    public const string DoubleNotFinite = "as_double is NaN or infinite";
    public const string NegativeDouble = "as_double is negative on a monotonic sum (a counter only adds; use a non-monotonic sum for values that go down)";
    public const string NegativeInt = "as_int is negative on a monotonic sum (a counter only adds; use a non-monotonic sum for values that go down)";

    public const string CountTooLarge = "count is above 2^63-1";
    public const string SumNotFinite = "sum is NaN or infinite";
    public const string MinNotFinite = "min is NaN or infinite";
    public const string MaxNotFinite = "max is NaN or infinite";

    public const string TooManyBuckets = "bucket_counts has more than 16384 entries";
    public const string BucketCountsLength = "bucket_counts must have one more entry than explicit_bounds (or both be empty)";
    public const string BoundsOrder = "explicit_bounds must be finite and strictly increasing";
    public const string HistogramCount = "count is not the sum of bucket_counts";

    public const string Scale = "scale outside [-10, 20]";
    public const string ZeroThreshold = "zero_threshold is negative, NaN or infinite";
    public const string TooManyPositive = "positive.bucket_counts has more than 16384 entries";
    public const string TooManyNegative = "negative.bucket_counts has more than 16384 entries";
    public const string PositiveRange = "positive.offset: the buckets reach past the indexes a double has at this scale";
    public const string NegativeRange = "negative.offset: the buckets reach past the indexes a double has at this scale";
    public const string ExponentialCount = "count is not zero_count plus the positive and negative bucket_counts";

    public const string TooManyQuantiles = "quantile_values has more than 16384 entries";
    public const string Quantile = "quantile_values.quantile outside [0, 1]";
    public const string QuantileValue = "quantile_values.value is NaN or infinite";

    /// <summary>Text Vigil keeps (names, units, attribute keys and string values) must be UTF-8 without NUL.</summary>
    public static bool IsCleanText(ReadOnlySpan<byte> text)
    {
        // Most text is ASCII: one vectorised scan (no byte 0, none from 0x80) answers for it.
        var other = text.IndexOfAnyExceptInRange((byte)1, (byte)0x7F);
        return other < 0 || (!text[other..].Contains((byte)0) && Utf8.IsValid(text[other..]));
    }

    /// <param name="isInt">The value came from as_int (so the reason names that field).</param>
    /// <param name="monotonicSum">The point belongs to a Sum with is_monotonic set.</param>
    public static string? Number(bool hasValue, double value, bool isInt, bool monotonicSum)
    {
        if (!hasValue)
        {
            return NoValue;
        }

        if (!double.IsFinite(value))
        {
            return DoubleNotFinite;
        }

        if (monotonicSum && value < 0)
        {
            return isInt ? NegativeInt : NegativeDouble;
        }

        return null;
    }

    public static string? Histogram(in HistogramValue value)
    {
        var common = CountSumMinMax(value.Count, value.HasSum, value.Sum, value.HasMin, value.Min, value.HasMax, value.Max);
        if (common is not null)
        {
            return common;
        }

        var counts = value.BucketCounts;
        var bounds = value.ExplicitBounds;
        if (counts.Length > MaxBuckets)
        {
            return TooManyBuckets;
        }

        // No distribution at all (count and sum only) is allowed; otherwise N bounds make N + 1 buckets.
        if (counts.Length != bounds.Length + 1 && !(counts.IsEmpty && bounds.IsEmpty))
        {
            return BucketCountsLength;
        }

        for (var i = 0; i < bounds.Length; i++)
        {
            // NaN fails the comparison as well as the finiteness test.
            if (!double.IsFinite(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1])))
            {
                return BoundsOrder;
            }
        }

        if (!counts.IsEmpty && (!TrySum(counts, 0, out var total) || total != value.Count))
        {
            return HistogramCount;
        }

        return null;
    }

    /// <summary>
    /// Checks everything but the bucket list lengths, which the reader checks before it builds the spans
    /// (<see cref="TooManyPositive"/>, <see cref="TooManyNegative"/>).
    /// </summary>
    public static string? ExponentialHistogram(in ExponentialHistogramValue value)
    {
        if (value.Scale is < MinScale or > MaxScale)
        {
            return Scale;
        }

        var common = CountSumMinMax(value.Count, value.HasSum, value.Sum, value.HasMin, value.Min, value.HasMax, value.Max);
        if (common is not null)
        {
            return common;
        }

        if (!(value.ZeroThreshold >= 0) || !double.IsFinite(value.ZeroThreshold))
        {
            return ZeroThreshold;
        }

        if (!BucketsFit(value.Scale, value.PositiveOffset, value.PositiveCounts.Length))
        {
            return PositiveRange;
        }

        if (!BucketsFit(value.Scale, value.NegativeOffset, value.NegativeCounts.Length))
        {
            return NegativeRange;
        }

        if (!TrySum(value.PositiveCounts, value.ZeroCount, out var total) || !TrySum(value.NegativeCounts, total, out total) || total != value.Count)
        {
            return ExponentialCount;
        }

        return null;
    }

    public static string? Summary(in SummaryValue value)
    {
        if (value.Count > long.MaxValue)
        {
            return CountTooLarge;
        }

        if (!double.IsFinite(value.Sum))
        {
            return SumNotFinite;
        }

        for (var i = 0; i < value.Quantiles.Length; i++)
        {
            if (!(value.Quantiles[i] >= 0 && value.Quantiles[i] <= 1))
            {
                return Quantile;
            }

            if (!double.IsFinite(value.Values[i]))
            {
                return QuantileValue;
            }
        }

        return null;
    }

    /// <summary>
    /// True when the exponential bucket indexes [offset, offset + count) exist at this scale. Bucket i holds
    /// (base^i, base^(i+1)] with base = 2^(2^-scale); it can hold a positive double only if its upper boundary
    /// reaches the smallest one, 2^-1074, and its lower boundary is below 2^1024:
    /// (i + 1)·2^-scale ≥ -1074 and i·2^-scale &lt; 1024. Inside that range every index the store computes
    /// fits an int; outside it, offset + count can overflow one.
    /// </summary>
    public static bool BucketsFit(int scale, int offset, int count)
    {
        if (count == 0)
        {
            return true;
        }

        if (scale is < MinScale or > MaxScale || count < 0)
        {
            return false;
        }

        return offset >= LowestIndex(scale) && (long)offset + count - 1 <= HighestIndex(scale);
    }

    internal static long LowestIndex(int scale) => scale >= 0 ? (-1074L << scale) - 1 : -(1074L >> -scale) - 1;

    internal static long HighestIndex(int scale) => scale >= 0 ? (1024L << scale) - 1 : ((1024L + (1L << -scale) - 1) >> -scale) - 1;

    private static string? CountSumMinMax(ulong count, bool hasSum, double sum, bool hasMin, double min, bool hasMax, double max)
    {
        if (count > long.MaxValue)
        {
            return CountTooLarge;
        }

        if (hasSum && !double.IsFinite(sum))
        {
            return SumNotFinite;
        }

        if (hasMin && !double.IsFinite(min))
        {
            return MinNotFinite;
        }

        return hasMax && !double.IsFinite(max) ? MaxNotFinite : null;
    }

    /// <summary>Adds the counts to <paramref name="start"/>; false when the total overflows 64 bits (it then equals no count).</summary>
    private static bool TrySum(ReadOnlySpan<ulong> counts, ulong start, out ulong total)
    {
        total = start;
        foreach (var count in counts)
        {
            var next = total + count;
            if (next < total)
            {
                return false;
            }

            total = next;
        }

        return true;
    }
}
