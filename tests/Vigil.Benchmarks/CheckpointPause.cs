using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Vigil.Perf;
using Vigil.Storage;
using Vigil.Storage.Checkpoint;
using Vigil.Storage.Durability;
using Vigil.Storage.Wal;

namespace Vigil.Benchmarks;

/// <summary>
/// A checkpoint of N counter series (issue 14): how long ingest is held back (barrier, WAL rotation,
/// cut), the longest request while the checkpoint streams, the bytes allocated by a checkpoint alone,
/// and what copy-on-write preserved while a writer re-sent every series during the checkpoint; then
/// loading that checkpoint into a new store: time, bytes allocated and the peak RSS it adds.
/// </summary>
internal static class CheckpointPause
{
    /// <param name="keep">Where to keep the checkpoint the load reads (for <see cref="Load"/>, e.g. under a profiler); null deletes it.</param>
    public static int Run(int seriesCount, string? keep = null)
    {
        var dataDir = Path.Combine(Path.GetTempPath(), "vigil-checkpoint-bench-" + Guid.NewGuid().ToString("N"));
        try
        {
            var file = Path.Combine(dataDir, "load.bin");
            var status = WriteCheckpoints(seriesCount, dataDir, file);
            if (status == 0)
            {
                MeasureLoad(file, seriesCount);
                if (keep is not null)
                {
                    File.Copy(file, keep, overwrite: true);
                }
            }

            return status;
        }
        finally
        {
            if (Directory.Exists(dataDir))
            {
                Directory.Delete(dataDir, recursive: true);
            }
        }
    }

