using Google.Protobuf;
using Vigil.Otlp.Proto.Common;
using Vigil.Otlp.Proto.Metrics;
using Vigil.Otlp.Wire;
using Vigil.Tests.Shared;
using static Vigil.Otlp.Tests.Otlp;

namespace Vigil.Otlp.Tests;

public sealed class OtlpMetricsReaderTests
{
    private static RecordingSink Read(byte[] request)
    {
        var reader = new OtlpMetricsReader();
        reader.Read(request, sink: null);
        var sink = new RecordingSink();
        reader.Read(request, sink);
        return sink;
    }

    [Fact]
    public void Gauge_IntAndDoublePoints_AreDecodedWithTimesAndFlags()
    {
        var intPoint = Int(-42);
        var doublePoint = Double(2.5);
        var sink = Read(Request(Gauge("queue.depth", intPoint, doublePoint)));

        var metric = Assert.Single(sink.Metrics);
        Assert.Equal(new RecordedMetric("queue.depth", "1", OtlpMetricType.Gauge, Temporality.Unspecified, false), metric);
        Assert.Equal(2, sink.Points.Count);
        Assert.Equal(-42, sink.Points[0].Value);
        Assert.Equal(2.5, sink.Points[1].Value);
        Assert.Equal(Start, sink.Points[0].Start);
        Assert.Equal(Time, sink.Points[0].Time);
        Assert.Empty(sink.Refusals);
    }

    [Theory]
    [InlineData(AggregationTemporality.Cumulative, true, Temporality.Cumulative)]
    [InlineData(AggregationTemporality.Cumulative, false, Temporality.Cumulative)]
    [InlineData(AggregationTemporality.Delta, true, Temporality.Delta)]
    [InlineData(AggregationTemporality.Delta, false, Temporality.Delta)]
    public void Sum_TemporalityAndMonotonicity_AreDecoded(AggregationTemporality temporality, bool monotonic, Temporality expected)
    {
        var sink = Read(Request(Sum("auth.requests", temporality, monotonic, Int(7), Double(0.25))));

        var metric = Assert.Single(sink.Metrics);
        Assert.Equal(OtlpMetricType.Sum, metric.Type);
        Assert.Equal(expected, metric.Temporality);
        Assert.Equal(monotonic, metric.IsMonotonic);
        Assert.Equal("{request}", metric.Unit);
        Assert.Equal([7.0, 0.25], sink.Points.Select(p => p.Value!.Value));
    }

    [Fact]
    public void Sum_WithUnspecifiedTemporality_RefusesEveryPoint()
    {
        var sink = Read(Request(Sum("x", AggregationTemporality.Unspecified, true, Int(1), Int(2))));

        Assert.Empty(sink.Points);
        Assert.Equal(2, sink.Refusals.Count);
        Assert.Contains("aggregation_temporality", sink.Refusals[0], StringComparison.Ordinal);
    }

    [Fact]
    public void NumberPoint_WithoutValue_IsRefused()
    {
        var point = new NumberDataPoint { TimeUnixNano = Time };
        var sink = Read(Request(Gauge("g", point)));

        Assert.Empty(sink.Points);
        Assert.Contains("without a value", Assert.Single(sink.Refusals), StringComparison.Ordinal);
    }

    [Fact]
    public void NumberPoint_NoRecordedValueFlag_IsPassedOnAsStalenessMarker()
    {
        var point = new NumberDataPoint { TimeUnixNano = Time, Flags = 1 };
        var sink = Read(Request(Gauge("g", point)));

        var recorded = Assert.Single(sink.Points);
        Assert.Equal(1u, recorded.Flags);
        Assert.Empty(sink.Refusals);
    }

    [Fact]
    public void SinkRefusal_IsReportedBackThroughRefused()
    {
        var reader = new OtlpMetricsReader();
        var sink = new RecordingSink { RefuseWith = "nope" };
        reader.Read(Request(Gauge("g", Int(1), Int(2))), sink);

        Assert.Equal(["nope", "nope"], sink.Refusals);
        Assert.Equal(2, reader.PointCount);
    }

