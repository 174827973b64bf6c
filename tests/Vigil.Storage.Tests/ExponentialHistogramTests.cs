using Vigil.Otlp.Proto.Metrics;
using Vigil.Otlp.Wire;
using Vigil.Storage.Query;
using static Vigil.Storage.Tests.StoreHarness;

namespace Vigil.Storage.Tests;

public sealed class ExponentialHistogramTests
{
    private static readonly TimeSpan Minute = TimeSpan.FromMinutes(1);

    private static ExponentialHistogramValue Value(int scale, int offset, ulong[] positive, int negativeOffset = 0, ulong[]? negative = null, ulong zero = 0) => new()
    {
        Count = zero + (ulong)positive.Sum(c => (long)c) + (ulong)(negative ?? []).Sum(c => (long)c),
        Sum = 0,
        HasSum = true,
        Min = 0,
        Max = 0,
        HasMin = false,
        HasMax = false,
        Scale = scale,
        ZeroCount = zero,
        ZeroThreshold = 0,
        PositiveOffset = offset,
        PositiveCounts = positive,
        NegativeOffset = negativeOffset,
        NegativeCounts = negative ?? [],
    };

    [Fact]
    public void Bucket_MergingScale3IntoScale1_DownscalesIndexesByShift()
    {
        var bucket = new ExponentialBucket();

        // Scale 3 indexes 6..10 → >> 2 → 1, 1, 2, 2, 2.
        bucket.Add(Value(3, 6, [1, 1, 2, 3, 4]), 1);
        bucket.Add(Value(1, 2, [5]), 1);

        Assert.Equal(1, bucket.Scale);
        Assert.Equal(1, bucket.Positive.Offset);
        Assert.Equal([2L, 14L], bucket.Positive.Counts.AsSpan(0, bucket.Positive.Length).ToArray());
        Assert.Equal(16, bucket.Count);
    }

    [Fact]
    public void Bucket_LowerScaleFirst_HigherScalePointIsFoldedDown()
    {
        var bucket = new ExponentialBucket();
        bucket.Add(Value(1, 2, [5]), 1);
        bucket.Add(Value(3, 6, [1, 1, 2, 3, 4]), 1);

        Assert.Equal(1, bucket.Scale);
        Assert.Equal([2L, 14L], bucket.Positive.Counts.AsSpan(0, bucket.Positive.Length).ToArray());
    }

    [Fact]
    public void Bucket_NegativeIndexes_DownscaleByArithmeticShift()
    {
        var bucket = new ExponentialBucket();

        // Scale 2 indexes −3..0 → >> 2 → −1, −1, −1, 0 (floor, not truncation toward zero).
        bucket.Add(Value(2, -3, [1, 2, 3, 4], negativeOffset: -3, negative: [1, 1, 1, 1]), 1);
        bucket.Add(Value(0, 0, [1]), 1);

        Assert.Equal(0, bucket.Scale);
        Assert.Equal(-1, bucket.Positive.Offset);
        Assert.Equal([6L, 5L], bucket.Positive.Counts.AsSpan(0, bucket.Positive.Length).ToArray());
        Assert.Equal(-1, bucket.Negative.Offset);
        Assert.Equal([3L, 1L], bucket.Negative.Counts.AsSpan(0, bucket.Negative.Length).ToArray());
    }

    [Fact]
    public void Bucket_RangeWiderThanMaxSpan_IsDownscaledToFit()
    {
        var bucket = new ExponentialBucket();
        bucket.Add(Value(4, 0, [1]), 1);
        bucket.Add(Value(4, ExponentialBuckets.MaxSpan * 3, [1]), 1);

        Assert.True(bucket.Positive.Length <= ExponentialBuckets.MaxSpan);
        Assert.Equal(2, bucket.Scale); // span 12289 needs two halvings to fit 4096
        Assert.Equal(2, bucket.Count);
    }

    [Fact]
    public void Merge_OfRangesFarApart_DownscalesToFitTheSpan()
    {
        var a = new ExponentialBucket();
        a.Add(Value(scale: 4, offset: 0, [1]), 1);
        var b = new ExponentialBucket();
        b.Add(Value(scale: 4, offset: 100_000, [1]), 1);

        a.Merge(b);

        Assert.True(a.Positive.Length <= ExponentialBuckets.MaxSpan, $"length {a.Positive.Length}");
        Assert.Equal(2, a.Count);

        // Halving d times leaves indexes 0 and 100000 >> d: 4 halvings leave 6250 > 4096 buckets, 5 leave 3125. Scale 4 → -1.
        Assert.Equal(-1, a.Scale);
        Assert.Equal(2, a.Positive.Counts.AsSpan(0, a.Positive.Length).ToArray().Sum());
    }

