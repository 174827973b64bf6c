using Vigil.Otlp.Proto.Metrics;
using Vigil.Storage.Query;
using static Vigil.Storage.Tests.StoreHarness;

namespace Vigil.Storage.Tests;

/// <summary>A series' labels are a compact, immutable set decoded from its key: a dictionary to every reader.</summary>
public sealed class LabelSetTests
{
    [Fact]
    public void DecodedKey_ReadsAsTheDictionaryItWasBuiltFrom()
    {
        var labels = new Dictionary<string, string> { ["zone"] = "eu-1", ["tenant.id"] = "acme", ["a"] = "", ["é"] = "accent", ["host"] = "h1" };
        var set = Decode(labels, new LabelNames());

        Assert.Equal(labels.Count, set.Count);
        foreach (var (name, value) in labels)
        {
            Assert.True(set.ContainsKey(name));
            Assert.Equal(value, set[name]);
            Assert.True(set.TryGetValue(name, out var read));
            Assert.Equal(value, read);
        }

        Assert.False(set.TryGetValue("missing", out var none));
        Assert.Null(none);
        Assert.False(set.ContainsKey("Zone")); // ordinal, as the dictionary was
        Assert.Throws<KeyNotFoundException>(() => set["missing"]);
        Assert.Equal("fallback", ((IReadOnlyDictionary<string, string>)set).GetValueOrDefault("missing", "fallback"));
    }

    [Fact]
    public void Enumeration_FollowsTheKeyOrder_OrdinalByUtf8Name()
    {
        var set = Decode(new Dictionary<string, string> { ["b"] = "2", ["é"] = "3", ["a"] = "1", ["B"] = "0" }, names: null);

        // The key sorts names by their UTF-8 bytes: "B" (0x42) < "a" < "b" < "é" (0xC3 0xA9).
        Assert.Equal(["B", "a", "b", "é"], set.Keys);
        Assert.Equal(["0", "1", "2", "3"], set.Values);
        Assert.Equal(
            [new("B", "0"), new("a", "1"), new("b", "2"), new("é", "3")],
            set.ToList());
    }

    [Fact]
    public void SeriesWithTheSameNames_ShareOneNameArray_AndKeysCannotWriteIntoIt()
    {
        var pool = new LabelNames();
        var one = Decode(new Dictionary<string, string> { ["tenant.id"] = "acme", ["user"] = "u1" }, pool);
        var two = Decode(new Dictionary<string, string> { ["tenant.id"] = "beta", ["user"] = "u2" }, pool);
        var other = Decode(new Dictionary<string, string> { ["tenant.id"] = "beta" }, pool);

        Assert.True(one.SharesNamesWith(two));
        Assert.False(one.SharesNamesWith(other));
        Assert.IsNotType<string[]>(one.Keys, exactMatch: false);
        Assert.Equal("u1", one["user"]);
        Assert.Equal("u2", two["user"]);
    }

    [Fact]
    public void EmptyKey_DecodesToTheEmptySet()
    {
        var set = Decode([], new LabelNames());
        Assert.Same(LabelSet.Empty, set);
        Assert.Empty(set);
    }

    [Fact]
    public void StoredSeries_ExposeTheirLabels_ToListSeriesAndMatchers()
    {
        var h = new StoreHarness();
        h.Send(Counter("c", AggregationTemporality.Delta,
            Point(At(0), At(5), 1, Attr("tenant.id", "acme"), Attr("zone", "eu")),
            Point(At(0), At(5), 2, Attr("tenant.id", "beta"), Attr("zone", "us"))));

        var series = h.Store.ListSeries("c").OrderBy(s => s.Labels["tenant.id"], StringComparer.Ordinal).ToList();
        Assert.Equal(2, series.Count);
        Assert.Equal(new Dictionary<string, string> { ["tenant.id"] = "acme", ["zone"] = "eu" }, series[0].Labels.ToDictionary());
        Assert.Equal(new Dictionary<string, string> { ["tenant.id"] = "beta", ["zone"] = "us" }, series[1].Labels.ToDictionary());
        Assert.Equal(2, h.Value("c", AggregateFunction.Sum, TimeSpan.FromMinutes(1), T0.AddSeconds(5), matchers: [new LabelMatcher("zone", MatchOp.Equal, "us")]));
    }

    private static LabelSet Decode(Dictionary<string, string> labels, LabelNames? names)
    {
        var builder = new SeriesKeyBuilder();
        builder.SetLabels(labels);
        return SeriesKeyBuilder.DecodeLabels(builder.Build(7), names);
    }
}
