namespace Vigil.Query.Tests;

/// <summary>
/// Subqueries and the functions over time that need samples (issue #11 item 1). The inner expression is evaluated at
/// every multiple of the step in [T − range, T]; the expected values are worked out by hand from those steps.
/// </summary>
public sealed class SubqueryTests
{
    private const string A = "{host=\"a\"}";
    private const string B = "{host=\"b\"}";

    /// <summary>
    /// <see cref="QueryHarness.QueueDepth"/>: host a 100 @10s, 300 @70s, 200 @130s; host b 50 @20s; clock at 180 s. T0 is
    /// a whole minute, so [2m:1m] at 180 s steps at 60, 120 and 180 s, where the bare gauge (last value within 5 minutes)
    /// is a 100, 300, 200 and b 50, 50, 50.
    /// </summary>
    private static QueryHarness Depth() => QueryHarness.QueueDepth();

    [Fact]
    public void OverTimeFunctions_FoldTheSteps()
    {
        var h = Depth();

        Assert.Equal(300, h.Vector("max_over_time(queue_depth[2m:1m])", 180)[A]);
        Assert.Equal(100, h.Vector("min_over_time(queue_depth[2m:1m])", 180)[A]);
        Assert.Equal(200, h.Vector("avg_over_time(queue_depth[2m:1m])", 180)[A]);
        Assert.Equal(600, h.Vector("sum_over_time(queue_depth[2m:1m])", 180)[A]);
        Assert.Equal(3, h.Vector("count_over_time(queue_depth[2m:1m])", 180)[A]);
        Assert.Equal(200, h.Vector("last_over_time(queue_depth[2m:1m])", 180)["queue_depth" + A]);
        Assert.Equal(1, h.Vector("present_over_time(queue_depth[2m:1m])", 180)[B]);
        Assert.Equal(200, h.Vector("quantile_over_time(0.5, queue_depth[2m:1m])", 180)[A]);
        Assert.Equal(150, h.Vector("quantile_over_time(0.25, queue_depth[2m:1m])", 180)[A]);

        // Mean 200: squared deviations 10,000 + 10,000 + 0 over 3.
        Assert.Equal(20000 / 3.0, h.Vector("stdvar_over_time(queue_depth[2m:1m])", 180)[A], 9);
        Assert.Equal(Math.Sqrt(20000 / 3.0), h.Vector("stddev_over_time(queue_depth[2m:1m])", 180)[A], 9);
        Assert.Equal(0, h.Vector("stddev_over_time(queue_depth[2m:1m])", 180)[B]);
    }

    [Fact]
    public void ChangesResetsAndInstantFunctions_UseConsecutiveSteps()
    {
        var h = Depth();

        // a: 100 → 300 → 200, two changes and one drop; b never changes.
        Assert.Equal(new Dictionary<string, double> { [A] = 2, [B] = 0 }, h.Vector("changes(queue_depth[2m:1m])", 180));
        Assert.Equal(new Dictionary<string, double> { [A] = 1, [B] = 0 }, h.Vector("resets(queue_depth[2m:1m])", 180));
        Assert.Equal(-100, h.Vector("idelta(queue_depth[2m:1m])", 180)[A]);

        // irate: 300 → 200 is a reset, so the increase is 200, over the 60 s between the steps.
        Assert.Equal(200 / 60.0, h.Vector("irate(queue_depth[2m:1m])", 180)[A], 12);
        Assert.Equal(0, h.Vector("irate(queue_depth[2m:1m])", 180)[B]);

        // One step only: no sample.
        Assert.Empty(h.Vector("irate(queue_depth[30s:1m])", 180));
    }

    [Fact]
    public void DerivAndPredictLinear_AreLeastSquares()
    {
        var h = Depth();

        // x = 0, 60, 120 s; y = 100, 300, 200: cov = 42,000 − 180·600/3 = 6,000, var = 18,000 − 180²/3 = 7,200.
        Assert.Equal(6000 / 7200.0, h.Vector("deriv(queue_depth[2m:1m])", 180)[A], 12);
        Assert.Equal(0, h.Vector("deriv(queue_depth[2m:1m])", 180)[B]);

        // Around T (x = −120, −60, 0): intercept 200 + (5/6)·60 = 250; 60 s later 250 + 50 = 300.
        Assert.Equal(300, h.Vector("predict_linear(queue_depth[2m:1m], 60)", 180)[A], 9);
        Assert.Equal(50, h.Vector("predict_linear(queue_depth[2m:1m], 600)", 180)[B], 12);
    }