    [Fact]
    public void Histogram_AllFieldsAreDecoded()
    {
        var point = new HistogramDataPoint { StartTimeUnixNano = Start, TimeUnixNano = Time, Count = 10, Sum = 31.5, Min = 0.5, Max = 9 };
        point.BucketCounts.Add([1, 2, 3, 4]);
        point.ExplicitBounds.Add([1, 2, 5]);
        point.Attributes.Add(Attr("route", "/a"));
        var histogram = new Histogram { AggregationTemporality = AggregationTemporality.Delta };
        histogram.DataPoints.Add(point);
        var sink = Read(Request(new Metric { Name = "http.server.request.duration", Unit = "s", Histogram = histogram }));

        var metric = Assert.Single(sink.Metrics);
        Assert.Equal(OtlpMetricType.Histogram, metric.Type);
        Assert.Equal(Temporality.Delta, metric.Temporality);
        var recorded = Assert.Single(sink.Points);
        Assert.Equal(10ul, recorded.Count);
        Assert.Equal(31.5, recorded.Sum);
        Assert.Equal(0.5, recorded.Min);
        Assert.Equal(9, recorded.Max);
        Assert.Equal([1ul, 2, 3, 4], recorded.BucketCounts);
        Assert.Equal([1.0, 2, 5], recorded.Bounds);
        Assert.Equal("/a", recorded.Attributes["route"]);
    }

    [Fact]
    public void Histogram_WithoutOptionalSumMinMax_ReportsThemAbsent()
    {
        var point = new HistogramDataPoint { TimeUnixNano = Time, Count = 3 };
        point.BucketCounts.Add([3]);
        var histogram = new Histogram { AggregationTemporality = AggregationTemporality.Cumulative };
        histogram.DataPoints.Add(point);
        var sink = Read(Request(new Metric { Name = "h", Histogram = histogram }));

        var recorded = Assert.Single(sink.Points);
        Assert.Null(recorded.Sum);
        Assert.Null(recorded.Min);
        Assert.Null(recorded.Max);
        Assert.Equal(Temporality.Cumulative, sink.Metrics[0].Temporality);
    }

    [Fact]
    public void Histogram_BucketCountsNotMatchingBounds_IsRefused()
    {
        var point = new HistogramDataPoint { TimeUnixNano = Time, Count = 3 };
        point.BucketCounts.Add([1, 2]);
        point.ExplicitBounds.Add([1, 2]);
        var histogram = new Histogram { AggregationTemporality = AggregationTemporality.Delta };
        histogram.DataPoints.Add(point);
        var sink = Read(Request(new Metric { Name = "h", Histogram = histogram }));

        Assert.Empty(sink.Points);
        Assert.Contains("one more entry", Assert.Single(sink.Refusals), StringComparison.Ordinal);
    }

    [Fact]
    public void ExponentialHistogram_AllFieldsAreDecoded()
    {
        var point = new ExponentialHistogramDataPoint
        {
            StartTimeUnixNano = Start,
            TimeUnixNano = Time,
            Count = 12,
            Sum = 40,
            Scale = -3,
            ZeroCount = 2,
            ZeroThreshold = 0.001,
            Min = -4,
            Max = 30,
            Positive = new ExponentialHistogramDataPoint.Types.Buckets { Offset = -2 },
            Negative = new ExponentialHistogramDataPoint.Types.Buckets { Offset = 5 },
        };
        point.Positive.BucketCounts.Add([3, 0, 4]);
        point.Negative.BucketCounts.Add([3]);
        point.Attributes.Add(Attr("k", "v"));
        var histogram = new ExponentialHistogram { AggregationTemporality = AggregationTemporality.Cumulative };
        histogram.DataPoints.Add(point);
        var sink = Read(Request(new Metric { Name = "e", ExponentialHistogram = histogram }));

        Assert.Equal(OtlpMetricType.ExponentialHistogram, sink.Metrics[0].Type);
        Assert.Equal(Temporality.Cumulative, sink.Metrics[0].Temporality);
        var recorded = Assert.Single(sink.Points);
        Assert.Equal(12ul, recorded.Count);
        Assert.Equal(40, recorded.Sum);
        Assert.Equal(-3, recorded.Scale);
        Assert.Equal(2ul, recorded.ZeroCount);
        Assert.Equal(0.001, recorded.ZeroThreshold);
        Assert.Equal(-4, recorded.Min);
        Assert.Equal(30, recorded.Max);
        Assert.Equal(-2, recorded.PositiveOffset);
        Assert.Equal([3ul, 0, 4], recorded.BucketCounts);
        Assert.Equal(5, recorded.NegativeOffset);
        Assert.Equal([3ul], recorded.NegativeCounts);
        Assert.Equal("v", recorded.Attributes["k"]);
    }

