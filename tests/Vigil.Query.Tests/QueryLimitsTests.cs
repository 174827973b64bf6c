using Microsoft.Extensions.Time.Testing;

namespace Vigil.Query.Tests;

/// <summary>Issue #11 item 5: the per-query limits answer Prometheus' error types, on the engine's (fake) clock.</summary>
public sealed class QueryLimitsTests
{
    [Fact]
    public void AQueryPastItsTimeout_IsATimeoutError_WithPrometheusMessage()
    {
        var h = QueryHarness.QueueDepth();
        var engine = new PromQueryEngine(h.Store, PromQueryOptions.From(h.Store.Options), h.Clock);
        // Every read of the clock moves it a minute: the third check of the query lies past the 2 minute default.
        h.Clock.AutoAdvanceAmount = TimeSpan.FromMinutes(1);

        var e = Assert.Throws<PromQLException>(() => engine.Query("sum(queue_depth) + sum(queue_depth)", QueryHarness.At(180)));

        Assert.Equal("query timed out in expression evaluation", e.Message);
        Assert.Equal(PromQLException.Timeout, e.ErrorType);
        Assert.Equal(503, PromQLException.StatusOf(e.ErrorType));
    }

    [Fact]
    public void ARangeQueryPastItsTimeout_StopsBetweenSteps()
    {
        var h = QueryHarness.QueueDepth();
        var engine = new PromQueryEngine(h.Store, PromQueryOptions.From(h.Store.Options) with { Timeout = TimeSpan.FromSeconds(30) }, h.Clock);
        h.Clock.AutoAdvanceAmount = TimeSpan.FromSeconds(1);

        // 1,000 steps read the clock at least twice each: far past 30 reads.
        var e = Assert.Throws<PromQLException>(() => engine.QueryRange("queue_depth", QueryHarness.At(0), QueryHarness.At(999), TimeSpan.FromSeconds(1)));

        Assert.Equal(PromQLException.Timeout, e.ErrorType);
    }

    [Fact]
    public void AQueryWithinItsTimeout_Answers()
    {
        var h = QueryHarness.QueueDepth();
        var engine = new PromQueryEngine(h.Store, PromQueryOptions.From(h.Store.Options), h.Clock);
        h.Clock.AutoAdvanceAmount = TimeSpan.FromSeconds(1);

        var value = Assert.IsType<Evaluation.VectorValue>(engine.Query("sum(queue_depth) + sum(queue_depth)", QueryHarness.At(180)).Value);

        Assert.Equal(2 * (200 + 50), Assert.Single(value.Samples).Value); // host a's last 200, host b's 50 (20 s, within 5 minutes)
    }

    [Fact]
    public void LoadingMoreSamplesThanTheLimit_IsAnExecutionError()
    {
        var h = QueryHarness.QueueDepth(); // two series
        var engine = new PromQueryEngine(h.Store, PromQueryOptions.From(h.Store.Options) with { MaxSamples = 3 }, h.Clock);

        Assert.Equal(2, Assert.IsType<Evaluation.VectorValue>(engine.Query("queue_depth", QueryHarness.At(180)).Value).Samples.Count);
        var e = Assert.Throws<PromQLException>(() => engine.Query("queue_depth + queue_depth", QueryHarness.At(180))); // 4 loaded

        Assert.StartsWith("query processing would load too many samples into memory in query execution", e.Message, StringComparison.Ordinal);
        Assert.Equal(PromQLException.Execution, e.ErrorType);
        Assert.Equal(422, PromQLException.StatusOf(e.ErrorType));
    }

    [Fact]
    public void RangeQueryPoints_CountTowardsTheSampleLimit()
    {
        var h = QueryHarness.QueueDepth();
        // Per step: 2 samples read and 2 points kept; two steps are 8.
        var engine = new PromQueryEngine(h.Store, PromQueryOptions.From(h.Store.Options) with { MaxSamples = 7 }, h.Clock);

        Assert.Single(engine.QueryRange("sum(queue_depth)", QueryHarness.At(170), QueryHarness.At(180), TimeSpan.FromSeconds(10)).Series);
        var e = Assert.Throws<PromQLException>(() => engine.QueryRange("queue_depth", QueryHarness.At(170), QueryHarness.At(180), TimeSpan.FromSeconds(10)));

        Assert.Equal(PromQLException.Execution, e.ErrorType);
    }

    [Fact]
    public void ReturningMoreSeriesThanTheLimit_IsAnExecutionError()
    {
        var h = QueryHarness.QueueDepth();
        var engine = new PromQueryEngine(h.Store, PromQueryOptions.From(h.Store.Options) with { MaxSeries = 1 }, h.Clock);

        Assert.Single(Assert.IsType<Evaluation.VectorValue>(engine.Query("sum(queue_depth)", QueryHarness.At(180)).Value).Samples);
        var instant = Assert.Throws<PromQLException>(() => engine.Query("queue_depth", QueryHarness.At(180)));
        var range = Assert.Throws<PromQLException>(() => engine.QueryRange("queue_depth", QueryHarness.At(170), QueryHarness.At(180), TimeSpan.FromSeconds(10)));

        Assert.Equal("the query returns more than 1 series, the limit per query; narrow its selectors or aggregate", instant.Message);
        Assert.Equal(PromQLException.Execution, range.ErrorType);
    }

    [Fact]
    public void AHugeRegex_IsAnsweredNotAServerError()
    {
        var h = QueryHarness.QueueDepth();
        var alternatives = string.Join("|", Enumerable.Range(0, 20_000).Select(i => "host" + i)) + "|a";

        var result = h.Vector($"queue_depth{{host=~\"{alternatives}\"}}", 180);

        Assert.Equal(["queue_depth{host=\"a\"}"], result.Keys);
    }

    [Fact]
    public void Defaults_AreThoseOfPrometheus()
    {
        var options = new PromQueryOptions();

        Assert.Equal(TimeSpan.FromMinutes(2), options.Timeout);
        Assert.Equal(50_000_000, options.MaxSamples);
        Assert.Equal(11_000, options.MaxPointsPerSeries);
        Assert.Equal(400, PromQLException.StatusOf(PromQLException.BadData));
    }
}
