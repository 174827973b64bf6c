using Google.Protobuf;
using Vigil.Otlp.Proto.Common;
using Vigil.Otlp.Proto.Metrics;
using Vigil.Otlp.Wire;
using static Vigil.Otlp.Tests.Otlp;

namespace Vigil.Otlp.Tests;

/// <summary>
/// The reader refuses points whose content the OTLP data model forbids or the store cannot take,
/// identically in the check pass (before the WAL) and in the apply pass (live and on replay).
/// </summary>
public sealed class PointValidationTests
{
    private sealed record Outcome(RecordingSink Sink, int CheckRefused, int PointCount, string? FirstRefusal);

    /// <summary>
    /// Both passes, as ingest runs them: check without a sink, then apply into one. The apply pass must
    /// refuse exactly as many points as the check (attribute text through the sink, the rest in the reader).
    /// </summary>
    private static Outcome Read(byte[] request)
    {
        var reader = new OtlpMetricsReader();
        reader.Read(request, sink: null);
        var checkRefused = reader.RefusedPointCount;
        var points = reader.PointCount;
        var first = reader.DescribeFirstRefusal();
        var sink = new RecordingSink();
        reader.Read(request, sink);
        Assert.Equal(checkRefused, sink.Refusals.Count);
        Assert.Equal(points, sink.Points.Count + sink.Refusals.Count);
        return new Outcome(sink, checkRefused, points, first);
    }

    /// <summary>The point must be refused in both passes, with a reason naming <paramref name="field"/>, and never reach the sink.</summary>
    private static string AssertRefused(byte[] request, string field)
    {
        var outcome = Read(request);
        Assert.Empty(outcome.Sink.Points);
        Assert.Equal(1, outcome.CheckRefused);
        var reason = Assert.Single(outcome.Sink.Refusals);
        Assert.Contains(field, reason, StringComparison.Ordinal);
        return reason;
    }

    private static void AssertAccepted(byte[] request)
    {
        var outcome = Read(request);
        Assert.Empty(outcome.Sink.Refusals);
        Assert.Single(outcome.Sink.Points);
    }

    private static ExponentialHistogramDataPoint ExpPoint(int scale, int offset, ulong[] positive, int negativeOffset = 0, ulong[]? negative = null, ulong zeroCount = 0)
    {
        var point = new ExponentialHistogramDataPoint
        {
            TimeUnixNano = Time,
            Scale = scale,
            ZeroCount = zeroCount,
            Count = zeroCount + positive.Aggregate(0ul, (a, c) => a + c) + (negative ?? []).Aggregate(0ul, (a, c) => a + c),
            Sum = 1,
            Positive = new ExponentialHistogramDataPoint.Types.Buckets { Offset = offset },
            Negative = new ExponentialHistogramDataPoint.Types.Buckets { Offset = negativeOffset },
        };
        point.Positive.BucketCounts.Add(positive);
        point.Negative.BucketCounts.Add(negative ?? []);
        return point;
    }

    private static byte[] ExpRequest(params ExponentialHistogramDataPoint[] points)
    {
        var histogram = new ExponentialHistogram { AggregationTemporality = AggregationTemporality.Delta };
        histogram.DataPoints.Add(points);
        return Request(new Metric { Name = "e", ExponentialHistogram = histogram });
    }

    private static HistogramDataPoint HistPoint(double[] bounds, ulong[] counts, ulong? count = null)
    {
        var point = new HistogramDataPoint { TimeUnixNano = Time, Count = count ?? counts.Aggregate(0ul, (a, c) => a + c), Sum = 1 };
        point.ExplicitBounds.Add(bounds);
        point.BucketCounts.Add(counts);
        return point;
    }

    private static byte[] HistRequest(HistogramDataPoint point)
    {
        var histogram = new Histogram { AggregationTemporality = AggregationTemporality.Delta };
        histogram.DataPoints.Add(point);
        return Request(new Metric { Name = "h", Histogram = histogram });
    }

    private static byte[] SummaryRequest(params (double Quantile, double Value)[] quantiles)
    {
        var point = new SummaryDataPoint { TimeUnixNano = Time, Count = 4, Sum = 10 };
        foreach (var (q, v) in quantiles)
        {
            point.QuantileValues.Add(new SummaryDataPoint.Types.ValueAtQuantile { Quantile = q, Value = v });
        }

        return Request(new Metric { Name = "s", Summary = new Summary { DataPoints = { point } } });
    }

