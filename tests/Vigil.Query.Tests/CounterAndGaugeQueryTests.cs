namespace Vigil.Query.Tests;

/// <summary>
/// PromQL over counters and gauges, against values computed by hand. The store keeps 10 s buckets; a window
/// [w] at time T covers the buckets whose start lies in (T - w, T].
/// </summary>
public sealed class CounterAndGaugeQueryTests
{
    private const string AcmeSuccess = "{auth_outcome=\"success\", tenant_id=\"acme\"}";
    private const string AcmeFailure = "{auth_outcome=\"failure\", tenant_id=\"acme\"}";

    /// <summary>
    /// auth.requests deltas: acme/success 10 @5s + 20 @65s = 30; acme/failure 2 @5s + 4 @125s = 6;
    /// globex/success 60 @15s; globex/failure 6 @15s. Clock at 180 s.
    /// </summary>
    private static QueryHarness AuthRequests()
    {
        var h = new QueryHarness();
        h.Clock.SetUtcNow(QueryHarness.At(180));
        h.Delta("auth.requests", 5, 10, ("tenant.id", "acme"), ("auth.outcome", "success"));
        h.Delta("auth.requests", 65, 20, ("tenant.id", "acme"), ("auth.outcome", "success"));
        h.Delta("auth.requests", 5, 2, ("tenant.id", "acme"), ("auth.outcome", "failure"));
        h.Delta("auth.requests", 125, 4, ("tenant.id", "acme"), ("auth.outcome", "failure"));
        h.Delta("auth.requests", 15, 60, ("tenant.id", "globex"), ("auth.outcome", "success"));
        h.Delta("auth.requests", 15, 6, ("tenant.id", "globex"), ("auth.outcome", "failure"));
        return h;
    }

    private static QueryHarness Memory() => QueryHarness.QueueDepth();

    [Fact]
    public void Rate_IsTheIncreaseOverTheWindowPerSecond_PerSeriesWithoutName()
    {
        var result = AuthRequests().Vector("rate(auth_requests_total[5m])", 180);

        Assert.Equal(4, result.Count);
        Assert.Equal(30 / 300.0, result[AcmeSuccess], 12);
        Assert.Equal(6 / 300.0, result[AcmeFailure], 12);
        Assert.Equal(60 / 300.0, result["{auth_outcome=\"success\", tenant_id=\"globex\"}"], 12);
    }

    [Fact]
    public void Increase_CoversOnlyBucketsStartingInsideTheWindow()
    {
        var h = AuthRequests();

        // At 179 s, [1m] covers buckets 120..170: the 4 failures at 125 s.
        Assert.Equal(4, h.Vector("increase(auth_requests_total{auth_outcome=\"failure\"}[1m])", 179)[AcmeFailure]);

        // At 180 s it covers buckets 130..180: nothing, so no sample at all.
        Assert.Empty(h.Vector("increase(auth_requests_total[1m])", 180));
    }

    [Fact]
    public void BareCounter_IsTheIncreaseOverTheRetentionUpToT_WithItsName()
    {
        var result = AuthRequests().Vector("auth_requests_total{tenant_id=\"acme\"}", 180);

        Assert.Equal(2, result.Count);
        Assert.Equal(30, result["auth_requests_total" + AcmeSuccess]);
        Assert.Equal(6, result["auth_requests_total" + AcmeFailure]);
    }

    [Fact]
    public void BareCounter_AtAnEarlierTime_CountsOnlyWhatHadArrivedByThen()
    {
        // At 59 s the newest bucket is 50..60: the 20 at 65 s is not in yet.
        Assert.Equal(10, AuthRequests().Vector("auth_requests_total{auth_outcome=\"success\",tenant_id=\"acme\"}", 59)["auth_requests_total" + AcmeSuccess]);
    }

    [Fact]
    public void SumBy_GroupsOnTheNamedLabels()
    {
        var result = AuthRequests().Vector("sum by (tenant_id) (rate(auth_requests_total[5m]))", 180);

        Assert.Equal(2, result.Count);
        Assert.Equal(36 / 300.0, result["{tenant_id=\"acme\"}"], 12);
        Assert.Equal(66 / 300.0, result["{tenant_id=\"globex\"}"], 12);
    }

    [Fact]
    public void AvgWithout_AveragesOverTheDroppedLabel()
    {
        var result = AuthRequests().Vector("avg without (auth_outcome) (rate(auth_requests_total[5m]))", 180);

        Assert.Equal((0.1 + 0.02) / 2, result["{tenant_id=\"acme\"}"], 12);
        Assert.Equal((0.2 + 0.02) / 2, result["{tenant_id=\"globex\"}"], 12);
    }

