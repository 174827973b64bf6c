using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Vigil.Storage.Wal;

namespace Vigil.Storage.Tests.Wal;

/// <summary>
/// A full disk: every append is refused retryably and at once, the log says it is unavailable and why,
/// it writes again by itself once space returns, it always shuts down, and nothing it refused is half-read later.
/// </summary>
public sealed class WalDiskFullTests
{
    private static readonly TimeSpan Answer = TimeSpan.FromSeconds(10);
    private static readonly WalOptions Options = new();

    private static byte[] Payload(int i) => [.. Enumerable.Repeat((byte)i, 10 + i)];

    private static (WriteAheadLog Log, FakeTimeProvider Time) Start(TempWalDirectory dir, FlakyWalFiles disk, ListLogger? logger = null)
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var log = new WriteAheadLog(dir.Path, Options, TimeSpan.FromHours(1), time, (Microsoft.Extensions.Logging.ILogger?)logger ?? NullLogger.Instance, disk);
        log.Replay(_ => { });
        log.Start();
        return (log, time);
    }

    /// <summary>Completes when the log reports a change to available.</summary>
    private static Task AvailableAgain(WriteAheadLog log)
    {
        var available = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        log.AvailabilityChanged += () =>
        {
            if (log.Unavailable is null)
            {
                available.TrySetResult();
            }
        };
        return available.Task;
    }

    private static async Task WaitForAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + Answer;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "the WAL writer did not get there in time");
            await Task.Yield();
        }
    }

    [Theory]
    [InlineData("write")]
    [InlineData("sync")]
    [InlineData("write, and the cut back")]
    public async Task DiskFull_EveryAppendIsRefusedRetryably_AndWritingResumesAfterHealing(string failing)
    {
        using var dir = new TempWalDirectory();
        var disk = new FlakyWalFiles { FailSyncOnly = failing == "sync", FailTruncate = failing.Contains("cut", StringComparison.Ordinal) };
        var (log, time) = Start(dir, disk);
        var acknowledged = new List<byte[]>();
        for (var i = 1; i <= 2; i++)
        {
            await log.AppendAsync(Payload(i)).WaitAsync(Answer);
            acknowledged.Add(Payload(i));
        }

        Assert.Null(log.Unavailable);
        disk.Fill();
        var first = await Assert.ThrowsAsync<WalUnavailableException>(() => log.AppendAsync(Payload(3)).WaitAsync(Answer));
        Assert.Contains("No space left on device", first.Message);
        Assert.Contains("No space left on device", log.Unavailable);
        Assert.Equal(time.GetUtcNow(), log.UnavailableSince);

        // The defect: from the third request on nothing answered. Now each is refused, without reaching the disk.
        var failuresSoFar = disk.Failures;
        for (var i = 4; i <= 10; i++)
        {
            await Assert.ThrowsAsync<WalUnavailableException>(() => log.AppendAsync(Payload(i)).WaitAsync(Answer));
        }

        await Assert.ThrowsAsync<WalUnavailableException>(() => log.RotateAsync().WaitAsync(Answer));
        Assert.Equal(failuresSoFar, disk.Failures);
        Assert.Equal(1, log.WriteFailures);

        // A probe while the disk is still full finds it full: still unavailable, probing on.
        time.Advance(Options.RetryInterval);
        await WaitForAsync(() => log.FailedProbes == 1);
        Assert.NotNull(log.Unavailable);
        await Assert.ThrowsAsync<WalUnavailableException>(() => log.AppendAsync(Payload(11)).WaitAsync(Answer));

        var available = AvailableAgain(log);
        disk.Heal();
        time.Advance(Options.RetryInterval);
        await available.WaitAsync(Answer);
        Assert.Null(log.Unavailable);
        Assert.Null(log.UnavailableSince);
        for (var i = 12; i <= 13; i++)
        {
            await log.AppendAsync(Payload(i)).WaitAsync(Answer);
            acknowledged.Add(Payload(i));
        }

        await log.DisposeAsync().AsTask().WaitAsync(Answer);
        Assert.Empty(Directory.GetFiles(dir.Path, "*.tmp"));

        // Exactly what was acknowledged replays; the refused record is not half-read.
        var logger = new ListLogger();
        var replayed = new List<byte[]>();
        var result = new WriteAheadLog(dir.Path, Options, TimeSpan.FromHours(1), time, logger).Replay(r => replayed.Add(r.ToArray()));
        Assert.Equal(acknowledged, replayed);
        if (disk.FailTruncate)
        {
            // The half-written record stayed in the segment that was given up: skipped by its checksums, reported.
            Assert.Equal(1, result.DamagedRecords);
            Assert.Contains(Path.GetFileName(dir.Segments()[0]), Assert.Single(logger.Warnings));
        }
        else
        {
            Assert.Equal(0, result.DamagedRecords + result.TornTailBytes);
            Assert.Empty(logger.Warnings);
        }
    }

    [Fact]
    public async Task DiskFull_DisposeCompletes_AndLaterAppendsAreRefused()
    {
        using var dir = new TempWalDirectory();
        var disk = new FlakyWalFiles();
        var (log, _) = Start(dir, disk);
        await log.AppendAsync(Payload(1)).WaitAsync(Answer);
        disk.Fill();
        var refused = Enumerable.Range(2, 20).Select(i => log.AppendAsync(Payload(i))).ToList();

        await log.DisposeAsync().AsTask().WaitAsync(Answer);

        foreach (var append in refused)
        {
            await Assert.ThrowsAsync<WalUnavailableException>(() => append.WaitAsync(Answer));
        }

        await Assert.ThrowsAsync<WalUnavailableException>(() => log.AppendAsync(Payload(99)).WaitAsync(Answer));
    }

    [Fact]
    public async Task WriteFailure_IsReportedBeforeTheRefusalReachesTheCaller()
    {
        using var dir = new TempWalDirectory();
        var disk = new FlakyWalFiles();
        var (log, _) = Start(dir, disk);
        string? reasonSeen = null;
        log.AvailabilityChanged += () => reasonSeen ??= log.Unavailable;
        disk.Fill();

        await Assert.ThrowsAsync<WalUnavailableException>(() => log.AppendAsync(Payload(1)).WaitAsync(Answer));

        Assert.Contains("No space left on device", reasonSeen);
        await log.DisposeAsync();
    }
}
