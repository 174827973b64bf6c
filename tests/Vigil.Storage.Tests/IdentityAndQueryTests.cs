using Vigil.Otlp.Proto.Common;
using Vigil.Otlp.Proto.Metrics;
using Vigil.Storage.Query;
using static Vigil.Storage.Tests.StoreHarness;

namespace Vigil.Storage.Tests;

public sealed class IdentityAndQueryTests
{
    private static readonly TimeSpan Minute = TimeSpan.FromMinutes(1);
    private const AggregationTemporality Delta = AggregationTemporality.Delta;

    [Fact]
    public void OnlyConfiguredResourceAttributes_BecomeLabels()
    {
        var h = new StoreHarness();
        KeyValue[] resource = [Attr("service.name", "api"), Attr("host.name", "node-1"), Attr("tenant.id", "t1"), Attr("process.pid", "42")];

        h.Send(resource, Gauge("g", Point(0, At(1), 1, Attr("route", "/x"))));

        var labels = Assert.Single(h.Store.ListSeries("g")).Labels;
        Assert.Equal(new Dictionary<string, string> { ["service.name"] = "api", ["tenant.id"] = "t1", ["route"] = "/x" }, labels.ToDictionary());
    }

    [Fact]
    public void PointAttribute_WinsOverResourceAttributeWithTheSameKey()
    {
        // Except the tenant attribute, where the resource is authoritative (TenantPrecedenceTests).
        var h = new StoreHarness();

        h.Send([Attr("service.name", "from-resource"), Attr("tenant.id", "acme")], Gauge("g", Point(0, At(1), 1, Attr("service.name", "from-point"))));

        var labels = Assert.Single(h.Store.ListSeries("g")).Labels;
        Assert.Equal("from-point", labels["service.name"]);
        Assert.Equal("acme", labels["tenant.id"]);
    }

    [Fact]
    public void ConfiguredResourceAttributes_SplitSeries_OthersDoNot()
    {
        var h = new StoreHarness(new WindowStoreOptions { ResourceAttributes = ["service.name"] });
        h.Send([Attr("service.name", "a"), Attr("host.name", "1")], Counter("c", Delta, Point(At(0), At(5), 1)));
        h.Send([Attr("service.name", "a"), Attr("host.name", "2")], Counter("c", Delta, Point(At(0), At(6), 2)));
        h.Send([Attr("service.name", "b"), Attr("host.name", "1")], Counter("c", Delta, Point(At(0), At(5), 4)));
        h.Clock.Advance(TimeSpan.FromSeconds(10));

        var samples = h.Query("c", AggregateFunction.Increase, Minute, by: ["service.name"]);

        Assert.Equal(2, h.Store.SeriesCount);
        Assert.Equal([("a", 3.0), ("b", 4.0)], samples.Select(s => (s.Labels["service.name"], s.Value)));
    }

    [Fact]
    public void AttributeOrder_DoesNotSplitASeries()
    {
        var h = new StoreHarness();
        h.Send(Counter("c", Delta, Point(At(0), At(5), 1, Attr("a", "1"), Attr("b", "2"))));
        h.Send(Counter("c", Delta, Point(At(0), At(6), 2, Attr("b", "2"), Attr("a", "1"))));

        Assert.Equal(1, h.Store.SeriesCount);
    }

    [Fact]
    public void NonStringAttributes_AreLabelledByTheirTextForm()
    {
        var h = new StoreHarness();
        var point = Point(0, At(1), 1,
            new KeyValue { Key = "ok", Value = new AnyValue { BoolValue = true } },
            new KeyValue { Key = "code", Value = new AnyValue { IntValue = 404 } },
            new KeyValue { Key = "ratio", Value = new AnyValue { DoubleValue = 0.25 } },
            new KeyValue { Key = "raw", Value = new AnyValue { BytesValue = Google.Protobuf.ByteString.CopyFrom(1, 2, 3) } },
            new KeyValue { Key = "list", Value = new AnyValue { ArrayValue = new ArrayValue { Values = { new AnyValue { StringValue = "x" }, new AnyValue { IntValue = 2 } } } } });

        h.Send(Gauge("g", point));

        var labels = Assert.Single(h.Store.ListSeries("g")).Labels;
        Assert.Equal("true", labels["ok"]);
        Assert.Equal("404", labels["code"]);
        Assert.Equal("0.25", labels["ratio"]);
        Assert.Equal("AQID", labels["raw"]);
        Assert.Equal("[\"x\",2]", labels["list"]);
    }

