using Vigil.Storage.Query;

namespace Vigil.Storage.Tests;

/// <summary>
/// A counter series' window sum is reused between reads while nothing changed (decision 034). Every read must still
/// return what the buckets hold now: after late points into packed buckets, after the window slid past a bucket of
/// an idle series, and over random writes, windows and instants compared with sums the test keeps itself.
/// </summary>
public sealed class ReadMemoTests
{
    private const string Metric = "memo.requests";
    private static readonly DateTimeOffset T0 = StoreHarness.T0;

    [Fact]
    public void LatePointIntoAPackedBucket_IsSeenByTheNextReadAtTheSameInstant()
    {
        var h = new StoreHarness();
        h.Clock.SetUtcNow(T0.AddSeconds(199));
        // 20 buckets: more than the 8 kept raw, so the oldest are packed.
        for (var b = 0; b < 20; b++)
        {
            Add(h.Store, "a", T0.AddSeconds((10 * b) + 5), 1);
        }

        var at = T0.AddSeconds(199);
        Assert.Equal(20, h.Value(Metric, AggregateFunction.Increase, TimeSpan.FromMinutes(5), at));

        Add(h.Store, "a", T0.AddSeconds(15), 100);
        Assert.Equal(120, h.Value(Metric, AggregateFunction.Increase, TimeSpan.FromMinutes(5), at));
        Assert.Equal(21, h.Value(Metric, AggregateFunction.Count, TimeSpan.FromMinutes(5), at));
    }

    [Fact]
    public void IdleSeries_WindowSlidingPastItsBuckets_DropsThemOneByOne()
    {
        var h = new StoreHarness();
        h.Clock.SetUtcNow(T0.AddSeconds(19));
        Add(h.Store, "a", T0.AddSeconds(5), 2);  // bucket 0
        Add(h.Store, "a", T0.AddSeconds(15), 3); // bucket 1
        var window = TimeSpan.FromMinutes(1); // six buckets

        // Buckets -3..2, then 0..5: both points; each read twice.
        foreach (var seconds in new[] { 25, 25, 55, 55 })
        {
            Assert.Equal(5, h.Value(Metric, AggregateFunction.Increase, window, T0.AddSeconds(seconds)));
        }

        // Buckets 1..6 hold only the second point; 2..7 hold none.
        Assert.Equal(3, h.Value(Metric, AggregateFunction.Increase, window, T0.AddSeconds(65)));
        Assert.Equal(3, h.Value(Metric, AggregateFunction.Increase, window, T0.AddSeconds(65)));
        Assert.Empty(h.Query(Metric, AggregateFunction.Increase, window, T0.AddSeconds(75)));
        Assert.Empty(h.Query(Metric, AggregateFunction.Increase, window, T0.AddSeconds(75)));
    }

    [Fact]
    public void TwoWindowsReadInTurn_EachGetsItsOwnSum()
    {
        var h = new StoreHarness();
        h.Clock.SetUtcNow(T0.AddSeconds(119));
        for (var b = 0; b < 12; b++)
        {
            Add(h.Store, "a", T0.AddSeconds((10 * b) + 5), b + 1);
        }

        var at = T0.AddSeconds(119);
        for (var i = 0; i < 3; i++)
        {
            // Last 3 buckets: 10 + 11 + 12; all 12: 78.
            Assert.Equal(33, h.Value(Metric, AggregateFunction.Increase, TimeSpan.FromSeconds(30), at));
            Assert.Equal(78, h.Value(Metric, AggregateFunction.Increase, TimeSpan.FromMinutes(5), at));
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void RandomWritesAndReads_AgreeWithTheTestsOwnBuckets(int seed)
    {
        var random = new Random(seed);
        var h = new StoreHarness();
        string[] names = ["a", "b", "c", "d", "e"];
        string[] groups = ["x", "y"];
        // series → bucket → (sum, points); whole-number values, so the order of additions cannot matter.
        var model = names.ToDictionary(n => n, _ => new SortedDictionary<int, (double Sum, int Points)>());
        var now = 400; // in buckets after T0: late points may go back up to 40 buckets
        h.Clock.SetUtcNow(T0.AddSeconds((10 * now) + 9));
        for (var step = 0; step < 3000; step++)
        {
            switch (random.Next(10))
            {
                case < 3:
                    var name = names[random.Next(names.Length)];
                    var bucket = now - (random.Next(4) == 0 ? random.Next(40) : 0);
                    var value = random.Next(1, 50);
                    Add(h.Store, name, T0.AddSeconds((10 * bucket) + 1 + random.Next(8)).AddTicks(step + 1), value, groups[name[0] % 2]);
                    var held = model[name].GetValueOrDefault(bucket);
                    model[name][bucket] = (held.Sum + value, held.Points + 1);
                    break;
                case < 5:
                    now += random.Next(1, 4);
                    h.Clock.SetUtcNow(T0.AddSeconds((10 * now) + 9));
                    break;
                default:
                    var windowBuckets = random.Next(1, 31);
                    var at = now - random.Next(3);
                    var function = random.Next(2) == 0 ? AggregateFunction.Increase : AggregateFunction.Count;
                    var actual = h.Query(Metric, function, TimeSpan.FromSeconds(10 * windowBuckets), T0.AddSeconds((10 * at) + 9), by: ["group"])
                        .ToDictionary(s => s.Labels["group"], s => s.Value);
                    var expected = new Dictionary<string, double>();
                    foreach (var (series, buckets) in model)
                    {
                        var inWindow = buckets.Where(b => b.Key > at - windowBuckets && b.Key <= at).ToList();
                        if (inWindow.Count > 0)
                        {
                            var group = groups[series[0] % 2];
                            expected[group] = expected.GetValueOrDefault(group) + inWindow.Sum(b => function == AggregateFunction.Count ? b.Value.Points : b.Value.Sum);
                        }
                    }

                    Assert.True(expected.Count == actual.Count && expected.All(e => actual.TryGetValue(e.Key, out var v) && v == e.Value),
                        $"step {step}, {function} over {windowBuckets} buckets at {at}: expected {Show(expected)}, got {Show(actual)}");
                    break;
            }
        }
    }

    private static string Show(Dictionary<string, double> values) => string.Join(", ", values.OrderBy(v => v.Key).Select(v => $"{v.Key}={v.Value}"));

    private static void Add(WindowStore store, string name, DateTimeOffset at, double value, string group = "x")
    {
        var outcome = store.AddNumber(Metric, MetricKind.Counter, cumulative: false, new Dictionary<string, string> { ["name"] = name, ["group"] = group }, at.AddSeconds(-1), at, value);
        Assert.Null(outcome.RefusalReason);
    }
}
