using System.Text.RegularExpressions;
using Vigil.Storage.Query;
using static Vigil.Storage.Tests.StoreHarness;

namespace Vigil.Storage.Tests;

/// <summary>
/// Selection through the label index against a brute-force filter: random label sets and random matcher sets, the
/// expected series found by an independent test of every generated label set, also after sweeps and a restore.
/// </summary>
public sealed class LabelIndexTests
{
    private const string Metric = "idx.c";
    private static readonly string[] Names = ["a", "b", "c", "tenant.id"];
    private static readonly string[] Vocabulary = ["", "x", "y", "xy", "z1", "z2", "long-value"];

    private sealed record Generated(int Id, Dictionary<string, string> Labels, double Value, DateTimeOffset At);

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void RandomMatchers_SelectWhatABruteForceFilterSelects(int seed)
    {
        var random = new Random(seed);
        var h = new StoreHarness();
        var series = Generate(random, h, count: 400, firstId: 0);

        AssertAgreesWithBruteForce(random, h.Store, series, rounds: 300);
    }

    [Theory]
    [InlineData(4, 0.1)] // few removed: slots are only marked dead
    [InlineData(5, 0.6)] // most removed: the index is compacted
    public void AfterSweepAndNewSeries_SelectionStillAgrees(int seed, double expiring)
    {
        var random = new Random(seed);
        var h = new StoreHarness(new WindowStoreOptions { Retention = TimeSpan.FromMinutes(10) });
        var old = Generate(random, h, count: (int)(300 * expiring), firstId: 0);
        h.Clock.Advance(TimeSpan.FromMinutes(6));
        var kept = Generate(random, h, count: 300 - old.Count, firstId: 1000);
        Assert.Equal(old.Count + kept.Count, h.Store.ListSeries(Metric).Count);
        h.Clock.Advance(TimeSpan.FromMinutes(5));

        Assert.Equal(old.Count, h.Store.Sweep());
        var later = Generate(random, h, count: 100, firstId: 2000);
        List<Generated> live = [.. kept, .. later];

        Assert.Equal(live.Count, h.Store.ListSeries(Metric).Count);
        AssertAgreesWithBruteForce(random, h.Store, live, rounds: 200);
    }

    [Fact]
    public void AfterCheckpointRestore_SelectionAgrees()
    {
        var random = new Random(6);
        var h = new StoreHarness(new WindowStoreOptions { Retention = TimeSpan.FromMinutes(10) });
        var old = Generate(random, h, count: 120, firstId: 0);
        h.Clock.Advance(TimeSpan.FromMinutes(6));
        var kept = Generate(random, h, count: 200, firstId: 1000);
        h.Clock.Advance(TimeSpan.FromMinutes(5));
        Assert.Equal(old.Count, h.Store.Sweep());
        using var image = new MemoryStream();
        h.Store.WriteCheckpoint(image);
        image.Position = 0;

        var restored = new WindowStore(new WindowStoreOptions { Retention = TimeSpan.FromMinutes(10) }, h.Clock);
        restored.LoadCheckpoint(image);
        var later = new List<Generated>();
        for (var i = 0; i < 50; i++)
        {
            later.Add(Add(restored, random, 3000 + i, h.Clock.GetUtcNow()));
        }

        AssertAgreesWithBruteForce(random, restored, [.. kept, .. later], rounds: 200);
    }

    [Fact]
    public void EverySeriesSwept_IndexIsEmptyAndSmall()
    {
        var random = new Random(7);
        var h = new StoreHarness(new WindowStoreOptions { Retention = TimeSpan.FromMinutes(10) });
        var all = Generate(random, h, count: 500, firstId: 0);
        var full = h.Store.ApproximateIndexBytes();
        h.Clock.Advance(TimeSpan.FromMinutes(11));

        Assert.Equal(all.Count, h.Store.Sweep());

        Assert.Empty(h.Store.ListSeries(Metric));
        Assert.Empty(Select(h.Store, [], h.Clock.GetUtcNow()));
        Assert.True(h.Store.ApproximateIndexBytes() * 10 < full, $"index of an emptied metric {h.Store.ApproximateIndexBytes()} B, full {full} B");
    }

