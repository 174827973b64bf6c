using System.Text;
using Google.Protobuf;
using Vigil.Otlp.Json;
using Vigil.Otlp.Proto.Collector;
using Vigil.Otlp.Proto.Metrics;
using Vigil.Otlp.Wire;
using Vigil.Tests.Shared;

namespace Vigil.Otlp.Tests;

public sealed class OtlpJsonTranscoderTests
{
    private static RecordingSink ReadJson(string json)
    {
        var bytes = OtlpJsonTranscoder.ToProtobuf(Encoding.UTF8.GetBytes(json));
        var reader = new OtlpMetricsReader();
        reader.Read(bytes, null);
        var sink = new RecordingSink();
        reader.Read(bytes, sink);
        return sink;
    }

    [Fact]
    public void LowerCamelCaseRequest_IsDecoded()
    {
        const string json = """
            {"resourceMetrics":[{
              "resource":{"attributes":[{"key":"service.name","value":{"stringValue":"api"}}]},
              "scopeMetrics":[{"scope":{"name":"lib"},"metrics":[{
                "name":"auth.requests","unit":"{request}",
                "sum":{"aggregationTemporality":2,"isMonotonic":true,"dataPoints":[{
                  "attributes":[{"key":"auth.outcome","value":{"stringValue":"failure"}},{"key":"n","value":{"intValue":"5"}}],
                  "startTimeUnixNano":"1750000000000000000","timeUnixNano":"1750000010000000000","asInt":"17"}]}}]}]}]}
            """;

        var sink = ReadJson(json);

        Assert.Equal("api", sink.Resources[0]["service.name"]);
        Assert.Equal(new RecordedMetric("auth.requests", "{request}", OtlpMetricType.Sum, Temporality.Cumulative, true), sink.Metrics[0]);
        var point = Assert.Single(sink.Points);
        Assert.Equal(17, point.Value);
        Assert.Equal(1_750_000_000_000_000_000ul, point.Start);
        Assert.Equal(1_750_000_010_000_000_000ul, point.Time);
        Assert.Equal("failure", point.Attributes["auth.outcome"]);
        Assert.Equal("5", point.Attributes["n"]);
    }

    private const string OneGauge = """{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"g","gauge":{"dataPoints":[{"timeUnixNano":"1750000010000000000","asDouble":2.5}]}}]}]}]}""";

    [Fact]
    public void Utf8ByteOrderMark_BeforeTheJson_IsSkipped()
    {
        // Some tools (PowerShell, Windows editors) write one; RFC 8259 lets a parser ignore it.
        byte[] body = [0xEF, 0xBB, 0xBF, .. Encoding.UTF8.GetBytes(OneGauge)];

        var bytes = OtlpJsonTranscoder.ToProtobuf(body);

        Assert.Equal(OtlpJsonTranscoder.ToProtobuf(Encoding.UTF8.GetBytes(OneGauge)), bytes);
    }

