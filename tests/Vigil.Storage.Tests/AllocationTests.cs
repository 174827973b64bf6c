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
        var few = AllocatedWhileIngesting(i => Counter("c", AggregationTemporality.Delta, Points(i, 10)));
        var many = AllocatedWhileIngesting(i => Counter("c", AggregationTemporality.Delta, Points(i, 90)));

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

        var one = AllocatedWhileIngesting(i => Counter("c", AggregationTemporality.Delta, Points(i, 1)), options);
        var many = AllocatedWhileIngesting(i => Counter("c", AggregationTemporality.Delta, Points(i, 32)), options);

        Assert.Equal(one, many);
    }
}
