using System.Globalization;
using System.Net;
using Google.Protobuf;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Vigil.Otlp.Proto.Collector;
using Vigil.Otlp.Proto.Metrics;

namespace Vigil.Collector.Tests;

/// <summary>Checkpoints bound start-up replay to the WAL written since the newest one, and lose nothing.</summary>
public sealed class CheckpointTests
{
    private static readonly ulong RunStart = OtlpRequests.NowNanos() - 3_600_000_000_000UL;

    private static async Task PostAsync(VigilServer server, IMessage request)
    {
        using var http = new HttpClient { BaseAddress = server.OtlpHttpUri };
        using var content = new ByteArrayContent(request.ToByteArray());
        content.Headers.ContentType = new("application/x-protobuf");
        using var response = await http.PostAsync("/v1/metrics", content);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    /// <summary>One point of a cumulative counter run that began an hour ago (before any Vigil saw it).</summary>
    private static ExportMetricsServiceRequest CumulativeCounter(string name, double value, ulong time)
    {
        var sum = new Sum { AggregationTemporality = AggregationTemporality.Cumulative, IsMonotonic = true };
        sum.DataPoints.Add(new NumberDataPoint { StartTimeUnixNano = RunStart, TimeUnixNano = time, AsDouble = value });
        return OtlpRequests.Wrap(new Metric { Name = name, Sum = sum }, "acme");
    }

    private static WalService WalOf(VigilServer server) => server.Services.GetRequiredService<WalService>();

    private static long[] SegmentNumbers(string dataDir) =>
        [.. Directory.GetFiles(Path.Combine(dataDir, "wal"), "*.wal").Select(p => long.Parse(Path.GetFileNameWithoutExtension(p), CultureInfo.InvariantCulture)).Order()];

    [Fact]
    public async Task Restart_LoadsTheCheckpoint_AndReplaysOnlyTheWalTail()
    {
        var dataDir = VigilServer.NewDataDir();
        string? crashDir = null;
        try
        {
            var now = OtlpRequests.NowNanos();
            long checkpointSegment;
            await using (var first = await VigilServer.StartAsync(dataDir: dataDir))
            {
                await PostAsync(first, OtlpRequests.DeltaCounter("before.checkpoint", 5));
                await PostAsync(first, OtlpRequests.DeltaCounter("before.checkpoint", 6, points: 2));
                await PostAsync(first, CumulativeCounter("bytes.sent", 1000, now - 2_000_000_000UL));
                await PostAsync(first, OtlpRequests.Gauge("temperature", 21.5));

                var checkpoint = await WalOf(first).CheckpointNowAsync();

                Assert.NotNull(checkpoint);
                checkpointSegment = checkpoint.WalSegment;
                Assert.True(File.Exists(Path.Combine(dataDir, "checkpoints", $"checkpoint-{checkpointSegment:D12}.bin")));
                Assert.All(SegmentNumbers(dataDir), n => Assert.True(n >= checkpointSegment, $"segment {n} is older than the checkpoint ({checkpointSegment})"));

                await PostAsync(first, OtlpRequests.DeltaCounter("after.checkpoint", 4));
                await PostAsync(first, OtlpRequests.DeltaCounter("before.checkpoint", 10, tenant: "globex"));
                await PostAsync(first, CumulativeCounter("bytes.sent", 1250, now - 1_000_000_000UL));
                crashDir = VigilServer.CrashCopy(dataDir);
            }

            // As after kill -9: the checkpoint plus the three requests logged after it.
            await using (var crashed = await VigilServer.StartAsync(dataDir: crashDir))
            {
                var recovery = WalOf(crashed).Recovery;
                Assert.NotNull(recovery);
                Assert.Equal(checkpointSegment, recovery.Checkpoint?.WalSegment);
                Assert.Equal(3, recovery.RecordsReplayed);

                using var api = new VigilApi(crashed.HttpUri);
                Assert.Equal(27, await api.ValueAsync("before.checkpoint", "increase"));
                Assert.Equal(4, await api.ValueAsync("after.checkpoint", "increase"));
                Assert.Equal(21.5, await api.ValueAsync("temperature", "last"));

                // The run's first point was its baseline; the checkpoint kept it, so the tail adds 250 (not 0, not 1250).
                Assert.Equal(250, await api.ValueAsync("bytes.sent", "increase"));
            }

            // After the graceful stop (which checkpoints again) nothing is left to replay.
            await using var restarted = await VigilServer.StartAsync(dataDir: dataDir);
            var graceful = WalOf(restarted).Recovery;
            Assert.NotNull(graceful?.Checkpoint);
            Assert.True(graceful.Checkpoint.WalSegment > checkpointSegment);
            Assert.Equal(0, graceful.RecordsReplayed);
            // The new checkpoint and the previous one are kept (with the WAL from the previous one on).
            Assert.Equal(
                [$"checkpoint-{checkpointSegment:D12}.bin", $"checkpoint-{graceful.Checkpoint.WalSegment:D12}.bin"],
                Directory.GetFiles(Path.Combine(dataDir, "checkpoints")).Select(Path.GetFileName).Order());
            using var again = new VigilApi(restarted.HttpUri);
            Assert.Equal(27, await again.ValueAsync("before.checkpoint", "increase"));
            Assert.Equal(4, await again.ValueAsync("after.checkpoint", "increase"));
            Assert.Equal(250, await again.ValueAsync("bytes.sent", "increase"));
        }
        finally
        {
            Directory.Delete(dataDir, recursive: true);
            if (crashDir is not null)
            {
                Directory.Delete(crashDir, recursive: true);
            }
        }
    }

    [Fact]
    public async Task CorruptNewestCheckpoint_IsMovedAside_AndThePreviousOneIsUsed()
    {
        var dataDir = VigilServer.NewDataDir();
        string? crashDir = null;
        try
        {
            long checkpointSegment;
            await using (var first = await VigilServer.StartAsync(dataDir: dataDir))
            {
                await PostAsync(first, OtlpRequests.DeltaCounter("requests", 5));
                checkpointSegment = (await WalOf(first).CheckpointNowAsync())!.WalSegment;
                await PostAsync(first, OtlpRequests.DeltaCounter("requests", 7, tenant: "globex"));
                crashDir = VigilServer.CrashCopy(dataDir);
            }

            // A newer checkpoint that was damaged on disk (its WAL segments were never deleted).
            var damaged = Path.Combine(crashDir, "checkpoints", $"checkpoint-{checkpointSegment + 5:D12}.bin");
            await File.WriteAllBytesAsync(damaged, [.. "VIGILCKP"u8, 1, 0, 0, 0, 9, 9, 9]);

            await using var restarted = await VigilServer.StartAsync(dataDir: crashDir);
            var recovery = WalOf(restarted).Recovery;
            Assert.Equal(checkpointSegment, recovery?.Checkpoint?.WalSegment);
            Assert.Equal(1, recovery?.RecordsReplayed);
            Assert.False(File.Exists(damaged));
            Assert.True(File.Exists(damaged + ".corrupt"));
            using var api = new VigilApi(restarted.HttpUri);
            Assert.Equal(12, await api.ValueAsync("requests", "increase"));
        }
        finally
        {
            Directory.Delete(dataDir, recursive: true);
            if (crashDir is not null)
            {
                Directory.Delete(crashDir, recursive: true);
            }
        }
    }

    [Fact]
    public async Task NewestCheckpointRotsAfterItWasWritten_PreviousCheckpointAndItsWalLoseNothing()
    {
        var dataDir = VigilServer.NewDataDir();
        try
        {
            long newest;
            await using (var first = await VigilServer.StartAsync(dataDir: dataDir))
            {
                await PostAsync(first, OtlpRequests.DeltaCounter("requests", 5));
                Assert.NotNull(await WalOf(first).CheckpointNowAsync());
                await PostAsync(first, OtlpRequests.DeltaCounter("requests", 7, tenant: "globex"));
                newest = (await WalOf(first).CheckpointNowAsync())!.WalSegment;
            }

            // The graceful stop wrote nothing new; now the newest checkpoint rots on disk.
            var path = Path.Combine(dataDir, "checkpoints", $"checkpoint-{newest:D12}.bin");
            var bytes = await File.ReadAllBytesAsync(path);
            bytes[^5] ^= 0x10;
            await File.WriteAllBytesAsync(path, bytes);

            await using var restarted = await VigilServer.StartAsync(dataDir: dataDir);
            var recovery = WalOf(restarted).Recovery;
            Assert.NotNull(recovery?.Checkpoint);
            Assert.True(recovery.Checkpoint.WalSegment < newest);
            Assert.Equal(1, recovery.RecordsReplayed);
            using var api = new VigilApi(restarted.HttpUri);
            Assert.Equal(12, await api.ValueAsync("requests", "increase"));
        }
        finally
        {
            Directory.Delete(dataDir, recursive: true);
        }
    }

    [Fact]
    public async Task OnlyCheckpointCorrupt_FallsBackToAFullReplay()
    {
        var dataDir = VigilServer.NewDataDir();
        var crashDir = VigilServer.NewDataDir();
        try
        {
            await using (var first = await VigilServer.StartAsync(dataDir: dataDir))
            {
                await PostAsync(first, OtlpRequests.DeltaCounter("requests", 5));
                await PostAsync(first, OtlpRequests.DeltaCounter("requests", 7, tenant: "globex"));
                var walBefore = VigilServer.CrashCopy(Path.Combine(dataDir, "wal"));
                Directory.CreateDirectory(crashDir);
                Directory.Move(walBefore, Path.Combine(crashDir, "wal"));

                var checkpoint = await WalOf(first).CheckpointNowAsync();
                var bytes = await File.ReadAllBytesAsync(first.DataDir + $"/checkpoints/checkpoint-{checkpoint!.WalSegment:D12}.bin");
                bytes[^3] ^= 0x40;
                Directory.CreateDirectory(Path.Combine(crashDir, "checkpoints"));
                await File.WriteAllBytesAsync(Path.Combine(crashDir, "checkpoints", $"checkpoint-{checkpoint.WalSegment:D12}.bin"), bytes);
            }

            await using var restarted = await VigilServer.StartAsync(dataDir: crashDir);
            var recovery = WalOf(restarted).Recovery;
            Assert.Null(recovery?.Checkpoint);
            Assert.Equal(2, recovery?.RecordsReplayed);
            Assert.Single(Directory.GetFiles(Path.Combine(crashDir, "checkpoints"), "*.corrupt"));
            using var api = new VigilApi(restarted.HttpUri);
            Assert.Equal(12, await api.ValueAsync("requests", "increase"));
        }
        finally
        {
            Directory.Delete(dataDir, recursive: true);
            if (Directory.Exists(crashDir))
            {
                Directory.Delete(crashDir, recursive: true);
            }
        }
    }

    [Fact]
    public async Task CheckpointWithNothingNewLogged_IsSkipped()
    {
        await using var vigil = await VigilServer.StartAsync();
        await PostAsync(vigil, OtlpRequests.DeltaCounter("requests", 5));
        var wal = WalOf(vigil);

        Assert.NotNull(await wal.CheckpointNowAsync());
        Assert.Null(await wal.CheckpointNowAsync());
    }

    [Fact]
    public async Task RequestsDuringACheckpoint_AreAllKeptAndCountedOnce()
    {
        var dataDir = VigilServer.NewDataDir();
        try
        {
            const int Requests = 200;
            await using (var first = await VigilServer.StartAsync(dataDir: dataDir))
            {
                var wal = WalOf(first);
                var senders = Enumerable.Range(0, Requests).Select(i => PostAsync(first, OtlpRequests.DeltaCounter("busy", 1, tenant: "t" + i))).ToList();
                var checkpoints = Enumerable.Range(0, 5).Select(_ => wal.CheckpointNowAsync()).ToList();
                await Task.WhenAll(senders);
                await Task.WhenAll(checkpoints);
                Assert.Equal(Requests, first.Store.SeriesCount);
            }

            await using var restarted = await VigilServer.StartAsync(dataDir: dataDir);
            using var api = new VigilApi(restarted.HttpUri);
            Assert.Equal(Requests, await api.ValueAsync("busy", "increase"));
            Assert.Equal(Requests, restarted.Store.SeriesCount);
        }
        finally
        {
            Directory.Delete(dataDir, recursive: true);
        }
    }

    [Fact]
    public void CheckpointInterval_IsConfigurable()
    {
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, "wal:\n  checkpoint_interval: 90s\n");
            Assert.Equal(TimeSpan.FromSeconds(90), Configuration.ConfigLoader.Load(file, []).Wal.CheckpointInterval);
            Assert.Equal(TimeSpan.FromMinutes(5), Configuration.ConfigLoader.Load(null, []).Wal.CheckpointInterval);

            File.WriteAllText(file, "wal:\n  checkpoint_interval: 1s\n");
            var error = Assert.Throws<Configuration.ConfigException>(() => Configuration.ConfigLoader.Load(file, []));
            Assert.Contains("wal.checkpoint_interval", error.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }
}