    // Not inlined: the store that wrote the checkpoint is garbage once this returns, so the load measures alone.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int WriteCheckpoints(int seriesCount, string dataDir, string loadFile)
    {
        const int points = 1000;
        if (seriesCount % points != 0)
        {
            Console.Error.WriteLine("series count must be a multiple of 1000");
            return 2;
        }

        var clock = new FakeTimeProvider(Workload.Now);
        var startNanos = WindowStore.ToUnixNano(Workload.Now) - 1_000_000_000UL;
        var factory = new OtlpRequestFactory(Workload.Metrics);
        var requests = new EncodedRequest[seriesCount / points];
        for (var i = 0; i < requests.Length; i++)
        {
            requests[i] = factory.Build(i * points, points, startNanos);
        }

        var store = new WindowStore(new WindowStoreOptions { MaxSeriesPerMetric = seriesCount, MaxSeries = seriesCount * 2, MaxSeriesPerTenant = seriesCount * 2 }, clock);
        var ingest = new OtlpIngest(store);
        clock.Advance(TimeSpan.FromSeconds(10));
        foreach (var request in requests)
        {
            request.Stamp(WindowStore.ToUnixNano(clock.GetUtcNow()) - 500_000_000UL, 0);
            ingest.Ingest(request.Bytes);
        }

        // Idle cost: the first sweep walks every series (as each sweep did before); with no traffic since,
        // the next ones skip every stripe. Three sweeps are 30 s of an idle collector at 10 s resolution.
        var walked = SweepCpu(store, 1);
        clock.Advance(TimeSpan.FromSeconds(10));
        var idle = SweepCpu(store, 3);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"sweep CPU: {walked:N1} ms walking every series; {idle:N2} ms for three idle sweeps (30 s at 10 s resolution)"));

        {
            var durable = new DurableIngest(ingest, dataDir, new WalOptions(), clock, NullLogger.Instance);
            durable.Recover();
            Console.WriteLine($"counter series: {store.SeriesCount:N0}; heap {Heap() / (1024 * 1024):N0} MiB; load average {File.ReadAllText("/proc/loadavg").Split(' ')[0]}");
            Console.WriteLine();
            Console.WriteLine("| checkpoint | ingest held back | total | file | allocated during it | series preserved | preserved bytes at most | longest request meanwhile |");
            Console.WriteLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");

            // Alone: what a checkpoint itself allocates.
            Checkpoint(durable, "idle", clock, requests, round: 1, concurrent: false);

            // With a writer re-sending every series while the checkpoint streams.
            Checkpoint(durable, "under ingest", clock, requests, round: 2, concurrent: true);
            durable.DisposeAsync().AsTask().GetAwaiter().GetResult();
            File.Copy(durable.Checkpoints.List()[0].Path, loadFile);
        }

        return 0;
    }

    /// <summary>Only the load of a checkpoint <see cref="Run"/> kept.</summary>
    public static int Load(string file, int seriesCount)
    {
        MeasureLoad(file, seriesCount);
        return 0;
    }

    private static void MeasureLoad(string file, int seriesCount)
    {
        Heap();

        // Writing 5 to clear_refs resets the peak RSS (VmHWM) to the current RSS: the peak below is the load's.
        File.WriteAllText("/proc/self/clear_refs", "5");
        var rssBefore = Status("VmRSS:");
        var clock = new FakeTimeProvider(Workload.Now);
        var store = new WindowStore(new WindowStoreOptions { MaxSeriesPerMetric = seriesCount, MaxSeries = seriesCount * 2, MaxSeriesPerTenant = seriesCount * 2 }, clock);
        var allocated = GC.GetTotalAllocatedBytes(precise: true);
        var started = Stopwatch.GetTimestamp();
        CheckpointInfo info;
        using (var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 16))
        {
            info = store.LoadCheckpoint(stream);
        }

        var elapsed = Stopwatch.GetElapsedTime(started);
        allocated = GC.GetTotalAllocatedBytes(precise: true) - allocated;
        var peak = Status("VmHWM:");
        var heap = Heap();
        GC.KeepAlive(store);
        Console.WriteLine();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"load: {info.Series:N0} series from {info.Bytes / (1024.0 * 1024):N1} MiB in {elapsed.TotalSeconds:N2} s; allocated {allocated / (1024.0 * 1024):N1} MiB; peak RSS +{(peak - rssBefore) / 1024.0:N1} MiB over {rssBefore / 1024.0:N1} MiB; heap after {heap / (1024.0 * 1024):N1} MiB; load average {File.ReadAllText("/proc/loadavg").Split(' ')[0]}"));
    }

    /// <summary>A /proc/self/status line's value in KiB.</summary>
    private static long Status(string field)
    {
        var line = File.ReadLines("/proc/self/status").First(l => l.StartsWith(field, StringComparison.Ordinal));
        return long.Parse(line.AsSpan(field.Length).Trim().TrimEnd("kB").Trim(), CultureInfo.InvariantCulture);
    }

    private static void Checkpoint(DurableIngest durable, string name, FakeTimeProvider clock, EncodedRequest[] requests, int round, bool concurrent)
    {
        // Something new in the WAL, or the policy skips the checkpoint.
        requests[0].Stamp(WindowStore.ToUnixNano(clock.GetUtcNow()) - 400_000_000UL, round);
        durable.WriteAsync(requests[0].Bytes, null, null, CancellationToken.None).AsTask().GetAwaiter().GetResult();
        Heap();

        long heldTicks = 0;
        var called = Stopwatch.GetTimestamp();
        using var streaming = new ManualResetEventSlim();
        durable.BeforeStreaming = _ =>
        {
            heldTicks = Stopwatch.GetTimestamp() - called;
            streaming.Set();
        };

        using var stop = new CancellationTokenSource();
        long longest = 0;
        var writer = !concurrent ? Task.CompletedTask : Task.Run(async () =>
        {
            streaming.Wait();
            var time = WindowStore.ToUnixNano(clock.GetUtcNow()) - 300_000_000UL;
            for (var i = 1; i < requests.Length && !stop.IsCancellationRequested; i++)
            {
                requests[i].Stamp(time, round);
                var started = Stopwatch.GetTimestamp();
                await durable.WriteAsync(requests[i].Bytes, null, null, CancellationToken.None);
                longest = Math.Max(longest, Stopwatch.GetTimestamp() - started);
            }
        });

        var allocated = GC.GetTotalAllocatedBytes(precise: true);
        called = Stopwatch.GetTimestamp();
        var info = durable.CheckpointNowAsync().GetAwaiter().GetResult() ?? throw new InvalidOperationException("no checkpoint taken");
        var total = Stopwatch.GetTimestamp() - called;
        allocated = GC.GetTotalAllocatedBytes(precise: true) - allocated;
        stop.Cancel();
        writer.GetAwaiter().GetResult();
        var stats = durable.LastCheckpoint!;
        static string Ms(long ticks) => (ticks * 1000.0 / Stopwatch.Frequency).ToString("N1", CultureInfo.InvariantCulture) + " ms";
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| {name} | {Ms(heldTicks)} | {Ms(total)} | {info.Bytes / (1024.0 * 1024):N1} MiB | {allocated / (1024.0 * 1024):N1} MiB | {stats.PreservedSeries:N0} | {stats.PeakPreservedBytes / (1024.0 * 1024):N1} MiB | {(concurrent ? Ms(longest) : "-")} |"));
    }

    private static double SweepCpu(WindowStore store, int sweeps)
    {
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        for (var i = 0; i < sweeps; i++)
        {
            store.Sweep();
        }

        return (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalMilliseconds;
    }

    private static long Heap()
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        return GC.GetTotalMemory(forceFullCollection: true);
    }
}
