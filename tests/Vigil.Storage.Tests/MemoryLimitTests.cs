using Google.Protobuf;
using Vigil.Otlp.Proto.Metrics;
using Vigil.Storage.Query;
using static Vigil.Storage.Tests.StoreHarness;

namespace Vigil.Storage.Tests;

/// <summary>
/// The memory limit on a fake clock, with a fake reading derived from the store: a series costs one
/// unit, and an evicted series keeps costing until a collection, as garbage does on the real heap.
/// </summary>
public sealed class MemoryLimitTests
{
    private const AggregationTemporality Delta = AggregationTemporality.Delta;
    private const long Unit = 1024;

    // Hard 100 series, soft 80: new series of tenants with an equal share or more are refused past
    // 80, every new series past 90 (half-way), every request past 100 (at the gate).
    private const long Hard = 100 * Unit;
    private const long Soft = 80 * Unit;
    private static readonly TimeSpan Check = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan Retention = TimeSpan.FromMinutes(1);

    private sealed class Setup
    {
        private long _collectedUpTo;

        public Setup(WindowStoreOptions? options = null, long hard = Hard, long soft = Soft)
        {
            Harness = new StoreHarness(options ?? new WindowStoreOptions { Retention = Retention });
            Gauge = new FakeMemoryGauge
            {
                Reading = () => ((Store.SeriesCount + Store.EvictedSeries - Interlocked.Read(ref _collectedUpTo)) * Unit) + Interlocked.Read(ref Garbage),
                OnCollect = () =>
                {
                    Interlocked.Exchange(ref _collectedUpTo, Store.EvictedSeries);
                    Interlocked.Exchange(ref Garbage, 0);
                },
            };
            Limiter = new MemoryLimiter(hard, soft, Check, Gauge, Harness.Clock);
            Store.Memory = Limiter;
        }

        /// <summary>Reclaimable bytes besides evicted series (request buffers and the like).</summary>
        public long Garbage;

        public StoreHarness Harness { get; }

        public WindowStore Store => Harness.Store;

        public FakeMemoryGauge Gauge { get; }

        public MemoryLimiter Limiter { get; }

        public DateTimeOffset Now => Harness.Clock.GetUtcNow();

        /// <summary>One delta point of 1 per route, stamped now.</summary>
        public IngestResult Send(string tenant, int from, int count, string metric = "tenant.requests")
        {
            var now = Nanos(Now);
            var points = Enumerable.Range(from, count)
                .Select(i => Point(now - 1_000_000_000UL, now, 1, Attr("tenant.id", tenant), Attr("http.route", $"/{tenant}/{i}")))
                .ToArray();
            return Harness.Send(Counter(metric, Delta, points));
        }

        public void Advance(TimeSpan by) => Harness.Clock.Advance(by);

        public double Increase(string tenant) =>
            Assert.Single(Harness.Query("tenant.requests", AggregateFunction.Increase, Retention, matchers: [new LabelMatcher("tenant.id", MatchOp.Equal, tenant)])).Value;
    }

    /// <summary>Tenant b with 10 series, then tenant a floods 75: 85 series, above the soft limit.</summary>
    private static Setup Flooded(WindowStoreOptions? options = null)
    {
        var s = new Setup(options);
        Assert.Equal(new IngestResult(10, 0, null), s.Send("b", 0, 10));
        Assert.Equal(new IngestResult(75, 0, null), s.Send("a", 0, 75));
        Assert.Equal(MemoryPressure.Normal, s.Limiter.Pressure); // read once per check, not per request
        s.Advance(Check);
        Assert.Equal(MemoryPressure.EqualShare, s.Limiter.Pressure);
        return s;
    }

