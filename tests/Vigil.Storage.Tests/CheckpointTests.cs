using System.Globalization;
using Google.Protobuf;
using Vigil.Otlp.Proto.Metrics;
using Vigil.Storage.Checkpoint;
using Vigil.Storage.Query;
using static Vigil.Storage.Tests.StoreHarness;

namespace Vigil.Storage.Tests;

/// <summary>A checkpoint restores the store exactly: same answers, and ingest continues as if nothing happened.</summary>
public sealed class CheckpointTests
{
    private const AggregationTemporality Cumulative = AggregationTemporality.Cumulative;
    private const AggregationTemporality Delta = AggregationTemporality.Delta;
    private static readonly ulong RunBeforeStore = At(-3600);
    private static readonly TimeSpan[] Windows = [TimeSpan.FromSeconds(10), TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(10)];
    private static readonly double[] Quantiles = [0.5, 0.9, 0.99];

    /// <summary>Points of every kind and temporality, a histogram layout change and an overflow series.</summary>
    private static StoreHarness EveryKind()
    {
        var h = new StoreHarness(new WindowStoreOptions { MaxSeriesPerMetric = 3 });
        for (var step = 0; step < 6; step++)
        {
            var t = At(5 + (step * 10));
            var previous = At(5 + ((step - 1) * 10));
            h.Send(
                Counter("requests", Delta, Point(previous, t, 3 + step, Attr("route", "/a")), Point(previous, t, 1, Attr("route", "/b"))),
                Counter("bytes", Cumulative, Point(RunBeforeStore, t, 1000 + (step * 37.5), Attr("host", "x")), Point(At(1), t, step * 2.0, Attr("host", "y"))),
                Gauge("temperature", Point(0, t, 20 + Math.Sin(step), Attr("room", "1")), Point(0, t + 1000, 18 - step, Attr("room", "2"))),
                Sum("queue.depth", Cumulative, monotonic: false, Point(RunBeforeStore, t, 5 + step)),
                Histogram("latency", Delta, HistogramPoint(previous, t, [0.1, 0.5, 1], [(ulong)step, 2, 1, 0], 1.5 + step, Attr("route", "/a"))),
                Histogram("latency.cumulative", Cumulative, HistogramPoint(RunBeforeStore, t, step < 3 ? [0.1, 1] : [0.2, 2], [(ulong)(step * 3), (ulong)step, 1], 10.0 * step)),
                Exponential("size", Delta, ExponentialPoint(previous, t, 3, -2 + step, [1, (ulong)step, 2], 4.5 * step, zeroCount: 1, negativeOffset: 1, negative: [1])),
                Exponential("size.cumulative", Cumulative, ExponentialPoint(RunBeforeStore, t, 2, 1, [(ulong)(step * 2), (ulong)step + 1], 7.0 * step)),
                Summary("rpc.duration", SummaryPoint(RunBeforeStore, t, (ulong)(10 * step), 2.5 * step, (0.5, step * 0.1), (0.9, step * 0.3))));
        }

        // Past the limit of 3 series: points land in the overflow series.
        for (var i = 0; i < 6; i++)
        {
            h.Send(Counter("tenants", Delta, Point(At(50), At(55), i + 1, Attr("tenant", "t" + i))));
        }

        h.Clock.Advance(TimeSpan.FromSeconds(70));
        return h;
    }

    private static (WindowStore Store, OtlpIngest Ingest) Reload(StoreHarness h, byte[] checkpoint)
    {
        var store = new WindowStore(h.Store.Options, h.Clock);
        store.LoadCheckpoint(new MemoryStream(checkpoint));
        return (store, new OtlpIngest(store));
    }

    private static byte[] Checkpoint(WindowStore store)
    {
        using var stream = new MemoryStream();
        store.WriteCheckpoint(stream, walSegment: 42);
        return stream.ToArray();
    }