    // --- exponential histograms ---

    [Fact]
    public void ExponentialOffsetAtIntMax_IsRefusedInBothPasses_NamingPositiveOffset()
    {
        // The request that bricked start-up: offset 2^31-1 with three buckets overflows every index after the first.
        AssertRefused(ExpRequest(ExpPoint(scale: 0, offset: int.MaxValue, positive: [1, 1, 1])), "positive.offset");
    }

    [Fact]
    public void ExponentialNegativeOffsetAtIntMin_IsRefused_NamingNegativeOffset()
    {
        AssertRefused(ExpRequest(ExpPoint(scale: 0, offset: 0, positive: [], negativeOffset: int.MinValue, negative: [2])), "negative.offset");
    }

    // Bucket i at scale s is (2^(i/2^s), 2^((i+1)/2^s)]. It holds a double when its lower end is below
    // 2^1024 (i/2^s < 1024) and its upper end reaches the smallest subnormal 2^-1074 ((i+1)/2^s >= -1074).
    [Theory]
    [InlineData(0, 1023, true)]
    [InlineData(0, 1024, false)]
    [InlineData(0, -1075, true)]                    // (2^-1075, 2^-1074]
    [InlineData(0, -1076, false)]
    [InlineData(20, (1024 << 20) - 1, true)]
    [InlineData(20, 1024 << 20, false)]
    [InlineData(20, (-1074 << 20) - 1, true)]
    [InlineData(20, (-1074 << 20) - 2, false)]
    [InlineData(-10, 0, true)]                      // (1, 2^1024]
    [InlineData(-10, 1, false)]
    [InlineData(-10, -2, true)]                     // (2^-2048, 2^-1024] holds the subnormals
    [InlineData(-10, -3, false)]
    public void ExponentialBucketIndexes_OutsideWhatADoubleCanHold_AreRefused(int scale, int index, bool accepted)
    {
        // One bucket at the index on each side in turn.
        var positive = ExpRequest(ExpPoint(scale, index, [1]));
        var negative = ExpRequest(ExpPoint(scale, 0, [], negativeOffset: index, negative: [1]));
        if (accepted)
        {
            AssertAccepted(positive);
            AssertAccepted(negative);
        }
        else
        {
            AssertRefused(positive, "positive.offset");
            AssertRefused(negative, "negative.offset");
        }
    }

    [Fact]
    public void ExponentialLastBucket_PastTheRange_IsRefusedEvenWhenTheOffsetFits()
    {
        // Offset 1020 fits scale 0, but five buckets reach index 1024.
        AssertRefused(ExpRequest(ExpPoint(scale: 0, offset: 1020, positive: [1, 1, 1, 1, 1])), "positive.offset");
        AssertAccepted(ExpRequest(ExpPoint(scale: 0, offset: 1019, positive: [1, 1, 1, 1, 1])));
    }

    [Fact]
    public void ExponentialOffset_WithNoBuckets_IsIgnored()
    {
        // An empty side has no index at all, whatever its offset says.
        AssertAccepted(ExpRequest(ExpPoint(scale: 0, offset: int.MaxValue, positive: [], zeroCount: 2)));
    }

    [Theory]
    [InlineData(-11)]
    [InlineData(21)]
    [InlineData(int.MinValue)]
    public void ExponentialScale_OutsideTheSpec_IsRefused(int scale)
    {
        AssertRefused(ExpRequest(ExpPoint(scale, 0, [1])), "scale");
    }

    [Fact]
    public void ExponentialCount_NotZeroCountPlusBuckets_IsRefused()
    {
        var point = ExpPoint(scale: 0, offset: 0, positive: [1, 2], negative: [3], zeroCount: 4);
        point.Count += 1;
        AssertRefused(ExpRequest(point), "count");
    }