    [Fact]
    public void AboveTheSoftLimit_TheFloodingTenantsNewSeriesAreRefused_OtherTenantsKeepIngesting()
    {
        var s = Flooded();

        var refused = s.Send("a", 75, 5);
        Assert.Equal(0, refused.Accepted);
        Assert.Equal(5, refused.Rejected);
        Assert.StartsWith($"5 point(s) refused: {RefusalReasons.MemoryLimit}", refused.ErrorMessage);
        Assert.Contains("tenant.id \"a\" holds 75 series", refused.ErrorMessage);
        Assert.Contains($"soft memory limit {Soft / (1024 * 1024)} MiB", refused.ErrorMessage);
        Assert.Equal(75, s.Store.TenantSeriesCount("a"));

        // a's existing series are still accepted: the soft limit refuses growth, not data.
        s.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal(new IngestResult(75, 0, null), s.Send("a", 0, 75));

        // b holds less than an equal share (10 < 85 / 2): its points count and it may add series.
        Assert.Equal(new IngestResult(10, 0, null), s.Send("b", 0, 10));
        Assert.Equal(new IngestResult(2, 0, null), s.Send("b", 10, 2));
        Assert.Equal(10 + 10 + 2, s.Increase("b"));

        // So may a tenant that holds nothing yet.
        Assert.Equal(new IngestResult(1, 0, null), s.Send("c", 0, 1));
        Assert.Equal(75 + 12 + 1, s.Store.SeriesCount);

        // The refusals are counted by reason for the self-metrics.
        Assert.Equal(5, s.Store.Stats.RefusedByReason[RefusalReasons.MemoryLimit]);
    }

    [Fact]
    public void PastTheMiddleOfTheSpikeBand_NoNewSeriesOrMetric_ExistingSeriesStillAccepted()
    {
        var s = Flooded();
        Interlocked.Exchange(ref s.Garbage, (s.Limiter.NoNewSeriesBytes - s.Gauge.UsedBytes()) + 1);
        s.Advance(Check);
        Assert.Equal(MemoryPressure.NoNewSeries, s.Limiter.Pressure);

        var newSeries = s.Send("b", 10, 1);
        Assert.Equal((0, 1), (newSeries.Accepted, newSeries.Rejected));
        Assert.Contains(RefusalReasons.MemoryLimit, newSeries.ErrorMessage);
        Assert.Contains("tenant.id \"b\"", newSeries.ErrorMessage);

        // A new metric name would grow memory too, whatever its series.
        var newMetric = s.Send("b", 0, 1, metric: "brand.new");
        Assert.Equal((0, 1), (newMetric.Accepted, newMetric.Rejected));
        Assert.DoesNotContain("brand.new", s.Store.MetricNames());

        s.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal(new IngestResult(10, 0, null), s.Send("b", 0, 10));
        Assert.Equal(10 + 10, s.Increase("b"));
    }

    [Fact]
    public void AboveTheHardLimit_ACollectionIsForcedEachCheck_AndTheLevelFollowsTheReadingAfterIt()
    {
        var s = Flooded();
        Assert.Equal(0, s.Limiter.ForcedCollections); // above soft, but nothing was evicted: nothing to reclaim

        // Garbage a collection can reclaim: one forced collection, and the level is that of the reading after it.
        Interlocked.Exchange(ref s.Garbage, Hard);
        s.Advance(Check);
        Assert.Equal(1, s.Limiter.ForcedCollections);
        Assert.Equal(MemoryPressure.EqualShare, s.Limiter.Pressure);
        Assert.Equal(85 * Unit, s.Limiter.UsedBytes);

        // Memory a collection cannot reclaim: refuse everything, and collect again at every check (not more often).
        s.Gauge.OnCollect = () => { };
        Interlocked.Exchange(ref s.Garbage, Hard);
        s.Advance(Check);
        Assert.Equal(MemoryPressure.RefuseAll, s.Limiter.Pressure);
        s.Advance(Check * 3);
        Assert.Equal(1 + 4, s.Limiter.ForcedCollections);

        // It lets go at the first reading below the limit.
        Interlocked.Exchange(ref s.Garbage, 0);
        s.Advance(Check);
        Assert.Equal(MemoryPressure.EqualShare, s.Limiter.Pressure);
    }

    [Fact]
    public void FloodStops_IdleSeriesAreEvicted_ACollectionMakesTheReadingFall_RefusalsStop()
    {
        var s = Flooded();

        // The flood stops; b keeps reporting every 10 s. The sweeper runs every 10 s too.
        var sweeps = 0;
        while (s.Store.TenantSeriesCount("a") > 0)
        {
            Assert.True(++sweeps <= (Retention.TotalSeconds / 10) + 1, "a's series were not evicted after the retention");
            s.Advance(TimeSpan.FromSeconds(10));
            Assert.Equal(new IngestResult(10, 0, null), s.Send("b", 0, 10));
            s.Store.Sweep();
        }

        Assert.Equal(75, s.Store.EvictedSeries);

        // Evicted is not yet freed: until a collection the reading still counts a's series.
        Assert.Equal(85 * Unit, s.Gauge.UsedBytes());
        s.Advance(Check);
        Assert.Equal(1, s.Limiter.ForcedCollections);
        Assert.Equal(10 * Unit, s.Limiter.UsedBytes);
        Assert.Equal(MemoryPressure.Normal, s.Limiter.Pressure);

        // a may create series again; at Normal no further collection is forced.
        Assert.Equal(new IngestResult(5, 0, null), s.Send("a", 100, 5));
        s.Advance(Check * 5);
        Assert.Equal(1, s.Limiter.ForcedCollections);
    }

