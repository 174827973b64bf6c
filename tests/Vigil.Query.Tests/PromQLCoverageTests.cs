using Vigil.Query.Evaluation;

namespace Vigil.Query.Tests;

/// <summary>
/// Operators, functions and aggregations beyond the dashboard subset (issue #11 item 1), against values worked out by
/// hand from the data below and Prometheus' documented semantics.
/// </summary>
public sealed class PromQLCoverageTests
{
    private const string A = "{dc=\"x\", host=\"a\"}";
    private const string B = "{dc=\"x\", host=\"b\"}";
    private const string C = "{dc=\"y\", host=\"c\"}";

    /// <summary>
    /// Gauges at 170 s, clock at 180 s: load a (dc x) 4, b (dc x) -2.5, c (dc y) 9; capacity dc x 10 (tier gold),
    /// dc y 20 (tier silver).
    /// </summary>
    private static QueryHarness Load()
    {
        var h = new QueryHarness();
        h.Clock.SetUtcNow(QueryHarness.At(180));
        h.Gauge("load", 170, 4, ("host", "a"), ("dc", "x"));
        h.Gauge("load", 170, -2.5, ("host", "b"), ("dc", "x"));
        h.Gauge("load", 170, 9, ("host", "c"), ("dc", "y"));
        h.Gauge("capacity", 170, 10, ("dc", "x"), ("tier", "gold"));
        h.Gauge("capacity", 170, 20, ("dc", "y"), ("tier", "silver"));
        return h;
    }

    private static IReadOnlyList<Sample> Ordered(QueryHarness h, string query) =>
        Assert.IsType<VectorValue>(h.Engine.Query(query, QueryHarness.At(180)).Value).Samples;

    [Fact]
    public void ModuloAndPower_FollowPrometheusPrecedenceAndAssociativity()
    {
        var h = new QueryHarness();

        Assert.Equal(512, h.Scalar("2 ^ 3 ^ 2", 0)); // 2 ^ 9, not 8 ^ 2
        Assert.Equal(-4, h.Scalar("-2 ^ 2", 0)); // -(2 ^ 2)
        Assert.Equal(18, h.Scalar("2 * 3 ^ 2", 0));
        Assert.Equal(1, h.Scalar("7 % 3", 0));
        Assert.Equal(-1, h.Scalar("-7 % 3", 0)); // the dividend's sign, as Go's math.Mod
        Assert.Equal(3, h.Scalar("1 + 8 % 3 * 1", 0));
        Assert.True(double.IsNaN(h.Scalar("5 % 0", 0)));
        Assert.Equal(Math.PI / 4, h.Scalar("1 atan2 1", 0), 15);
    }

    [Fact]
    public void ModuloAndPower_OnVectors_DropTheName()
    {
        var h = Load();

        var mod = h.Vector("load % 3", 180);
        Assert.Equal(1, mod[A]);
        Assert.Equal(-2.5, mod[B]);
        Assert.Equal(0, mod[C]);

        var square = h.Vector("load ^ 2", 180);
        Assert.Equal([16, 6.25, 81], new[] { square[A], square[B], square[C] });
    }

    [Fact]
    public void Atan2_KeepsTheName_AsPrometheus2DoesNotListItAmongNameDroppingOperators()
    {
        // Found by the differential test: Prometheus 2.42 answers queue_depth atan2 2 with __name__ kept.
        var result = Load().Vector("load atan2 4", 180);

        Assert.Equal(Math.PI / 4, result["load" + A], 15);
        Assert.Equal(-Math.Atan(2.5 / 4), result["load" + B], 15); // x > 0: atan2(y, x) is atan(y / x)
    }

    [Fact]
    public void And_Unless_Or_SelectSeriesWithTheirOwnLabelsAndValues()
    {
        var h = Load();

        Assert.Equal(new Dictionary<string, double> { ["load" + A] = 4, ["load" + C] = 9 }, h.Vector("load and load > 3", 180));
        Assert.Equal(new Dictionary<string, double> { ["load" + B] = -2.5 }, h.Vector("load unless load > 3", 180));
        Assert.Equal(new Dictionary<string, double> { ["load" + C] = 9 }, h.Vector("load and on (dc) capacity{dc=\"y\"}", 180));

        // or: the left side, and of the right only match groups the left lacks (dc y's capacity, not dc x's).
        var or = h.Vector("load{dc=\"x\"} or on (dc) capacity", 180);
        Assert.Equal(new Dictionary<string, double> { ["load" + A] = 4, ["load" + B] = -2.5, ["capacity{dc=\"y\", tier=\"silver\"}"] = 20 }, or);
    }