    [Fact]
    public void RateIncreaseDelta_ExtrapolateAsPrometheus()
    {
        var h = Depth();

        // [2m:1m]: samples at both edges, nothing to extrapolate. delta 200 − 100; as a counter 300 → 200 is a reset,
        // so the increase is 100 + 300 = 400, over 120 s.
        Assert.Equal(100, h.Vector("delta(queue_depth[2m:1m])", 180)[A], 12);
        Assert.Equal(400, h.Vector("increase(queue_depth[2m:1m])", 180)[A], 12);
        Assert.Equal(400 / 120.0, h.Vector("rate(queue_depth[2m:1m])", 180)[A], 12);

        // [150s:1m]: the window starts 30 s before the first sample, within 1.1 intervals (66 s): extrapolated to it,
        // 120 s of samples stand for 150 s. For the counter, zero lies 120 · 100/400 = 30 s back: no further limit.
        Assert.Equal(125, h.Vector("delta(queue_depth[150s:1m])", 180)[A], 12);
        Assert.Equal(500, h.Vector("increase(queue_depth[150s:1m])", 180)[A], 12);

        // [4m:1m]: 120 s before the first sample (no value at 0 s yet), past the threshold: half an interval, 150 s again.
        Assert.Equal(125, h.Vector("delta(queue_depth[4m:1m])", 180)[A], 12);
        Assert.Equal(0, h.Vector("delta(queue_depth[4m:1m])", 180)[B]);

        var stored = Assert.Throws<PromQLException>(() => h.Engine.Query("delta(queue_depth[5m])", QueryHarness.At(180)));
        Assert.StartsWith("function delta is not supported over a stored range like m[5m]", stored.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void OffsetAndDefaultStep()
    {
        var h = Depth();

        // offset 1m: steps at 0, 60 and 120 s; at 0 nothing has arrived, so a has 100 and 300.
        Assert.Equal(2, h.Vector("count_over_time(queue_depth[2m:1m] offset 1m)", 180)[A]);
        Assert.Equal(300, h.Vector("max_over_time(queue_depth[2m:1m] offset 1m)", 180)[A]);

        // No step: one minute, Prometheus' default evaluation interval.
        Assert.Equal(3, h.Vector("count_over_time(queue_depth[2m:])", 180)[A]);
    }

    [Fact]
    public void SubqueryOfAnExpression_AndAbsentOverTime()
    {
        var h = Depth();

        // sum: 150, 350, 250.
        Assert.Equal(350, h.Vector("max_over_time(sum(queue_depth)[2m:1m])", 180)["{}"]);
        Assert.Empty(h.Vector("absent_over_time(queue_depth[2m:1m])", 180));
        Assert.Equal(new Dictionary<string, double> { ["{}"] = 1 }, h.Vector("absent_over_time(nothing[2m:1m])", 180));
    }

    [Fact]
    public void RefusedForms_SayWhatWorks()
    {
        var h = Depth();

        var stored = Assert.Throws<PromQLException>(() => h.Engine.Query("irate(queue_depth[5m])", QueryHarness.At(180)));
        Assert.Equal("function irate is not supported over a stored range like m[5m]: Vigil keeps 10 s buckets, not samples; over a subquery it is, e.g. irate(m[5m:10s])", stored.Message);

        var bare = Assert.Throws<PromQLException>(() => h.Engine.Query("queue_depth[5m:1m]", QueryHarness.At(180)));
        Assert.StartsWith("subquery queue_depth[5m:1m] is only supported as the argument of a function over time", bare.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void NestedSubqueries_HaveAStepBudget()
    {
        // 10,801 inner steps for each outer step: past a million in all, refused as an execution error.
        var e = Assert.Throws<PromQLException>(() => new QueryHarness().Engine.Query("max_over_time(max_over_time(vector(1)[3h:1s])[3h:1s])", QueryHarness.At(0)));

        Assert.Equal(PromQLException.Execution, e.ErrorType);
        Assert.Equal("the query evaluates more than 1,000,000 subquery steps; use longer steps or shorter ranges", e.Message);
    }

    [Fact]
    public void AtModifier_PinsTheEvaluationTime()
    {
        var h = Depth();
        h.Clock.SetUtcNow(QueryHarness.At(500));
        const double at130 = 1748779200 + 130; // T0 (2025-06-01T12:00:00Z) in unix seconds, plus 130 s

        // At 500 s host a's last point (130 s) is past the 5-minute lookback; pinned at 130 s it is 200.
        Assert.Empty(h.Vector("queue_depth{host=\"a\"}", 500));
        Assert.Equal(200, h.Vector($"queue_depth{{host=\"a\"}} @ {at130}", 500)["queue_depth" + A]);
        Assert.Equal(300, h.Vector($"max_over_time(queue_depth[2m:1m] @ {at130 + 50})", 500)[A]);
        Assert.Equal(200, h.Vector($"max_over_time(queue_depth{{host=\"a\"}}[1m] @ {at130})", 500)[A]);

        var e = Assert.Throws<PromQLException>(() => h.Engine.Query("queue_depth @ 1e300", QueryHarness.At(500)));
        Assert.StartsWith("@ modifier 1E+300 is outside the times Vigil's store holds (unix seconds 0 to ", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AtStartAndEnd_AreTheRangeQuerysBounds()
    {
        var h = Depth();

        // Steps 60, 120, 180 s: unpinned host a is 100, 300, 200; pinned, every step has the end's (start's) value.
        var plain = h.Engine.QueryRange("queue_depth{host=\"a\"}", QueryHarness.At(60), QueryHarness.At(180), TimeSpan.FromMinutes(1));
        var end = h.Engine.QueryRange("queue_depth{host=\"a\"} @ end()", QueryHarness.At(60), QueryHarness.At(180), TimeSpan.FromMinutes(1));
        var start = h.Engine.QueryRange("queue_depth{host=\"a\"} @ start()", QueryHarness.At(60), QueryHarness.At(180), TimeSpan.FromMinutes(1));

        Assert.Equal([100, 300, 200], Assert.Single(plain.Series).Points.Select(p => p.Value));
        Assert.Equal([200, 200, 200], Assert.Single(end.Series).Points.Select(p => p.Value));
        Assert.Equal([100, 100, 100], Assert.Single(start.Series).Points.Select(p => p.Value));

        // An instant query's start and end are its time.
        Assert.Equal(300, h.Vector("queue_depth{host=\"a\"} @ end()", 120)["queue_depth" + A]);
    }
}