    /// <summary>Every function over every metric, window and grouping, as text (errors included) to compare exactly.</summary>
    private static List<string> Answers(WindowStore store, DateTimeOffset at)
    {
        var answers = new List<string>();
        foreach (var metric in store.MetricNames().Order(StringComparer.Ordinal))
        {
            foreach (var function in Enum.GetValues<AggregateFunction>())
            {
                foreach (var window in Windows)
                {
                    foreach (var by in new[] { Array.Empty<string>(), ["route"], ["host"], ["tenant"], ["otel.metric.overflow"] })
                    {
                        foreach (var quantile in function == AggregateFunction.Quantile ? Quantiles : [0.5])
                        {
                            var head = $"{metric} {function} {window} by[{string.Join(',', by)}] q{quantile}: ";
                            try
                            {
                                foreach (var sample in store.Aggregate(new AggregateQuery(metric, function, window, by, [], at, quantile)))
                                {
                                    var labels = string.Join(',', sample.Labels.OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => $"{l.Key}={l.Value}"));
                                    answers.Add(head + $"{{{labels}}} {sample.Value.ToString("R", CultureInfo.InvariantCulture)} ({sample.Samples.ToString("R", CultureInfo.InvariantCulture)})");
                                }
                            }
                            catch (QueryException e)
                            {
                                answers.Add(head + "refused: " + e.Message);
                            }
                        }
                    }
                }
            }
        }

