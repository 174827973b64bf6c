using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Time.Testing;
using Vigil.Perf;
using Vigil.Query;
using Vigil.Storage;
using Vigil.Storage.Query;

namespace Vigil.Benchmarks;

/// <summary>
/// One PromQL query that reads 10 series of a store of N series (decision 035): CPU and bytes per query when the
/// catalog lists the whole store (a reader without the label index, as every query did before) and when it
/// reads the metrics' label names from the index.
/// </summary>
internal static class QueryCatalog
{
    private const string Query = "sum by (tenant_id) (small_total{tenant_id=\"t1\"})";

    public static int Run(int seriesCount)
    {
        const int points = 1000;
        var clock = new FakeTimeProvider(Workload.Now);
        var startNanos = WindowStore.ToUnixNano(Workload.Now) - 1_000_000_000UL;
        var factory = new OtlpRequestFactory(Workload.Metrics);
        var store = new WindowStore(new WindowStoreOptions { MaxSeriesPerMetric = seriesCount, MaxSeries = seriesCount * 2, MaxSeriesPerTenant = seriesCount * 2 }, clock);
        var ingest = new OtlpIngest(store);
        clock.Advance(TimeSpan.FromSeconds(10));
        for (var first = 0; first < seriesCount; first += points)
        {
            var request = factory.Build(first, Math.Min(points, seriesCount - first), startNanos);
            request.Stamp(WindowStore.ToUnixNano(clock.GetUtcNow()) - 500_000_000UL, 0);
            ingest.Ingest(request.Bytes);
        }

        for (var i = 0; i < 10; i++)
        {
            var labels = new Dictionary<string, string> { ["tenant.id"] = "t" + (i % 2), ["route"] = "/r" + i };
            store.AddNumber("small", MetricKind.Counter, cumulative: false, labels, clock.GetUtcNow().AddSeconds(-2), clock.GetUtcNow().AddSeconds(-1), i + 1);
        }

        Console.WriteLine($"store: {store.SeriesCount:N0} series; query {Query}; load average {File.ReadAllText("/proc/loadavg").Split(' ')[0]}");
        Console.WriteLine();
        Console.WriteLine("| catalog | queries | CPU per query | allocated per query | answer |");
        Console.WriteLine("| --- | ---: | ---: | ---: | --- |");
        Measure("listing every series (before)", new ListingReader(store), clock, rounds: 3);
        Measure("label index (after)", store, clock, rounds: 50);
        return 0;
    }

    private static void Measure(string name, IWindowReader reader, FakeTimeProvider clock, int rounds)
    {
        var engine = new PromQueryEngine(reader, new PromQueryOptions(), clock);
        var answer = Describe(engine.Query(Query, clock.GetUtcNow()).Value); // warm-up (JIT)
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var allocated = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < rounds; i++)
        {
            engine.Query(Query, clock.GetUtcNow());
        }

        allocated = GC.GetAllocatedBytesForCurrentThread() - allocated;
        var ms = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalMilliseconds / rounds;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {name} | {rounds} | {ms:N2} ms | {allocated / rounds / 1024.0:N1} KiB | {answer} |"));
    }

    private static string Describe(Vigil.Query.Evaluation.InstantValue value) =>
        value is Vigil.Query.Evaluation.VectorValue vector ? string.Join(", ", vector.Samples.Select(s => $"{s.Labels} {s.Value.ToString(CultureInfo.InvariantCulture)}")) : value.ToString() ?? "";

    /// <summary>The store without its label index: the catalog lists every series, as every query did before.</summary>
    private sealed class ListingReader(WindowStore store) : IWindowReader
    {
        public IReadOnlyList<AggregateSample> Aggregate(AggregateQuery query) => store.Aggregate(query);

        public MetricKind? KindOf(string metric) => store.KindOf(metric);

        public IReadOnlyList<SeriesInfo> ListSeries(string? metric) => store.ListSeries(metric);

        public void ReadBucket(DateTimeOffset bucketStart, IBucketVisitor visitor) => store.ReadBucket(bucketStart, visitor);
    }
}