    [Fact]
    public void SetOperators_RefuseScalars()
    {
        var e = Assert.Throws<PromQLException>(() => Load().Engine.Query("load and 1", QueryHarness.At(180)));

        Assert.StartsWith("set operator \"and\" not allowed in binary scalar expression", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void GroupLeft_PairsEachLeftSeriesWithTheOneRightSeries_AndCopiesIncludedLabels()
    {
        var h = Load();

        var ratio = h.Vector("load / on (dc) group_left capacity", 180);
        Assert.Equal(new Dictionary<string, double> { [A] = 0.4, [B] = -0.25, [C] = 0.45 }, ratio);

        var tiered = h.Vector("load * on (dc) group_left (tier) capacity", 180);
        Assert.Equal(40, tiered["{dc=\"x\", host=\"a\", tier=\"gold\"}"]);
        Assert.Equal(180, tiered["{dc=\"y\", host=\"c\", tier=\"silver\"}"]);
    }

    [Fact]
    public void GroupRight_KeepsOperandOrder_AndAComparisonKeepsTheLeftValueWithTheRightLabels()
    {
        var h = Load();

        var ratio = h.Vector("capacity / on (dc) group_right load", 180);
        Assert.Equal(new Dictionary<string, double> { [A] = 2.5, [B] = -4, [C] = 20 / 9.0 }, ratio);

        // 10 > 4 and 10 > -2.5 in dc x, 20 > 9 in dc y: the value is capacity's, the series is load's.
        var filtered = h.Vector("capacity > on (dc) group_right load", 180);
        Assert.Equal(new Dictionary<string, double> { ["load" + A] = 10, ["load" + B] = 10, ["load" + C] = 20 }, filtered);
    }

    [Fact]
    public void ManyToOneWithoutGroupLeft_IsRefused()
    {
        var e = Assert.Throws<PromQLException>(() => Load().Engine.Query("load / on (dc) capacity", QueryHarness.At(180)));

        Assert.StartsWith("many-to-many matching not allowed: found duplicate series for the match group {dc=\"x\"} on the left hand side", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void GroupLeft_WithDuplicatesOnTheOneSide_IsRefused()
    {
        var e = Assert.Throws<PromQLException>(() => Load().Engine.Query("capacity / on (dc) group_left load", QueryHarness.At(180)));

        Assert.StartsWith("many-to-many matching not allowed: found duplicate series for the match group {dc=\"x\"} on the right hand side", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void MathFunctions_ApplyPerSampleAndDropTheName()
    {
        var h = Load();

        Assert.Equal(new Dictionary<string, double> { [A] = 4, [B] = 2.5, [C] = 9 }, h.Vector("abs(load)", 180));
        var sqrt = h.Vector("sqrt(load)", 180);
        Assert.Equal(2, sqrt[A]);
        Assert.True(double.IsNaN(sqrt[B]));
        Assert.Equal(3, sqrt[C]);
        Assert.Equal(new Dictionary<string, double> { [A] = 1, [B] = -1, [C] = 1 }, h.Vector("sgn(load)", 180));
        Assert.Equal(new Dictionary<string, double> { [A] = 4, [B] = 0, [C] = 5 }, h.Vector("clamp(load, 0, 5)", 180));
        Assert.Empty(h.Vector("clamp(load, 5, 0)", 180));

        Assert.Equal(1, h.Vector("exp(vector(0))", 180)["{}"]);
        Assert.Equal(0, h.Vector("ln(vector(1))", 180)["{}"]);
        Assert.Equal(3, h.Vector("log2(vector(8))", 180)["{}"]);
        Assert.Equal(3, h.Vector("log10(vector(1000))", 180)["{}"]);
        Assert.Equal(180, h.Vector("deg(vector(pi()))", 180)["{}"], 12);
        Assert.Equal(Math.PI, h.Vector("rad(vector(180))", 180)["{}"], 15);
        Assert.Equal(1, h.Vector("cos(vector(0))", 180)["{}"]);
        Assert.Equal(0.5, h.Vector("sin(vector(pi() / 6))", 180)["{}"], 12);
        Assert.Equal(3.141592653589793, h.Scalar("pi()", 0));
    }

    [Fact]
    public void Round_HalvesRoundUp_ToTheNearestMultiple()
    {
        var h = Load();

        // floor(v / to + 0.5) * to: -2.5 rounds to -2; to 2: 4 stays, -2.5 → -2, 9 → 10.
        Assert.Equal(new Dictionary<string, double> { [A] = 4, [B] = -2, [C] = 9 }, h.Vector("round(load)", 180));
        Assert.Equal(new Dictionary<string, double> { [A] = 4, [B] = -2, [C] = 10 }, h.Vector("round(load, 2)", 180));
        Assert.Equal(1.25, h.Vector("round(vector(1.2345), 0.05)", 180)["{}"], 12);
    }

    [Fact]
    public void Sort_OrdersByValue_NaNFirst_AndKeepsTheName()
    {
        var h = Load();

        Assert.Equal(["load" + B, "load" + A, "load" + C], Ordered(h, "sort(load)").Select(s => s.Labels.ToString()));
        Assert.Equal(["load" + C, "load" + A, "load" + B], Ordered(h, "sort_desc(load)").Select(s => s.Labels.ToString()));
        Assert.Equal([B, A, C], Ordered(h, "sort(sqrt(load))").Select(s => s.Labels.ToString()));
    }

    [Fact]
    public void LabelReplace_SetsTheExpansion_OnlyWhereTheAnchoredRegexMatches()
    {
        var h = Load();

        var site = h.Vector("label_replace(load, \"site\", \"dc-$1\", \"dc\", \"(.*)\")", 180);
        Assert.Equal(4, site["load{dc=\"x\", host=\"a\", site=\"dc-x\"}"]);
        Assert.Equal(9, site["load{dc=\"y\", host=\"c\", site=\"dc-y\"}"]);

        // "a" matches host a only (anchored: not "ab"); an empty replacement removes the label.
        var removed = h.Vector("label_replace(load, \"host\", \"\", \"host\", \"a\")", 180);
        Assert.Equal(4, removed["load{dc=\"x\"}"]);
        Assert.Equal(-2.5, removed["load" + B]);

        var e = Assert.Throws<PromQLException>(() => h.Engine.Query("label_replace(load, \"host\", \"same\", \"\", \"\")", QueryHarness.At(180)));
        Assert.Equal("label_replace(): vector cannot contain metrics with the same labelset load{dc=\"x\", host=\"same\"}", e.Message);

        var bad = Assert.Throws<PromQLException>(() => h.Engine.Query("label_replace(load, \"1x\", \"\", \"host\", \"a\")", QueryHarness.At(180)));
        Assert.Equal("invalid destination label name in label_replace(): 1x", bad.Message);
    }

    [Fact]
    public void LabelJoin_JoinsTheSourceValues_MissingOnesAsEmpty()
    {
        var h = Load();

        var joined = h.Vector("label_join(load, \"id\", \"/\", \"dc\", \"host\", \"rack\")", 180);
        Assert.Equal(4, joined["load{dc=\"x\", host=\"a\", id=\"x/a/\"}"]);
        Assert.Equal(3, joined.Count);
    }

    [Fact]
    public void TopkAndBottomk_KeepWholeSeries_PerGroup()
    {
        var h = Load();

        Assert.Equal(new Dictionary<string, double> { ["load" + C] = 9, ["load" + A] = 4 }, h.Vector("topk(2, load)", 180));
        Assert.Equal(new Dictionary<string, double> { ["load" + B] = -2.5 }, h.Vector("bottomk(1, load)", 180));
        Assert.Equal(new Dictionary<string, double> { ["load" + A] = 4, ["load" + C] = 9 }, h.Vector("topk by (dc) (1, load)", 180));
        Assert.Empty(h.Vector("topk(0, load)", 180));

        // NaN ranks below every number for topk: sqrt(-2.5) is left out first.
        Assert.Equal([A, C], h.Vector("topk(2, sqrt(load))", 180).Keys.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Quantile_InterpolatesBetweenRanks()
    {
        var h = Load();

        // Sorted -2.5, 4, 9: φ 0.5 is rank 1 (4); φ 0.25 is rank 0.5, halfway between -2.5 and 4.
        Assert.Equal(4, h.Vector("quantile(0.5, load)", 180)["{}"]);
        Assert.Equal(0.75, h.Vector("quantile(0.25, load)", 180)["{}"], 12);
        Assert.Equal(new Dictionary<string, double> { ["{dc=\"x\"}"] = 4, ["{dc=\"y\"}"] = 9 }, h.Vector("quantile by (dc) (1, load)", 180));
        Assert.Equal(double.PositiveInfinity, h.Vector("quantile(2, load)", 180)["{}"]);
        Assert.Equal(double.NegativeInfinity, h.Vector("quantile(-1, load)", 180)["{}"]);
    }

    [Fact]
    public void StddevStdvarAndGroup()
    {
        var h = Load();

        // Mean 3.5; squared deviations 0.25 + 36 + 30.25 = 66.5 over 3.
        Assert.Equal(66.5 / 3, h.Vector("stdvar(load)", 180)["{}"], 12);
        Assert.Equal(Math.Sqrt(66.5 / 3), h.Vector("stddev(load)", 180)["{}"], 12);

        // dc x: 4 and -2.5, mean 0.75, deviations ±3.25; dc y: one sample, no spread.
        var byDc = h.Vector("stdvar by (dc) (load)", 180);
        Assert.Equal(3.25 * 3.25, byDc["{dc=\"x\"}"], 12);
        Assert.Equal(0, byDc["{dc=\"y\"}"]);

        Assert.Equal(new Dictionary<string, double> { ["{dc=\"x\"}"] = 1, ["{dc=\"y\"}"] = 1 }, h.Vector("group by (dc) (load)", 180));
    }

    [Fact]
    public void CountValues_CountsSamplesPerValue_WithTheValueAsALabel()
    {
        var h = Load();

        // clamp_max(load, 4): a 4, b -2.5, c 4.
        Assert.Equal(new Dictionary<string, double> { ["{v=\"4\"}"] = 2, ["{v=\"-2.5\"}"] = 1 }, h.Vector("count_values(\"v\", clamp_max(load, 4))", 180));
        Assert.Equal(
            new Dictionary<string, double> { ["{dc=\"x\", v=\"4\"}"] = 1, ["{dc=\"x\", v=\"-2.5\"}"] = 1, ["{dc=\"y\", v=\"4\"}"] = 1 },
            h.Vector("count_values by (dc) (\"v\", clamp_max(load, 4))", 180));

        var e = Assert.Throws<PromQLException>(() => h.Engine.Query("count_values(\"a-b\", load)", QueryHarness.At(180)));
        Assert.Equal("invalid label name \"a-b\" in count_values", e.Message);
    }

    [Theory]
    [InlineData(4, "4")]
    [InlineData(-2.5, "-2.5")]
    [InlineData(1e21, "1000000000000000000000")]
    [InlineData(-1.5e22, "-15000000000000000000000")]
    [InlineData(1e-7, "0.0000001")]
    [InlineData(1.25e-6, "0.00000125")]
    [InlineData(double.PositiveInfinity, "+Inf")]
    [InlineData(double.NaN, "NaN")]
    public void CountValuesLabel_IsWrittenAsGoFormatsFloatsWithoutExponent(double value, string expected)
    {
        Assert.Equal(expected, Evaluator.FormatFixed(value));
    }

    [Fact]
    public void Absent_IsOneWithTheEqualityLabels_OnlyWhenNothingMatches()
    {
        var h = Load();

        Assert.Empty(h.Vector("absent(load)", 180));
        Assert.Equal(new Dictionary<string, double> { ["{a=\"1\"}"] = 1 }, h.Vector("absent(nothing{a=\"1\", b=~\"x\"})", 180));
        Assert.Equal(new Dictionary<string, double> { ["{}"] = 1 }, h.Vector("absent(nothing{a=\"1\", a=\"2\"})", 180));
        Assert.Equal(new Dictionary<string, double> { ["{}"] = 1 }, h.Vector("absent(sum(nothing))", 180));
    }

    [Fact]
    public void PresentAndAbsentOverTime_LookAtTheWindowsBuckets()
    {
        var h = Load();
        h.Clock.SetUtcNow(QueryHarness.At(240));

        // At 180 s the [1m] window (buckets 130..180) holds the points at 170 s; at 240 s (190..240) it does not.
        Assert.Equal(new Dictionary<string, double> { [A] = 1, [B] = 1, [C] = 1 }, h.Vector("present_over_time(load[1m])", 180));
        Assert.Empty(h.Vector("present_over_time(load[1m])", 240));
        Assert.Empty(h.Vector("absent_over_time(load{host=\"a\"}[1m])", 180));
        Assert.Equal(new Dictionary<string, double> { ["{host=\"a\"}"] = 1 }, h.Vector("absent_over_time(load{host=\"a\"}[1m])", 240));
    }

    [Fact]
    public void DateFunctions_ReadTheEvaluationTime_OrEachSampleAsUnixSeconds()
    {
        var h = Load();

        // 2025-06-01T12:03:00Z, a Sunday, the 152nd day of a 30-day month.
        Assert.Equal(12, h.Vector("hour()", 180)["{}"]);
        Assert.Equal(3, h.Vector("minute()", 180)["{}"]);
        Assert.Equal(6, h.Vector("month()", 180)["{}"]);
        Assert.Equal(2025, h.Vector("year()", 180)["{}"]);
        Assert.Equal(1, h.Vector("day_of_month()", 180)["{}"]);
        Assert.Equal(0, h.Vector("day_of_week()", 180)["{}"]);
        Assert.Equal(152, h.Vector("day_of_year()", 180)["{}"]);
        Assert.Equal(30, h.Vector("days_in_month()", 180)["{}"]);

        // 1767228000 is 2026-01-01T00:40:00Z, a Thursday.
        Assert.Equal(40, h.Vector("minute(vector(1767228000))", 180)["{}"]);
        Assert.Equal(4, h.Vector("day_of_week(vector(1767228000))", 180)["{}"]);
        Assert.Equal(31, h.Vector("days_in_month(vector(1767228000))", 180)["{}"]);

        // Of a series: its value as a time, without the name (load c: 9 s after the epoch).
        Assert.Equal(1970, h.Vector("year(load)", 180)[C]);
    }
}
