using Vigil.Storage.Query;

namespace Vigil.Storage;

public sealed partial class WindowStore
{
    public IReadOnlyList<AggregateSample> Aggregate(AggregateQuery query)
    {
        if (query.Window < Options.Resolution)
        {
            throw new QueryException($"window {query.Window} is shorter than the store resolution {Options.Resolution}");
        }

        if (query.Window > Options.Retention)
        {
            throw new QueryException($"window {query.Window} is longer than the retention {Options.Retention}; raise storage.retention");
        }

        if (!_metrics.TryGetValue(query.Metric, out var metric))
        {
            return [];
        }

        CheckApplicable(query, metric);
        if (query.Function == AggregateFunction.Quantile && query.Quantile is < 0 or > 1 or double.NaN)
        {
            throw new QueryException($"quantile q={query.Quantile} must be between 0 and 1");
        }

        var to = BucketOf(query.At);
        var from = to - (int)Math.Ceiling(query.Window.Ticks / (double)Options.Resolution.Ticks) + 1;
        var groups = new GroupTable(query.By);
        Group? pending = null;
        using (var selection = metric.Select(query.Matchers))
        {
            // Streamed from the index: no copy of the metric's series, no key string per series.
            while (selection.Next() is { } series)
            {
                if (series.LastBucket < from)
                {
                    // Nothing at or after the window's start, whatever the kind: no group, no lock, no decode (an
                    // idle store's reads). Read without the stripe lock: a point acknowledged before this read was
                    // published by its writer's lock release; one being written now may or may not be seen.
                    continue;
                }

                var group = groups.Find(series.Labels, out var hash) ?? (pending ??= new Group());
                bool present;
                lock (_stripes[series.Stripe])
                {
                    present = group.Fold(series, from, to, query.Quantile);
                }

                if (present && ReferenceEquals(group, pending))
                {
                    groups.Add(pending, series.Labels, hash);
                    pending = null;
                }
            }
        }

        var results = new List<AggregateSample>(groups.Count);
        var sortKeys = new List<string>(groups.Count);
        foreach (var group in groups.All())
        {
            var (value, samples) = group.Result(metric.Kind, query);
            if (!double.IsNaN(value))
            {
                results.Add(new AggregateSample(group.Labels, value, samples));
                sortKeys.Add(string.Join('\u0000', group.Labels.Values));
            }
        }

        // One key string per result, not two per comparison.
        var keys = sortKeys.ToArray();
        var sorted = results.ToArray();
        Array.Sort(keys, sorted, StringComparer.Ordinal);
        return sorted;
    }

    /// <summary>
    /// Marks every series changed, as a write would, so the next read of each folds its buckets again (the
    /// benchmarks' cold round: what a round costs when every series received a point since the last one).
    /// </summary>
    internal void ForgetReads()
    {
        foreach (var metric in _metrics.Values)
        {
            using var selection = metric.Select([]);
            while (selection.Next() is { } series)
            {
                lock (_stripes[series.Stripe])
                {
                    series.Changes++;
                }
            }
        }
    }

    /// <summary>Approximate bytes of the label indexes of every metric (docs/performance.md, "Rule reads").</summary>
    public long ApproximateIndexBytes()
    {
        long total = 0;
        foreach (var metric in _metrics.Values)
        {
            total += metric.IndexBytes();
        }

        return total;
    }

    private static void CheckApplicable(AggregateQuery query, MetricState metric)
    {
        var fn = query.Function;
        var ok = metric.Kind switch
        {
            MetricKind.Counter => fn is AggregateFunction.Increase or AggregateFunction.Rate or AggregateFunction.Sum or AggregateFunction.Count,
            MetricKind.Gauge => fn is AggregateFunction.Sum or AggregateFunction.Avg or AggregateFunction.Min or AggregateFunction.Max or AggregateFunction.Last or AggregateFunction.Count,
            MetricKind.Summary => fn is not (AggregateFunction.Min or AggregateFunction.Max or AggregateFunction.Last),
            _ => fn is not AggregateFunction.Last,
        };
        if (ok)
        {
            return;
        }

        var hint = metric.Kind switch
        {
            MetricKind.Counter => "use increase, rate, sum or count",
            MetricKind.Gauge => "use last, avg, min, max, sum or count",
            MetricKind.Summary => "use increase, rate, count, sum, avg or quantile",
            _ => "use increase, rate, count, sum, avg, min, max or quantile",
        };
        throw new QueryException($"{fn.ToString().ToLowerInvariant()} does not apply to {query.Metric}, a {metric.Kind.ToDisplay()}; {hint}");
    }

    /// <summary>
    /// Groups keyed by their <c>by</c> values without building a key per series: a hash of the values, then an
    /// ordinal comparison with the group's own (a missing label counts as the empty string).
    /// </summary>
    private sealed class GroupTable(IReadOnlyList<string> by)
    {
        private readonly Dictionary<int, Group> _byHash = [];
        private readonly List<Group> _order = [];

        public int Count => _order.Count;

        public List<Group> All() => _order;

        public Group? Find(IReadOnlyDictionary<string, string> labels, out int hash)
        {
            if (by.Count == 0)
            {
                hash = 0;
                return _order.Count > 0 ? _order[0] : null;
            }

            // Indexed, not foreach: an enumerator of the IReadOnlyList would be boxed per series.
            var combined = default(HashCode);
            for (var i = 0; i < by.Count; i++)
            {
                combined.Add(string.GetHashCode(labels.GetValueOrDefault(by[i]) ?? string.Empty, StringComparison.Ordinal));
            }

            hash = combined.ToHashCode();
            for (var group = _byHash.GetValueOrDefault(hash); group is not null; group = group.Next)
            {
                if (SameValues(group, labels))
                {
                    return group;
                }
            }

            return null;
        }

