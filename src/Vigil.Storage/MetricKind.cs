namespace Vigil.Storage;

/// <summary>How a metric is stored; fixed by the first point Vigil sees for a metric name.</summary>
public enum MetricKind
{
    /// <summary>Monotonic sums and delta sums: each bucket holds the summed delta.</summary>
    Counter,

    /// <summary>Gauges and cumulative non-monotonic sums (levels, as Prometheus treats them).</summary>
    Gauge,

    Histogram,
    ExponentialHistogram,
    Summary,
}

public static class MetricKindNames
{
    public static string ToDisplay(this MetricKind kind) => kind switch
    {
        MetricKind.Counter => "counter",
        MetricKind.Gauge => "gauge",
        MetricKind.Histogram => "histogram",
        MetricKind.ExponentialHistogram => "exponential histogram",
        MetricKind.Summary => "summary",
        _ => kind.ToString(),
    };
}
