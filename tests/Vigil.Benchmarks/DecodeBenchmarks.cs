using BenchmarkDotNet.Attributes;
using Vigil.Otlp.Wire;
using Vigil.Perf;
using Vigil.Storage;

namespace Vigil.Benchmarks;

/// <summary>
/// OtlpMetricsReader alone: the validating pass (null sink) and a pass into a sink that only reads
/// each point's attributes and counts, as the store's key builder would. Results are per point.
/// </summary>
[MemoryDiagnoser]
[SimpleJob(warmupCount: 2, iterationCount: 5)]
public class DecodeBenchmarks
{
    private readonly OtlpMetricsReader _reader = new();
    private readonly CountingSink _sink = new();
    private readonly TenantPointCounts _tenants = new("tenant.id");
    private EncodedRequest _request = null!;

    [GlobalSetup]
    public void Setup() => _request = Workload.Request();

    [Benchmark(OperationsPerInvoke = Workload.PointsPerRequest, Description = "Read, counting sink (per point)")]
    public int ReadWithCountingSink()
    {
        _reader.Read(_request.Bytes, _sink);
        return _sink.Points;
    }

    [Benchmark(OperationsPerInvoke = Workload.PointsPerRequest, Description = "Read, validate only (null sink, per point)")]
    public int ReadValidateOnly()
    {
        _reader.Read(_request.Bytes, null);
        return _reader.PointCount;
    }

    [Benchmark(OperationsPerInvoke = Workload.PointsPerRequest, Description = "Read, validate + count per tenant (rate limit on, per point)")]
    public long ReadValidateCountingTenants()
    {
        _tenants.Reset(null);
        _reader.Read(_request.Bytes, null, _tenants);
        return _tenants.Points(0);
    }

    /// <summary>Counts points and walks their attributes, so the attribute decoding cost is included.</summary>
    private sealed class CountingSink : IOtlpPointSink
    {
        public int Points;
        public int Attributes;
        public double Total;

        public void BeginResource(AttributeList resourceAttributes) => Points = 0;

        public void BeginMetric(in MetricHeader metric)
        {
        }

        public string? Number(in PointHeader point, double value)
        {
            Points++;
            Total += value;
            var reader = point.Attributes.GetReader();
            while (reader.MoveNext())
            {
                Attributes += reader.Key.Length + reader.Value.Length;
            }

            return null;
        }

        public string? Histogram(in PointHeader point, in HistogramValue value) => null;

        public string? ExponentialHistogram(in PointHeader point, in ExponentialHistogramValue value) => null;

        public string? Summary(in PointHeader point, in SummaryValue value) => null;

        public void Refused(string reason)
        {
        }
    }
}