    private static StoreHarness Tenants()
    {
        var h = new StoreHarness();
        h.Send(Counter("auth.requests", Delta,
            Point(At(0), At(5), 1, Attr("tenant.id", "acme"), Attr("auth.outcome", "success")),
            Point(At(0), At(5), 2, Attr("tenant.id", "acme"), Attr("auth.outcome", "failure")),
            Point(At(0), At(5), 4, Attr("tenant.id", "beta"), Attr("auth.outcome", "success")),
            Point(At(0), At(5), 8, Attr("tenant.id", "beta"), Attr("auth.outcome", "unauthorized")),
            Point(At(0), At(5), 16, Attr("auth.outcome", "failure"))));
        h.Clock.Advance(TimeSpan.FromSeconds(10));
        return h;
    }

    [Fact]
    public void By_GroupsSeries_AndMissingLabelFormsItsOwnGroup()
    {
        var samples = Tenants().Query("auth.requests", AggregateFunction.Increase, Minute, by: ["tenant.id"]);

        Assert.Equal(3, samples.Count);
        Assert.Equal(16, samples.Single(s => s.Labels.Count == 0).Value);
        Assert.Equal(3, samples.Single(s => s.Labels.GetValueOrDefault("tenant.id") == "acme").Value);
        Assert.Equal(12, samples.Single(s => s.Labels.GetValueOrDefault("tenant.id") == "beta").Value);
    }

    [Fact]
    public void By_TwoLabels_GroupsByBoth()
    {
        var samples = Tenants().Query("auth.requests", AggregateFunction.Increase, Minute, by: ["tenant.id", "auth.outcome"]);

        Assert.Equal(5, samples.Count);
        Assert.All(samples, s => Assert.True(s.Labels.ContainsKey("auth.outcome")));
    }

    [Theory]
    [InlineData("tenant.id", MatchOp.Equal, "acme", 3)]
    [InlineData("tenant.id", MatchOp.NotEqual, "acme", 28)]
    [InlineData("auth.outcome", MatchOp.Regex, "fail.*|unauth.*", 26)]
    [InlineData("auth.outcome", MatchOp.Regex, "fail", 0)] // anchored: "fail" matches nothing
    [InlineData("auth.outcome", MatchOp.NotRegex, "success", 26)]
    [InlineData("tenant.id", MatchOp.Equal, "", 16)] // a missing label matches the empty string
    [InlineData("tenant.id", MatchOp.Regex, ".+", 15)]
    public void Matchers_FilterSeries(string label, MatchOp op, string value, double expected)
    {
        var samples = Tenants().Query("auth.requests", AggregateFunction.Increase, Minute, matchers: [new LabelMatcher(label, op, value)]);

        Assert.Equal(expected, samples.Sum(s => s.Value));
        Assert.Equal(expected == 0 ? 0 : 1, samples.Count);
    }

    [Fact]
    public void RegexThatTimesOut_RefusesTheQuery_NamingTheRegex()
    {
        // (a+)+b backtracks exponentially on a run of a's without a b, far past the match timeout.
        var h = new StoreHarness();
        h.Send([], Gauge("g", Point(0, At(1), 1, Attr("user", new string('a', 40)))));

        var error = Assert.Throws<RegexTimeoutException>(() => h.Query("g", AggregateFunction.Last, Minute, matchers: [new LabelMatcher("user", MatchOp.NotRegex, "(a+)+b")]));

        Assert.Equal(
            $"regex user!~\"(a+)+b\" timed out after {LabelMatcher.MatchTimeout.TotalMilliseconds}ms on a value of 40 characters; simplify it (nested quantifiers such as (a+)+ backtrack exponentially)",
            error.Message);
    }

