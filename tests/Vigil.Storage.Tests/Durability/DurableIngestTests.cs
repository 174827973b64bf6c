using Google.Protobuf;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Vigil.Otlp.Proto.Metrics;
using Vigil.Otlp.Wire;
using Vigil.Storage.Checkpoint;
using Vigil.Storage.Durability;
using Vigil.Storage.Tests.Wal;
using Vigil.Storage.Wal;
using static Vigil.Storage.Tests.StoreHarness;

namespace Vigil.Storage.Tests.Durability;

/// <summary>
/// The durable ingest without a host: check → WAL → apply, recovery after a crash, refusals that store
/// nothing, and checkpoints that (streamed beside ingest) restore exactly the store they were cut from.
/// </summary>
public sealed class DurableIngestTests : IDisposable
{
    private const AggregationTemporality Delta = AggregationTemporality.Delta;
    private static readonly TimeSpan Answer = TimeSpan.FromSeconds(30);

    private readonly TempWalDirectory _dir = new();
    private readonly FakeTimeProvider _clock = new(T0.AddMinutes(1));
    private readonly List<DurableIngest> _started = [];

    private string DataDir => Path.GetDirectoryName(_dir.Path)!;

    public void Dispose()
    {
        foreach (var durable in _started)
        {
            durable.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }

        _dir.Dispose();
    }

    /// <summary>A new store behind a durable ingest over the test's data directory, recovered.</summary>
    private DurableIngest Start(IWalFiles? files = null)
    {
        var store = new WindowStore(new WindowStoreOptions(), _clock);
        var durable = new DurableIngest(new OtlpIngest(store), DataDir, new WalOptions(), _clock, NullLogger.Instance, files);
        _started.Add(durable);
        durable.Recover();
        return durable;
    }

    // Each request's points get their own (start, time): the same pair twice would be taken for a retry.
    private int _step;

    private byte[] Counters(string metric, double value, params string[] routes)
    {
        var step = 20 + ++_step;
        return Request([], Counter(metric, Delta, [.. routes.Select(r => Point(At(step), At(step + 0.5), value, Attr("route", r)))])).ToByteArray();
    }

    private byte[] Latency(double sum, string route)
    {
        var step = 20 + ++_step;
        return Request([], Histogram("latency", Delta, HistogramPoint(At(step), At(step + 0.5), [0.1, 1], [1, 2, (ulong)sum], sum, Attr("route", route)))).ToByteArray();
    }

    private static async Task<IngestResult> WriteAsync(DurableIngest durable, byte[] request) =>
        (await durable.WriteAsync(request, binding: null, admission: null, CancellationToken.None))!.Value;

    /// <summary>The store's whole state, serialized: two stores are equal when these bytes are.</summary>
    private static byte[] Image(WindowStore store)
    {
        using var stream = new MemoryStream();
        store.WriteCheckpoint(stream, walSegment: 0);
        return stream.ToArray();
    }

    private static double Increase(WindowStore store, string metric, string route) =>
        store.Aggregate(new Query.AggregateQuery(metric, Query.AggregateFunction.Increase, TimeSpan.FromMinutes(1), [], [new Query.LabelMatcher("route", Query.MatchOp.Equal, route)], store.Now, 0.5))
            .Single().Value;

    [Fact]
    public async Task Write_IsLoggedAndApplied_AndARestartReplaysIt()
    {
        var live = Start();
        var result = await WriteAsync(live, Counters("requests", 3, "/a", "/b"));

        Assert.Equal(new IngestResult(2, 0, null), result);
        Assert.Equal(1, live.Log!.AppendedRecords);
        Assert.Equal(3, Increase(live.Store, "requests", "/a"));
        await live.DisposeAsync();

        var restarted = Start();
        Assert.Equal(1, restarted.Recovery!.RecordsReplayed);
        Assert.Equal(2, restarted.Recovery.PointsReplayed);
        Assert.Equal(Image(live.Store), Image(restarted.Store));
    }

    [Fact]
    public async Task CrashBetweenAppendAndApply_TheReplayAppliesTheRequest()
    {
        var live = Start();
        await WriteAsync(live, Counters("requests", 1, "/a"));

        // Logged (the same record WriteAsync makes without a binding), then the process dies before applying.
        await live.Log!.AppendAsync(ReadOnlyMemory<byte>.Empty, Counters("requests", 5, "/a", "/c"));
        Assert.Equal(1, Increase(live.Store, "requests", "/a"));
        await live.DisposeAsync();

        var restarted = Start();
        Assert.Equal(2, restarted.Recovery!.RecordsReplayed);
        Assert.Equal(6, Increase(restarted.Store, "requests", "/a"));
        Assert.Equal(5, Increase(restarted.Store, "requests", "/c"));
    }

    [Fact]
    public async Task DiskFull_RefusesRetryably_AndStoresNothing()
    {
        var disk = new FlakyWalFiles();
        var live = Start(disk);
        await WriteAsync(live, Counters("requests", 1, "/a"));
        disk.Fill();

        var refused = await Assert.ThrowsAsync<WalUnavailableException>(() => WriteAsync(live, Counters("requests", 7, "/a", "/new")).WaitAsync(Answer));

        Assert.Contains("No space left on device", refused.Message);
        Assert.Contains("No space left on device", live.Unavailable);
        Assert.Equal(1, Increase(live.Store, "requests", "/a"));
        Assert.Equal(1, live.Store.SeriesCount); // "/new" was never applied: nothing unlogged is stored
    }

