using System.Diagnostics;
using System.IO.Compression;
using K4os.Compression.LZ4;
using Microsoft.Extensions.Logging.Abstractions;
using Vigil.Perf;
using Vigil.Storage;
using Vigil.Storage.Wal;

namespace Vigil.Benchmarks;

/// <summary>
/// <c>-- walsize [requests] [in-flight]</c>: bytes per point the WAL writes at steady state, for the
/// benchmark request and the fleet model of issue 14, through the real <see cref="WriteAheadLog"/>
/// (group commit with that many appends in flight), then replay speed; and, on the same requests, what
/// each candidate codec makes of one group-commit batch (ratio, single-thread MB/s: noisy, read with
/// the load average). Counts and bytes are exact; timings are indicative only.
/// </summary>
internal static class WalSize
{
    private const ulong Second = 1_000_000_000UL;

    public static int Run(int requests, int inFlight)
    {
        Console.WriteLine($"load: {File.ReadAllText("/proc/loadavg").Trim()}");
        foreach (var (name, make) in Workloads())
        {
            var batch = Enumerable.Range(0, requests).Select(make).ToList();
            var points = batch.Sum(r => (long)r.Points);
            var raw = batch.Sum(r => (long)r.Bytes.Length);
            Console.WriteLine($"\n== {name}: {requests} requests, {points} points, {(double)raw / points:F1} B/point raw OTLP, gzip (fastest) per request {(double)batch.Sum(r => (long)Gzip(r.Bytes)) / points:F1} B/point");
            WriteThroughWal(batch, points, inFlight);
            CompareCodecs(batch, points, inFlight);
        }

        return 0;
    }

    private static IEnumerable<(string Name, Func<int, (byte[] Bytes, int Points)> Make)> Workloads()
    {
        var bench = Workload.Request();
        yield return ("benchmark request (1 resource, 20 counters x 50 points)", round =>
        {
            bench.Stamp(Workload.NowUnixNano + ((ulong)round * 10 * Second), round);
            return ([.. bench.Bytes], bench.Points);
        });

        var fleet = new FleetRequestFactory(Workload.NowUnixNano - (3600 * Second));
        yield return ("fleet model (625 tenants x 5 workspaces, 3 resources a request, histograms)", round =>
            fleet.Next(Workload.NowUnixNano + ((ulong)(round / (FleetRequestFactory.Tenants / FleetRequestFactory.ResourcesPerRequest)) * 10 * Second)));
    }