    [Fact]
    public void ExponentialBucketCounts_ThatOverflowWhenAdded_AreRefused()
    {
        // 2^63 + 2^63 wraps to 0 in 64 bits; the count 0 must not be taken as their sum.
        var point = ExpPoint(scale: 0, offset: 0, positive: [1ul << 63, 1ul << 63]);
        Assert.Equal(0ul, point.Count);
        AssertRefused(ExpRequest(point), "count");
    }

    [Fact]
    public void ExponentialCount_AboveInt64_IsRefused()
    {
        var big = (ulong)long.MaxValue + 1;
        AssertRefused(ExpRequest(ExpPoint(scale: 0, offset: 0, positive: [big])), "count");
    }

    [Theory]
    [InlineData(-0.5)]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    public void ExponentialZeroThreshold_NegativeOrNotFinite_IsRefused(double threshold)
    {
        var point = ExpPoint(scale: 0, offset: 0, positive: [1]);
        point.ZeroThreshold = threshold;
        AssertRefused(ExpRequest(point), "zero_threshold");
    }

    [Fact]
    public void ExponentialBuckets_MoreThanTheLimit_AreRefused()
    {
        // At scale 4 the indexes of doubles span [-1074·16 - 1, 1024·16 - 1]: room for the limit from -1000 on.
        var positive = Enumerable.Repeat(1ul, OtlpPointRules.MaxBuckets + 1).ToArray();
        AssertRefused(ExpRequest(ExpPoint(scale: 4, offset: -1000, positive: positive)), "positive.bucket_counts");
        AssertAccepted(ExpRequest(ExpPoint(scale: 4, offset: -1000, positive: positive[1..])));
    }

    [Theory]
    [InlineData(double.NaN, "sum")]
    [InlineData(double.NegativeInfinity, "sum")]
    public void ExponentialSum_NotFinite_IsRefused(double sum, string field)
    {
        var point = ExpPoint(scale: 0, offset: 0, positive: [1]);
        point.Sum = sum;
        AssertRefused(ExpRequest(point), field);
    }

    [Fact]
    public void ExponentialMinOrMax_NaN_IsRefused()
    {
        var min = ExpPoint(scale: 0, offset: 0, positive: [1]);
        min.Min = double.NaN;
        AssertRefused(ExpRequest(min), "min");
        var max = ExpPoint(scale: 0, offset: 0, positive: [1]);
        max.Max = double.NaN;
        AssertRefused(ExpRequest(max), "max");
    }

    // --- explicit-bucket histograms ---

    [Fact]
    public void HistogramCount_NotTheSumOfItsBuckets_IsRefused()
    {
        AssertRefused(HistRequest(HistPoint([1, 2], [1, 2, 3], count: 7)), "count");
        AssertAccepted(HistRequest(HistPoint([1, 2], [1, 2, 3])));
    }

    [Theory]
    [InlineData(new[] { 1.0, double.NaN })]
    [InlineData(new[] { 2.0, 1.0 })]
    [InlineData(new[] { 1.0, 1.0 })]
    [InlineData(new[] { 1.0, double.PositiveInfinity })]
    [InlineData(new[] { double.NegativeInfinity, 1.0 })]
    public void HistogramBounds_NotStrictlyIncreasingFiniteNumbers_AreRefused(double[] bounds)
    {
        AssertRefused(HistRequest(HistPoint(bounds, [1, 1, 1])), "explicit_bounds");
    }

    [Fact]
    public void HistogramBounds_WithoutBucketCounts_AreRefused()
    {
        AssertRefused(HistRequest(HistPoint([1, 2], [], count: 3)), "bucket_counts");
    }

    [Fact]
    public void HistogramBucketCounts_NotOneMoreThanBounds_AreRefused()
    {
        AssertRefused(HistRequest(HistPoint([1, 2], [1, 2])), "bucket_counts");
    }

    [Fact]
    public void Histogram_WithoutAnyBuckets_KeepsItsCountAndSum()
    {
        // The data model allows a histogram without a distribution: count and sum only.
        AssertAccepted(HistRequest(HistPoint([], [], count: 9)));
    }

    [Fact]
    public void HistogramBuckets_MoreThanTheLimit_AreRefused()
    {
        var bounds = Enumerable.Range(0, OtlpPointRules.MaxBuckets).Select(i => (double)i).ToArray();
        var counts = new ulong[OtlpPointRules.MaxBuckets + 1];
        AssertRefused(HistRequest(HistPoint(bounds, counts)), "bucket_counts");
        AssertAccepted(HistRequest(HistPoint(bounds[1..], counts[1..])));
    }

