using Google.Protobuf;
using Vigil.Otlp.Proto.Metrics;
using Vigil.Otlp.Wire;
using Vigil.Storage.Query;
using static Vigil.Storage.Tests.StoreHarness;

namespace Vigil.Storage.Tests;

/// <summary>
/// Applying exponential histograms never throws and never grows past <see cref="ExponentialBuckets.MaxSpan"/>,
/// whatever the indexes: a throw after the WAL append would refuse the request on every replay.
/// </summary>
public sealed class ExponentialApplyTests
{
    private static readonly TimeSpan Minute = TimeSpan.FromMinutes(1);

    // Both indexes are valid at scale 20 (bucket indexes of doubles span [-1075·2^20, 1024·2^20)), yet they
    // lie 2.17·10^9 apart: more than an int can hold as a difference, and far more than one array should.
    private const int FarBelow = -1_100_000_000;
    private const int FarAbove = 1_070_000_000;

    [Fact]
    public void CumulativePoints_WithFarApartBuckets_AreDifferencedWithinTheSpan()
    {
        var h = new StoreHarness();
        var start = At(-600);
        h.Send(Exponential("e", AggregationTemporality.Cumulative, ExponentialPoint(start, At(5), scale: 20, offset: FarBelow, positive: [1], sum: 1)));

        var result = h.Send(Exponential("e", AggregationTemporality.Cumulative, ExponentialPoint(start, At(15), scale: 20, offset: FarAbove, positive: [3], sum: 4)));
        h.Clock.Advance(TimeSpan.FromSeconds(20));

        Assert.Equal(new IngestResult(1, 0, null), result);
        Assert.Equal(2, h.Value("e", AggregateFunction.Increase, Minute));
        Assert.Equal(3, h.Value("e", AggregateFunction.Sum, Minute));
    }

    [Fact]
    public void DeltaPoints_WithFarApartBuckets_InTwoTimeBuckets_MergeAtQueryTime()
    {
        var h = new StoreHarness();
        h.Send(Exponential("e", AggregationTemporality.Delta, ExponentialPoint(At(0), At(5), scale: 20, offset: FarBelow, positive: [1], sum: 1)));
        h.Send(Exponential("e", AggregationTemporality.Delta, ExponentialPoint(At(5), At(15), scale: 20, offset: FarAbove, positive: [1], sum: 1)));
        h.Clock.Advance(TimeSpan.FromSeconds(20));

        Assert.Equal(2, h.Value("e", AggregateFunction.Count, Minute));

        // Index 1.07·10^9 at scale 20 starts at 2^(1.07·10^9 / 2^20) ≈ 2^1020: the top rank lands up there.
        var high = h.Value("e", AggregateFunction.Quantile, Minute, quantile: 1);
        Assert.True(high > Math.Pow(2, 1000), $"q=1 gave {high}");
    }

    /// <summary>
    /// Offsets drawn from the places that break index arithmetic (next to int.MinValue and int.MaxValue,
    /// anywhere in an int) and, half the time, from the indexes a double has at the scale (see
    /// <see cref="OtlpPointRules.BucketsFit"/>), with room for the up to five buckets <see cref="Counts"/> draws.
    /// </summary>
    private static int Offset(Random random, int scale)
    {
        var lowest = scale >= 0 ? (-1074L << scale) - 1 : -(1074L >> -scale) - 1;
        var highest = scale >= 0 ? (1024L << scale) - 1 : ((1024L + (1L << -scale) - 1) >> -scale) - 1;
        return random.Next(6) switch
        {
            0 => int.MaxValue - random.Next(4),
            1 => int.MinValue + random.Next(4),
            2 => random.Next(int.MinValue, int.MaxValue),
            _ => (int)Math.Clamp(random.NextInt64(lowest, Math.Max(lowest, highest - 4) + 1), int.MinValue, int.MaxValue),
        };
    }

    private static ulong[] Counts(Random random)
    {
        var counts = new ulong[random.Next(0, 6)];
        for (var i = 0; i < counts.Length; i++)
        {
            counts[i] = random.Next(10) == 0 ? ulong.MaxValue - (ulong)random.Next(3) : (ulong)random.Next(0, 50);
        }

        return counts;
    }

    [Fact]
    public void RandomOffsetsScalesAndCounts_NeverMakeIngestOrQueriesThrow()
    {
        // Seeded: a failure reproduces. Each round is one store fed delta and cumulative points of one series each.
        var random = new Random(20250601);
        int accepted = 0, refused = 0;
        for (var round = 0; round < 30; round++)
        {
            var h = new StoreHarness();
            var replay = new StoreHarness();
            var start = At(-600);
            for (var i = 0; i < 30; i++)
            {
                var scale = random.Next(-12, 23);
                var positive = Counts(random);
                var negative = Counts(random);
                var point = ExponentialPoint(start, At(i * 3), scale, Offset(random, scale), positive, sum: random.Next(0, 100), zeroCount: (ulong)random.Next(0, 3), negativeOffset: Offset(random, scale), negative: negative);
                if (random.Next(4) == 0)
                {
                    point.Count = (ulong)random.NextInt64();
                }

                var temporality = random.Next(2) == 0 ? AggregationTemporality.Delta : AggregationTemporality.Cumulative;
                var request = Request([], Exponential(temporality == AggregationTemporality.Delta ? "e.delta" : "e.cumulative", temporality, point)).ToByteArray();
                try
                {
                    var result = h.Ingest.Ingest(request);
                    Assert.Equal(1, result.Accepted + result.Rejected);
                    accepted += result.Accepted;
                    refused += result.Rejected;
                }
                catch (OtlpRequestRefusedException)
                {
                    // Its only point was invalid: refused whole, before anything was stored.
                    refused++;
                }

                // The same bytes straight into Apply, as a replay of a record from before the check would.
                var replayed = replay.Ingest.Apply(request);
                Assert.Equal(1, replayed.Accepted + replayed.Rejected);
            }

            h.Clock.Advance(TimeSpan.FromSeconds(100));
            foreach (var metric in new[] { "e.delta", "e.cumulative" })
            {
                if (h.Store.ListSeries(metric).Count == 0)
                {
                    continue;
                }

                // Every function a histogram answers (last is for gauges).
                foreach (var function in Enum.GetValues<AggregateFunction>().Where(f => f != AggregateFunction.Last))
                {
                    foreach (var q in new[] { 0, 0.5, 1 })
                    {
                        _ = h.Query(metric, function, TimeSpan.FromMinutes(5), quantile: q);
                    }
                }
            }

            // Two series over ten time buckets, each side of each at most MaxSpan (arrays at most twice that):
            // 2 · 10 · 2 · 8192 · 8 bytes ≈ 2.6 MB. Unbounded index arithmetic would want gigabytes.
            Assert.InRange(h.Store.ApproximateBytes(), 0, 4 << 20);
        }

        // The draw reaches both sides of the rules: many points are refused, and many are stored.
        Assert.Equal(30 * 30, accepted + refused);
        Assert.True(accepted >= 50 && refused >= 50, $"{accepted} accepted, {refused} refused");
    }
}
