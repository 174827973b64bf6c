using Google.Protobuf;
using Microsoft.Extensions.Time.Testing;
using Vigil.Otlp.Proto.Collector;
using Vigil.Otlp.Proto.Common;
using Vigil.Otlp.Proto.Metrics;
using Vigil.Otlp.Proto.Resource;
using Vigil.Query.Evaluation;
using Vigil.Query.Exposition;
using Vigil.Storage;

namespace Vigil.Query.Tests;

/// <summary>A real window store on a fake clock, fed by AddNumber and the OTLP ingest path, queried through the engine.</summary>
internal sealed class QueryHarness
{
    /// <summary>Bucket-aligned (10 s), so tests can say which bucket a point lands in.</summary>
    public static readonly DateTimeOffset T0 = new(2025, 6, 1, 12, 0, 0, TimeSpan.Zero);

    public QueryHarness(IEnumerable<IExpositionSource>? live = null)
    {
        Clock = new FakeTimeProvider(T0);
        Store = new WindowStore(new WindowStoreOptions(), Clock);
        Engine = new PromQueryEngine(Store, PromQueryOptions.From(Store.Options), Clock, live);
    }

    public FakeTimeProvider Clock { get; }

    /// <summary>queue.depth (AddNumber keeps no unit, so no unit suffix): host a 100 @10s, 300 @70s, 200 @130s; host b 50 @20s; clock at 180 s.</summary>
    public static QueryHarness QueueDepth()
    {
        var h = new QueryHarness();
        h.Clock.SetUtcNow(At(180));
        h.Gauge("queue.depth", 10, 100, ("host", "a"));
        h.Gauge("queue.depth", 70, 300, ("host", "a"));
        h.Gauge("queue.depth", 130, 200, ("host", "a"));
        h.Gauge("queue.depth", 20, 50, ("host", "b"));
        return h;
    }

    public WindowStore Store { get; }

    public PromQueryEngine Engine { get; }

    public static DateTimeOffset At(double seconds) => T0.AddSeconds(seconds);

    public void Delta(string metric, double seconds, double value, params (string Key, string Value)[] labels)
    {
        var time = At(seconds);
        var outcome = Store.AddNumber(metric, MetricKind.Counter, cumulative: false, Map(labels), time.AddSeconds(-1), time, value);
        Assert.True(outcome.IsAccepted, outcome.RefusalReason);
    }

    public void Gauge(string metric, double seconds, double value, params (string Key, string Value)[] labels)
    {
        var outcome = Store.AddNumber(metric, MetricKind.Gauge, cumulative: false, Map(labels), default, At(seconds), value);
        Assert.True(outcome.IsAccepted, outcome.RefusalReason);
    }

    public void Send(params Metric[] metrics)
    {
        var scope = new ScopeMetrics { Scope = new InstrumentationScope { Name = "tests" } };
        scope.Metrics.AddRange(metrics);
        var request = new ExportMetricsServiceRequest { ResourceMetrics = { new ResourceMetrics { Resource = new Resource(), ScopeMetrics = { scope } } } };
        var result = new OtlpIngest(Store).Ingest(request.ToByteArray());
        Assert.True(result.Rejected == 0, result.ErrorMessage);
    }

    public static Metric DeltaSum(string name, string unit, double seconds, double value, params (string Key, string Value)[] labels)
    {
        var point = new NumberDataPoint
        {
            StartTimeUnixNano = WindowStore.ToUnixNano(At(seconds - 1)),
            TimeUnixNano = WindowStore.ToUnixNano(At(seconds)),
            AsDouble = value,
        };
        foreach (var (key, text) in labels)
        {
            point.Attributes.Add(new KeyValue { Key = key, Value = new AnyValue { StringValue = text } });
        }

        var sum = new Sum { AggregationTemporality = AggregationTemporality.Delta, IsMonotonic = true };
        sum.DataPoints.Add(point);
        return new Metric { Name = name, Unit = unit, Sum = sum };
    }

    public static Metric Histogram(string name, string unit, params HistogramDataPoint[] points)
    {
        var histogram = new Histogram { AggregationTemporality = AggregationTemporality.Delta };
        histogram.DataPoints.AddRange(points);
        return new Metric { Name = name, Unit = unit, Histogram = histogram };
    }

    public static HistogramDataPoint HistogramPoint(double startSeconds, double seconds, double[] bounds, ulong[] counts, double sum, string tenant)
    {
        var point = new HistogramDataPoint
        {
            StartTimeUnixNano = WindowStore.ToUnixNano(At(startSeconds)),
            TimeUnixNano = WindowStore.ToUnixNano(At(seconds)),
            Count = (ulong)counts.Sum(c => (long)c),
            Sum = sum,
        };
        point.ExplicitBounds.AddRange(bounds);
        point.BucketCounts.AddRange(counts);
        point.Attributes.Add(new KeyValue { Key = "tenant.id", Value = new AnyValue { StringValue = tenant } });
        return point;
    }

    /// <summary>The instant vector of a query as "labels → value", failing when the result is a scalar.</summary>
    public Dictionary<string, double> Vector(string query, double atSeconds)
    {
        var result = Engine.Query(query, At(atSeconds));
        var vector = Assert.IsType<VectorValue>(result.Value);
        return vector.Samples.ToDictionary(s => s.Labels.ToString(), s => s.Value);
    }

    public double Scalar(string query, double atSeconds) => Assert.IsType<ScalarValue>(Engine.Query(query, At(atSeconds)).Value).Value;

    private static Dictionary<string, string> Map((string Key, string Value)[] labels) => labels.ToDictionary(l => l.Key, l => l.Value);
}
