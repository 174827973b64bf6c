using Vigil.Otlp.Proto.Metrics;
using Vigil.Storage.Query;
using static Vigil.Storage.Tests.StoreHarness;

namespace Vigil.Storage.Tests;

/// <summary>
/// A long-lived series rolls through its bucket arrays: sweeps move the head, appends compact the
/// arrays when they reach the end, and out-of-order points still land in their own bucket.
/// </summary>
public sealed class RollingBucketTests
{
    private const AggregationTemporality Delta = AggregationTemporality.Delta;

    [Fact]
    public void HoursOfSweepsAndAppends_KeepEveryBucketInTheWindowExact()
    {
        var h = new StoreHarness(new WindowStoreOptions { Retention = TimeSpan.FromMinutes(10) });

        // Three hours at one point per 10 s bucket, sweeping every bucket: the arrays compact many times.
        for (var i = 0; i < 1080; i++)
        {
            h.Send(Counter("c", Delta, Point(At(i * 10), At((i * 10) + 5), i)));
            h.Clock.Advance(TimeSpan.FromSeconds(10));
            h.Store.Sweep();
        }

        // The last 5 minutes hold buckets 1050..1079: sum of i for those.
        var expected = Enumerable.Range(1050, 30).Sum();
        Assert.Equal(expected, h.Value("c", AggregateFunction.Increase, TimeSpan.FromMinutes(5), T0.AddSeconds(10795)));
        Assert.Equal(30, h.Value("c", AggregateFunction.Count, TimeSpan.FromMinutes(5), T0.AddSeconds(10795)));

        // Older than the retention is gone; one bucket inside the window is exact.
        Assert.Empty(h.Query("c", AggregateFunction.Increase, TimeSpan.FromSeconds(10), T0.AddSeconds(10000)));
        Assert.Equal(1075, h.Value("c", AggregateFunction.Increase, TimeSpan.FromSeconds(10), T0.AddSeconds(10755)));
    }

    [Fact]
    public void OutOfOrderPoint_AfterTheHeadMoved_LandsInItsOwnBucket()
    {
        var h = new StoreHarness(new WindowStoreOptions { Retention = TimeSpan.FromMinutes(10) });
        for (var i = 0; i < 70; i++)
        {
            if (i != 65)
            {
                h.Send(Counter("c", Delta, Point(At(i * 10), At((i * 10) + 5), 1)));
            }

            h.Clock.Advance(TimeSpan.FromSeconds(10));
            h.Store.Sweep();
        }

        // The point for bucket 65 arrives late, after the sweeps moved the head past the first buckets.
        h.Send(Counter("c", Delta, Point(At(650), At(655), 100)));

        Assert.Equal(100, h.Value("c", AggregateFunction.Increase, TimeSpan.FromSeconds(10), T0.AddSeconds(655)));
        Assert.Equal(1, h.Value("c", AggregateFunction.Increase, TimeSpan.FromSeconds(10), T0.AddSeconds(645)));
        Assert.Equal(104, h.Value("c", AggregateFunction.Increase, TimeSpan.FromSeconds(50), T0.AddSeconds(695)));
    }
}
