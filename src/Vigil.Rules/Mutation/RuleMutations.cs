namespace Vigil.Rules.Mutation;

/// <summary>
/// One edit of one field of one rule, as a rule file that differs from the loaded one only there. <see cref="At"/>
/// is where the edited field's value is written.
/// </summary>
public sealed record RuleMutant(string File, SourcePosition At, string Rule, string Description, RuleFile Mutated)
{
    public override string ToString() => $"{File}:{At} {Rule}: {Description}";
}

/// <summary>
/// The one-line edits <c>vigil rules test --mutate</c> applies (docs/rules.md, "Mutation testing"; decision 021):
/// the mistakes a rule author makes that a good test notices. Only fields written in the file are edited, so every
/// edit has a line to point at.
/// </summary>
public static class RuleMutations
{
    /// <summary>Every mutant of every rule of <paramref name="file"/>, in file order.</summary>
    public static IReadOnlyList<RuleMutant> Of(RuleFile file)
    {
        var result = new List<RuleMutant>();
        for (var g = 0; g < file.Groups.Count; g++)
        {
            var group = file.Groups[g];
            for (var a = 0; a < group.Alerts.Count; a++)
            {
                var index = a;
                var alert = group.Alerts[a];
                foreach (var (field, description, edited) in Edits(alert))
                {
                    var mutated = file with { Groups = Replace(file.Groups, g, group with { Alerts = Replace(group.Alerts, index, edited) }) };
                    result.Add(new RuleMutant(file.Path, field, alert.Name, description, mutated));
                }
            }

            for (var a = 0; a < group.Aggregates.Count; a++)
            {
                var index = a;
                var aggregate = group.Aggregates[a];
                foreach (var (field, description, edited) in Edits(aggregate))
                {
                    var mutated = file with { Groups = Replace(file.Groups, g, group with { Aggregates = Replace(group.Aggregates, index, edited) }) };
                    result.Add(new RuleMutant(file.Path, field, aggregate.Record, description, mutated));
                }
            }
        }

        return result;
    }

    private static IEnumerable<(SourcePosition At, string Description, AlertRule Edited)> Edits(AlertRule rule)
    {
        var at = rule.FieldPositions;
        if (at.TryGetValue("threshold", out var th))
        {
            foreach (var (edited, why) in ThresholdEdits(rule.Threshold))
            {
                yield return (th, $"threshold {rule.Threshold} -> {edited} ({why})", rule with { Threshold = edited });
            }
        }

        if (rule.Recover is { } recover && at.TryGetValue("recover", out var rc))
        {
            yield return (rc, $"recover {recover} removed", rule with { Recover = null });
        }

        foreach (var edit in DurationEdits(at, "for", rule.For))
        {
            yield return (edit.At, edit.Description, rule with { For = edit.Value });
        }

        foreach (var edit in DurationEdits(at, "keep_firing_for", rule.KeepFiringFor))
        {
            yield return (edit.At, edit.Description, rule with { KeepFiringFor = edit.Value });
        }

        foreach (var edit in DurationEdits(at, "window", rule.Window))
        {
            yield return (edit.At, edit.Description, rule with { Window = edit.Value });
        }

        if (MinSamplesEdit(at, rule.MinSamples) is { } ms)
        {
            yield return (ms.At, ms.Description, rule with { MinSamples = ms.Value });
        }

        if (CanHaveNoData(rule) && at.TryGetValue("no_data", out var nd))
        {
            foreach (var other in Enum.GetValues<NoDataPolicy>().Where(p => p != rule.NoData))
            {
                yield return (nd, $"no_data {Word(rule.NoData)} -> {Word(other)}", rule with { NoData = other });
            }
        }

        for (var i = 0; i < rule.Overrides.Count; i++)
        {
            var o = rule.Overrides[i];
            var index = i;
            var name = "override {" + string.Join(", ", o.Match.Select(m => $"{m.Key}: {m.Value}")) + "} ";
            AlertRule With(RuleOverride edited) => rule with { Overrides = Replace(rule.Overrides, index, edited) };
            if (o.Threshold is { } ot && o.FieldPositions.TryGetValue("threshold", out var oth))
            {
                foreach (var (edited, why) in ThresholdEdits(ot))
                {
                    yield return (oth, $"{name}threshold {ot} -> {edited} ({why})", With(o with { Threshold = edited }));
                }
            }

            if (o.Recover is { } orc && o.FieldPositions.TryGetValue("recover", out var orcAt))
            {
                yield return (orcAt, $"{name}recover {orc} removed", With(o with { Recover = null }));
            }

            foreach (var edit in DurationEdits(o.FieldPositions, "for", o.For ?? TimeSpan.Zero))
            {
                yield return (edit.At, name + edit.Description, With(o with { For = edit.Value }));
            }

            if (MinSamplesEdit(o.FieldPositions, o.MinSamples ?? 0) is { } oms)
            {
                yield return (oms.At, name + oms.Description, With(o with { MinSamples = oms.Value }));
            }
        }
    }