    [Fact]
    public void RegexMatcher_AnswersTheSame_OnceItIsCompiled()
    {
        // A regex is interpreted at first and compiled after 10,000 matches; the answers must not change.
        var matcher = new LabelMatcher("auth.outcome", MatchOp.Regex, "fail.*|unauth.*");
        string[] values = ["failure", "success", "unauthorized", "FAILURE", "xfailure", ""];

        for (var i = 0; i < 30_000; i++)
        {
            var value = values[i % values.Length];
            Assert.Equal(value is "failure" or "unauthorized", matcher.Matches(value));
        }
    }

    [Fact]
    public void SeveralMatchers_AllMustMatch()
    {
        var samples = Tenants().Query("auth.requests", AggregateFunction.Increase, Minute,
            matchers: [new LabelMatcher("tenant.id", MatchOp.Equal, "beta"), new LabelMatcher("auth.outcome", MatchOp.NotEqual, "success")]);

        Assert.Equal(8, Assert.Single(samples).Value);
    }

    [Fact]
    public void UnknownMetric_ReturnsNothing()
    {
        Assert.Empty(Tenants().Query("nope", AggregateFunction.Increase, Minute));
    }

    [Theory]
    [InlineData(AggregateFunction.Rate)]
    [InlineData(AggregateFunction.Increase)]
    [InlineData(AggregateFunction.Quantile)]
    public void GaugeFunction_NotApplicable_Throws(AggregateFunction function)
    {
        var h = new StoreHarness();
        h.Send(Gauge("g", Point(0, At(1), 1)));

        var error = Assert.Throws<QueryException>(() => h.Query("g", function, Minute));

        Assert.Contains("a gauge", error.Message, StringComparison.Ordinal);
        Assert.Contains("use last", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(AggregateFunction.Avg)]
    [InlineData(AggregateFunction.Min)]
    [InlineData(AggregateFunction.Max)]
    [InlineData(AggregateFunction.Last)]
    [InlineData(AggregateFunction.Quantile)]
    public void CounterFunction_NotApplicable_Throws(AggregateFunction function)
    {
        var error = Assert.Throws<QueryException>(() => Tenants().Query("auth.requests", function, Minute));
        Assert.Contains("a counter", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void HistogramLast_NotApplicable_Throws()
    {
        var h = new StoreHarness();
        h.Send(Histogram("h", Delta, HistogramPoint(At(0), At(1), [1], [1, 0], 1)));

        Assert.Throws<QueryException>(() => h.Query("h", AggregateFunction.Last, Minute));
    }

    [Fact]
    public void WindowLongerThanRetention_Throws()
    {
        var error = Assert.Throws<QueryException>(() => Tenants().Query("auth.requests", AggregateFunction.Increase, TimeSpan.FromHours(2)));
        Assert.Contains("longer than the retention", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void WindowShorterThanResolution_Throws()
    {
        Assert.Throws<QueryException>(() => Tenants().Query("auth.requests", AggregateFunction.Increase, TimeSpan.FromSeconds(5)));
    }

    [Theory]
    [InlineData(-0.1)]
    [InlineData(1.5)]
    [InlineData(double.NaN)]
    public void QuantileOutsideZeroToOne_Throws(double q)
    {
        var h = new StoreHarness();
        h.Send(Histogram("h", Delta, HistogramPoint(At(0), At(1), [1], [1, 0], 1)));

        Assert.Throws<QueryException>(() => h.Query("h", AggregateFunction.Quantile, Minute, quantile: q));
    }
}