    [Fact]
    public void HistogramSumMinMax_NotFinite_AreRefused()
    {
        var sum = HistPoint([1], [1, 1]);
        sum.Sum = double.NaN;
        AssertRefused(HistRequest(sum), "sum");
        var min = HistPoint([1], [1, 1]);
        min.Min = double.NaN;
        AssertRefused(HistRequest(min), "min");
        var max = HistPoint([1], [1, 1]);
        max.Max = double.PositiveInfinity;
        AssertRefused(HistRequest(max), "max");
    }

    [Fact]
    public void HistogramWithNoRecordedValue_IsPassedOnWithoutCheckingItsValues()
    {
        // A staleness marker carries no value: its (meaningless) fields are not a reason to refuse it.
        var marker = HistPoint([2, 1], [5], count: 0);
        marker.Flags = 1;
        marker.Sum = double.NaN;
        AssertAccepted(HistRequest(marker));
    }

    // --- summaries ---

    [Theory]
    [InlineData(-0.01)]
    [InlineData(1.01)]
    [InlineData(double.NaN)]
    public void SummaryQuantile_OutsideZeroToOne_IsRefused(double quantile)
    {
        AssertRefused(SummaryRequest((0.5, 1), (quantile, 2)), "quantile_values.quantile");
    }

    [Fact]
    public void SummaryQuantiles_ZeroAndOne_AreAccepted()
    {
        AssertAccepted(SummaryRequest((0, 1), (1, 9)));
    }

    [Fact]
    public void SummaryQuantileValue_NaN_IsRefused()
    {
        AssertRefused(SummaryRequest((0.5, double.NaN)), "quantile_values.value");
    }

    [Fact]
    public void SummarySum_NaN_IsRefused()
    {
        var point = new SummaryDataPoint { TimeUnixNano = Time, Count = 1, Sum = double.NaN };
        AssertRefused(Request(new Metric { Name = "s", Summary = new Summary { DataPoints = { point } } }), "sum");
    }

    // --- sums and gauges ---

    [Theory]
    [InlineData(AggregationTemporality.Delta)]
    [InlineData(AggregationTemporality.Cumulative)]
    public void MonotonicSum_NegativeValue_IsRefused(AggregationTemporality temporality)
    {
        AssertRefused(Request(Sum("c", temporality, monotonic: true, Int(-1))), "as_int");
        AssertRefused(Request(Sum("c", temporality, monotonic: true, Double(-0.5))), "as_double");
        AssertAccepted(Request(Sum("c", temporality, monotonic: true, Int(0))));
    }

    [Fact]
    public void NonMonotonicSum_NegativeValue_IsAccepted()
    {
        AssertAccepted(Request(Sum("updown", AggregationTemporality.Delta, monotonic: false, Int(-5))));
    }

    [Theory]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    public void GaugeValue_NotFinite_IsRefused(double value)
    {
        AssertRefused(Request(Gauge("g", Double(value))), "as_double");
    }

    // --- text: names and attributes ---

    private static readonly byte[] InvalidUtf8 = [0x61, 0xC3, 0x28]; // 'a', then a lead byte followed by a non-continuation

    private static byte[] GaugeMetricNamed(byte[] name, byte[] point) =>
        RequestWithMetric(Fields(Message(1, name), Message(5, Fields(Message(1, point)))));

    private static byte[] IntPoint(params Action<CodedOutputStream>[] attributes) =>
        Fields([Fixed64(3, Time), Fixed64(6, 1), .. attributes]);

    private static Action<CodedOutputStream> RawAttribute(int field, byte[] key, byte[] stringValue) =>
        Message(field, Fields(Message(1, key), Message(2, Fields(Message(1, stringValue)))));

    [Fact]
    public void MetricName_NotValidUtf8_IsRefused()
    {
        var outcome = Read(GaugeMetricNamed(InvalidUtf8, IntPoint()));
        Assert.Empty(outcome.Sink.Points);
        Assert.Contains("name", Assert.Single(outcome.Sink.Refusals), StringComparison.Ordinal);
    }