    private static IEnumerable<(SourcePosition At, string Description, AggregateRule Edited)> Edits(AggregateRule aggregate)
    {
        foreach (var edit in DurationEdits(aggregate.FieldPositions, "window", aggregate.Window))
        {
            yield return (edit.At, edit.Description, aggregate with { Window = edit.Value });
        }

        if (MinSamplesEdit(aggregate.FieldPositions, aggregate.MinSamples) is { } ms)
        {
            yield return (ms.At, ms.Description, aggregate with { MinSamples = ms.Value });
        }
    }

    /// <summary>
    /// The threshold moved by ±25 % (not for 0, where both are the same threshold), its comparison flipped (the
    /// alert fires on the wrong side), and its boundary moved (<c>&gt;</c> ↔ <c>&gt;=</c>: the off-by-one).
    /// </summary>
    internal static IEnumerable<(Threshold Edited, string Why)> ThresholdEdits(Threshold t)
    {
        if (t.Value != 0)
        {
            yield return (t with { Value = Scale(t.Value, 1.25m) }, "+25 %");
            yield return (t with { Value = Scale(t.Value, 0.75m) }, "-25 %");
        }

        var flipped = t.Op switch
        {
            ThresholdOp.Greater => ThresholdOp.Less,
            ThresholdOp.GreaterOrEqual => ThresholdOp.LessOrEqual,
            ThresholdOp.Less => ThresholdOp.Greater,
            _ => ThresholdOp.GreaterOrEqual,
        };
        yield return (t with { Op = flipped }, "comparison flipped");

        var (boundary, why) = t.Op switch
        {
            ThresholdOp.Greater => (ThresholdOp.GreaterOrEqual, "boundary included"),
            ThresholdOp.GreaterOrEqual => (ThresholdOp.Greater, "boundary excluded"),
            ThresholdOp.Less => (ThresholdOp.LessOrEqual, "boundary included"),
            _ => (ThresholdOp.Less, "boundary excluded"),
        };
        yield return (t with { Op = boundary }, why);
    }

    /// <summary>
    /// Whether an instance of the rule can ever have no data, so that its no_data policy matters: a ratio (a
    /// denominator that did not grow), a quantile (no observations), a guard, or no <c>by</c> (the one instance
    /// exists with an empty window). Otherwise an instance exists only while its series have points, and every point
    /// gives a value: editing no_data could never change an outcome.
    /// </summary>
    private static bool CanHaveNoData(AlertRule rule) =>
        rule.By.Count == 0 || rule.MinSamples > 0 || rule.Selection.Kind is SelectionKind.Ratio or SelectionKind.Quantile;

    private static string Word(NoDataPolicy policy) => policy switch
    {
        NoDataPolicy.Ok => "ok",
        NoDataPolicy.Alerting => "alerting",
        _ => "keep_last",
    };

    // Decimal arithmetic, so 0.2 moves to 0.25 and not to 0.25000000000000006.
    private static double Scale(double value, decimal factor) =>
        Math.Abs(value) < 1e20 ? (double)((decimal)value * factor) : value * (double)factor;

    private static IEnumerable<(SourcePosition At, string Description, TimeSpan Value)> DurationEdits(
        IReadOnlyDictionary<string, SourcePosition> positions, string field, TimeSpan value)
    {
        if (value <= TimeSpan.Zero || !positions.TryGetValue(field, out var at))
        {
            yield break;
        }

        var was = PromDuration.Format(value);
        yield return (at, $"{field} {was} -> {PromDuration.Format(value / 2)} (halved)", value / 2);
        yield return (at, $"{field} {was} -> {PromDuration.Format(value * 2)} (doubled)", value * 2);
    }

    private static (SourcePosition At, string Description, double Value)? MinSamplesEdit(IReadOnlyDictionary<string, SourcePosition> positions, double value) =>
        value > 0 && positions.TryGetValue("min_samples", out var at)
            ? (at, $"min_samples {AlertTemplate.FormatNumber(value)} -> {AlertTemplate.FormatNumber(value / 2)} (halved)", value / 2)
            : null;

    private static List<T> Replace<T>(IReadOnlyList<T> items, int index, T item)
    {
        var copy = new List<T>(items)
        {
            [index] = item,
        };
        return copy;
    }
}