        return answers;
    }

    [Fact]
    public void EveryKind_AnswersEveryQueryIdentically_AfterARoundTrip()
    {
        var h = EveryKind();
        var at = h.Clock.GetUtcNow();
        var before = Answers(h.Store, at);
        var bytes = Checkpoint(h.Store);

        var (loaded, _) = Reload(h, bytes);

        Assert.Equal(before, Answers(loaded, at));
        Assert.Contains(before, a => a.StartsWith("latency.cumulative Quantile", StringComparison.Ordinal) && !a.Contains("refused", StringComparison.Ordinal));
        Assert.All(h.Store.MetricNames(), metric => Assert.Contains(before, a => a.StartsWith(metric + " ", StringComparison.Ordinal) && !a.Contains("refused", StringComparison.Ordinal)));
        Assert.Equal(h.Store.SeriesCount, loaded.SeriesCount);
        Assert.Equal(h.Store.MetricCount, loaded.MetricCount);
        Assert.Equal(h.Store.KnownSinceUnixNano, loaded.KnownSinceUnixNano);
        Assert.Equal(
            h.Store.ListSeries(null).Select(s => $"{s.Metric}/{s.Kind}/{s.Unit}/{string.Join(',', s.Labels.OrderBy(l => l.Key))}").Order(),
            loaded.ListSeries(null).Select(s => $"{s.Metric}/{s.Kind}/{s.Unit}/{string.Join(',', s.Labels.OrderBy(l => l.Key))}").Order());

        // Nothing is lost or reordered: a checkpoint of the restored store is the same file.
        Assert.Equal(bytes, Checkpoint(loaded));
    }

    [Fact]
    public void CumulativeRuns_ContinueWithTheRightDeltas_AfterALoad()
    {
        var h = new StoreHarness();
        h.Send(
            Counter("c", Cumulative, Point(RunBeforeStore, At(5), 1000)),
            Histogram("h", Cumulative, HistogramPoint(RunBeforeStore, At(5), [1], [10, 5], 40)),
            Exponential("e", Cumulative, ExponentialPoint(RunBeforeStore, At(5), 1, 0, [4, 4], 20)),
            Summary("s", SummaryPoint(RunBeforeStore, At(5), 100, 50)));
        h.Send(Counter("c", Cumulative, Point(RunBeforeStore, At(15), 1030)));
        var (store, ingest) = Reload(h, Checkpoint(h.Store));

        // The next points of the same runs: only their increase counts, not the whole value (no restart spike).
        ingest.Ingest(Request([],
            Counter("c", Cumulative, Point(RunBeforeStore, At(25), 1045.5)),
            Histogram("h", Cumulative, HistogramPoint(RunBeforeStore, At(25), [1], [12, 6], 47)),
            Exponential("e", Cumulative, ExponentialPoint(RunBeforeStore, At(25), 1, 0, [5, 6], 29)),
            Summary("s", SummaryPoint(RunBeforeStore, At(25), 130, 65))).ToByteArray());
        h.Clock.Advance(TimeSpan.FromSeconds(30));
        var at = h.Clock.GetUtcNow();

        double Value(string metric, AggregateFunction function) =>
            Assert.Single(store.Aggregate(new AggregateQuery(metric, function, TimeSpan.FromMinutes(1), [], [], at, 0.5))).Value;

        Assert.Equal(45.5, Value("c", AggregateFunction.Increase));
        Assert.Equal(3, Value("h", AggregateFunction.Count));
        Assert.Equal(7, Value("h", AggregateFunction.Sum));
        Assert.Equal(3, Value("e", AggregateFunction.Count));
        Assert.Equal(30, Value("s", AggregateFunction.Count));

        // A repeat of a point already counted before the checkpoint still adds nothing.
        ingest.Ingest(Request([], Counter("c", Cumulative, Point(RunBeforeStore, At(15), 1030))).ToByteArray());
        Assert.Equal(45.5, Value("c", AggregateFunction.Increase));
    }

    [Fact]
    public void RetriedDeltaBatch_AfterALoad_IsStillRecognised()
    {
        var h = new StoreHarness();
        var batch = Request([],
            Counter("requests", Delta, Point(At(0), At(5), 7, Attr("route", "/a"))),
            Gauge("level", Point(0, At(5), 3)),
            Histogram("latency", Delta, HistogramPoint(At(0), At(5), [1], [2, 1], 2.5)),
            Exponential("size", Delta, ExponentialPoint(At(0), At(5), 2, 0, [1, 1], 3))).ToByteArray();
        h.Ingest.Ingest(batch);
        var (store, ingest) = Reload(h, Checkpoint(h.Store));

        var retried = ingest.Ingest(batch); // the sender never saw the acknowledgement and sends again
        h.Clock.Advance(TimeSpan.FromSeconds(30));
        var at = h.Clock.GetUtcNow();

        double Value(string metric, AggregateFunction function) =>
            Assert.Single(store.Aggregate(new AggregateQuery(metric, function, TimeSpan.FromMinutes(1), [], [], at, 0.5))).Value;

        Assert.Equal(0, retried.Rejected);
        Assert.Equal(7, Value("requests", AggregateFunction.Increase));
        Assert.Equal(1, Value("level", AggregateFunction.Count));
        Assert.Equal(3, Value("latency", AggregateFunction.Count));
        Assert.Equal(2, Value("size", AggregateFunction.Count));
    }

    [Fact]
    public void MetricIdsAndSeriesLimits_CarryOver()
    {
        var h = new StoreHarness(new WindowStoreOptions { MaxSeriesPerMetric = 2 });
        h.Send(Counter("a", Delta, Point(At(0), At(5), 1, Attr("k", "1"))), Counter("b", Delta, Point(At(0), At(5), 1, Attr("k", "1"))));
        var (store, ingest) = Reload(h, Checkpoint(h.Store));

        // An existing series of "b" is found (same key, same metric id); a new metric gets the next id.
        ingest.Ingest(Request([],
            Counter("b", Delta, Point(At(5), At(15), 2, Attr("k", "1"))),
            Counter("c", Delta, Point(At(5), At(15), 1)),
            Counter("a", Delta, Point(At(5), At(15), 1, Attr("k", "2")))).ToByteArray());
        var overflow = ingest.Ingest(Request([], Counter("a", Delta, Point(At(5), At(15), 1, Attr("k", "3")))).ToByteArray());
        h.Clock.Advance(TimeSpan.FromSeconds(30));

        Assert.Equal(5, store.SeriesCount); // a{k=1}, a{k=2}, a overflow, b{k=1}, c
        Assert.Equal(1, overflow.Rejected);
        Assert.Equal(3, Assert.Single(store.Aggregate(new AggregateQuery("b", AggregateFunction.Increase, TimeSpan.FromMinutes(1), [], [], h.Clock.GetUtcNow(), 0.5))).Value);
        Assert.Equal(3, store.MetricCount);
    }

    [Fact]
    public void DamagedCheckpoints_ThrowCorrupt_AndLeaveTheStoreEmpty()
    {
        var h = EveryKind();
        var bytes = Checkpoint(h.Store);
        var damaged = new List<(string Case, byte[] Bytes)>
        {
            ("empty", []),
            ("header cut short", bytes[..10]),
            ("payload cut short", bytes[..(bytes.Length / 2)]),
            ("last byte missing", bytes[..^1]),
            ("a byte too many", [.. bytes, 0]),
            ("wrong magic", [(byte)'X', .. bytes[1..]]),
        };
        foreach (var at in new[] { CheckpointFormat.HeaderBytes, CheckpointFormat.HeaderBytes + 40, bytes.Length / 3, bytes.Length - 1 })
        {
            var flipped = bytes.ToArray();
            flipped[at] ^= 0x10;
            damaged.Add(($"bit flipped at {at}", flipped));
        }

        var crcOfEmpty = bytes.ToArray();
        crcOfEmpty[12] ^= 0xFF;
        damaged.Add(("checksum field damaged", crcOfEmpty));

        foreach (var (name, data) in damaged)
        {
            var store = new WindowStore(h.Store.Options, h.Clock);
            var error = Record.Exception(() => store.LoadCheckpoint(new MemoryStream(data)));
            Assert.True(error is CheckpointCorruptException, $"{name}: {error?.GetType().Name ?? "no exception"}");
            Assert.Equal(0, store.MetricCount);
            Assert.Equal(0, store.SeriesCount);
        }
    }

    [Fact]
    public void CheckpointOfAnotherResolutionOrVersion_IsAMismatch()
    {
        var h = EveryKind();
        var bytes = Checkpoint(h.Store);

        var coarser = new WindowStore(h.Store.Options with { Resolution = TimeSpan.FromSeconds(30) }, h.Clock);
        var resolution = Assert.Throws<CheckpointMismatchException>(() => coarser.LoadCheckpoint(new MemoryStream(bytes)));
        Assert.Contains("storage.resolution", resolution.Message, StringComparison.Ordinal);
        Assert.Equal(0, coarser.MetricCount);

        var future = bytes.ToArray();
        future[8] = 2;
        Assert.Throws<CheckpointMismatchException>(() => new WindowStore(h.Store.Options, h.Clock).LoadCheckpoint(new MemoryStream(future)));
    }

    [Fact]
    public void LoadingIntoAStoreWithData_IsRefused()
    {
        var h = EveryKind();
        Assert.Throws<InvalidOperationException>(() => h.Store.LoadCheckpoint(new MemoryStream(Checkpoint(h.Store))));
    }

    [Fact]
    public void EmptyStore_RoundTrips_AndKeepsKnownSince()
    {
        var h = new StoreHarness();
        h.Store.KnownSinceUnixNano = At(-600);
        var (store, _) = Reload(h, Checkpoint(h.Store));
        Assert.Equal(At(-600), store.KnownSinceUnixNano);
        Assert.Equal(0, store.SeriesCount);
    }

    [Fact]
    public void CheckpointInfo_NamesTheWalSegment()
    {
        var h = EveryKind();
        using var stream = new MemoryStream();
        var written = h.Store.WriteCheckpoint(stream, walSegment: 17);
        stream.Position = 0;
        var read = new WindowStore(h.Store.Options, h.Clock).LoadCheckpoint(stream);

        Assert.Equal(17, read.WalSegment);
        Assert.Equal(written, read);
        Assert.Equal(h.Store.SeriesCount, read.Series);
    }
}
