using Google.Protobuf;
using Vigil.Otlp.Proto.Collector;
using Vigil.Otlp.Proto.Common;
using Vigil.Otlp.Proto.Metrics;
using Vigil.Otlp.Proto.Resource;

namespace Vigil.Collector.Tests;

/// <summary>Hand-built OTLP requests for the cases an SDK never sends.</summary>
public static class OtlpRequests
{
    public static ulong NowNanos() => (ulong)DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1_000_000UL;

    public static ExportMetricsServiceRequest DeltaCounter(string name, long value, string tenant = "acme", int points = 1)
    {
        var sum = new Sum { AggregationTemporality = AggregationTemporality.Delta, IsMonotonic = true };
        var now = NowNanos();
        for (var i = 0; i < points; i++)
        {
            var point = new NumberDataPoint { StartTimeUnixNano = now - 1_000_000_000UL - (ulong)i, TimeUnixNano = now - (ulong)i, AsInt = value };
            point.Attributes.Add(new KeyValue { Key = "series", Value = new AnyValue { IntValue = i } });
            sum.DataPoints.Add(point);
        }

        return Wrap(new Metric { Name = name, Unit = "{request}", Sum = sum }, tenant);
    }

    /// <summary>One delta point per attribute set, stamped at <paramref name="time"/> (for fake clocks).</summary>
    public static ExportMetricsServiceRequest DeltaCounterAt(string name, DateTimeOffset time, string tenant, params (string Key, string Value, long Count)[] points)
    {
        var sum = new Sum { AggregationTemporality = AggregationTemporality.Delta, IsMonotonic = true };
        var nanos = (ulong)time.ToUnixTimeMilliseconds() * 1_000_000UL;
        foreach (var (key, value, count) in points)
        {
            var point = new NumberDataPoint { StartTimeUnixNano = nanos - 1_000_000_000UL, TimeUnixNano = nanos, AsInt = count };
            point.Attributes.Add(new KeyValue { Key = key, Value = new AnyValue { StringValue = value } });
            sum.DataPoints.Add(point);
        }

        return Wrap(new Metric { Name = name, Sum = sum }, tenant);
    }

    public static ExportMetricsServiceRequest Gauge(string name, double value, string tenant = "acme")
    {
        var gauge = new Gauge();
        gauge.DataPoints.Add(new NumberDataPoint { TimeUnixNano = NowNanos(), AsDouble = value });
        return Wrap(new Metric { Name = name, Gauge = gauge }, tenant);
    }

    /// <summary>
    /// The request that bricked start-up: one exponential histogram point at scale 0 whose positive.offset
    /// is 2^31-1 with buckets [1, 1, 1], so every bucket index after the first overflows an int.
    /// </summary>
    public static ExportMetricsServiceRequest PoisonExponential(string name = "ai.run.duration", string tenant = "acme")
    {
        var now = NowNanos();
        var point = new ExponentialHistogramDataPoint
        {
            StartTimeUnixNano = now - 1_000_000_000UL,
            TimeUnixNano = now,
            Scale = 0,
            Count = 3,
            Sum = 3,
            Positive = new ExponentialHistogramDataPoint.Types.Buckets { Offset = int.MaxValue },
        };
        point.Positive.BucketCounts.Add([1, 1, 1]);
        var histogram = new ExponentialHistogram { AggregationTemporality = AggregationTemporality.Delta };
        histogram.DataPoints.Add(point);
        return Wrap(new Metric { Name = name, Unit = "s", ExponentialHistogram = histogram }, tenant);
    }

    public static ExportMetricsServiceRequest Wrap(Metric metric, string tenant)
    {
        var resource = new Resource();
        resource.Attributes.Add(new KeyValue { Key = "service.name", Value = new AnyValue { StringValue = "test" } });
        resource.Attributes.Add(new KeyValue { Key = "tenant.id", Value = new AnyValue { StringValue = tenant } });
        var scope = new ScopeMetrics { Scope = new InstrumentationScope { Name = "tests" } };
        scope.Metrics.Add(metric);
        var resourceMetrics = new ResourceMetrics { Resource = resource };
        resourceMetrics.ScopeMetrics.Add(scope);
        var request = new ExportMetricsServiceRequest();
        request.ResourceMetrics.Add(resourceMetrics);
        return request;
    }

    public static ExportMetricsServiceRequest Merge(params ExportMetricsServiceRequest[] requests)
    {
        var merged = new ExportMetricsServiceRequest();
        foreach (var request in requests)
        {
            merged.ResourceMetrics.Add(request.ResourceMetrics);
        }

        return merged;
    }

    public static byte[] Bytes(this IMessage message) => message.ToByteArray();
}
