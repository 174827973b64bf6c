using Vigil.Storage;
using Vigil.Storage.Query;

namespace Vigil.Rules;

/// <summary>
/// Checks that need every file at once (group names, recorded aggregates referenced by name) or what Vigil has
/// seen (the kind of a metric, via <see cref="IWindowReader.KindOf"/>).
/// </summary>
public static class RuleSetValidator
{
    private static readonly Dictionary<SelectionKind, MetricKind[]> Allowed = new()
    {
        [SelectionKind.Ratio] = [MetricKind.Counter, MetricKind.Histogram, MetricKind.ExponentialHistogram, MetricKind.Summary],
        [SelectionKind.Increase] = [MetricKind.Counter, MetricKind.Histogram, MetricKind.ExponentialHistogram, MetricKind.Summary],
        [SelectionKind.Rate] = [MetricKind.Counter, MetricKind.Histogram, MetricKind.ExponentialHistogram, MetricKind.Summary],
        [SelectionKind.Avg] = [MetricKind.Gauge, MetricKind.Histogram, MetricKind.ExponentialHistogram, MetricKind.Summary],
        [SelectionKind.Min] = [MetricKind.Gauge, MetricKind.Histogram, MetricKind.ExponentialHistogram],
        [SelectionKind.Max] = [MetricKind.Gauge, MetricKind.Histogram, MetricKind.ExponentialHistogram],
        [SelectionKind.Last] = [MetricKind.Gauge],
        [SelectionKind.Quantile] = [MetricKind.Histogram, MetricKind.ExponentialHistogram, MetricKind.Summary],
        [SelectionKind.Absent] = [MetricKind.Counter, MetricKind.Gauge, MetricKind.Histogram, MetricKind.ExponentialHistogram, MetricKind.Summary],
    };

    /// <summary>Problems across <paramref name="files"/>; the files themselves are expected to be individually valid.</summary>
    public static IReadOnlyList<RuleProblem> Validate(IReadOnlyList<RuleFile> files, IWindowReader? reader)
    {
        var problems = new List<RuleProblem>();
        var groups = new Dictionary<string, RuleGroup>(StringComparer.Ordinal);
        var aggregates = new Dictionary<string, AggregateRule>(StringComparer.Ordinal);
        foreach (var group in files.SelectMany(f => f.Groups))
        {
            if (!groups.TryAdd(group.Name, group))
            {
                var first = groups[group.Name];
                problems.Add(new RuleProblem(group.File, group.Position, $"duplicate group name '{group.Name}'", $"first defined in {first.File} at line {first.Position.Line}"));
            }

            foreach (var aggregate in group.Aggregates)
            {
                if (!aggregates.TryAdd(aggregate.Record, aggregate) && !ReferenceEquals(aggregates[aggregate.Record], aggregate))
                {
                    var first = aggregates[aggregate.Record];
                    problems.Add(new RuleProblem(group.File, aggregate.Position, $"duplicate record name '{aggregate.Record}'", $"first defined at line {first.Position.Line}; record names are global"));
                }
            }
        }

        foreach (var group in files.SelectMany(f => f.Groups))
        {
            foreach (var aggregate in group.Aggregates)
            {
                foreach (var selector in Selectors(aggregate.Selection))
                {
                    if (aggregates.ContainsKey(selector.Metric))
                    {
                        problems.Add(new RuleProblem(group.File, selector.Position, $"aggregate '{aggregate.Record}' selects the recorded aggregate '{selector.Metric}'",
                            "aggregates select metrics; alert rules select aggregates with last:"));
                    }
                    else
                    {
                        CheckKind(problems, group.File, aggregate.Selection.Kind, selector, reader);
                    }
                }
            }

            foreach (var alert in group.Alerts)
            {
                foreach (var selector in Selectors(alert.Selection))
                {
                    if (aggregates.TryGetValue(selector.Metric, out var recorded))
                    {
                        CheckAggregateReference(problems, group.File, alert, selector, recorded);
                    }
                    else
                    {
                        CheckKind(problems, group.File, alert.Selection.Kind, selector, reader);
                    }
                }
            }
        }

        return problems;
    }

    /// <summary>The recorded aggregate an alert selects by name, if any.</summary>
    internal static AggregateRule? ReferencedAggregate(AlertRule alert, IReadOnlyDictionary<string, AggregateRule> aggregates) =>
        alert.Selection.Kind == SelectionKind.Last && aggregates.TryGetValue(alert.Selection.Of.Metric, out var a) ? a : null;

    private static IEnumerable<Selector> Selectors(Selection selection) =>
        selection.To is null ? [selection.Of] : [selection.Of, selection.To];

    private static void CheckAggregateReference(List<RuleProblem> problems, string file, AlertRule alert, Selector selector, AggregateRule recorded)
    {
        if (alert.Selection.Kind != SelectionKind.Last)
        {
            problems.Add(new RuleProblem(file, selector.Position, $"'{selector.Metric}' is a recorded aggregate, already windowed: {Selection.KeyOf(alert.Selection.Kind)} cannot apply",
                $"select it with last: {selector}"));
            return;
        }

        if (!alert.By.OrderBy(x => x, StringComparer.Ordinal).SequenceEqual(recorded.By.OrderBy(x => x, StringComparer.Ordinal), StringComparer.Ordinal))
        {
            problems.Add(new RuleProblem(file, alert.Position, $"alert '{alert.Name}' groups by [{string.Join(", ", alert.By)}] but aggregate '{recorded.Record}' is grouped by [{string.Join(", ", recorded.By)}]",
                $"write by: [{string.Join(", ", recorded.By)}]"));
        }

        foreach (var matcher in selector.Matchers.Where(m => !recorded.By.Contains(m.Name, StringComparer.Ordinal)))
        {
            problems.Add(new RuleProblem(file, selector.Position, $"aggregate '{recorded.Record}' has no label '{matcher.Name}'",
                $"its labels are its by: [{string.Join(", ", recorded.By)}]"));
        }
    }

    private static void CheckKind(List<RuleProblem> problems, string file, SelectionKind kind, Selector selector, IWindowReader? reader)
    {
        if (reader?.KindOf(selector.Metric) is not { } seen || Allowed[kind].Contains(seen))
        {
            return;
        }

        var fits = Allowed.Where(p => p.Key != SelectionKind.Absent && p.Value.Contains(seen)).Select(p => Selection.KeyOf(p.Key)).ToList();
        var needs = string.Join(" or ", Allowed[kind].Select(k => k.ToDisplay()).Distinct());
        problems.Add(new RuleProblem(file, selector.Position, $"{Selection.KeyOf(kind)} needs a {needs}, but '{selector.Metric}' is a {seen.ToDisplay()}",
            fits.Count == 0 ? null : $"for a {seen.ToDisplay()} use {string.Join(", ", fits)}"));
    }
}