    [Fact]
    public void MinMaxCount_AndTrailingByClause()
    {
        var h = AuthRequests();

        Assert.Equal(2, h.Vector("count(rate(auth_requests_total[5m])) by (tenant_id)", 180)["{tenant_id=\"acme\"}"]);
        Assert.Equal(0.02, h.Vector("min(rate(auth_requests_total[5m]))", 180)["{}"], 12);
        Assert.Equal(0.2, h.Vector("max(rate(auth_requests_total[5m]))", 180)["{}"], 12);
    }

    [Fact]
    public void FailureRatioPerTenant_DividesMatchingGroups()
    {
        var result = AuthRequests().Vector(
            "sum by (tenant_id) (rate(auth_requests_total{auth_outcome=\"failure\"}[5m])) / sum by (tenant_id) (rate(auth_requests_total[5m]))", 180);

        Assert.Equal(6 / 36.0, result["{tenant_id=\"acme\"}"], 12);
        Assert.Equal(6 / 66.0, result["{tenant_id=\"globex\"}"], 12);
    }

    [Fact]
    public void Comparison_FiltersAndBoolReturnsZeroOrOne()
    {
        var h = AuthRequests();
        const string ratio = "sum by (tenant_id) (rate(auth_requests_total{auth_outcome=\"failure\"}[5m])) / sum by (tenant_id) (rate(auth_requests_total[5m]))";

        var filtered = h.Vector(ratio + " > 0.1", 180);
        Assert.Equal(6 / 36.0, Assert.Single(filtered).Value, 12);
        Assert.Equal("{tenant_id=\"acme\"}", filtered.Keys.Single());

        var flags = h.Vector(ratio + " > bool 0.1", 180);
        Assert.Equal(1, flags["{tenant_id=\"acme\"}"]);
        Assert.Equal(0, flags["{tenant_id=\"globex\"}"]);
    }

    [Fact]
    public void OnAndIgnoring_ChooseTheMatchingLabels()
    {
        var h = AuthRequests();

        // Per-series failures over the tenant total, matched on tenant_id only: the result keeps tenant_id.
        var on = h.Vector(
            "sum by (tenant_id, auth_outcome) (increase(auth_requests_total{auth_outcome=\"failure\"}[5m])) / on (tenant_id) sum by (tenant_id) (increase(auth_requests_total[5m]))", 180);
        Assert.Equal(6 / 36.0, on["{tenant_id=\"acme\"}"], 12);

        var ignoring = h.Vector(
            "sum by (tenant_id, auth_outcome) (increase(auth_requests_total{auth_outcome=\"failure\"}[5m])) / ignoring (auth_outcome) sum by (tenant_id) (increase(auth_requests_total[5m]))", 180);
        Assert.Equal(6 / 66.0, ignoring["{tenant_id=\"globex\"}"], 12);
    }

    [Fact]
    public void OneToManyWithoutAggregation_IsRefusedNamingTheGroup()
    {
        var e = Assert.Throws<PromQLException>(() => AuthRequests().Engine.Query(
            "rate(auth_requests_total[5m]) / on (tenant_id) rate(auth_requests_total[5m])", QueryHarness.At(180)));

        Assert.StartsWith("many-to-many matching not allowed: found duplicate series for the match group {tenant_id=\"acme\"} on the right hand side", e.Message);
    }

    [Fact]
    public void ScalarArithmetic_FollowsPrecedence()
    {
        var h = new QueryHarness();

        Assert.Equal(7, h.Scalar("1 + 2 * 3", 0));
        Assert.Equal(9, h.Scalar("(1 + 2) * 3", 0));
        Assert.Equal(-4, h.Scalar("2 - 3 - 3", 0));
        Assert.Equal(1, h.Scalar("2 > bool 1", 0));
    }

    [Fact]
    public void BareGauge_IsTheLastValueWithinFiveMinutes()
    {
        var h = Memory();

        var now = h.Vector("queue_depth", 180);
        Assert.Equal(200, now["queue_depth{host=\"a\"}"]);
        Assert.Equal(50, now["queue_depth{host=\"b\"}"]);

        // At 330 s host b's last point (20 s) is more than 5 m old: stale, gone.
        h.Clock.SetUtcNow(QueryHarness.At(330));
        var later = h.Vector("queue_depth", 330);
        Assert.Equal(200, Assert.Single(later).Value);
    }

    [Fact]
    public void OverTimeFunctions_FoldGaugePointsInTheWindow()
    {
        var h = Memory();
        const string a = "{host=\"a\"}";

        Assert.Equal(200, h.Vector("avg_over_time(queue_depth[5m])", 180)[a]);
        Assert.Equal(100, h.Vector("min_over_time(queue_depth[5m])", 180)[a]);
        Assert.Equal(300, h.Vector("max_over_time(queue_depth[5m])", 180)[a]);
        Assert.Equal(600, h.Vector("sum_over_time(queue_depth[5m])", 180)[a]);
        Assert.Equal(3, h.Vector("count_over_time(queue_depth[5m])", 180)[a]);
        Assert.Equal(200, h.Vector("last_over_time(queue_depth[5m])", 180)["queue_depth" + a]);
        Assert.Equal(250, h.Vector("avg_over_time(queue_depth[2m])", 180)[a]);
    }

