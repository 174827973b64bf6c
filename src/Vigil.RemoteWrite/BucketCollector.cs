using System.Runtime.CompilerServices;
using Vigil.Query;
using Vigil.RemoteWrite.Wire;
using Vigil.Storage;
using Vigil.Storage.Query;

namespace Vigil.RemoteWrite;

/// <summary>One sample of a bucket on its way out: its encoded labels, its id, and its value (a delta when <see cref="Cumulative"/>).</summary>
internal readonly record struct OutgoingSample(byte[] Labels, ulong Id, double Value, bool Cumulative);

/// <summary>
/// Turns one bucket of the window store into Prometheus samples: counters as <c>x_total</c>, gauges as their last
/// value, histograms as cumulative <c>x_bucket{le}</c> with <c>x_sum</c> and <c>x_count</c>, exponential histograms as
/// <c>x_sum</c> and <c>x_count</c>, summaries as <c>x{quantile}</c> with <c>x_sum</c> and <c>x_count</c>. Counter-like
/// samples carry the bucket's delta; the queue adds them to its running totals.
/// </summary>
internal sealed class BucketCollector(IReadOnlyList<IReadOnlyList<LabelMatcher>> selectors) : IBucketVisitor
{
    // Names, label encodings, ids and the match verdict are worked out once per series: the store hands the same labels
    // instance every time, and forgets it (so the table does) when the series expires.
    private readonly ConditionalWeakTable<IReadOnlyDictionary<string, string>, SeriesEntry> _entries = new();

    public List<OutgoingSample> Samples { get; } = [];

    public void Visit(string metric, string unit, IReadOnlyDictionary<string, string> labels, in BucketView view)
    {
        var entry = _entries.GetValue(labels, static _ => new SeriesEntry());
        entry.Family ??= PrometheusNames.MetricName(metric, unit, view.Kind);
        switch (view.Kind)
        {
            case MetricKind.Counter:
                Add(entry.Main ??= Encode(entry.Family, labels), view.Value, cumulative: true);
                break;
            case MetricKind.Gauge:
                Add(entry.Main ??= Encode(entry.Family, labels), view.Value, cumulative: false);
                break;
            case MetricKind.Histogram:
                if (!view.Bounds.SequenceEqual(entry.Bounds))
                {
                    entry.Bounds = view.Bounds.ToArray();
                    entry.Buckets = new Encoded[entry.Bounds.Length + 1];
                }

                double running = 0;
                for (var i = 0; i < entry.Buckets.Length; i++)
                {
                    running += i < view.BucketCounts.Length ? view.BucketCounts[i] : 0;
                    var le = i < entry.Bounds.Length ? SampleLabels.FormatBound(entry.Bounds[i]) : "+Inf";
                    Add(entry.Buckets[i] ??= Encode(entry.Family + "_bucket", labels, "le", le), running, cumulative: true);
                }

                AddSumAndCount(entry, labels, view);
                break;
            case MetricKind.Summary:
                if (!view.Quantiles.SequenceEqual(entry.Quantiles))
                {
                    entry.Quantiles = view.Quantiles.ToArray();
                    entry.QuantileSeries = new Encoded[entry.Quantiles.Length];
                }

                for (var i = 0; i < entry.QuantileSeries.Length && i < view.QuantileValues.Length; i++)
                {
                    Add(entry.QuantileSeries[i] ??= Encode(entry.Family, labels, "quantile", SampleLabels.FormatBound(entry.Quantiles[i])), view.QuantileValues[i], cumulative: false);
                }

                AddSumAndCount(entry, labels, view);
                break;
            default:
                AddSumAndCount(entry, labels, view);
                break;
        }
    }

    private void AddSumAndCount(SeriesEntry entry, IReadOnlyDictionary<string, string> labels, in BucketView view)
    {
        Add(entry.Sum ??= Encode(entry.Family + "_sum", labels), view.Sum, cumulative: true);
        Add(entry.Count ??= Encode(entry.Family + "_count", labels), view.Count, cumulative: true);
    }

    private void Add(Encoded encoded, double value, bool cumulative)
    {
        if (encoded.Labels is not null)
        {
            Samples.Add(new OutgoingSample(encoded.Labels, encoded.Id, value, cumulative));
        }
    }

    private Encoded Encode(string name, IReadOnlyDictionary<string, string> attributes, string? extraName = null, string? extraValue = null)
    {
        var labels = SampleLabels.FromStore(name, attributes, extraName, extraValue);
        return SampleLabels.Matches(labels, selectors)
            ? new Encoded(WriteRequestEncoder.EncodeLabels(labels), SampleLabels.Id(labels))
            : Encoded.Skipped;
    }

    /// <summary>A sample series' wire labels and id; <see cref="Labels"/> is null when the match filters leave it out.</summary>
    private sealed record Encoded(byte[]? Labels, ulong Id)
    {
        public static readonly Encoded Skipped = new(null, 0);
    }

    private sealed class SeriesEntry
    {
        public string? Family;
        public Encoded? Main;
        public Encoded? Sum;
        public Encoded? Count;
        public double[] Bounds = [];
        public Encoded?[] Buckets = [];
        public double[] Quantiles = [];
        public Encoded?[] QuantileSeries = [];
    }
}