    [Fact]
    public void CollectionsAfterEvictionsBelowTheHardLimit_AreSpacedBySoftCollectInterval()
    {
        var s = Flooded();

        // Readings that stay above soft however much is collected; evictions every second.
        s.Gauge.OnCollect = () => { };
        for (var i = 0; i < 30; i++)
        {
            s.Limiter.SeriesEvicted();
            s.Advance(Check);
        }

        var expected = (int)Math.Ceiling(30 * Check / MemoryLimiter.SoftCollectInterval);
        Assert.Equal(expected, s.Limiter.ForcedCollections);
    }

    [Fact]
    public void OneTenantOrNone_AboveTheSoftLimit_EveryNewSeriesIsRefused()
    {
        var single = new Setup();
        Assert.Equal(0, single.Send("a", 0, 85).Rejected);
        single.Advance(Check);
        Assert.Equal(1, single.Send("a", 85, 1).Rejected);

        var untenanted = new Setup();
        var now = Nanos(untenanted.Now);
        var points = Enumerable.Range(0, 85).Select(i => Point(now - 1, now, 1, Attr("k", i.ToString(System.Globalization.CultureInfo.InvariantCulture)))).ToArray();
        Assert.Equal(0, untenanted.Harness.Send(Counter("c", Delta, points)).Rejected);
        untenanted.Advance(Check);
        var refused = untenanted.Harness.Send(Counter("c", Delta, Point(now - 1, now, 1, Attr("k", "new"))));
        Assert.Equal(1, refused.Rejected);
        Assert.DoesNotContain("tenant.id \"", refused.ErrorMessage);
    }

    [Fact]
    public void WithoutALimiter_NothingIsRefusedForMemory()
    {
        var s = Flooded();
        s.Store.Memory = null; // as during the WAL replay
        Assert.Equal(new IngestResult(5, 0, null), s.Send("a", 75, 5));
    }

    [Fact]
    public void StoreSeriesLimit_RefusesNewSeriesWithReason_ExpiryAndCheckpointsKeepTheCount()
    {
        var h = new StoreHarness(new WindowStoreOptions { MaxSeries = 3, Retention = Retention });
        var now = Nanos(h.Clock.GetUtcNow());
        NumberDataPoint P(string tenant, string route) => Point(now - 1, now, 1, Attr("tenant.id", tenant), Attr("http.route", route));

        var result = h.Send(Counter("c", Delta, P("a", "/1"), P("b", "/1"), P("a", "/2"), P("c", "/1")), Counter("d", Delta, P("c", "/1")));
        Assert.Equal((3, 2), (result.Accepted, result.Rejected));
        Assert.StartsWith($"2 point(s) refused: {RefusalReasons.StoreSeriesLimit}", result.ErrorMessage);
        Assert.Contains("limit 3 series in all", result.ErrorMessage);

        // A restored store counts what it restored.
        using var checkpoint = new MemoryStream();
        h.Store.WriteCheckpoint(checkpoint, walSegment: 1);
        var restored = new WindowStore(h.Store.Options, h.Clock);
        restored.LoadCheckpoint(new MemoryStream(checkpoint.ToArray()));
        Assert.Equal(2, restored.TenantSeriesCount("a"));
        var ingest = new OtlpIngest(restored);
        Assert.Equal(1, ingest.Ingest(Request([], Counter("c", Delta, P("c", "/1"))).ToByteArray()).Rejected);

        // Expired series give their place back.
        h.Clock.Advance(Retention + TimeSpan.FromSeconds(10));
        Assert.Equal(3, h.Store.Sweep());
        now = Nanos(h.Clock.GetUtcNow());
        Assert.Equal(0, h.Send(Counter("c", Delta, P("c", "/1"))).Rejected);
    }
}