    [Fact]
    public async Task MalformedOrRefusedRequests_AreNeitherLoggedNorStored()
    {
        var live = Start();

        await Assert.ThrowsAsync<OtlpFormatException>(() => WriteAsync(live, [0x0A, 0x05, 0x01]));
        var admission = new Refusing(live.Store.Options.TenantAttribute);
        var throttled = await live.WriteAsync(Counters("requests", 1, "/a"), binding: null, admission, CancellationToken.None);

        Assert.Null(throttled);
        Assert.Equal(1, admission.Asked);
        Assert.Equal(1, admission.Counts.Count); // the check pass counted the point (untenanted) before admission
        Assert.Equal(1, admission.Counts.Points(0));
        Assert.Equal(0, live.Log!.AppendedRecords);
        Assert.Equal(0, live.Store.SeriesCount);
    }

    [Fact]
    public async Task CheckpointThenReplay_EqualsTheLiveStore()
    {
        var live = Start();
        await WriteAsync(live, Counters("requests", 2, "/a", "/b"));
        await WriteAsync(live, Latency(1.5, "/a"));
        var checkpoint = await live.CheckpointNowAsync();
        await WriteAsync(live, Counters("requests", 4, "/b", "/c"));
        await WriteAsync(live, Latency(2.5, "/a"));

        Assert.NotNull(checkpoint);
        Assert.Equal(3, checkpoint.Series);
        await live.DisposeAsync(); // as a crash: no shutdown checkpoint

        var restarted = Start();
        Assert.Equal(checkpoint.WalSegment, restarted.Recovery!.Checkpoint!.WalSegment);
        Assert.Equal(2, restarted.Recovery.RecordsReplayed);
        Assert.Equal(Image(live.Store), Image(restarted.Store));
        Assert.Equal(6, Increase(restarted.Store, "requests", "/b"));
    }

    [Fact]
    public async Task NothingLoggedSinceTheLastCheckpoint_TakesNoNewOne()
    {
        var live = Start();
        await WriteAsync(live, Counters("requests", 2, "/a"));

        Assert.NotNull(await live.CheckpointNowAsync());
        Assert.Null(await live.CheckpointNowAsync());
        Assert.Single(live.Checkpoints.List());
    }

    /// <summary>
    /// The writer is held after the second of five series while ingest changes a written series, an
    /// unwritten one, and adds a series and a metric: the file is exactly the store at the cut, and
    /// restoring it and replaying the WAL after the cut gives the live store bit for bit.
    /// </summary>
    [Fact]
    public async Task CheckpointStreamedDuringIngest_IsTheCut_AndReplayEqualsTheLiveStore()
    {
        var live = Start();
        var before = new[] { Counters("requests", 1, "/1", "/2", "/3", "/4", "/5"), Latency(1, "/1") };
        foreach (var request in before)
        {
            await WriteAsync(live, request);
        }

        var atCut = new WindowStore(live.Store.Options, _clock);
        var reference = new OtlpIngest(atCut);
        foreach (var request in before)
        {
            reference.Ingest(request);
        }

        using var paused = new SemaphoreSlim(0);
        using var resume = new SemaphoreSlim(0);
        CheckpointCut? seen = null;
        live.BeforeStreaming = cut =>
        {
            seen = cut;
            cut.AfterSeries = written =>
            {
                if (written == 2)
                {
                    paused.Release();
                    Assert.True(resume.Wait(Answer), "the test never resumed the writer");
                }
            };
        };

        var checkpointing = live.CheckpointNowAsync();
        Assert.True(await paused.WaitAsync(Answer), "the writer never reached the second series");

        var after = new[]
        {
            Counters("requests", 10, "/1"),       // written already
            Counters("requests", 20, "/4", "/5"), // not written yet: preserved first
            Counters("requests", 30, "/6"),       // created after the cut: left to the replay
            Counters("errors", 1, "/4"),          // a metric created after the cut
            Latency(7, "/1"),                     // the histogram, not written yet
        };
        foreach (var request in after)
        {
            await WriteAsync(live, request); // never waits for the writer: ingest is not paused
        }

        resume.Release();
        var info = await checkpointing.WaitAsync(Answer);

        Assert.NotNull(info);
        Assert.Equal(6, info.Series);
        Assert.Equal(3, seen!.PreservedSeries); // /4, /5 and the histogram; /1 was written, /6 is new
        Assert.True(seen.PeakPreservedBytes > 0);

        var file = await File.ReadAllBytesAsync(live.Checkpoints.PathOf(info.WalSegment));
        using (var expected = new MemoryStream())
        {
            atCut.WriteCheckpoint(expected, info.WalSegment);
            Assert.Equal(expected.ToArray(), file);
        }

        await live.DisposeAsync();
        var restarted = Start();
        Assert.Equal(after.Length, restarted.Recovery!.RecordsReplayed);
        Assert.Equal(Image(live.Store), Image(restarted.Store));
        Assert.Equal(21, Increase(restarted.Store, "requests", "/4"));
        Assert.Equal(11, Increase(restarted.Store, "requests", "/1"));
    }

    [Fact]
    public async Task SweepWhileACheckpointStreams_WaitsForIt()
    {
        var live = Start();
        await WriteAsync(live, Counters("requests", 1, "/a", "/b"));
        var cut = live.Store.BeginCheckpoint(walSegment: 1);
        _clock.Advance(live.Store.Options.Retention + TimeSpan.FromMinutes(1));

        Assert.Equal(0, live.Store.Sweep());
        using (var stream = new MemoryStream())
        {
            Assert.Equal(2, live.Store.WriteCheckpoint(cut, stream).Series);
        }

        cut.Dispose();
        Assert.Equal(2, live.Store.Sweep());
    }

    private sealed class Refusing(string tenantAttribute) : IIngestAdmission
    {
        public TenantPointCounts Counts { get; } = new(tenantAttribute);

        public int Asked { get; private set; }

        public bool Admit()
        {
            Asked++;
            return false;
        }
    }
}