    private static void WriteThroughWal(List<(byte[] Bytes, int Points)> batch, long points, int inFlight)
    {
        var dir = Path.Combine(Path.GetTempPath(), "vigil-walsize-" + Guid.NewGuid().ToString("N"));
        try
        {
            var log = new WriteAheadLog(dir, new WalOptions(), TimeSpan.FromHours(1), TimeProvider.System, NullLogger.Instance);
            log.Replay(_ => { });
            log.Start();
            var cpu = Process.GetCurrentProcess().TotalProcessorTime;
            var clock = Stopwatch.StartNew();
            for (var i = 0; i < batch.Count; i += inFlight)
            {
                var appends = new List<Task>(inFlight);
                for (var j = i; j < Math.Min(batch.Count, i + inFlight); j++)
                {
                    appends.Add(log.AppendAsync(batch[j].Bytes));
                }

                Task.WaitAll(appends);
            }

            var elapsed = clock.Elapsed;
            var writeCpu = Process.GetCurrentProcess().TotalProcessorTime - cpu;
            var size = log.SizeBytes;
            var syncs = log.Syncs;
            log.DisposeAsync().AsTask().GetAwaiter().GetResult();
            Console.WriteLine($"WAL on disk: {size} bytes = {(double)size / points:F1} B/point; {batch.Count} records in {syncs} syncs ({(double)batch.Count / syncs:F1} a batch); write {elapsed.TotalMilliseconds:F0} ms wall, {writeCpu.TotalMilliseconds:F0} ms CPU");

            var replayed = 0L;
            cpu = Process.GetCurrentProcess().TotalProcessorTime;
            clock.Restart();
            var result = new WriteAheadLog(dir, new WalOptions(), TimeSpan.FromHours(1), TimeProvider.System, NullLogger.Instance).Replay(r => replayed += r.Length);
            var replayCpu = Process.GetCurrentProcess().TotalProcessorTime - cpu;
            Console.WriteLine($"replay: {result.Records} records, {replayed} bytes back in {clock.Elapsed.TotalMilliseconds:F0} ms wall, {replayCpu.TotalMilliseconds:F0} ms CPU = {replayCpu.TotalMilliseconds * 1000 / points:F3} us CPU/point (read + checksum + decompress, no apply)");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static void CompareCodecs(List<(byte[] Bytes, int Points)> requests, long points, int batchSize)
    {
        foreach (var size in new[] { 1, batchSize })
        {
            var blocks = new List<byte[]>();
            for (var i = 0; i < requests.Count; i += size)
            {
                blocks.Add([.. requests.Skip(i).Take(size).SelectMany(r => r.Bytes)]);
            }

            var raw = blocks.Sum(b => (long)b.Length);
            Console.WriteLine($"-- blocks of {size} request(s):");
            Codec("lz4 fast", blocks, raw, points, b => Lz4(b, LZ4Level.L00_FAST));
            Codec("lz4 hc3", blocks, raw, points, b => Lz4(b, LZ4Level.L03_HC));
            Codec("snappy", blocks, raw, points, b => Snappier.Snappy.CompressToArray(b).Length);
            Codec("zstd -3", blocks, raw, points, b => Zstd(b, -3));
            Codec("zstd -1", blocks, raw, points, b => Zstd(b, -1));
            Codec("zstd 1", blocks, raw, points, b => Zstd(b, 1));
            Codec("zstd 3", blocks, raw, points, b => Zstd(b, 3));
            Codec("deflate fastest", blocks, raw, points, b => Deflate(b));
            Codec("brotli q1", blocks, raw, points, b => Brotli(b, 1));
        }
    }

    private static void Codec(string name, List<byte[]> blocks, long raw, long points, Func<byte[], int> compress)
    {
        // Once to warm up, once timed.
        long compressed = 0;
        foreach (var block in blocks)
        {
            compressed += compress(block);
        }

        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        foreach (var block in blocks)
        {
            compress(block);
        }

        var spent = Process.GetCurrentProcess().TotalProcessorTime - cpu;
        Console.WriteLine($"  {name,-16} {(double)compressed / points,6:F1} B/point (x{(double)raw / compressed,4:F1}), {raw / 1e6 / spent.TotalSeconds,6:F0} MB/s, {spent.TotalMilliseconds * 1000 / points:F3} us CPU/point");
    }

    private static int Lz4(byte[] block, LZ4Level level)
    {
        var target = new byte[LZ4Codec.MaximumOutputSize(block.Length)];
        return LZ4Codec.Encode(block, target, level);
    }

    private static int Zstd(byte[] block, int level)
    {
        using var compressor = new ZstdSharp.Compressor(level);
        return compressor.Wrap(block).Length;
    }

    private static int Deflate(byte[] block)
    {
        var output = new MemoryStream();
        using (var deflate = new DeflateStream(output, CompressionLevel.Fastest, leaveOpen: true))
        {
            deflate.Write(block);
        }

        return (int)output.Length;
    }

    private static int Brotli(byte[] block, int quality)
    {
        var target = new byte[BrotliEncoder.GetMaxCompressedLength(block.Length)];
        BrotliEncoder.TryCompress(block, target, out var written, quality, 22);
        return written;
    }

    private static int Gzip(byte[] block)
    {
        var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true))
        {
            gzip.Write(block);
        }

        return (int)output.Length;
    }
}
