using Vigil.Storage.Query;

namespace Vigil.Rules;

/// <summary>One group-by instance as an evaluation saw it.</summary>
public sealed record InstanceObservation(IReadOnlyDictionary<string, string> Labels, string Key, Observation Observation);

/// <summary>A windowed value of a selection for one group-by label set; <see cref="Value"/> is null when there is none (a ratio over zero).</summary>
public sealed record SelectionSample(IReadOnlyDictionary<string, string> Labels, double? Value, double Samples);

/// <summary>Reads a rule's value per group-by instance from the window store.</summary>
public sealed class RuleEvaluator(IWindowReader reader)
{
    /// <summary>Evaluates a selection; a ratio joins two increases on the group-by labels and takes the denominator's samples.</summary>
    public IReadOnlyList<SelectionSample> Select(Selection selection, IReadOnlyList<string> by, TimeSpan window, DateTimeOffset now)
    {
        if (selection.Kind != SelectionKind.Ratio)
        {
            var query = new AggregateQuery(selection.Of.Metric, Selection.FunctionOf(selection.Kind), window, by, selection.Of.Matchers, now, selection.Quantile);
            return reader.Aggregate(query)
                .Select(s => new SelectionSample(s.Labels, double.IsFinite(s.Value) ? s.Value : null, s.Samples))
                .ToList();
        }

        var numerator = new Dictionary<IReadOnlyDictionary<string, string>, double>(SameLabels.Instance);
        foreach (var n in reader.Aggregate(new AggregateQuery(selection.Of.Metric, AggregateFunction.Increase, window, by, selection.Of.Matchers, now)))
        {
            numerator.TryAdd(n.Labels, n.Value);
        }

        var denominator = reader.Aggregate(new AggregateQuery(selection.To!.Metric, AggregateFunction.Increase, window, by, selection.To.Matchers, now));
        var result = new List<SelectionSample>(denominator.Count);
        foreach (var d in denominator)
        {
            var of = numerator.TryGetValue(d.Labels, out var n) ? n : 0;
            double? value = d.Value > 0 && double.IsFinite(of) ? of / d.Value : null;
            result.Add(new SelectionSample(d.Labels, value, d.Samples));
        }

        return result;
    }

    /// <summary>How late <paramref name="metric"/>'s points have been arriving (query_offset: auto), or null when unknown.</summary>
    public TimeSpan? ArrivalLagOf(string metric) => reader.ArrivalLagOf(metric);

    /// <summary>A recorded aggregate's current value per label set; instances below its min_samples have no value.</summary>
    public IReadOnlyList<SelectionSample> Record(AggregateRule aggregate, DateTimeOffset now) =>
        Select(aggregate.Selection, aggregate.By, aggregate.Window, now)
            .Select(s => s.Samples < aggregate.MinSamples ? s with { Value = null } : s)
            .ToList();

    /// <summary>
    /// The observation of every instance the window holds for <paramref name="rule"/>. A rule without <c>by</c>
    /// always has its one instance, with no data when the window is empty.
    /// </summary>
    public IReadOnlyList<InstanceObservation> Observe(AlertRule rule, DateTimeOffset now, IReadOnlyDictionary<string, AggregateRule> aggregates)
    {
        IReadOnlyList<SelectionSample> samples;
        if (rule.Selection.Kind == SelectionKind.Absent)
        {
            samples = Absence(rule, now);
        }
        else if (RuleSetValidator.ReferencedAggregate(rule, aggregates) is { } recorded)
        {
            samples = Record(recorded, now)
                .Where(s => rule.Selection.Of.Matchers.All(m => m.Matches(s.Labels.TryGetValue(m.Name, out var v) ? v : null)))
                .ToList();
        }
        else
        {
            samples = Select(rule.Selection, rule.By, rule.Window, now);
        }

        var result = samples
            .Select(s => new InstanceObservation(s.Labels, LabelSet.Key(s.Labels), s.Value is { } v ? Observation.Of(v, s.Samples) : Observation.NoData(s.Samples)))
            .ToList();
        if (result.Count == 0 && rule.By.Count == 0)
        {
            result.Add(new InstanceObservation(LabelSet.Empty, LabelSet.Key(LabelSet.Empty), Observation.NoData()));
        }

        return result;
    }

