using Vigil.Otlp.Wire;

namespace Vigil.Otlp.Tests;

/// <summary>
/// Copies everything the reader hands over into plain objects the tests can assert on. Like any sink
/// that keeps attributes, it refuses points whose attribute text is not clean (see PointHeader).
/// </summary>
internal sealed class RecordingSink : IOtlpPointSink
{
    private RecordedMetric? _metric;

    public List<Dictionary<string, string>> Resources { get; } = [];

    public List<RecordedMetric> Metrics { get; } = [];

    public List<RecordedPoint> Points { get; } = [];

    public List<string> Refusals { get; } = [];

    /// <summary>When set, every point is refused with this reason (to check refusals flow back).</summary>
    public string? RefuseWith { get; set; }

    public void BeginResource(AttributeList resourceAttributes) => Resources.Add(Labels(resourceAttributes));

    public void BeginMetric(in MetricHeader metric)
    {
        _metric = new RecordedMetric(
            System.Text.Encoding.UTF8.GetString(metric.Name),
            System.Text.Encoding.UTF8.GetString(metric.Unit),
            metric.Type,
            metric.Temporality,
            metric.IsMonotonic);
        Metrics.Add(_metric);
    }

    public string? Number(in PointHeader point, double value)
    {
        if (!Clean(point.Attributes))
        {
            return OtlpPointRules.AttributesText;
        }

        Points.Add(new RecordedPoint(_metric!, Labels(point.Attributes), point.StartTimeUnixNano, point.TimeUnixNano, point.Flags) { Value = value });
        return RefuseWith;
    }

    public string? Histogram(in PointHeader point, in HistogramValue value)
    {
        if (!Clean(point.Attributes))
        {
            return OtlpPointRules.AttributesText;
        }

        Points.Add(new RecordedPoint(_metric!, Labels(point.Attributes), point.StartTimeUnixNano, point.TimeUnixNano, point.Flags)
        {
            Count = value.Count,
            Sum = value.HasSum ? value.Sum : null,
            Min = value.HasMin ? value.Min : null,
            Max = value.HasMax ? value.Max : null,
            BucketCounts = value.BucketCounts.ToArray(),
            Bounds = value.ExplicitBounds.ToArray(),
        });
        return RefuseWith;
    }

    public string? ExponentialHistogram(in PointHeader point, in ExponentialHistogramValue value)
    {
        if (!Clean(point.Attributes))
        {
            return OtlpPointRules.AttributesText;
        }

        Points.Add(new RecordedPoint(_metric!, Labels(point.Attributes), point.StartTimeUnixNano, point.TimeUnixNano, point.Flags)
        {
            Count = value.Count,
            Sum = value.HasSum ? value.Sum : null,
            Min = value.HasMin ? value.Min : null,
            Max = value.HasMax ? value.Max : null,
            Scale = value.Scale,
            ZeroCount = value.ZeroCount,
            ZeroThreshold = value.ZeroThreshold,
            PositiveOffset = value.PositiveOffset,
            BucketCounts = value.PositiveCounts.ToArray(),
            NegativeOffset = value.NegativeOffset,
            NegativeCounts = value.NegativeCounts.ToArray(),
        });
        return RefuseWith;
    }

    public string? Summary(in PointHeader point, in SummaryValue value)
    {
        if (!Clean(point.Attributes))
        {
            return OtlpPointRules.AttributesText;
        }

        Points.Add(new RecordedPoint(_metric!, Labels(point.Attributes), point.StartTimeUnixNano, point.TimeUnixNano, point.Flags)
        {
            Count = value.Count,
            Sum = value.Sum,
            Quantiles = value.Quantiles.ToArray(),
            QuantileValues = value.Values.ToArray(),
        });
        return RefuseWith;
    }

    public void Refused(string reason) => Refusals.Add(reason);

    private static bool Clean(AttributeList attributes) => AttributeReader.HasCleanText(attributes.Message, attributes.FieldNumber);

    private static Dictionary<string, string> Labels(AttributeList attributes)
    {
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        var reader = attributes.GetReader();
        while (reader.MoveNext())
        {
            labels[System.Text.Encoding.UTF8.GetString(reader.Key)] = AttributeReader.FormatValue(reader.ValueType, reader.Value);
        }

        return labels;
    }
}

internal sealed record RecordedMetric(string Name, string Unit, OtlpMetricType Type, Temporality Temporality, bool IsMonotonic);

internal sealed record RecordedPoint(RecordedMetric Metric, Dictionary<string, string> Attributes, ulong Start, ulong Time, uint Flags)
{
    public double? Value { get; init; }

    public ulong? Count { get; init; }

    public double? Sum { get; init; }

    public double? Min { get; init; }

    public double? Max { get; init; }

    public ulong[] BucketCounts { get; init; } = [];

    public double[] Bounds { get; init; } = [];

    public int? Scale { get; init; }

    public ulong? ZeroCount { get; init; }

    public double? ZeroThreshold { get; init; }

    public int? PositiveOffset { get; init; }

    public int? NegativeOffset { get; init; }

    public ulong[] NegativeCounts { get; init; } = [];

    public double[] Quantiles { get; init; } = [];

    public double[] QuantileValues { get; init; } = [];
}
