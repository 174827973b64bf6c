using OpenTelemetry;
using OpenTelemetry.Metrics;

namespace Vigil.Instrumentation.Tests;

/// <summary>One exported point, copied out of the SDK's reused buffers.</summary>
internal sealed record CapturedPoint(
    string Name,
    string Unit,
    MetricType Type,
    IReadOnlyDictionary<string, string> Attributes,
    double Value,
    long HistogramCount,
    IReadOnlyList<double> Bounds);

/// <summary>
/// A MeterProvider on one meter, exporting with delta temporality into a list on every <see cref="Collect"/>:
/// each call returns what was recorded since the previous one.
/// </summary>
internal sealed class MetricCapture : IDisposable
{
    private readonly CaptureExporter _exporter = new();
    private readonly MeterProvider _provider;

    public MetricCapture(string meterName)
    {
        _provider = Sdk.CreateMeterProviderBuilder()
            .AddVigilInstrumentation(meterName)
            .AddReader(new BaseExportingMetricReader(_exporter) { TemporalityPreference = MetricReaderTemporalityPreference.Delta })
            .Build();
    }

    public IReadOnlyList<CapturedPoint> Collect()
    {
        _exporter.Points.Clear();
        Assert.True(_provider.ForceFlush(), "the MeterProvider did not flush");
        return [.. _exporter.Points];
    }

    public void Dispose() => _provider.Dispose();

    private sealed class CaptureExporter : BaseExporter<Metric>
    {
        public List<CapturedPoint> Points { get; } = [];

        public override ExportResult Export(in Batch<Metric> batch)
        {
            foreach (var metric in batch)
            {
                foreach (ref readonly var point in metric.GetMetricPoints())
                {
                    var attributes = new Dictionary<string, string>(StringComparer.Ordinal);
                    foreach (var tag in point.Tags)
                    {
                        attributes[tag.Key] = Convert.ToString(tag.Value, System.Globalization.CultureInfo.InvariantCulture) ?? "";
                    }

                    switch (metric.MetricType)
                    {
                        case MetricType.LongSum:
                            Points.Add(new(metric.Name, metric.Unit, metric.MetricType, attributes, point.GetSumLong(), 0, []));
                            break;
                        case MetricType.DoubleSum:
                            Points.Add(new(metric.Name, metric.Unit, metric.MetricType, attributes, point.GetSumDouble(), 0, []));
                            break;
                        case MetricType.Histogram:
                            var bounds = new List<double>();
                            foreach (var bucket in point.GetHistogramBuckets())
                            {
                                if (!double.IsPositiveInfinity(bucket.ExplicitBound))
                                {
                                    bounds.Add(bucket.ExplicitBound);
                                }
                            }

                            Points.Add(new(metric.Name, metric.Unit, metric.MetricType, attributes, point.GetHistogramSum(), point.GetHistogramCount(), bounds));
                            break;
                        default:
                            throw new InvalidOperationException($"unexpected metric type {metric.MetricType} for {metric.Name}");
                    }
                }
            }

            return ExportResult.Success;
        }
    }
}
