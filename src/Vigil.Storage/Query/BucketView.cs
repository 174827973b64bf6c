namespace Vigil.Storage.Query;

/// <summary>
/// What one series holds in one time bucket, as the kind keeps it: a counter's delta sum, a gauge's last value, a
/// histogram's or summary's delta count and sum (with the explicit buckets' non-cumulative counts or the latest
/// quantiles). Spans point into the store and are valid only during <see cref="IBucketVisitor.Visit"/>.
/// </summary>
public readonly ref struct BucketView
{
    public MetricKind Kind { get; init; }

    /// <summary>Counter: the bucket's delta sum. Gauge: the last value in the bucket.</summary>
    public double Value { get; init; }

    /// <summary>Histograms and summaries: observations added in the bucket.</summary>
    public double Count { get; init; }

    /// <summary>Histograms and summaries: the sum of the observations added in the bucket.</summary>
    public double Sum { get; init; }

    /// <summary>Explicit-bucket histograms: upper bounds (the +Inf bucket is implied).</summary>
    public ReadOnlySpan<double> Bounds { get; init; }

    /// <summary>Explicit-bucket histograms: count per bucket, one more than <see cref="Bounds"/>, not cumulative.</summary>
    public ReadOnlySpan<long> BucketCounts { get; init; }

    /// <summary>Summaries: the quantiles of the latest point in the bucket, and their values.</summary>
    public ReadOnlySpan<double> Quantiles { get; init; }

    public ReadOnlySpan<double> QuantileValues { get; init; }
}

/// <summary>Receives every series that has data in one bucket; called under the series' lock, so keep it short.</summary>
public interface IBucketVisitor
{
    /// <param name="labels">The series' labels (OTel attribute names); the same instance every time for one series.</param>
    void Visit(string metric, string unit, IReadOnlyDictionary<string, string> labels, in BucketView view);
}