    [Fact]
    public void ExponentialHistogram_ScaleOutsideSpec_IsRefused()
    {
        var point = new ExponentialHistogramDataPoint { TimeUnixNano = Time, Count = 1, Scale = 21 };
        var histogram = new ExponentialHistogram { AggregationTemporality = AggregationTemporality.Delta };
        histogram.DataPoints.Add(point);
        var sink = Read(Request(new Metric { Name = "e", ExponentialHistogram = histogram }));

        Assert.Empty(sink.Points);
        Assert.Contains("scale", Assert.Single(sink.Refusals), StringComparison.Ordinal);
    }

    [Fact]
    public void Summary_CountSumAndQuantilesAreDecoded()
    {
        var point = new SummaryDataPoint { StartTimeUnixNano = Start, TimeUnixNano = Time, Count = 100, Sum = 250.5 };
        point.QuantileValues.Add(new SummaryDataPoint.Types.ValueAtQuantile { Quantile = 0.5, Value = 2 });
        point.QuantileValues.Add(new SummaryDataPoint.Types.ValueAtQuantile { Quantile = 0.99, Value = 9.5 });
        point.Attributes.Add(Attr("k", "v"));
        var summary = new Summary();
        summary.DataPoints.Add(point);
        var sink = Read(Request(new Metric { Name = "s", Summary = summary }));

        Assert.Equal(OtlpMetricType.Summary, sink.Metrics[0].Type);
        var recorded = Assert.Single(sink.Points);
        Assert.Equal(100ul, recorded.Count);
        Assert.Equal(250.5, recorded.Sum);
        Assert.Equal([0.5, 0.99], recorded.Quantiles);
        Assert.Equal([2.0, 9.5], recorded.QuantileValues);
        Assert.Equal("v", recorded.Attributes["k"]);
    }

    [Fact]
    public void Summary_ManyQuantiles_GrowScratchWithoutLosingValues()
    {
        var point = new SummaryDataPoint { TimeUnixNano = Time, Count = 1, Sum = 1 };
        for (var i = 0; i < 40; i++)
        {
            point.QuantileValues.Add(new SummaryDataPoint.Types.ValueAtQuantile { Quantile = i / 40.0, Value = i });
        }

        var summary = new Summary();
        summary.DataPoints.Add(point);
        var sink = Read(Request(new Metric { Name = "s", Summary = summary }));

        Assert.Equal(Enumerable.Range(0, 40).Select(i => (double)i), sink.Points[0].QuantileValues);
    }

