using Google.Protobuf;
using Microsoft.Extensions.Time.Testing;
using Vigil.Otlp.Proto.Collector;
using Vigil.Otlp.Proto.Common;
using Vigil.Otlp.Proto.Metrics;
using Vigil.Otlp.Proto.Resource;
using Vigil.Storage.Query;

namespace Vigil.Storage.Tests;

/// <summary>A store on a fake clock, fed through the real OTLP ingest path, read back through queries.</summary>
internal sealed class StoreHarness
{
    /// <summary>Bucket-aligned (10 s) so tests can reason about which points share a bucket.</summary>
    public static readonly DateTimeOffset T0 = new(2025, 6, 1, 12, 0, 0, TimeSpan.Zero);

    public StoreHarness(WindowStoreOptions? options = null)
    {
        Clock = new FakeTimeProvider(T0);
        Store = new WindowStore(options ?? new WindowStoreOptions(), Clock);
        Ingest = new OtlpIngest(Store);
    }

    public FakeTimeProvider Clock { get; }

    public WindowStore Store { get; }

    public OtlpIngest Ingest { get; }

    public static ulong Nanos(DateTimeOffset time) => WindowStore.ToUnixNano(time);

    public static ulong At(double secondsFromT0) => Nanos(T0.AddSeconds(secondsFromT0));

    public IngestResult Send(params Metric[] metrics) => Send([], metrics);

    public IngestResult Send(KeyValue[] resource, params Metric[] metrics) =>
        Ingest.Ingest(Request(resource, metrics).ToByteArray());

    public static ExportMetricsServiceRequest Request(KeyValue[] resource, params Metric[] metrics)
    {
        var scope = new ScopeMetrics { Scope = new InstrumentationScope { Name = "tests" } };
        scope.Metrics.AddRange(metrics);
        var resourceMetrics = new ResourceMetrics { Resource = new Resource() };
        resourceMetrics.Resource.Attributes.AddRange(resource);
        resourceMetrics.ScopeMetrics.Add(scope);
        return new ExportMetricsServiceRequest { ResourceMetrics = { resourceMetrics } };
    }

    public IReadOnlyList<AggregateSample> Query(
        string metric,
        AggregateFunction function,
        TimeSpan window,
        DateTimeOffset? at = null,
        string[]? by = null,
        LabelMatcher[]? matchers = null,
        double quantile = 0.5) =>
        Store.Aggregate(new AggregateQuery(metric, function, window, by ?? [], matchers ?? [], at ?? Clock.GetUtcNow(), quantile));

    /// <summary>The single ungrouped value; fails when the query returns no sample.</summary>
    public double Value(string metric, AggregateFunction function, TimeSpan window, DateTimeOffset? at = null, double quantile = 0.5, LabelMatcher[]? matchers = null) =>
        Assert.Single(Query(metric, function, window, at, matchers: matchers, quantile: quantile)).Value;

    public static KeyValue Attr(string key, string value) => new() { Key = key, Value = new AnyValue { StringValue = value } };

    public static Metric Gauge(string name, params NumberDataPoint[] points)
    {
        var gauge = new Gauge();
        gauge.DataPoints.AddRange(points);
        return new Metric { Name = name, Gauge = gauge };
    }

    public static Metric Counter(string name, AggregationTemporality temporality, params NumberDataPoint[] points) =>
        Sum(name, temporality, monotonic: true, points);

    public static Metric Sum(string name, AggregationTemporality temporality, bool monotonic, params NumberDataPoint[] points)
    {
        var sum = new Sum { AggregationTemporality = temporality, IsMonotonic = monotonic };
        sum.DataPoints.AddRange(points);
        return new Metric { Name = name, Sum = sum };
    }

    public static NumberDataPoint Point(ulong start, ulong time, double value, params KeyValue[] attributes)
    {
        var point = new NumberDataPoint { StartTimeUnixNano = start, TimeUnixNano = time, AsDouble = value };
        point.Attributes.AddRange(attributes);
        return point;
    }

    public static NumberDataPoint IntPoint(ulong start, ulong time, long value, params KeyValue[] attributes)
    {
        var point = new NumberDataPoint { StartTimeUnixNano = start, TimeUnixNano = time, AsInt = value };
        point.Attributes.AddRange(attributes);
        return point;
    }

    public static Metric Histogram(string name, AggregationTemporality temporality, params HistogramDataPoint[] points)
    {
        var histogram = new Histogram { AggregationTemporality = temporality };
        histogram.DataPoints.AddRange(points);
        return new Metric { Name = name, Unit = "s", Histogram = histogram };
    }

    public static HistogramDataPoint HistogramPoint(ulong start, ulong time, double[] bounds, ulong[] counts, double sum, params KeyValue[] attributes)
    {
        var point = new HistogramDataPoint { StartTimeUnixNano = start, TimeUnixNano = time, Count = (ulong)counts.Sum(c => (long)c), Sum = sum };
        point.ExplicitBounds.AddRange(bounds);
        point.BucketCounts.AddRange(counts);
        point.Attributes.AddRange(attributes);
        return point;
    }

    public static Metric Exponential(string name, AggregationTemporality temporality, params ExponentialHistogramDataPoint[] points)
    {
        var histogram = new ExponentialHistogram { AggregationTemporality = temporality };
        histogram.DataPoints.AddRange(points);
        return new Metric { Name = name, ExponentialHistogram = histogram };
    }

    public static ExponentialHistogramDataPoint ExponentialPoint(ulong start, ulong time, int scale, int offset, ulong[] positive, double sum, ulong zeroCount = 0, int negativeOffset = 0, ulong[]? negative = null)
    {
        var point = new ExponentialHistogramDataPoint
        {
            StartTimeUnixNano = start,
            TimeUnixNano = time,
            Scale = scale,
            Sum = sum,
            ZeroCount = zeroCount,
            Count = zeroCount + (ulong)positive.Sum(c => (long)c) + (ulong)(negative ?? []).Sum(c => (long)c),
            Positive = new ExponentialHistogramDataPoint.Types.Buckets { Offset = offset },
            Negative = new ExponentialHistogramDataPoint.Types.Buckets { Offset = negativeOffset },
        };
        point.Positive.BucketCounts.AddRange(positive);
        point.Negative.BucketCounts.AddRange(negative ?? []);
        return point;
    }

    public static Metric Summary(string name, params SummaryDataPoint[] points)
    {
        var summary = new Summary();
        summary.DataPoints.AddRange(points);
        return new Metric { Name = name, Summary = summary };
    }

    public static SummaryDataPoint SummaryPoint(ulong start, ulong time, ulong count, double sum, params (double Quantile, double Value)[] quantiles)
    {
        var point = new SummaryDataPoint { StartTimeUnixNano = start, TimeUnixNano = time, Count = count, Sum = sum };
        foreach (var (q, v) in quantiles)
        {
            point.QuantileValues.Add(new SummaryDataPoint.Types.ValueAtQuantile { Quantile = q, Value = v });
        }

        return point;
    }
}
