using Google.Protobuf;
using Vigil.Otlp.Proto.Metrics;
using Vigil.Storage.Query;
using static Vigil.Storage.Tests.StoreHarness;

namespace Vigil.Storage.Tests;

public sealed class ConcurrencyTests
{
    [Fact]
    public void ConcurrentRequests_OnSharedSeries_LoseNoPoints()
    {
        var h = new StoreHarness();
        var requests = Enumerable.Range(0, 400)
            .Select(i => Request([], Counter("c", AggregationTemporality.Delta,
                Point(At(0) + (ulong)i, At(5), 1, Attr("k", (i % 4).ToString(System.Globalization.CultureInfo.InvariantCulture))))).ToByteArray())
            .ToArray();

        Parallel.ForEach(requests, new ParallelOptions { MaxDegreeOfParallelism = 8 }, request => h.Ingest.Ingest(request));
        h.Clock.Advance(TimeSpan.FromSeconds(10));

        Assert.Equal(400, h.Value("c", AggregateFunction.Increase, TimeSpan.FromMinutes(1)));
        Assert.Equal(4, h.Store.SeriesCount);
        Assert.Equal(400, h.Store.Stats.Accepted);
    }
}