    [Fact]
    public void MetricName_WithNul_IsRefused()
    {
        AssertRefused(Request(Gauge("bad\0name", Int(1))), "name");
    }

    [Fact]
    public void MetricUnit_NotValidUtf8_IsRefused()
    {
        var metric = Fields(String(1, "g"), Message(3, InvalidUtf8), Message(5, Fields(Message(1, IntPoint()))));
        AssertRefused(RequestWithMetric(metric), "unit");
    }

    [Fact]
    public void AttributeKey_NotValidUtf8_IsRefused()
    {
        AssertRefused(GaugeMetricNamed("g"u8.ToArray(), IntPoint(RawAttribute(7, InvalidUtf8, "v"u8.ToArray()))), "attributes");
    }

    [Fact]
    public void AttributeValue_NotValidUtf8_OrWithNul_IsRefused()
    {
        AssertRefused(GaugeMetricNamed("g"u8.ToArray(), IntPoint(RawAttribute(7, "k"u8.ToArray(), InvalidUtf8))), "attributes");
        AssertRefused(Request(Gauge("g", Int(1, Attr("k", "a\0b")))), "attributes");
    }

    [Fact]
    public void NestedAttributeString_WithNul_IsRefused()
    {
        var array = new ArrayValue { Values = { new AnyValue { StringValue = "ok" }, new AnyValue { StringValue = "x\0" } } };
        var kvlist = new KeyValueList { Values = { Attr("inner\0", "v") } };
        AssertRefused(Request(Gauge("g", Int(1, Attr("arr", new AnyValue { ArrayValue = array })))), "attributes");
        AssertRefused(Request(Gauge("g", Int(1, Attr("kv", new AnyValue { KvlistValue = kvlist })))), "attributes");
    }

    [Fact]
    public void BytesAttribute_WithAnyBytes_IsAccepted()
    {
        // Bytes values are not text: a NUL or any other byte is their business.
        AssertAccepted(Request(Gauge("g", Int(1, Attr("raw", new AnyValue { BytesValue = ByteString.CopyFrom(0, 0xFF, 0xC3) })))));
    }

    [Fact]
    public void ResourceAttribute_WithNul_RefusesEveryPointOfTheResource()
    {
        var outcome = Read(Request([Attr("service.name", "api\0")], Gauge("a", Int(1), Int(2)), Gauge("b", Int(3))));

        Assert.Empty(outcome.Sink.Points);
        Assert.Equal(3, outcome.CheckRefused);
        Assert.All(outcome.Sink.Refusals, r => Assert.Contains("resource.attributes", r, StringComparison.Ordinal));
    }

    [Fact]
    public void ValidText_InEveryPlace_IsAccepted()
    {
        AssertAccepted(Request([Attr("service.name", "café ☕")], Gauge("température", Int(1, Attr("clé", "värde")))));
    }

    // --- both passes agree; the first refusal is located ---

    [Fact]
    public void CheckPass_LocatesTheFirstRefusal_ByFieldPath()
    {
        var good = Gauge("ok", Int(1));
        var histogram = new ExponentialHistogram { AggregationTemporality = AggregationTemporality.Delta };
        histogram.DataPoints.Add(ExpPoint(scale: 0, offset: 0, positive: [1]));
        histogram.DataPoints.Add(ExpPoint(scale: 0, offset: int.MaxValue, positive: [1, 1, 1]));
        var request = Request(good, new Metric { Name = "e", ExponentialHistogram = histogram });

        var outcome = Read(request);

        Assert.Equal(3, outcome.PointCount);
        Assert.Equal(1, outcome.CheckRefused);
        Assert.Equal(2, outcome.Sink.Points.Count);
        Assert.StartsWith("resource_metrics[0].scope_metrics[0].metrics[1].exponential_histogram.data_points[1]: positive.offset", outcome.FirstRefusal, StringComparison.Ordinal);
    }

    [Fact]
    public void CleanRequest_HasNoFirstRefusal()
    {
        var outcome = Read(Request(Gauge("g", Int(1))));

        Assert.Equal(0, outcome.CheckRefused);
        Assert.Null(outcome.FirstRefusal);
    }
}
