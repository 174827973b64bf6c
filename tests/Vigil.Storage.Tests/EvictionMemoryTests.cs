using Google.Protobuf;
using Vigil.Otlp.Proto.Metrics;
using static Vigil.Storage.Tests.StoreHarness;

namespace Vigil.Storage.Tests;

[CollectionDefinition(nameof(RealHeap), DisableParallelization = true)]
public sealed class RealHeap;

/// <summary>
/// The real heap, not a model of it: evicted series give their memory back once collected. Alone in
/// its collection, so other tests' allocations do not blur the reading.
/// </summary>
[Collection(nameof(RealHeap))]
public sealed class EvictionMemoryTests
{
    private const int Series = 20_000;

    [Fact]
    public void EvictedSeries_GiveTheHeapBack_AfterTheForcedCollection()
    {
        var h = new StoreHarness(new WindowStoreOptions { Retention = TimeSpan.FromMinutes(1), MaxSeriesPerMetric = Series, MaxSeriesPerTenant = 0 });
        var requests = Enumerable.Range(0, Series / 1000).Select(r => Request([], Counter("flood", AggregationTemporality.Delta, [.. Enumerable.Range(r * 1000, 1000)
            .Select(i => Point(At(0), At(5), 1, Attr("tenant.id", "a"), Attr("id", i.ToString(System.Globalization.CultureInfo.InvariantCulture))))])).ToByteArray()).ToList();
        var gauge = GcMemoryGauge.Instance;

        gauge.Collect();
        var before = gauge.UsedBytes();
        foreach (var request in requests)
        {
            Assert.Equal(0, h.Ingest.Ingest(request).Rejected);
        }

        gauge.Collect();
        var grown = gauge.UsedBytes() - before;

        h.Clock.Advance(TimeSpan.FromMinutes(2));
        Assert.Equal(Series, h.Store.Sweep());
        // The least of three readings: another test's thread may hold a transient allocation at any one of them.
        var left = long.MaxValue;
        for (var i = 0; i < 3; i++)
        {
            gauge.Collect();
            left = Math.Min(left, gauge.UsedBytes() - before);
        }

        // A floor, not a measurement: a series holds at least its object, key, labels and bucket arrays.
        Assert.True(grown > Series * 256L, $"{Series} series grew the heap by only {grown} bytes");
        // Measured: ~16 KB of ~15 MB. Without trimming the stripe maps after the flood it was ~1 MB.
        Assert.True(left < grown / 100, $"{left} of {grown} bytes still held after evicting every series");
        GC.KeepAlive(requests);
    }
}
