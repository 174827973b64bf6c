using Vigil.Storage.Checkpoint;
using Vigil.Storage.Compression;

namespace Vigil.Storage.Tests;

/// <summary>
/// Counter and gauge series pack their closed buckets: random point sequences (in order, late by up to
/// the whole retention, repeated buckets, gaps, odd doubles, sweeps, checkpoint round trips) must read
/// back exactly what a plain dictionary of buckets in the test holds, bit for bit.
/// </summary>
public sealed class PackedBucketTests
{
    private const int Retention = 360;

    private static readonly double[] OddValues =
        [0.0, -0.0, 1.0, -1.0, 0.1, 1e300, -1e300, double.Epsilon, -double.Epsilon, 123456789.125, 3.0, 3.0, 3.0, double.MaxValue / 4];

    private static readonly double[] NotFinite = [double.NaN, double.PositiveInfinity, double.NegativeInfinity];

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(6)]
    public void DeltaCounter_RandomPoints_ReadBackAsTheModel(int seed)
    {
        var random = new Random(seed);
        var series = NewCounter();
        var model = new SortedDictionary<int, (double Sum, int Points)>();
        var now = 1000;
        ulong time = 1;
        for (var step = 0; step < 6000; step++)
        {
            now += Advance(random);
            var bucket = PickBucket(random, now);
            var value = PickValue(random);
            var refusal = series.Add(bucket, 0, time++, value, cumulative: false, knownSince: 0);
            if (!double.IsFinite(value))
            {
                Assert.Equal(RefusalReasons.NotFinite, refusal);
            }
            else
            {
                Assert.Null(refusal);
                var (sum, points) = model.TryGetValue(bucket, out var held) ? held : (0.0, 0);
                model[bucket] = (sum + value, points + 1);
            }

            if (random.Next(200) == 0)
            {
                Sweep(series, model, now);
            }

            if (random.Next(500) == 0)
            {
                series = RoundTrip(series, NewCounter());
            }

            if (random.Next(100) == 0)
            {
                AssertCounterMatches(series, model, random, now);
            }
        }

        AssertCounterMatches(series, model, random, now);
    }

    [Theory]
    [InlineData(11)]
    [InlineData(12)]
    [InlineData(13)]
    [InlineData(14)]
    public void Gauge_RandomPoints_ReadBackAsTheModel(int seed)
    {
        var random = new Random(seed);
        var series = NewGauge();
        var model = new SortedDictionary<int, GaugeModel>();
        var now = 1000;
        for (var step = 0; step < 6000; step++)
        {
            now += Advance(random);
            var bucket = PickBucket(random, now);
            var value = PickValue(random);

            // Unique per point (no retry detection), anywhere inside the bucket, not in order.
            var time = ((ulong)bucket * 10_000_000_000UL) + ((ulong)random.Next(1_000_000) * 10_000UL) + (ulong)(step % 10_000);
            var refusal = series.Add(bucket, 0, time, value);
            if (!double.IsFinite(value))
            {
                Assert.Equal(RefusalReasons.NotFinite, refusal);
            }
            else
            {
                Assert.Null(refusal);
                model[bucket] = (model.TryGetValue(bucket, out var held) ? held : default).With(value, (long)time);
            }

            if (random.Next(200) == 0)
            {
                Sweep(series, model, now);
            }

            if (random.Next(500) == 0)
            {
                series = RoundTrip(series, NewGauge());
            }

            if (random.Next(100) == 0)
            {
                AssertGaugeMatches(series, model, random, now);
            }
        }

        AssertGaugeMatches(series, model, random, now);
    }

    [Fact]
    public void CumulativeCounter_AfterRestore_CountsOnlyTheNewIncrease()
    {
        var series = NewCounter();
        for (var i = 0; i < 100; i++)
        {
            series.Add(2000 + i, 1, (ulong)(i + 1), i * 10.0, cumulative: true, knownSince: 0);
        }

        var restored = RoundTrip(series, NewCounter());
        restored.Add(2100, 1, 101, 1005, cumulative: true, knownSince: 0);

        // The first point was a restart (start 1 after knownSince 0): 0; then +10 each; then 1005 - 990.
        double sum = 0, points = 0;
        Assert.True(restored.Fold(2000, 2100, ref sum, ref points));
        Assert.Equal((99 * 10.0) + 15, sum);
        Assert.Equal(101, points);
    }

    [Fact]
    public void DeltaRetry_AfterRestore_IsStillRecognised()
    {
        var series = NewCounter();
        series.Add(3000, 10, 20, 3, cumulative: false, knownSince: 0);
        series.Add(3000, 20, 30, 4, cumulative: false, knownSince: 0);

        // The recent (start, time) ring is made on the first delta point and travels through the checkpoint.
        var restored = RoundTrip(series, NewCounter());
        restored.Add(3000, 10, 20, 3, cumulative: false, knownSince: 0);
        restored.Add(3000, 20, 30, 4, cumulative: false, knownSince: 0);
        restored.Add(3000, 30, 40, 5, cumulative: false, knownSince: 0);

        double sum = 0, points = 0;
        Assert.True(restored.Fold(3000, 3000, ref sum, ref points));
        Assert.Equal(3 + 4 + 5, sum);
        Assert.Equal(3, points);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void DecimalGauge_HourOfBuckets_ReadsBackExactly_InAboutThreeBytesEach(int seed)
    {
        var random = new Random(seed);
        var series = NewGauge();
        var values = new double[Retention];
        var value = 50.0;
        for (var i = 0; i < Retention; i++)
        {
            // A random walk of one-decimal values, as a text exporter or Math.Round(x, 1) makes them.
            value = Math.Round(value + (random.Next(-20, 21) / 10.0), 1);
            values[i] = value;
            series.Add(7000 + i, 0, (ulong)(i + 1) * 10_000_000_000UL, value);
        }

        for (var i = 0; i < Retention; i++)
        {
            Assert.True(series.TryRead(7000 + i, out var view));
            Assert.Equal(Bits(values[i]), Bits(view.Value));
            Assert.Equal(Bits(values[i]), Bits(view.Sum));
        }

        // Control byte, the change of m in 50.3 = 503 / 10 as one varint byte, the time's delta-of-delta 0;
        // an XOR of such doubles would need five to seven bytes.
        var chunks = (Retention + PackedChunks.ChunkBuckets - 1) / PackedChunks.ChunkBuckets;
        Assert.InRange(series.PackedBytes, 1, (Retention * 3) + (chunks * (PackedChunks.MaxHeader + 20)));
    }

    [Fact]
    public void ValuesSwitchingScaleAndCoding_ReadBackBitForBit()
    {
        // Decimals at several scales, between them values no m / 10^k gives back exactly.
        double[] values =
        [
            50.3, 50.35, 50, 7, -0.0, 0.0, 1e-7, 0.1 + 0.2, 123456.789, 123456.788, 8_999_999_999_999_999, 9e15, 1e300,
            -12.5, -12.25, double.Epsilon, 0.000001, 0.0000015, 3, 3, 2.5, long.MaxValue, -4.2, -4.3,
        ];
        var gauge = NewGauge();
        var counter = NewCounter();
        for (var round = 0; round < 4; round++)
        {
            for (var i = 0; i < values.Length; i++)
            {
                var bucket = 9000 + (round * values.Length) + i;
                gauge.Add(bucket, 0, (ulong)bucket * 10_000_000_000UL, values[i]);
                counter.Add(bucket, 0, (ulong)bucket, values[i], cumulative: false, knownSince: 0);
            }
        }

        for (var round = 0; round < 4; round++)
        {
            for (var i = 0; i < values.Length; i++)
            {
                var bucket = 9000 + (round * values.Length) + i;
                Assert.True(gauge.TryRead(bucket, out var g));
                Assert.Equal(Bits(values[i]), Bits(g.Value));
                Assert.True(counter.TryRead(bucket, out var c));
                Assert.Equal(Bits(0.0 + values[i]), Bits(c.Value)); // a counter bucket sums from +0.0: -0.0 reads +0.0
            }
        }
    }

    [Fact]
    public void SteadyCounter_HourOfBuckets_PacksToAboutAByteEach()
    {
        var series = NewCounter();
        for (var i = 0; i < Retention; i++)
        {
            series.Add(5000 + i, 0, (ulong)(i + 1), 7, cumulative: false, knownSince: 0);
        }

        // One control byte per bucket; per chunk of 32 a header and one full sum against zero.
        var chunks = (Retention + PackedChunks.ChunkBuckets - 1) / PackedChunks.ChunkBuckets;
        var bound = Retention + (chunks * (PackedChunks.MaxHeader + 8));
        Assert.InRange(series.PackedBytes, 1, bound);

        double sum = 0, points = 0;
        series.Fold(5000, 5000 + Retention - 1, ref sum, ref points);
        Assert.Equal(7.0 * Retention, sum);
        Assert.Equal(Retention, points);
    }

    [Fact]
    public void Sweep_DropsExpiredPackedBuckets_AndAnEmptySeriesReportsEmpty()
    {
        var series = NewCounter();
        for (var i = 0; i < 100; i++)
        {
            series.Add(100 + i, 0, (ulong)(i + 1), 1, cumulative: false, knownSince: 0);
        }

        series.Trim(150);
        double sum = 0, points = 0;
        series.Fold(0, 1000, ref sum, ref points);
        Assert.Equal(50, points);
        Assert.False(series.TryRead(149, out _));
        Assert.True(series.TryRead(150, out var view));
        Assert.Equal(1, view.Count);

        series.Trim(10_000);
        Assert.True(series.IsEmpty);
        Assert.Equal(0, series.PackedBytes);
    }

    private static int Advance(Random random) => random.Next(10) switch
    {
        0 => random.Next(2, 60), // a gap
        < 4 => 1,
        _ => 0,
    };

    private static int PickBucket(Random random, int now) => random.Next(10) switch
    {
        0 => now - random.Next(Retention), // late, anywhere in retention
        1 => now - random.Next(1, 12),     // a little late
        _ => now,
    };

    private static double PickValue(Random random) => random.Next(20) switch
    {
        0 => NotFinite[random.Next(NotFinite.Length)],
        < 6 => OddValues[random.Next(OddValues.Length)],
        < 12 => random.Next(0, 1000),
        _ => (random.NextDouble() - 0.3) * Math.Pow(10, random.Next(-5, 8)),
    };

    private static void Sweep<TValue>(Series series, SortedDictionary<int, TValue> model, int now)
    {
        var oldest = now - Retention + 1;
        series.Trim(oldest);
        foreach (var bucket in model.Keys.Where(b => b < oldest).ToList())
        {
            model.Remove(bucket);
        }

        Assert.Equal(model.Count == 0, series.IsEmpty);
    }

    private static TSeries RoundTrip<TSeries>(TSeries series, TSeries fresh)
        where TSeries : Series
    {
        var writer = new CheckpointWriter();
        series.WriteCheckpoint(writer);
        var bytes = writer.Written.ToArray();
        var reader = new CheckpointReader(bytes, 0, bytes.Length);
        fresh.ReadCheckpoint(reader);
        Assert.Equal(0, reader.Remaining);
        return fresh;
    }

    private static void AssertCounterMatches(CounterSeries series, SortedDictionary<int, (double Sum, int Points)> model, Random random, int now)
    {
        for (var bucket = now - Retention - 5; bucket <= now + 1; bucket++)
        {
            var held = model.TryGetValue(bucket, out var expected);
            Assert.Equal(held, series.TryRead(bucket, out var view));
            if (held)
            {
                Assert.Equal(Bits(expected.Sum), Bits(view.Value));
                Assert.Equal(expected.Points, view.Count);
            }
        }

        for (var i = 0; i < 20; i++)
        {
            var from = now - random.Next(Retention + 10);
            var to = from + random.Next(Retention);
            double sum = 0, points = 0, expectedSum = 0, expectedPoints = 0;
            var any = false;
            foreach (var (bucket, value) in model)
            {
                if (bucket >= from && bucket <= to)
                {
                    expectedSum += value.Sum;
                    expectedPoints += value.Points;
                    any = true;
                }
            }

            Assert.Equal(any, series.Fold(from, to, ref sum, ref points));
            Assert.Equal(Bits(expectedSum), Bits(sum));
            Assert.Equal(expectedPoints, points);
        }
    }

    private static void AssertGaugeMatches(GaugeSeries series, SortedDictionary<int, GaugeModel> model, Random random, int now)
    {
        for (var bucket = now - Retention - 5; bucket <= now + 1; bucket++)
        {
            var held = model.TryGetValue(bucket, out var expected);
            Assert.Equal(held, series.TryRead(bucket, out var view));
            if (held)
            {
                Assert.Equal(Bits(expected.Last), Bits(view.Value));
                Assert.Equal(Bits(expected.Sum), Bits(view.Sum));
                Assert.Equal(expected.Count, view.Count);
            }
        }

        for (var i = 0; i < 20; i++)
        {
            var from = now - random.Next(Retention + 10);
            var to = from + random.Next(Retention);
            var fold = GaugeFold.Empty;
            var expected = GaugeFold.Empty;
            var last = double.NaN;
            foreach (var (bucket, value) in model)
            {
                if (bucket >= from && bucket <= to)
                {
                    expected.Count += value.Count;
                    expected.Sum += value.Sum;
                    expected.Min = Math.Min(expected.Min, value.Min);
                    expected.Max = Math.Max(expected.Max, value.Max);
                    last = value.Last;
                }
            }

            Assert.Equal(!double.IsNaN(last), series.Fold(from, to, ref fold));
            Assert.Equal(expected.Count, fold.Count);
            Assert.Equal(Bits(expected.Sum), Bits(fold.Sum));
            Assert.Equal(Bits(expected.Min), Bits(fold.Min));
            Assert.Equal(Bits(expected.Max), Bits(fold.Max));
            if (!double.IsNaN(last))
            {
                Assert.Equal(Bits(0.0 + last), Bits(fold.Last));
                Assert.Equal(1, fold.Series);
            }
        }
    }

    private static long Bits(double value) => BitConverter.DoubleToInt64Bits(value);

    private static CounterSeries NewCounter() =>
        new(new MetricState(1, "c", MetricKind.Counter, "1", monotonic: true), [1, 0, 0, 0], LabelSet.Empty, 0);

    private static GaugeSeries NewGauge() =>
        new(new MetricState(2, "g", MetricKind.Gauge, "1", monotonic: false), [2, 0, 0, 0], LabelSet.Empty, 0);

    /// <summary>What a gauge bucket must hold: the value with the latest time (the later arrival on a tie), min, max, sum, count.</summary>
    private readonly record struct GaugeModel(double Last, long LastTime, double Min, double Max, double Sum, int Count)
    {
        public GaugeModel With(double value, long time) => Count == 0
            ? new GaugeModel(value, time, value, value, 0.0 + value, 1)
            : new GaugeModel(
                time >= LastTime ? value : Last,
                Math.Max(time, LastTime),
                Math.Min(Min, value),
                Math.Max(Max, value),
                Sum + value,
                Count + 1);
    }
}