    [Fact]
    public void PointAttributes_OfEveryAnyValueType_BecomeLabels()
    {
        var array = new ArrayValue();
        array.Values.Add(new AnyValue { StringValue = "a\"b" });
        array.Values.Add(new AnyValue { IntValue = 3 });
        array.Values.Add(new AnyValue { BoolValue = true });
        array.Values.Add(new AnyValue { DoubleValue = 1.5 });
        array.Values.Add(new AnyValue());
        var kvlist = new KeyValueList();
        kvlist.Values.Add(Attr("x", new AnyValue { IntValue = -1 }));
        kvlist.Values.Add(Attr("y", new AnyValue { ArrayValue = new ArrayValue { Values = { new AnyValue { StringValue = "z" } } } }));
        kvlist.Values.Add(Attr("b", new AnyValue { BytesValue = ByteString.CopyFrom(1, 2) }));
        var point = Int(1,
            Attr("str", "text"),
            Attr("yes", new AnyValue { BoolValue = true }),
            Attr("no", new AnyValue { BoolValue = false }),
            Attr("int", new AnyValue { IntValue = -9_000_000_000 }),
            Attr("dbl", new AnyValue { DoubleValue = 0.1 }),
            Attr("bytes", new AnyValue { BytesValue = ByteString.CopyFrom(0xDE, 0xAD, 0xBE, 0xEF) }),
            Attr("arr", new AnyValue { ArrayValue = array }),
            Attr("kv", new AnyValue { KvlistValue = kvlist }),
            Attr("empty", new AnyValue()));

        var labels = Read(Request(Gauge("g", point))).Points[0].Attributes;

        Assert.Equal("text", labels["str"]);
        Assert.Equal("true", labels["yes"]);
        Assert.Equal("false", labels["no"]);
        Assert.Equal("-9000000000", labels["int"]);
        Assert.Equal("0.1", labels["dbl"]);
        Assert.Equal("3q2+7w==", labels["bytes"]);
        Assert.Equal("[\"a\\u0022b\",3,true,1.5,null]", labels["arr"]);
        Assert.Equal("{\"x\":-1,\"y\":[\"z\"],\"b\":\"AQI=\"}", labels["kv"]);
        Assert.Equal(string.Empty, labels["empty"]);
    }

    [Fact]
    public void ResourceAttributes_AreHandedToTheSinkBeforeTheirPoints()
    {
        var request = Request([Attr("service.name", "api"), Attr("pid", new AnyValue { IntValue = 12 })], Gauge("g", Int(1)));
        var sink = Read(request);

        var resource = Assert.Single(sink.Resources);
        Assert.Equal("api", resource["service.name"]);
        Assert.Equal("12", resource["pid"]);
    }

    [Fact]
    public void Resource_AfterScopeMetricsOnTheWire_IsStillAppliedFirst()
    {
        var resource = new Vigil.Otlp.Proto.Resource.Resource { Attributes = { Attr("service.name", "late") } };
        var scope = new ScopeMetrics { Metrics = { Gauge("g", Int(5)) } };
        var resourceMetrics = Fields(Message(2, scope), Message(1, resource));
        var request = Fields(Message(1, resourceMetrics));

        var sink = Read(request);

        Assert.Equal("late", Assert.Single(sink.Resources)["service.name"]);
        Assert.Equal(5, Assert.Single(sink.Points).Value);
    }

    [Fact]
    public void Temporality_AfterDataPointsOnTheWire_IsKnownForEveryPoint()
    {
        var sum = Fields(Message(1, Int(3)), Message(1, Int(4)), Varint(3, 1), Varint(2, (ulong)AggregationTemporality.Delta));
        var metric = Fields(Message(7, sum), String(1, "late.header"), String(3, "ms"));

        var sink = Read(RequestWithMetric(metric));

        var recorded = Assert.Single(sink.Metrics);
        Assert.Equal(new RecordedMetric("late.header", "ms", OtlpMetricType.Sum, Temporality.Delta, true), recorded);
        Assert.Equal([3.0, 4.0], sink.Points.Select(p => p.Value!.Value));
    }

    [Fact]
    public void Temporality_BeforeDataPointsOnTheWire_IsDecodedToo()
    {
        var sum = Fields(Varint(2, (ulong)AggregationTemporality.Cumulative), Message(1, Int(3)));
        var sink = Read(RequestWithMetric(Fields(String(1, "m"), Message(7, sum))));

        Assert.Equal(Temporality.Cumulative, sink.Metrics[0].Temporality);
        Assert.False(sink.Metrics[0].IsMonotonic);
        Assert.Single(sink.Points);
    }

