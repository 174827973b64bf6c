using Vigil.Otlp.Proto.Common;
using Vigil.Otlp.Proto.Metrics;
using Vigil.Query.Evaluation;
using Vigil.Storage;

namespace Vigil.Query.Tests;

/// <summary>timestamp, histogram_count/_sum/_fraction, limitk and limit_ratio (issue #11 item 1), against hand-worked values.</summary>
public sealed class NewConstructTests
{
    [Fact]
    public void Timestamp_OfASelector_IsTheNewestBucketWithAPoint_PerSeries()
    {
        var h = QueryHarness.QueueDepth(); // host a: points at 10, 70, 130 s; host b: 20 s; clock 180 s

        var stamps = h.Vector("timestamp(queue_depth)", 180);

        var t0 = QueryHarness.T0.ToUnixTimeSeconds();
        Assert.Equal(t0 + 130, stamps["{host=\"a\"}"]);
        Assert.Equal(t0 + 20, stamps["{host=\"b\"}"]);
        Assert.Equal(2, stamps.Count);
    }

    [Fact]
    public void Timestamp_FollowsOffset_AndParentheses()
    {
        var h = QueryHarness.QueueDepth();

        var stamps = h.Vector("timestamp((queue_depth{host=\"a\"} offset 1m))", 180); // at 120 s: the point at 70 s

        Assert.Equal(QueryHarness.T0.ToUnixTimeSeconds() + 70, stamps["{host=\"a\"}"]);
    }

    [Fact]
    public void Timestamp_OfAnExpression_IsTheEvaluationTime()
    {
        var h = QueryHarness.QueueDepth();

        var stamps = h.Vector("timestamp(queue_depth * 2)", 175);

        Assert.Equal(QueryHarness.T0.ToUnixTimeSeconds() + 175, stamps["{host=\"a\"}"]);
        Assert.Equal(QueryHarness.T0.ToUnixTimeSeconds() + 175, stamps["{host=\"b\"}"]);
    }

    [Fact]
    public void Timestamp_OfACounter_IsItsNewestBucket()
    {
        var h = new QueryHarness();
        h.Clock.SetUtcNow(QueryHarness.At(200));
        h.Delta("jobs", 40, 1, ("queue", "q"));
        h.Delta("jobs", 95, 2, ("queue", "q")); // lands in the bucket starting at 90 s

        var stamps = h.Vector("timestamp(jobs_total)", 200);

        Assert.Equal(QueryHarness.T0.ToUnixTimeSeconds() + 90, stamps["{queue=\"q\"}"]);
    }

    [Fact]
    public void Timestamp_OfAHistogramSeries_IsRefusedByName()
    {
        var h = HistogramData();

        var e = Assert.Throws<PromQLException>(() => h.Engine.Query("timestamp(latency_seconds_count)", QueryHarness.At(60)));

        Assert.StartsWith("function timestamp is not supported over latency_seconds_count", e.Message, StringComparison.Ordinal);
        Assert.Equal(PromQLException.BadData, e.ErrorType);
    }

    [Fact]
    public void HistogramCountAndSum_OverAnExponentialHistogram_AreItsObservationCountAndSum()
    {
        var h = new QueryHarness();
        h.Clock.SetUtcNow(QueryHarness.At(60));
        // Two tenants, delta points at 30 s: a 3 + 1 = 4 observations summing 12, b 2 observations summing 5.
        h.Send(Exponential("wait", "s", 30, [3, 1], 12, "a"), Exponential("wait", "s", 30, [2], 5, "b"));

        var count = h.Vector("histogram_count(increase(wait_seconds[1m]))", 60);
        Assert.Equal(4, count["{tenant_id=\"a\"}"]);
        Assert.Equal(2, count["{tenant_id=\"b\"}"]);

        var sumRate = h.Vector("histogram_sum(rate(wait_seconds[1m]))", 60);
        Assert.Equal(12.0 / 60, sumRate["{tenant_id=\"a\"}"], 12);

        var total = h.Vector("histogram_count(sum(rate(wait_seconds[1m])))", 60);
        Assert.Equal(6.0 / 60, total["{}"], 12);
    }

    [Fact]
    public void HistogramFunctions_OverFloatSeries_AreEmpty_AsPrometheus()
    {
        var h = HistogramData();

        Assert.Empty(h.Vector("histogram_count(rate(latency_seconds_count[1m]))", 60));
        Assert.Empty(h.Vector("histogram_sum(latency_seconds_sum)", 60));
        Assert.Empty(h.Vector("histogram_fraction(0, 0.5, rate(latency_seconds_count[1m]))", 60));
    }

