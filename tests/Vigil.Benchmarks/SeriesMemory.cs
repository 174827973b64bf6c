using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Time.Testing;
using Vigil.Perf;
using Vigil.Storage;

namespace Vigil.Benchmarks;

/// <summary>
/// Bytes per counter series: N series each receive one hour of cumulative points at a 60 s and at a
/// 10 s export interval through OtlpIngest, on a fixed clock that moves with the rounds; the managed
/// heap (after a forced full GC) before and after, divided by N, against WindowStore.ApproximateBytes.
/// </summary>
internal static class SeriesMemory
{
    public static int Run(int seriesCount, int onlyInterval = 0)
    {
        var points = Math.Min(1000, seriesCount);
        if (seriesCount % points != 0)
        {
            Console.Error.WriteLine("series count must be a multiple of 1000 (or below 1000)");
            return 2;
        }

        Console.WriteLine($"counter series: {seriesCount:N0}, {Workload.Metrics} metrics, 4-6 point attributes, 3 identity resource attributes, resolution 10s, retention 1h");
        Console.WriteLine();
        Console.WriteLine("| export interval | points/series | heap after 1st point /series | heap after 1 h /series | RSS after 1 h /series | ApproximateBytes /series | ingest ns/point |");
        Console.WriteLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
        // One interval per process gives an RSS figure that the other run's freed heap does not blur.
        foreach (var interval in onlyInterval > 0 ? [onlyInterval] : new[] { 60, 10 })
        {
            Measure(seriesCount, points, TimeSpan.FromSeconds(interval));
        }

        Console.WriteLine();
        Console.WriteLine($"bucket layout only: {seriesCount:N0} series objects, 360 buckets each (1 h of 10 s), heap after the buckets minus heap before them");
        Console.WriteLine();
        Console.WriteLine("| series | values | bucket bytes /series |");
        Console.WriteLine("| --- | --- | ---: |");
        Layout(seriesCount, "counter", "same delta every bucket", static (s, b, r) => ((CounterSeries)s).Add(b, 0, (ulong)b, 7, cumulative: false, knownSince: 0));
        Layout(seriesCount, "counter", "random integer deltas 0-50", static (s, b, r) => ((CounterSeries)s).Add(b, 0, (ulong)b, r.Next(51), cumulative: false, knownSince: 0));
        Layout(seriesCount, "gauge", "random walk in steps of 0.1, time jitter up to 50 ms", static (s, b, r) =>
            ((GaugeSeries)s).Add(b, 0, ((ulong)b * 10_000_000_000UL) + (ulong)r.Next(50_000_000), Math.Round(50 + (10 * Math.Sin(b / 7.0)) + (r.Next(-20, 21) / 10.0), 1)));
        return 0;
    }

    private static void Layout(int seriesCount, string kind, string values, Action<Series, int, Random> add)
    {
        var metric = new MetricState(1, "m", kind == "gauge" ? MetricKind.Gauge : MetricKind.Counter, "1", monotonic: kind != "gauge");
        var key = new byte[] { 1, 0, 0, 0 };
        var labels = LabelSet.Empty;
        var series = new Series[seriesCount];
        for (var i = 0; i < series.Length; i++)
        {
            series[i] = kind == "gauge" ? new GaugeSeries(metric, key, labels, 0) : new CounterSeries(metric, key, labels, 0);
        }

        var before = Heap();
        var random = new Random(14);
        for (var bucket = 100_000; bucket < 100_360; bucket++)
        {
            foreach (var s in series)
            {
                add(s, bucket, random);
            }
        }

        var after = Heap();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {kind} | {values} | {(after - before) / (double)seriesCount:N0} B |"));
        GC.KeepAlive(series);
    }

    private static void Measure(int seriesCount, int pointsPerRequest, TimeSpan interval)
    {
        var clock = new FakeTimeProvider(Workload.Now);
        var startNanos = WindowStore.ToUnixNano(Workload.Now) - 1_000_000_000UL;
        var factory = new OtlpRequestFactory(Workload.Metrics);
        var requests = new EncodedRequest[seriesCount / pointsPerRequest];
        for (var i = 0; i < requests.Length; i++)
        {
            requests[i] = factory.Build(i * pointsPerRequest, pointsPerRequest, startNanos);
        }

        var store = new WindowStore(new WindowStoreOptions(), clock);
        var ingest = new OtlpIngest(store);
        var before = Heap();
        var rssBefore = Rss();

        var rounds = (int)(TimeSpan.FromHours(1) / interval);
        long heapAfterFirst = 0;
        long ingestTicks = 0;
        long ingested = 0;
        for (var round = 0; round < rounds; round++)
        {
            clock.Advance(interval);
            var time = WindowStore.ToUnixNano(clock.GetUtcNow()) - 500_000_000UL;
            var started = Stopwatch.GetTimestamp();
            foreach (var request in requests)
            {
                request.Stamp(time, round);
                var result = ingest.Ingest(request.Bytes);
                if (result.Rejected != 0)
                {
                    throw new InvalidOperationException(result.ErrorMessage);
                }

                ingested += result.Accepted;
            }

            ingestTicks += Stopwatch.GetTimestamp() - started;
            store.Sweep();
            if (round == 0)
            {
                heapAfterFirst = Heap();
            }
        }

        var after = Heap();
        var rssAfter = Rss();
        if (store.SeriesCount != seriesCount)
        {
            throw new InvalidOperationException($"expected {seriesCount} series, store has {store.SeriesCount}");
        }

        var nsPerPoint = ingestTicks * (1e9 / Stopwatch.Frequency) / ingested;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| {interval.TotalSeconds:0} s | {rounds} | {(heapAfterFirst - before) / (double)seriesCount:N0} B | {(after - before) / (double)seriesCount:N0} B | {(rssAfter - rssBefore) / (double)seriesCount:N0} B | {store.ApproximateBytes() / (double)seriesCount:N0} B | {nsPerPoint:N0} |"));
        GC.KeepAlive(store);
        GC.KeepAlive(requests);
        GC.KeepAlive(ingest);
    }

    // Resident set after the forced GC of Heap(): what the process holds, GC slack included.
    private static long Rss()
    {
        using var process = Process.GetCurrentProcess();
        return process.WorkingSet64;
    }

    private static long Heap()
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        return GC.GetTotalMemory(forceFullCollection: true);
    }
}