    [Fact]
    public void LastOverTime_KeepsTheMetricName_AsPrometheus()
    {
        var h = Memory();

        // Prometheus drops __name__ from range functions except last_over_time, whose value is one of the series' samples
        // (found by the differential test against a real Prometheus).
        var last = h.Vector("last_over_time(queue_depth[5m])", 180);
        var max = h.Vector("max_over_time(queue_depth[5m])", 180);

        Assert.Equal(["queue_depth{host=\"a\"}", "queue_depth{host=\"b\"}"], last.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(["{host=\"a\"}", "{host=\"b\"}"], max.Keys.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void VectorScalarArithmetic_DropsTheName()
    {
        var result = Memory().Vector("queue_depth{host=\"a\"} / 1024 * 2", 180);

        Assert.Equal(200 / 1024.0 * 2, result["{host=\"a\"}"], 12);
    }

    [Fact]
    public void RegexAndNegativeMatchers_UsePrometheusLabelNames()
    {
        var h = AuthRequests();

        Assert.Equal(2, h.Vector("auth_requests_total{tenant_id=~\"ac.*\"}", 180).Count);
        Assert.Equal(2, h.Vector("auth_requests_total{tenant_id!~\"ac.*\"}", 180).Count);
        Assert.Equal(2, h.Vector("auth_requests_total{auth_outcome!=\"success\"}", 180).Count);
    }

    [Fact]
    public void CostPerRun_DividesTwoCountersPerTenant()
    {
        var h = new QueryHarness();
        h.Clock.SetUtcNow(QueryHarness.At(120));
        h.Send(
            QueryHarness.DeltaSum("ai.run.cost", "USD", 30, 1.5, ("tenant.id", "acme"), ("gen_ai.request.model", "m1")),
            QueryHarness.DeltaSum("ai.run.cost", "USD", 40, 0.5, ("tenant.id", "acme"), ("gen_ai.request.model", "m2")),
            QueryHarness.DeltaSum("ai.runs", "{run}", 30, 4, ("tenant.id", "acme"), ("ai.run.status", "succeeded")));

        var result = h.Vector("sum by (tenant_id) (increase(ai_run_cost_USD_total[5m])) / sum by (tenant_id) (increase(ai_runs_total[5m]))", 120);

        Assert.Equal(2.0 / 4, result["{tenant_id=\"acme\"}"], 12);
    }

    [Fact]
    public void UnknownMetric_IsAnEmptyVector()
    {
        Assert.Empty(AuthRequests().Vector("rate(nothing_here_total[5m])", 180));
    }

    [Fact]
    public void RateOfAGauge_IsRefusedWithAHint()
    {
        var e = Assert.Throws<PromQLException>(() => Memory().Engine.Query("rate(queue_depth[5m])", QueryHarness.At(180)));

        Assert.Equal("rate does not apply to queue_depth, a gauge; use avg_over_time, min_over_time, max_over_time, last_over_time, sum_over_time or count_over_time", e.Message);
    }

    [Fact]
    public void WindowShorterThanTheResolution_IsRefusedByTheStore()
    {
        var e = Assert.Throws<PromQLException>(() => AuthRequests().Engine.Query("rate(auth_requests_total[5s])", QueryHarness.At(180)));

        Assert.Contains("shorter than the store resolution", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Offset_MovesTheEvaluationTimeBack()
    {
        // offset 1m at 179 s evaluates at 119 s: buckets 60..110 hold the 20 at 65 s.
        Assert.Equal(20, AuthRequests().Vector("increase(auth_requests_total{auth_outcome=\"success\",tenant_id=\"acme\"}[1m] offset 1m)", 179)["{auth_outcome=\"success\", tenant_id=\"acme\"}"]);
    }

    [Fact]
    public void RegexThatTimesOut_IsAnExecutionErrorNamingTheMatcher()
    {
        var h = new QueryHarness();
        h.Clock.SetUtcNow(QueryHarness.At(180));
        // (a+)+$ backtracks exponentially on a run of a's that does not end the value: it meets the match timeout.
        h.Gauge("queue.depth", 130, 1, ("host", new string('a', 64) + "!"));

        var e = Assert.Throws<PromQLException>(() => h.Engine.Query("queue_depth{host=~\"(a+)+$\"}", QueryHarness.At(180)));

        Assert.Equal(PromQLException.Execution, e.ErrorType);
        Assert.StartsWith("regex host=~\"(a+)+$\" timed out after ", e.Message, StringComparison.Ordinal);
    }
}