    /// <summary>
    /// An absence rule's samples: one per label set that had data in the lookback, valued 1 when the window holds
    /// none of its points and 0 when it does; samples are the lookback's points. A label set that leaves the lookback
    /// too is gone (its instance resolves): Vigil cannot miss what it no longer remembers.
    /// </summary>
    private List<SelectionSample> Absence(AlertRule rule, DateTimeOffset now)
    {
        var of = rule.Selection.Of;
        var recent = reader.Aggregate(new AggregateQuery(of.Metric, AggregateFunction.Count, rule.Window, rule.By, of.Matchers, now))
            .Select(s => LabelSet.Key(s.Labels))
            .ToHashSet(StringComparer.Ordinal);
        return reader.Aggregate(new AggregateQuery(of.Metric, AggregateFunction.Count, rule.Lookback, rule.By, of.Matchers, now))
            .Select(s => new SelectionSample(s.Labels, recent.Contains(LabelSet.Key(s.Labels)) ? 0 : 1, s.Samples))
            .ToList();
    }

    /// <summary>
    /// The rule as it applies to <paramref name="labels"/>: the override matching the most labels wins (the first
    /// one written on a tie). Labels pinned by the selector's equality matchers count as instance labels.
    /// An override that sets a threshold without a recover drops the rule's recover.
    /// </summary>
    public static EffectiveRule Resolve(AlertRule rule, IReadOnlyDictionary<string, string> labels)
    {
        var pinned = rule.Selection.Guarded.EqualityLabels;
        RuleOverride? best = null;
        foreach (var candidate in rule.Overrides)
        {
            var matches = candidate.Match.All(m =>
                (labels.TryGetValue(m.Key, out var v) || pinned.TryGetValue(m.Key, out v)) && string.Equals(v, m.Value, StringComparison.Ordinal));
            if (matches && (best is null || candidate.Match.Count > best.Match.Count))
            {
                best = candidate;
            }
        }

        var effective = EffectiveRule.FromRule(rule);
        if (best is null)
        {
            return effective;
        }

        return effective with
        {
            Threshold = best.Threshold ?? rule.Threshold,
            Recover = best.Threshold is not null ? best.Recover : best.Recover ?? rule.Recover,
            For = best.For ?? rule.For,
            MinSamples = best.MinSamples ?? rule.MinSamples,
            Severity = best.Severity ?? rule.Severity,
            Override = best,
        };
    }

    /// <summary>
    /// Label sets equal as sets of pairs, which is what equal <see cref="LabelSet.Key"/>s mean, without building the
    /// key strings: the ratio join compares two store results grouped by the same labels.
    /// </summary>
    private sealed class SameLabels : IEqualityComparer<IReadOnlyDictionary<string, string>>
    {
        public static readonly SameLabels Instance = new();

        public bool Equals(IReadOnlyDictionary<string, string>? x, IReadOnlyDictionary<string, string>? y)
        {
            if (x is null || y is null || x.Count != y.Count)
            {
                return ReferenceEquals(x, y);
            }

            foreach (var (name, value) in x)
            {
                if (!y.TryGetValue(name, out var other) || !string.Equals(value, other, StringComparison.Ordinal))
                {
                    return false;
                }
            }

            return true;
        }

        public int GetHashCode(IReadOnlyDictionary<string, string> labels)
        {
            // Order-free: the same pairs in another order hash alike.
            var hash = labels.Count;
            foreach (var (name, value) in labels)
            {
                hash += HashCode.Combine(string.GetHashCode(name, StringComparison.Ordinal), string.GetHashCode(value, StringComparison.Ordinal));
            }

            return hash;
        }
    }
}