    [Fact]
    public void JsonThatIsNotUtf8_IsRefusedWithTheOffset()
    {
        var text = Encoding.UTF8.GetBytes(OneGauge);
        var at = Array.IndexOf(text, (byte)'g');
        text[at] = 0xFF; // never valid in UTF-8

        var error = Assert.Throws<OtlpFormatException>(() => OtlpJsonTranscoder.ToProtobuf(text));

        Assert.Contains("UTF-8", error.Message, StringComparison.Ordinal);
        Assert.Contains($"byte {at}", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Int64AsJsonNumbers_AreAccepted()
    {
        const string json = """
            {"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"g","gauge":{"dataPoints":[
              {"timeUnixNano":1750000010000000000,"asInt":-3,"attributes":[{"key":"i","value":{"intValue":42}}]}]}}]}]}]}
            """;

        var point = Assert.Single(ReadJson(json).Points);

        Assert.Equal(1_750_000_010_000_000_000ul, point.Time);
        Assert.Equal(-3, point.Value);
        Assert.Equal("42", point.Attributes["i"]);
    }

    [Fact]
    public void EnumsAsIntegers_SetTemporality()
    {
        const string json = """
            {"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"h","histogram":{"aggregationTemporality":1,"dataPoints":[
              {"timeUnixNano":"1750000010000000000","count":"3","sum":4.5,"bucketCounts":["1",2],"explicitBounds":[1.5]}]}}]}]}]}
            """;

        var sink = ReadJson(json);

        Assert.Equal(Temporality.Delta, sink.Metrics[0].Temporality);
        Assert.Equal([1ul, 2], sink.Points[0].BucketCounts);
        Assert.Equal([1.5], sink.Points[0].Bounds);
        Assert.Equal(3ul, sink.Points[0].Count);
    }

    [Fact]
    public void ExponentialHistogramAndSummary_FromJson_AreDecoded()
    {
        const string json = """
            {"resourceMetrics":[{"scopeMetrics":[{"metrics":[
              {"name":"e","exponentialHistogram":{"aggregationTemporality":2,"dataPoints":[
                {"timeUnixNano":"1750000010000000000","count":"4","scale":-2,"zeroCount":"1","positive":{"offset":-1,"bucketCounts":["2","1"]}}]}},
              {"name":"s","summary":{"dataPoints":[
                {"timeUnixNano":"1750000010000000000","count":"9","sum":18,"quantileValues":[{"quantile":0.5,"value":1.5}]}]}}]}]}]}
            """;

        var sink = ReadJson(json);

        Assert.Equal(-2, sink.Points[0].Scale);
        Assert.Equal(-1, sink.Points[0].PositiveOffset);
        Assert.Equal([2ul, 1], sink.Points[0].BucketCounts);
        Assert.Equal(1ul, sink.Points[0].ZeroCount);
        Assert.Equal(9ul, sink.Points[1].Count);
        Assert.Equal([1.5], sink.Points[1].QuantileValues);
    }

    [Fact]
    public void UnknownFields_AreIgnored()
    {
        const string json = """
            {"futureField":{"a":[1,2]},"resourceMetrics":[{"newThing":true,"scopeMetrics":[{"metrics":[{"name":"g","extra":"x",
              "gauge":{"dataPoints":[{"timeUnixNano":"1750000010000000000","asDouble":1.5,"unknownNumber":3}]}}]}]}]}
            """;

        Assert.Equal(1.5, Assert.Single(ReadJson(json).Points).Value);
    }

    [Fact]
    public void BytesAttribute_IsBase64InJsonAndInLabel()
    {
        const string json = """
            {"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"g","gauge":{"dataPoints":[
              {"timeUnixNano":"1750000010000000000","asDouble":1,"attributes":[{"key":"b","value":{"bytesValue":"3q2+7w=="}}]}]}}]}]}]}
            """;

        Assert.Equal("3q2+7w==", ReadJson(json).Points[0].Attributes["b"]);
    }

    [Fact]
    public void JsonRequest_EncodesTheSameBytesAsTheProtobufOne()
    {
        var message = Otlp.RequestMessage([Otlp.Attr("service.name", "api")], Otlp.Sum("c", AggregationTemporality.Delta, true, Otlp.Int(5, Otlp.Attr("k", "v"))));
        var json = JsonFormatter.Default.Format(message);

        var bytes = OtlpJsonTranscoder.ToProtobuf(Encoding.UTF8.GetBytes(json));

        Assert.Equal(message, ExportMetricsServiceRequest.Parser.ParseFrom(bytes));
    }

    [Theory]
    [InlineData("")]
    [InlineData("not json")]
    [InlineData("{\"resourceMetrics\":[")]
    [InlineData("[]")]
    [InlineData("{\"resourceMetrics\":5}")]
    [InlineData("{\"resourceMetrics\":[{\"scopeMetrics\":[{\"metrics\":[{\"name\":\"g\",\"gauge\":{\"dataPoints\":[{\"timeUnixNano\":\"soon\"}]}}]}]}]}")]
    [InlineData("{\"resourceMetrics\":[{\"scopeMetrics\":[{\"metrics\":[{\"name\":\"g\",\"gauge\":{\"dataPoints\":[{\"asInt\":1.5}]}}]}]}]}")]
    [InlineData("{\"resourceMetrics\":[{\"scopeMetrics\":[{\"metrics\":[{\"name\":\"g\",\"gauge\":{\"dataPoints\":[{\"attributes\":[{\"key\":\"b\",\"value\":{\"bytesValue\":\"*\"}}]}]}}]}]}]}")]
    [InlineData("{\"resourceMetrics\":[{\"scopeMetrics\":[{\"metrics\":[{\"name\":7}]}]}]}")]
    [InlineData("{\"resourceMetrics\":[]} trailing")]
    public void InvalidJson_ThrowsOtlpFormatException(string json)
    {
        var error = Assert.Throws<OtlpFormatException>(() => OtlpJsonTranscoder.ToProtobuf(Encoding.UTF8.GetBytes(json)));

        Assert.StartsWith("invalid OTLP/JSON", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void DeeplyNestedJson_ThrowsOtlpFormatException()
    {
        var value = new StringBuilder();
        for (var i = 0; i < 200; i++)
        {
            value.Append("{\"arrayValue\":{\"values\":[");
        }

        value.Append("{}");
        for (var i = 0; i < 200; i++)
        {
            value.Append("]}}");
        }

        var json = "{\"resourceMetrics\":[{\"resource\":{\"attributes\":[{\"key\":\"k\",\"value\":" + value + "}]}}]}";

        Assert.Throws<OtlpFormatException>(() => OtlpJsonTranscoder.ToProtobuf(Encoding.UTF8.GetBytes(json)));
    }

    [Theory]
    [InlineData(DeepAnyValue.Shape.Array)]
    [InlineData(DeepAnyValue.Shape.KeyValueList)]
    [InlineData(DeepAnyValue.Shape.Alternating)]
    public void HundredThousandNestedAnyValues_AreRefusedNamingTheLimit(DeepAnyValue.Shape shape)
    {
        var json = DeepAnyValue.JsonRequest(DeepAnyValue.Json(100_000, shape));

        var error = Assert.Throws<OtlpFormatException>(() => OtlpJsonTranscoder.ToProtobuf(Encoding.UTF8.GetBytes(json)));

        Assert.Equal($"invalid OTLP/JSON: objects nested deeper than {OtlpJsonTranscoder.MaxDepth} levels", error.Message);
    }

    [Fact]
    public void NestedAnyValues_WellInsideTheLimit_AreRead()
    {
        const int depth = 20;

        var point = Assert.Single(ReadJson(DeepAnyValue.JsonRequest(DeepAnyValue.Json(depth, DeepAnyValue.Shape.Array))).Points);

        Assert.Equal(new string('[', depth) + "1" + new string(']', depth), point.Attributes["deep"]);
    }

    [Fact]
    public void HundredThousandNestedArraysInAKnownField_AreRefused()
    {
        var json = "{\"resourceMetrics\":" + new string('[', 100_000) + new string(']', 100_000) + "}";

        var error = Assert.Throws<OtlpFormatException>(() => OtlpJsonTranscoder.ToProtobuf(Encoding.UTF8.GetBytes(json)));

        Assert.StartsWith("invalid OTLP/JSON", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void HundredThousandNestedLevelsInAnUnknownField_AreSkippedAsTheSpecAsks()
    {
        var json = "{\"future\":" + new string('[', 100_000) + new string(']', 100_000) + ",\"resourceMetrics\":[]}";

        Assert.Empty(OtlpJsonTranscoder.ToProtobuf(Encoding.UTF8.GetBytes(json)));
    }
}