    [Fact]
    public async Task QueriesDuringSeriesCreation_SeeOnlyWholeSeries()
    {
        var h = new StoreHarness();
        var at = h.Clock.GetUtcNow();
        var matchers = new[] { new LabelMatcher("tenant.id", MatchOp.Equal, "t1"), new LabelMatcher("a", MatchOp.Regex, "v[0-9]*") };
        using var done = new CancellationTokenSource();
        var writer = Task.Run(() =>
        {
            for (var i = 0; i < 5000; i++)
            {
                var labels = new Dictionary<string, string> { ["id"] = $"s{i}", ["tenant.id"] = $"t{i % 3}", ["a"] = $"v{i % 7}" };
                h.Store.AddNumber(Metric, MetricKind.Counter, cumulative: false, labels, at.AddSeconds(-1), at, i);
            }

            done.Cancel();
        });

        var reads = 0;
        while (!done.IsCancellationRequested || reads == 0)
        {
            foreach (var sample in Select(h.Store, matchers, at))
            {
                // Whatever a read sees is a whole series of tenant t1 with its one point.
                var i = int.Parse(sample.Key[1..], System.Globalization.CultureInfo.InvariantCulture);
                Assert.Equal(1, i % 3);
                Assert.Equal(i, sample.Value);
            }

            reads++;
        }

        await writer;
        var expected = Enumerable.Range(0, 5000).Where(i => i % 3 == 1).ToDictionary(i => $"s{i}", i => (double)i);
        Assert.Equal(expected, Select(h.Store, matchers, at));
    }

    private static List<Generated> Generate(Random random, StoreHarness h, int count, int firstId)
    {
        var result = new List<Generated>(count);
        for (var i = 0; i < count; i++)
        {
            result.Add(Add(h.Store, random, firstId + i, h.Clock.GetUtcNow()));
        }

        return result;
    }

    private static Generated Add(WindowStore store, Random random, int id, DateTimeOffset at)
    {
        var labels = new Dictionary<string, string> { ["id"] = $"s{id}" };
        foreach (var name in Names)
        {
            // About a fifth of the series lack each label; some carry it empty.
            if (random.Next(5) > 0)
            {
                labels[name] = Vocabulary[random.Next(Vocabulary.Length)];
            }
        }

        var value = random.Next(1, 1000);
        var outcome = store.AddNumber(Metric, MetricKind.Counter, cumulative: false, labels, at.AddSeconds(-1), at, value);
        Assert.Null(outcome.RefusalReason);
        return new Generated(id, labels, value, at);
    }

    private static void AssertAgreesWithBruteForce(Random random, WindowStore store, IReadOnlyList<Generated> series, int rounds)
    {
        var at = store.Now;
        for (var round = 0; round < rounds; round++)
        {
            var matchers = RandomMatchers(random);
            var expected = series
                .Where(s => matchers.All(m => Expect(m, s.Labels)))
                .ToDictionary(s => $"s{s.Id}", s => s.Value);

            var actual = Select(store, matchers, at);

            Assert.True(expected.Count == actual.Count && expected.All(e => actual.TryGetValue(e.Key, out var v) && v == e.Value),
                $"{{{string.Join(", ", matchers.Select(m => m.ToString()))}}}: expected {expected.Count} series, got {actual.Count}; " +
                $"missing {string.Join(' ', expected.Keys.Except(actual.Keys).Take(5))}, extra {string.Join(' ', actual.Keys.Except(expected.Keys).Take(5))}");
        }
    }

    private static Dictionary<string, double> Select(WindowStore store, IReadOnlyList<LabelMatcher> matchers, DateTimeOffset at) =>
        store.Aggregate(new AggregateQuery(Metric, AggregateFunction.Increase, TimeSpan.FromMinutes(10), ["id"], matchers, at))
            .ToDictionary(s => s.Labels["id"], s => s.Value);

    private static LabelMatcher[] RandomMatchers(Random random)
    {
        var count = random.Next(0, 4);
        var matchers = new LabelMatcher[count];
        for (var i = 0; i < count; i++)
        {
            // Now and then a label no series has.
            var name = random.Next(10) == 0 ? "absent" : Names[random.Next(Names.Length)];
            var op = (MatchOp)random.Next(4);
            var value = op is MatchOp.Regex or MatchOp.NotRegex
                ? Patterns[random.Next(Patterns.Length)]
                : random.Next(8) == 0 ? "nowhere" : Vocabulary[random.Next(Vocabulary.Length)];
            matchers[i] = new LabelMatcher(name, op, value);
        }

        return matchers;
    }

    private static readonly string[] Patterns = ["x", "x.*", ".*", ".+", "", "z[0-9]", "y|xy", "long-.*|", "nowhere"];

    /// <summary>The expectation, written apart from <see cref="LabelMatcher"/>: a missing label is "", regexes anchored.</summary>
    private static bool Expect(LabelMatcher m, Dictionary<string, string> labels)
    {
        var actual = labels.TryGetValue(m.Name, out var v) ? v : string.Empty;
        return m.Op switch
        {
            MatchOp.Equal => actual == m.Value,
            MatchOp.NotEqual => actual != m.Value,
            MatchOp.Regex => Regex.IsMatch(actual, $"^(?:{m.Value})$"),
            _ => !Regex.IsMatch(actual, $"^(?:{m.Value})$"),
        };
    }
}