        public void Add(Group group, IReadOnlyDictionary<string, string> labels, int hash)
        {
            group.SetLabels(labels, by);
            if (by.Count > 0)
            {
                group.Next = _byHash.GetValueOrDefault(hash);
                _byHash[hash] = group;
            }

            _order.Add(group);
        }

        private bool SameValues(Group group, IReadOnlyDictionary<string, string> labels)
        {
            for (var i = 0; i < by.Count; i++)
            {
                if (!string.Equals(group.Values[i], labels.GetValueOrDefault(by[i]) ?? string.Empty, StringComparison.Ordinal))
                {
                    return false;
                }
            }

            return true;
        }
    }

    /// <summary>What one group of series adds up to over the window.</summary>
    private sealed class Group
    {
        private double _counterSum;
        private double _counterPoints;
        private GaugeFold _gauge = GaugeFold.Empty;
        private HistogramFold _histogram = HistogramFold.Empty;
        private ExponentialFold _exponential;
        private double _summaryQuantile = double.NaN;

        /// <summary>The next group with the same hash of its values.</summary>
        public Group? Next { get; set; }

        /// <summary>The <c>by</c> values, a missing label as the empty string.</summary>
        public string[] Values { get; private set; } = [];

        /// <summary>The <c>by</c> labels of the group's first series with data.</summary>
        public IReadOnlyDictionary<string, string> Labels { get; private set; } = EmptyLabels;

        private static readonly Dictionary<string, string> EmptyLabels = [];

        public void SetLabels(IReadOnlyDictionary<string, string> labels, IReadOnlyList<string> by)
        {
            var groupLabels = new Dictionary<string, string>(by.Count, StringComparer.Ordinal);
            var values = new string[by.Count];
            for (var i = 0; i < by.Count; i++)
            {
                if (labels.TryGetValue(by[i], out var value))
                {
                    groupLabels[by[i]] = value;
                }

                values[i] = value ?? string.Empty;
            }

            Labels = groupLabels;
            Values = values;
        }

        public bool Fold(Series series, int from, int to, double quantile) => series switch
        {
            CounterSeries counter => FoldCounter(counter, from, to),
            GaugeSeries gauge => gauge.Fold(from, to, ref _gauge),
            HistogramSeries histogram => histogram.Fold(from, to, ref _histogram),
            ExponentialHistogramSeries exponential => exponential.Fold(from, to, ref _exponential),
            SummarySeries summary => summary.Fold(from, to, quantile, ref _histogram, ref _summaryQuantile),
            _ => false,
        };

        /// <summary>
        /// A series' window sum is taken alone, then added to the group's (in creation order, as before): that sum is
        /// what <see cref="FoldMemo"/> keeps, so a memo hit adds exactly what a fold would.
        /// </summary>
        private bool FoldCounter(CounterSeries counter, int from, int to)
        {
            var memo = counter.Memo ??= new FoldMemo();
            if (!memo.Holds(counter, from, to))
            {
                double sum = 0, points = 0;
                var found = counter.Fold(from, to, ref sum, ref points);
                memo.Set(counter, from, to, found, sum, points);
            }

            if (memo.Present)
            {
                _counterSum += memo.Sum;
                _counterPoints += memo.Points;
            }

            return memo.Present;
        }

        public (double Value, double Samples) Result(MetricKind kind, AggregateQuery query)
        {
            var seconds = query.Window.TotalSeconds;
            switch (kind)
            {
                case MetricKind.Counter:
                    return query.Function switch
                    {
                        AggregateFunction.Rate => (_counterSum / seconds, _counterSum),
                        AggregateFunction.Count => (_counterPoints, _counterPoints),
                        _ => (_counterSum, _counterSum),
                    };
                case MetricKind.Gauge:
                    var value = query.Function switch
                    {
                        AggregateFunction.Sum => _gauge.Sum,
                        AggregateFunction.Avg => _gauge.Count == 0 ? double.NaN : _gauge.Sum / _gauge.Count,
                        AggregateFunction.Min => _gauge.Min,
                        AggregateFunction.Max => _gauge.Max,
                        AggregateFunction.Count => _gauge.Count,
                        _ => _gauge.Last,
                    };
                    return (value, _gauge.Count);
                case MetricKind.ExponentialHistogram:
                    var merged = _exponential.Merged;
                    if (merged is null)
                    {
                        return (double.NaN, 0);
                    }

                    return (HistogramValue(query, merged.Count, merged.Sum, merged.Min, merged.Max, () => HistogramMath.Quantile(query.Quantile, merged)), merged.Count);
                case MetricKind.Summary:
                    return (HistogramValue(query, _histogram.Count, _histogram.Sum, double.NaN, double.NaN, () => _summaryQuantile), _histogram.Count);
                default:
                    var h = _histogram;
                    return (HistogramValue(query, h.Count, h.Sum, h.Min, h.Max, () => h.Bounds is null ? double.NaN : HistogramMath.Quantile(query.Quantile, h.Bounds, h.Counts!, h.Min, h.Max)), h.Count);
            }
        }

        private static double HistogramValue(AggregateQuery query, double count, double sum, double min, double max, Func<double> quantile) => query.Function switch
        {
            AggregateFunction.Increase or AggregateFunction.Count => count,
            AggregateFunction.Rate => count / query.Window.TotalSeconds,
            AggregateFunction.Sum => sum,
            AggregateFunction.Avg => count == 0 ? double.NaN : sum / count,
            AggregateFunction.Min => double.IsFinite(min) ? min : double.NaN,
            AggregateFunction.Max => double.IsFinite(max) ? max : double.NaN,
            _ => quantile(),
        };
    }
}