    [Fact]
    public void HistogramFraction_OverAnExponentialHistogram_IsRefusedByName()
    {
        var h = new QueryHarness();
        h.Clock.SetUtcNow(QueryHarness.At(60));
        h.Send(Exponential("wait", "s", 30, [3, 1], 12, "a"));

        var e = Assert.Throws<PromQLException>(() => h.Engine.Query("histogram_fraction(0, 1, rate(wait_seconds[1m]))", QueryHarness.At(60)));

        Assert.StartsWith("function histogram_fraction is not supported over an exponential histogram", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Limitk_KeepsTheFirstKSeriesOfEachGroup_InLabelOrder_Whole()
    {
        var h = Hosts();

        var two = h.Vector("limitk by (dc) (1, load)", 180);

        // dc x holds hosts a and b: a comes first; dc y holds c only.
        Assert.Equal(new Dictionary<string, double> { ["load{dc=\"x\", host=\"a\"}"] = 4, ["load{dc=\"y\", host=\"c\"}"] = 9 }, two);
        Assert.Equal(3, h.Vector("limitk(5, load)", 180).Count);
        Assert.Empty(h.Vector("limitk(0, load)", 180));
    }

    [Fact]
    public void LimitRatio_PicksByPrometheusLabelHash_AndNegativeRatiosPickTheRest()
    {
        var h = Hosts();
        // libxxhash's XXH64 of "__name__\xffload\xffdc\xffx\xffhost\xffa\xff" … / (2^64 − 1): a 0.423, b 0.517, c 0.997.
        var half = h.Vector("limit_ratio(0.5, load)", 180);
        var rest = h.Vector("limit_ratio(-0.5, load)", 180);

        Assert.Equal(["load{dc=\"x\", host=\"a\"}"], half.Keys);
        Assert.Equal(["load{dc=\"x\", host=\"b\"}", "load{dc=\"y\", host=\"c\"}"], rest.Keys.Order());
        Assert.Equal(["load{dc=\"x\", host=\"a\"}", "load{dc=\"x\", host=\"b\"}"], h.Vector("limit_ratio(0.6, load)", 180).Keys.Order());
        Assert.Equal(3, h.Vector("limit_ratio(1, load)", 180).Count);
        Assert.Equal(3, h.Vector("limit_ratio(7, load)", 180).Count); // clamped to 1
        Assert.Empty(h.Vector("limit_ratio(0, load)", 180));
    }

    [Fact]
    public void LabelHash_IsPrometheusLabelsHash()
    {
        // libxxhash XXH64 of "__name__\xffqueue_depth\xffqueue\xfffast\xff".
        var labels = Labels.From([new("queue", "fast"), new(Labels.MetricName, "queue_depth")]);

        Assert.Equal(0x381273A58B94A595UL, LabelHash.Of(labels));
    }

    private static QueryHarness Hosts()
    {
        var h = new QueryHarness();
        h.Clock.SetUtcNow(QueryHarness.At(180));
        h.Gauge("load", 170, 4, ("host", "a"), ("dc", "x"));
        h.Gauge("load", 170, -2.5, ("host", "b"), ("dc", "x"));
        h.Gauge("load", 170, 9, ("host", "c"), ("dc", "y"));
        return h;
    }

    private static QueryHarness HistogramData()
    {
        var h = new QueryHarness();
        h.Clock.SetUtcNow(QueryHarness.At(60));
        h.Send(QueryHarness.Histogram("latency", "s", QueryHarness.HistogramPoint(29, 30, [0.5, 1], [2, 1, 1], 3, "a")));
        return h;
    }

    private static Metric Exponential(string name, string unit, double seconds, ulong[] positive, double sum, string tenant)
    {
        var point = new ExponentialHistogramDataPoint
        {
            StartTimeUnixNano = WindowStore.ToUnixNano(QueryHarness.At(seconds - 1)),
            TimeUnixNano = WindowStore.ToUnixNano(QueryHarness.At(seconds)),
            Scale = 0,
            Sum = sum,
            Count = (ulong)positive.Sum(c => (long)c),
            Positive = new ExponentialHistogramDataPoint.Types.Buckets { Offset = 0 },
        };
        point.Positive.BucketCounts.AddRange(positive);
        point.Attributes.Add(new KeyValue { Key = "tenant.id", Value = new AnyValue { StringValue = tenant } });
        var histogram = new ExponentialHistogram { AggregationTemporality = AggregationTemporality.Delta };
        histogram.DataPoints.Add(point);
        return new Metric { Name = name, Unit = unit, ExponentialHistogram = histogram };
    }
}
