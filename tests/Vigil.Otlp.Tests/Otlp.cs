using Google.Protobuf;
using Vigil.Otlp.Proto.Collector;
using Vigil.Otlp.Proto.Common;
using Vigil.Otlp.Proto.Metrics;
using Vigil.Otlp.Proto.Resource;

namespace Vigil.Otlp.Tests;

/// <summary>Small builders over the generated OTLP types, plus a raw field writer for hand-made encodings.</summary>
internal static class Otlp
{
    public const ulong Start = 1_750_000_000_000_000_000;
    public const ulong Time = 1_750_000_010_000_000_000;

    public static KeyValue Attr(string key, string value) => new() { Key = key, Value = new AnyValue { StringValue = value } };

    public static KeyValue Attr(string key, AnyValue value) => new() { Key = key, Value = value };

    public static byte[] Request(params Metric[] metrics) => Request([], metrics);

    public static byte[] Request(KeyValue[] resource, params Metric[] metrics) =>
        RequestMessage(resource, metrics).ToByteArray();

    public static ExportMetricsServiceRequest RequestMessage(KeyValue[] resource, params Metric[] metrics)
    {
        var scope = new ScopeMetrics { Scope = new InstrumentationScope { Name = "test", Version = "1.0" } };
        scope.Metrics.AddRange(metrics);
        var resourceMetrics = new ResourceMetrics { Resource = new Resource() };
        resourceMetrics.Resource.Attributes.AddRange(resource);
        resourceMetrics.ScopeMetrics.Add(scope);
        var request = new ExportMetricsServiceRequest();
        request.ResourceMetrics.Add(resourceMetrics);
        return request;
    }

    public static Metric Gauge(string name, params NumberDataPoint[] points)
    {
        var gauge = new Gauge();
        gauge.DataPoints.AddRange(points);
        return new Metric { Name = name, Unit = "1", Gauge = gauge };
    }

    public static Metric Sum(string name, AggregationTemporality temporality, bool monotonic, params NumberDataPoint[] points)
    {
        var sum = new Sum { AggregationTemporality = temporality, IsMonotonic = monotonic };
        sum.DataPoints.AddRange(points);
        return new Metric { Name = name, Unit = "{request}", Sum = sum };
    }

    public static NumberDataPoint Int(long value, params KeyValue[] attributes)
    {
        var point = new NumberDataPoint { AsInt = value, StartTimeUnixNano = Start, TimeUnixNano = Time };
        point.Attributes.AddRange(attributes);
        return point;
    }

    public static NumberDataPoint Double(double value, params KeyValue[] attributes)
    {
        var point = new NumberDataPoint { AsDouble = value, StartTimeUnixNano = Start, TimeUnixNano = Time };
        point.Attributes.AddRange(attributes);
        return point;
    }

    /// <summary>Writes fields in exactly the order given, so tests control the wire layout.</summary>
    public static byte[] Fields(params Action<CodedOutputStream>[] writers)
    {
        using var buffer = new MemoryStream();
        var output = new CodedOutputStream(buffer);
        foreach (var write in writers)
        {
            write(output);
        }

        output.Flush();
        return buffer.ToArray();
    }

    public static Action<CodedOutputStream> Message(int field, byte[] bytes) => output =>
    {
        output.WriteTag(field, WireFormat.WireType.LengthDelimited);
        output.WriteBytes(ByteString.CopyFrom(bytes));
    };

    public static Action<CodedOutputStream> Message(int field, IMessage message) => Message(field, message.ToByteArray());

    public static Action<CodedOutputStream> Varint(int field, ulong value) => output =>
    {
        output.WriteTag(field, WireFormat.WireType.Varint);
        output.WriteUInt64(value);
    };

    public static Action<CodedOutputStream> Fixed64(int field, ulong value) => output =>
    {
        output.WriteTag(field, WireFormat.WireType.Fixed64);
        output.WriteFixed64(value);
    };

    public static Action<CodedOutputStream> Double(int field, double value) => output =>
    {
        output.WriteTag(field, WireFormat.WireType.Fixed64);
        output.WriteDouble(value);
    };

    public static Action<CodedOutputStream> Fixed32(int field, uint value) => output =>
    {
        output.WriteTag(field, WireFormat.WireType.Fixed32);
        output.WriteFixed32(value);
    };

    public static Action<CodedOutputStream> String(int field, string value) => output =>
    {
        output.WriteTag(field, WireFormat.WireType.LengthDelimited);
        output.WriteString(value);
    };

    /// <summary>Wraps a metric's encoding into a request with one resource and one scope.</summary>
    public static byte[] RequestWithMetric(byte[] metric) =>
        Fields(Message(1, Fields(Message(2, Fields(Message(2, metric))))));
}