    [Fact]
    public void PointFields_InAnyOrder_AreDecoded()
    {
        var point = Fields(
            Message(7, Attr("k", "v")),
            Double(4, 1.25),
            Fixed64(3, Time),
            Fixed64(2, Start));
        var sink = Read(RequestWithMetric(Fields(Message(5, Fields(Message(1, point))), String(1, "g"))));

        var recorded = Assert.Single(sink.Points);
        Assert.Equal(1.25, recorded.Value);
        Assert.Equal(Time, recorded.Time);
        Assert.Equal(Start, recorded.Start);
        Assert.Equal("v", recorded.Attributes["k"]);
    }

    [Fact]
    public void Histogram_NonPackedRepeatedFields_AreDecoded()
    {
        var point = Fields(
            Fixed64(3, Time),
            Fixed64(4, 6),
            Fixed64(6, 1),
            Double(7, 0.5),
            Fixed64(6, 2),
            Double(7, 1.5),
            Fixed64(6, 3));
        var histogram = Fields(Message(1, point), Varint(2, 1));
        var sink = Read(RequestWithMetric(Fields(String(1, "h"), Message(9, histogram))));

        var recorded = Assert.Single(sink.Points);
        Assert.Equal([1ul, 2, 3], recorded.BucketCounts);
        Assert.Equal([0.5, 1.5], recorded.Bounds);
    }

    [Fact]
    public void Histogram_PackedAndNonPackedMixed_AreConcatenated()
    {
        var packed = new byte[16];
        BitConverter.TryWriteBytes(packed.AsSpan(0, 8), 4ul);
        BitConverter.TryWriteBytes(packed.AsSpan(8, 8), 5ul);
        var point = Fields(Fixed64(3, Time), Fixed64(4, 3 + 4 + 5), Fixed64(6, 3), Message(6, packed), Double(7, 1), Double(7, 2));
        var sink = Read(RequestWithMetric(Fields(String(1, "h"), Message(9, Fields(Varint(2, 1), Message(1, point))))));

        Assert.Equal([3ul, 4, 5], Assert.Single(sink.Points).BucketCounts);
    }

    [Fact]
    public void ExponentialBuckets_NonPackedCounts_AreDecoded()
    {
        var positive = Fields(Varint(2, 7), Varint(2, 0), Varint(2, 9), Varint(1, 7)); // offset -4 as sint32 zigzag = 7
        var point = Fields(Fixed64(3, Time), Fixed64(4, 16), Message(8, positive), Varint(6, 4)); // scale 2 as zigzag = 4
        var sink = Read(RequestWithMetric(Fields(String(1, "e"), Message(10, Fields(Message(1, point), Varint(2, 1))))));

        var recorded = Assert.Single(sink.Points);
        Assert.Equal([7ul, 0, 9], recorded.BucketCounts);
        Assert.Equal(-4, recorded.PositiveOffset);
        Assert.Equal(2, recorded.Scale);
    }

    [Fact]
    public void ManyBuckets_GrowScratchArrays()
    {
        var point = new HistogramDataPoint { TimeUnixNano = Time, Count = 199 * 200 / 2 };
        point.BucketCounts.Add(Enumerable.Range(0, 200).Select(i => (ulong)i));
        point.ExplicitBounds.Add(Enumerable.Range(0, 199).Select(i => (double)i));
        var histogram = new Histogram { AggregationTemporality = AggregationTemporality.Delta };
        histogram.DataPoints.Add(point);
        var sink = Read(Request(new Metric { Name = "h", Histogram = histogram }));

        Assert.Equal(199ul, sink.Points[0].BucketCounts[^1]);
        Assert.Equal(198.0, sink.Points[0].Bounds[^1]);
    }

    [Fact]
    public void UnknownFields_AtEveryLevel_AreSkipped()
    {
        var point = Fields(Fixed64(3, Time), Fixed32(99, 1234), Double(4, 8), Varint(100, 5), Message(101, [1, 2, 3]));
        var sum = Fields(Message(1, point), Varint(2, 2), Varint(3, 1), Fixed64(50, 1));
        var metric = Fields(String(1, "m"), String(2, "a description"), Message(7, sum), Message(12, Attr("meta", "x")), Varint(77, 1));
        var scope = Fields(Message(1, new InstrumentationScope { Name = "s" }), Message(2, metric), String(3, "https://schema"), Fixed32(40, 1));
        var resourceMetrics = Fields(Message(2, scope), String(3, "https://schema"), Varint(60, 3));
        var request = Fields(Varint(9, 1), Message(1, resourceMetrics), Fixed64(10, 0));

        var sink = Read(request);

        Assert.Equal(8, Assert.Single(sink.Points).Value);
        Assert.True(sink.Metrics[0].IsMonotonic);
    }