    [Fact]
    public void DeltaPoints_AtScales3And1_MergeOverTheWindow_AndAnswerQuantile()
    {
        var h = new StoreHarness();
        h.Send(Exponential("tokens", AggregationTemporality.Delta, ExponentialPoint(At(0), At(5), scale: 3, offset: 6, positive: [1, 1, 2, 3, 4], sum: 25)));
        h.Send(Exponential("tokens", AggregationTemporality.Delta, ExponentialPoint(At(5), At(15), scale: 1, offset: 2, positive: [5], sum: 12)));
        h.Clock.Advance(TimeSpan.FromSeconds(20));

        Assert.Equal(16, h.Value("tokens", AggregateFunction.Count, Minute));
        Assert.Equal(37, h.Value("tokens", AggregateFunction.Sum, Minute));

        // Scale 1 buckets: index 1 = (√2, 2] holds 2, index 2 = (2, 2√2] holds 14. Rank 8 → 2 + (2√2 − 2)·6/14.
        var expected = 2 + ((2 * Math.Sqrt(2)) - 2) * 6 / 14;
        Assert.Equal(expected, h.Value("tokens", AggregateFunction.Quantile, Minute, quantile: 0.5), 12);
    }

    [Fact]
    public void ZeroBucket_HoldsItsRank()
    {
        var h = new StoreHarness();
        h.Send(Exponential("e", AggregationTemporality.Delta, ExponentialPoint(At(0), At(5), scale: 0, offset: 0, positive: [1], sum: 2, zeroCount: 3)));
        h.Clock.Advance(TimeSpan.FromSeconds(10));

        Assert.Equal(0, h.Value("e", AggregateFunction.Quantile, Minute, quantile: 0.5));

        // Rank 3.6 of 4: past the zero bucket, into (1, 2] → 1 + 0.6.
        Assert.Equal(1.6, h.Value("e", AggregateFunction.Quantile, Minute, quantile: 0.9), 12);
    }

    [Fact]
    public void NegativeBuckets_QuantileWalksFromMostNegative()
    {
        var h = new StoreHarness();

        // Negative index 1 at scale 0 is (−4, −2], index 0 is (−2, −1].
        h.Send(Exponential("e", AggregationTemporality.Delta, ExponentialPoint(At(0), At(5), scale: 0, offset: 0, positive: [], sum: -9, negativeOffset: 0, negative: [2, 2])));
        h.Clock.Advance(TimeSpan.FromSeconds(10));

        Assert.Equal(-3, h.Value("e", AggregateFunction.Quantile, Minute, quantile: 0.25), 12);
        Assert.Equal(-1.5, h.Value("e", AggregateFunction.Quantile, Minute, quantile: 0.75), 12);
    }

    [Fact]
    public void CumulativePoints_AreDifferencedAcrossScaleChanges()
    {
        var h = new StoreHarness();
        var start = At(-600);

        // Baseline at scale 2, then the SDK downscaled to 1 as its range grew.
        h.Send(Exponential("e", AggregationTemporality.Cumulative, ExponentialPoint(start, At(5), scale: 2, offset: 4, positive: [1, 1, 1, 1], sum: 10)));
        h.Send(Exponential("e", AggregationTemporality.Cumulative, ExponentialPoint(start, At(15), scale: 1, offset: 2, positive: [4, 3], sum: 22)));
        h.Clock.Advance(TimeSpan.FromSeconds(20));

        Assert.Equal(3, h.Value("e", AggregateFunction.Increase, Minute));
        Assert.Equal(12, h.Value("e", AggregateFunction.Sum, Minute));

        // The baseline at scale 1 is index 2 (indexes 4, 5) = 2 and index 3 (6, 7) = 2, so the delta is
        // index 2 = (2, 2√2] holding 2 and index 3 = (2√2, 4] holding 1.
        var root8 = 2 * Math.Sqrt(2);
        Assert.Equal(2 + ((root8 - 2) * 1.5 / 2), h.Value("e", AggregateFunction.Quantile, Minute, quantile: 0.5), 12);
        Assert.Equal(root8 + ((4 - root8) * 0.7), h.Value("e", AggregateFunction.Quantile, Minute, quantile: 0.9), 12);
    }

    [Fact]
    public void CumulativeExponential_CountDrop_IsAReset()
    {
        var h = new StoreHarness();
        var start = At(-600);
        h.Send(Exponential("e", AggregationTemporality.Cumulative, ExponentialPoint(start, At(5), scale: 0, offset: 0, positive: [10], sum: 10)));
        h.Send(Exponential("e", AggregationTemporality.Cumulative, ExponentialPoint(start, At(15), scale: 0, offset: 0, positive: [2], sum: 3)));
        h.Clock.Advance(TimeSpan.FromSeconds(20));

        Assert.Equal(2, h.Value("e", AggregateFunction.Increase, Minute));
        Assert.Equal(3, h.Value("e", AggregateFunction.Sum, Minute));
    }

    [Fact]
    public void DeltaExponential_MinAndMax_AreKept()
    {
        var h = new StoreHarness();
        var point = ExponentialPoint(At(0), At(5), scale: 0, offset: 0, positive: [4], sum: 6);
        point.Min = 1.1;
        point.Max = 1.9;
        h.Send(Exponential("e", AggregationTemporality.Delta, point));
        h.Clock.Advance(TimeSpan.FromSeconds(10));

        Assert.Equal(1.1, h.Value("e", AggregateFunction.Min, Minute));
        Assert.Equal(1.9, h.Value("e", AggregateFunction.Max, Minute));

        // Interpolated 1.5 stays; q=1 would be 2 but is clamped to the recorded max.
        Assert.Equal(1.5, h.Value("e", AggregateFunction.Quantile, Minute, quantile: 0.5), 12);
        Assert.Equal(1.9, h.Value("e", AggregateFunction.Quantile, Minute, quantile: 1), 12);
    }
}
