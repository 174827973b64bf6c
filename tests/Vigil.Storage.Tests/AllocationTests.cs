using Google.Protobuf;
using Vigil.Otlp.Proto.Metrics;
using static Vigil.Storage.Tests.StoreHarness;

namespace Vigil.Storage.Tests;

/// <summary>The per-point path allocates nothing once a series exists (DESIGN §5, STYLE §5).</summary>
public sealed class AllocationTests
{
    private const int Warmup = 8;
    private const int Measured = 64;

    private static long AllocatedWhileIngesting(Func<int, Metric> metricAt, WindowStoreOptions? options = null)
    {
        var h = new StoreHarness(options);
        var requests = Enumerable.Range(0, Warmup + Measured)
            .Select(i => Request([Attr("service.name", "api")], metricAt(i)).ToByteArray())
            .ToArray();
        for (var i = 0; i < Warmup; i++)
        {
            h.Ingest.Ingest(requests[i]);
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = Warmup; i < requests.Length; i++)
        {
            h.Ingest.Ingest(requests[i]);
        }

        return GC.GetAllocatedBytesForCurrentThread() - before;
    }

    /// <summary>
    /// The least bytes one request of each shape allocated, the shapes interleaved request by request in one
    /// store. Taken per request rather than summed: a tier-1 recompile, an OSR switch or a lazy first use on
    /// another thread's schedule can land inside the measured loop and adds bytes to the one request it lands
    /// in (summing, a loaded machine once made the shapes differ by that), while interleaved both shapes run
    /// the same code and an allocation per point shows in every reading of the larger shape.
    /// </summary>
    private static (long Small, long Large) LeastPerRequest(Func<int, Metric> small, Func<int, Metric> large, WindowStoreOptions? options = null)
    {
        var h = new StoreHarness(options);
        var requests = Enumerable.Range(0, Warmup + Measured)
            .Select(i => (Small: Request([Attr("service.name", "api")], small(i)).ToByteArray(), Large: Request([Attr("service.name", "api")], large(i)).ToByteArray()))
            .ToArray();
        for (var i = 0; i < Warmup; i++)
        {
            h.Ingest.Ingest(requests[i].Small);
            h.Ingest.Ingest(requests[i].Large);
        }

        long leastSmall = long.MaxValue, leastLarge = long.MaxValue;
        for (var i = Warmup; i < requests.Length; i++)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            h.Ingest.Ingest(requests[i].Small);
            var between = GC.GetAllocatedBytesForCurrentThread();
            h.Ingest.Ingest(requests[i].Large);
            var after = GC.GetAllocatedBytesForCurrentThread();
            leastSmall = Math.Min(leastSmall, between - before);
            leastLarge = Math.Min(leastLarge, after - between);
        }

        return (leastSmall, leastLarge);
    }

    // All points share one time bucket, so no bucket is created while measuring.
    private static ulong TimeOf(int i) => At(1) + ((ulong)i * 1000);

    [Fact]
    public void CumulativeCounter_KnownSeries_AllocatesNothing()
    {
        Assert.Equal(0, AllocatedWhileIngesting(i => Counter("c", AggregationTemporality.Cumulative, Point(At(-60), TimeOf(i), i, Attr("k", "v")))));
    }

    [Fact]
    public void DeltaGauge_KnownSeries_AllocatesNothing()
    {
        Assert.Equal(0, AllocatedWhileIngesting(i => Gauge("g", Point(0, TimeOf(i), i, Attr("k", "v")))));
    }

    [Fact]
    public void CumulativeHistogram_KnownSeries_AllocatesNothing()
    {
        Assert.Equal(0, AllocatedWhileIngesting(i => Histogram("h", AggregationTemporality.Cumulative, HistogramPoint(At(-60), TimeOf(i), [1, 2], [(ulong)i, 1, 1], i))));
    }

    [Fact]
    public void CumulativeExponentialHistogram_KnownSeries_AllocatesNothing()
    {
        Assert.Equal(0, AllocatedWhileIngesting(i => Exponential("e", AggregationTemporality.Cumulative, ExponentialPoint(At(-60), TimeOf(i), 2, 3, [(ulong)i, 1, 1], i))));
    }

    [Fact]
    public void InvalidPoints_AllocateNothingPerPoint()
    {
        // Refused by content (a negative delta on a monotonic sum): checking them costs nothing per point.
        NumberDataPoint[] Points(int i, int count) =>
            [Point(At(0), TimeOf(i), 1, Attr("k", "v")), .. Enumerable.Range(0, count).Select(p => Point(At(0), TimeOf(i), -1, Attr("k", "v" + p)))];

        // 10 and 90: the message spells the count, so both have two digits.
        var (few, many) = LeastPerRequest(i => Counter("c", AggregationTemporality.Delta, Points(i, 10)), i => Counter("c", AggregationTemporality.Delta, Points(i, 90)));

        Assert.True(few > 0, "a refused request costs its message: the measurement must see it");
        Assert.Equal(few, many);
    }

    [Fact]
    public void Summary_KnownSeries_AllocatesNothing()
    {
        Assert.Equal(0, AllocatedWhileIngesting(i => Summary("s", SummaryPoint(At(-60), TimeOf(i), (ulong)i, i, (0.5, 1), (0.99, 2)))));
    }

    [Fact]
    public void OverflowPoints_AllocateNothingPerPoint()
    {
        // A refusal costs its request one message; the points behind it must cost nothing more.
        var options = new WindowStoreOptions { MaxSeriesPerMetric = 1 };
        NumberDataPoint[] Points(int i, int count) =>
            [Point(At(0), TimeOf(i), 1, Attr("user", "kept")), .. Enumerable.Range(0, count).Select(p => Point(At(0), TimeOf(i), 1, Attr("user", "u" + p)))];

        var (one, many) = LeastPerRequest(i => Counter("c", AggregationTemporality.Delta, Points(i, 1)), i => Counter("c", AggregationTemporality.Delta, Points(i, 32)), options);

        Assert.True(one > 0, "a refused request costs its message: the measurement must see it");
        Assert.Equal(one, many);
    }
}
