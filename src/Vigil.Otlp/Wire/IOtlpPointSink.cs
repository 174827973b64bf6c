namespace Vigil.Otlp.Wire;

public enum OtlpMetricType
{
    Gauge,
    Sum,
    Histogram,
    ExponentialHistogram,
    Summary,
}

public enum Temporality
{
    Unspecified = 0,
    Delta = 1,
    Cumulative = 2,
}

/// <summary>The metric a run of points belongs to. Spans point into the request buffer.</summary>
public readonly ref struct MetricHeader
{
    public required ReadOnlySpan<byte> Name { get; init; }

    public required ReadOnlySpan<byte> Unit { get; init; }

    public required OtlpMetricType Type { get; init; }

    public required Temporality Temporality { get; init; }

    public required bool IsMonotonic { get; init; }

    /// <summary>
    /// Set when the reader refuses every point of this metric (no usable name, no temporality, a resource
    /// whose attributes are not clean text): each point then arrives as <see cref="IOtlpPointSink.Refused"/>
    /// with this reason, and the sink should not create the metric.
    /// </summary>
    public string? Refusal { get; init; }
}

/// <summary>
/// One data point's identity and times. <see cref="Attributes"/> is the list of raw OTLP
/// <c>KeyValue</c> messages, read with <see cref="AttributeReader"/>. The reader's walk checked their
/// structure and that their text is clean (<see cref="AttributeReader.IsClean"/>) before any point
/// reached a sink, refusing the point with <see cref="OtlpPointRules.AttributesText"/> otherwise, so a
/// sink need not check either again.
/// </summary>
public readonly ref struct PointHeader
{
    public required AttributeList Attributes { get; init; }

    public required ulong StartTimeUnixNano { get; init; }

    public required ulong TimeUnixNano { get; init; }

    public required uint Flags { get; init; }

    /// <summary>OTLP <c>DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK</c>: a staleness marker, not a value.</summary>
    public bool NoRecordedValue => (Flags & 1) != 0;
}

public readonly ref struct HistogramValue
{
    public required ulong Count { get; init; }

    public required double Sum { get; init; }

    public required bool HasSum { get; init; }

    public required double Min { get; init; }

    public required double Max { get; init; }

    public required bool HasMin { get; init; }

    public required bool HasMax { get; init; }

    public required ReadOnlySpan<ulong> BucketCounts { get; init; }

    public required ReadOnlySpan<double> ExplicitBounds { get; init; }
}

public readonly ref struct ExponentialHistogramValue
{
    public required ulong Count { get; init; }

    public required double Sum { get; init; }

    public required bool HasSum { get; init; }

    public required double Min { get; init; }

    public required double Max { get; init; }

    public required bool HasMin { get; init; }

    public required bool HasMax { get; init; }

    public required int Scale { get; init; }

    public required ulong ZeroCount { get; init; }

    public required double ZeroThreshold { get; init; }

    public required int PositiveOffset { get; init; }

    public required ReadOnlySpan<ulong> PositiveCounts { get; init; }

    public required int NegativeOffset { get; init; }

    public required ReadOnlySpan<ulong> NegativeCounts { get; init; }
}

public readonly ref struct SummaryValue
{
    public required ulong Count { get; init; }

    public required double Sum { get; init; }

    public required ReadOnlySpan<double> Quantiles { get; init; }

    public required ReadOnlySpan<double> Values { get; init; }
}

/// <summary>
/// Receives what <see cref="OtlpMetricsReader"/> walks, in request order. Each point method returns
/// null when the point is accepted, or a short refusal reason (a constant string, so refusing
/// allocates nothing) that the ingest reports in <c>partial_success</c>.
/// </summary>
public interface IOtlpPointSink
{
    void BeginResource(AttributeList resourceAttributes);

    void BeginMetric(in MetricHeader metric);

    string? Number(in PointHeader point, double value);

    string? Histogram(in PointHeader point, in HistogramValue value);

    string? ExponentialHistogram(in PointHeader point, in ExponentialHistogramValue value);

    string? Summary(in PointHeader point, in SummaryValue value);

    /// <summary>
    /// A point the reader refuses for its content (<see cref="OtlpPointRules"/>): it never reaches the
    /// point methods. Also called with what a point method returned.
    /// </summary>
    void Refused(string reason);
}