    [Fact]
    public void EmptyRequest_ReadsNothing()
    {
        var reader = new OtlpMetricsReader();
        var sink = new RecordingSink();
        reader.Read([], sink);

        Assert.Empty(sink.Points);
        Assert.Equal(0, reader.PointCount);
    }

    [Fact]
    public void TruncatedBody_ThrowsWithFieldPath()
    {
        var request = Request(Gauge("g", Int(1, Attr("k", "v"))));

        var error = Assert.Throws<OtlpFormatException>(() => new OtlpMetricsReader().Read(request.AsSpan(0, request.Length - 3), null));

        Assert.StartsWith("resource_metrics[0]", error.Message, StringComparison.Ordinal);
        Assert.Contains("truncated", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TruncatedDataPoint_NamesTheMetricPath()
    {
        // The point's length prefix claims more bytes than its parent holds.
        var gauge = Fields(output =>
        {
            output.WriteTag(1, WireFormat.WireType.LengthDelimited);
            output.WriteLength(50);
            output.WriteFixed64(Time);
        });
        var request = RequestWithMetric(Fields(String(1, "g"), Message(5, gauge)));

        var error = Assert.Throws<OtlpFormatException>(() => new OtlpMetricsReader().Read(request, null));

        Assert.StartsWith("resource_metrics[0].scope_metrics[0].metrics[0]", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new byte[] { 0x6E, 0x6F, 0x74, 0x20, 0x6F, 0x74, 0x6C, 0x70 })] // "not otlp": wire type 6
    [InlineData(new byte[] { 0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x00 })] // resource_metrics with a 4 GiB length
    [InlineData(new byte[] { 0x0A, 0x03, 0x12, 0x05, 0x00 })] // scope_metrics longer than its parent
    [InlineData(new byte[] { 0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01 })] // varint of 11 bytes
    [InlineData(new byte[] { 0x00 })] // field number 0
    [InlineData(new byte[] { 0x0B })] // group start
    public void GarbageBytes_Throw(byte[] body)
    {
        var error = Assert.Throws<OtlpFormatException>(() => new OtlpMetricsReader().Read(body, null));
        Assert.False(string.IsNullOrWhiteSpace(error.Message));
    }

    [Fact]
    public void GarbageInsideAResource_NamesResourceMetricsIndex()
    {
        var valid = RequestMessage([], Gauge("g", Int(1))).ResourceMetrics[0];
        var request = Fields(Message(1, valid), Message(1, [0x0A, 0x05, 0x01]));

        var error = Assert.Throws<OtlpFormatException>(() => new OtlpMetricsReader().Read(request, null));

        Assert.StartsWith("resource_metrics[1]", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void WrongWireType_OnDataPointField_NamesFullFieldPath()
    {
        var point = Fields(Fixed64(3, Time), Varint(4, 5)); // as_double sent as varint
        var metrics = Fields(Message(2, Fields(String(1, "ok"), Message(5, Fields(Message(1, Int(1)))))), Message(2, Fields(String(1, "bad"), Message(5, Fields(Message(1, Int(1)), Message(1, point))))));
        var request = Fields(Message(1, Fields(Message(2, metrics))));

        var error = Assert.Throws<OtlpFormatException>(() => new OtlpMetricsReader().Read(request, null));

        Assert.Contains("resource_metrics[0].scope_metrics[0].metrics[1].gauge.data_points[1]", error.Message, StringComparison.Ordinal);
        Assert.Contains("as_double", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(9, "histogram", 4, "count")]
    [InlineData(10, "exponential_histogram", 6, "scale")]
    [InlineData(11, "summary", 5, "sum")]
    public void WrongWireType_InEachPointKind_NamesField(int dataField, string path, int pointField, string fieldName)
    {
        var point = Fields(Fixed64(3, Time), String(pointField, "x"));
        var data = dataField == 11 ? Fields(Message(1, point)) : Fields(Varint(2, 1), Message(1, point));
        var request = RequestWithMetric(Fields(String(1, "m"), Message(dataField, data)));

        var error = Assert.Throws<OtlpFormatException>(() => new OtlpMetricsReader().Read(request, null));

        Assert.Contains($"metrics[0].{path}.data_points[0]", error.Message, StringComparison.Ordinal);
        Assert.Contains(fieldName, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void WrongWireType_OnMetricName_NamesMetricAndField()
    {
        var request = RequestWithMetric(Fields(Varint(1, 3)));

        var error = Assert.Throws<OtlpFormatException>(() => new OtlpMetricsReader().Read(request, null));

        Assert.Contains("resource_metrics[0].scope_metrics[0].metrics[0]", error.Message, StringComparison.Ordinal);
        Assert.Contains("name", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void MalformedPointAttribute_IsCaughtByTheValidationPass()
    {
        var point = Fields(Fixed64(3, Time), Double(4, 1), Message(7, [0x0A, 0x09, 0x61])); // key longer than the KeyValue
        var request = RequestWithMetric(Fields(String(1, "g"), Message(5, Fields(Message(1, point)))));

        var error = Assert.Throws<OtlpFormatException>(() => new OtlpMetricsReader().Read(request, null));

        Assert.Contains("gauge.data_points[0]", error.Message, StringComparison.Ordinal);
        Assert.Contains("attributes", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void MalformedNestedArrayAttribute_IsCaughtByTheValidationPass()
    {
        // An array value whose element claims 9 bytes but has 1.
        var anyValue = Fields(Message(5, [0x0A, 0x09, 0x01]));
        var keyValue = Fields(String(1, "arr"), Message(2, anyValue));
        var point = Fields(Fixed64(3, Time), Double(4, 1), Message(7, keyValue));
        var request = RequestWithMetric(Fields(String(1, "g"), Message(5, Fields(Message(1, point)))));

        var error = Assert.Throws<OtlpFormatException>(() => new OtlpMetricsReader().Read(request, null));

        Assert.Contains("gauge.data_points[0]", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AttributeNestedTooDeep_IsRefusedBeforeFormatting()
    {
        var value = new AnyValue { StringValue = "leaf" };
        for (var i = 0; i < AttributeReader.MaxNesting + 1; i++)
        {
            value = new AnyValue { ArrayValue = new ArrayValue { Values = { value } } };
        }

        var request = Request(Gauge("g", Int(1, Attr("deep", value))));

        var error = Assert.Throws<OtlpFormatException>(() => new OtlpMetricsReader().Read(request, null));

        Assert.Contains("nested deeper", error.Message, StringComparison.Ordinal);
        Assert.Contains("gauge.data_points[0]", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(DeepAnyValue.Shape.Array)]
    [InlineData(DeepAnyValue.Shape.KeyValueList)]
    [InlineData(DeepAnyValue.Shape.Alternating)]
    public void AttributeNestedHundredThousandLevels_IsRefusedNamingTheLimit(DeepAnyValue.Shape shape)
    {
        var keyValue = Fields(String(1, "deep"), Message(2, DeepAnyValue.Protobuf(100_000, shape)));
        var point = Fields(Fixed64(3, Time), Double(4, 1), Message(7, keyValue));
        var request = RequestWithMetric(Fields(String(1, "g"), Message(5, Fields(Message(1, point)))));

        var error = Assert.Throws<OtlpFormatException>(() => new OtlpMetricsReader().Read(request, null));

        Assert.Contains($"attribute value nested deeper than {AttributeReader.MaxNesting} levels", error.Message, StringComparison.Ordinal);
        Assert.Contains("gauge.data_points[0]", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(DeepAnyValue.Shape.Array)]
    [InlineData(DeepAnyValue.Shape.KeyValueList)]
    public void HandBuiltNesting_AtTheLimit_IsAccepted(DeepAnyValue.Shape shape)
    {
        var keyValue = Fields(String(1, "deep"), Message(2, DeepAnyValue.Protobuf(AttributeReader.MaxNesting, shape)));
        var point = Fields(Fixed64(3, Time), Double(4, 1), Message(7, keyValue));
        var request = RequestWithMetric(Fields(String(1, "g"), Message(5, Fields(Message(1, point)))));
        var sink = new RecordingSink();

        new OtlpMetricsReader().Read(request, null);
        new OtlpMetricsReader().Read(request, sink);

        var open = shape == DeepAnyValue.Shape.Array ? "[" : "{\"k\":";
        var close = shape == DeepAnyValue.Shape.Array ? "]" : "}";
        Assert.Equal(string.Concat(Enumerable.Repeat(open, AttributeReader.MaxNesting)) + "1" + string.Concat(Enumerable.Repeat(close, AttributeReader.MaxNesting)), sink.Points[0].Attributes["deep"]);
    }

    [Fact]
    public void AttributeNestedAtTheLimit_IsAccepted()
    {
        var value = new AnyValue { IntValue = 1 };
        for (var i = 0; i < AttributeReader.MaxNesting; i++)
        {
            value = new AnyValue { ArrayValue = new ArrayValue { Values = { value } } };
        }

        var sink = Read(Request(Gauge("g", Int(1, Attr("deep", value)))));

        var expected = new string('[', AttributeReader.MaxNesting) + "1" + new string(']', AttributeReader.MaxNesting);
        Assert.Equal(expected, sink.Points[0].Attributes["deep"]);
    }

    [Fact]
    public void MalformedResourceAttribute_NamesResourcePath()
    {
        var resource = Fields(Message(1, [0x12, 0x07]));
        var request = Fields(Message(1, Fields(Message(1, resource))));

        var error = Assert.Throws<OtlpFormatException>(() => new OtlpMetricsReader().Read(request, null));

        Assert.StartsWith("resource_metrics[0].resource", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void PackedBucketCounts_NotMultipleOfEight_Throws()
    {
        var point = Fields(Fixed64(3, Time), Message(6, [1, 2, 3]));
        var request = RequestWithMetric(Fields(String(1, "h"), Message(9, Fields(Varint(2, 1), Message(1, point)))));

        var error = Assert.Throws<OtlpFormatException>(() => new OtlpMetricsReader().Read(request, null));

        Assert.Contains("histogram.data_points[0]", error.Message, StringComparison.Ordinal);
        Assert.Contains("bucket_counts", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ValidationPass_CountsPoints()
    {
        var reader = new OtlpMetricsReader();
        reader.Read(Request(Gauge("a", Int(1), Int(2)), Sum("b", AggregationTemporality.Delta, true, Int(3))), null);

        Assert.Equal(3, reader.PointCount);
    }

    [Fact]
    public void Reader_IsReusableAcrossRequests()
    {
        var reader = new OtlpMetricsReader();
        var first = new RecordingSink();
        var histogram = new Histogram { AggregationTemporality = AggregationTemporality.Delta };
        var point = new HistogramDataPoint { TimeUnixNano = Time, Count = 5 };
        point.BucketCounts.Add([1, 4]);
        point.ExplicitBounds.Add(10);
        histogram.DataPoints.Add(point);
        reader.Read(Request(new Metric { Name = "h", Histogram = histogram }), first);

        var second = new RecordingSink();
        var smaller = new HistogramDataPoint { TimeUnixNano = Time, Count = 2 };
        smaller.BucketCounts.Add(2);
        histogram.DataPoints.Clear();
        histogram.DataPoints.Add(smaller);
        reader.Read(Request(new Metric { Name = "h", Histogram = histogram }), second);

        Assert.Equal([1ul, 4], first.Points[0].BucketCounts);
        Assert.Equal([2ul], second.Points[0].BucketCounts);
        Assert.Empty(second.Points[0].Bounds);
    }
}
