using Vigil.Storage.Query;

namespace Vigil.Rules.Backtest;

/// <summary>
/// Replays alert rules over the window store with the live engine's own parts: each group's
/// <see cref="RuleGroupRunner"/> (the evaluator, overrides, the state machine) is evaluated at the instants the live
/// timer would have chosen (<see cref="RuleManager.EvaluationSlot"/>) between from and to, each reading the store
/// "as of" that instant. So over data that arrived on time the replay gives the transitions live evaluation gave
/// (decision 022 says where it cannot: the instant's own bucket, late data, state before from).
/// </summary>
public sealed class RuleBacktester(IWindowReader reader)
{
    private readonly RuleEvaluator _evaluator = new(reader);

    /// <summary>
    /// Replays every alert rule of <paramref name="groups"/> (only <paramref name="alert"/> when given) over
    /// [<paramref name="from"/>, <paramref name="to"/>]; a missing bound is the earliest instant whose windows the
    /// retention still holds, or now. Every instance starts inactive at the first evaluation. A cancelled replay
    /// (the client went away) stops between evaluations.
    /// </summary>
    public BacktestOutcome Run(
        IReadOnlyList<RuleGroup> groups,
        IReadOnlyDictionary<string, AggregateRule> aggregates,
        DateTimeOffset? from,
        DateTimeOffset? to,
        string? alert,
        BacktestBounds bounds,
        CancellationToken cancellationToken = default)
    {
        var selected = groups
            .Select(g => Only(g, alert))
            .Where(g => g.Alerts.Count > 0)
            .ToList();
        if (selected.Count == 0)
        {
            return BacktestOutcome.Refused(alert is null
                ? "no alert rules to backtest: send a rule file with at least one alert, or name a loaded one with ?group=G&alert=A"
                : $"no alert rule '{alert}' to backtest; GET /api/v1/rules lists the loaded ones");
        }

        var window = selected.Max(g => g.QueryOffset + g.Alerts.Max(a => WindowOf(a, aggregates)));
        var earliest = Earliest(bounds, window);
        var end = to ?? bounds.Now;
        var start = from ?? earliest;
        if (end > bounds.Now)
        {
            return BacktestOutcome.Refused($"to={end:O} is after now ({bounds.Now:O}): the store holds nothing later; leave to out or pass an earlier time");
        }

        if (start > end)
        {
            return BacktestOutcome.Refused(from is null
                ? $"to={end:O} is before {earliest:O}, the earliest instant whose {PromDuration.Format(window)} window the retention ({PromDuration.Format(bounds.Retention)}) still holds; pass a later to"
                : $"from={start:O} is after to={end:O}; pass from before to");
        }

        if (start < earliest)
        {
            return BacktestOutcome.Refused(
                $"from={start:O} is beyond the retention: an evaluation then reads a {PromDuration.Format(window)} window from before " +
                $"{bounds.Now - bounds.Retention:O}, which storage.retention ({PromDuration.Format(bounds.Retention)}) no longer holds; " +
                $"pass from at or after {earliest:O} (or leave it out for the whole retention)");
        }

        var planned = selected.Sum(g => (long)Slots(g, start, end).Count() * g.Alerts.Count);
        if (planned > bounds.MaxEvaluations)
        {
            return BacktestOutcome.Refused(OverBudget($"needs {planned:N0} rule evaluations", bounds.MaxEvaluations));
        }

        var rules = new List<BacktestRule>();
        long spent = 0;
        foreach (var group in selected)
        {
            // No explain history in a replay; the instance limit is the default (rules.max_instances_per_rule is not passed in yet).
            var runner = new RuleGroupRunner(group, _evaluator, aggregates, TimeProvider.System, bounds.ResolvedRetention, RuleLimits.Default with { ExplainHistory = 0 });
            var transitions = new List<AlertTransition>();
            var evaluations = 0;
            var errors = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var slot in Slots(group, start, end))
            {
                cancellationToken.ThrowIfCancellationRequested();
                transitions.AddRange(runner.Evaluate(slot));
                evaluations++;
                foreach (var runtime in runner.Alerts.Where(a => a.LastError is not null))
                {
                    errors.TryAdd(runtime.Rule.Name, $"{slot:O}: {runtime.LastError}");
                }

                // An evaluation costs one step per instance; a rule without instances still read the store once.
                spent += runner.Alerts.Sum(a => Math.Max(1, a.Instances.Count));
                if (spent > bounds.MaxEvaluations)
                {
                    return BacktestOutcome.Refused(OverBudget($"passed {bounds.MaxEvaluations:N0} instance evaluations by {slot:O}", bounds.MaxEvaluations));
                }
            }

            rules.AddRange(group.Alerts.Select(a => new BacktestRule(group.Name, a.Name, evaluations, Instances(transitions.Where(t => t.Alert == a.Name)), errors.GetValueOrDefault(a.Name))));
        }

        return new BacktestOutcome(new BacktestResult(start, end, rules), null);
    }

    /// <summary>The evaluation instants of <paramref name="group"/>'s live grid that lie in [from, to].</summary>
    public static IEnumerable<DateTimeOffset> Slots(RuleGroup group, DateTimeOffset from, DateTimeOffset to)
    {
        var slot = RuleManager.EvaluationSlot(group.Name, group.Interval, from);
        if (slot < from)
        {
            slot += group.Interval;
        }

        for (; slot <= to; slot += group.Interval)
        {
            yield return slot;
        }
    }

    /// <summary>
    /// The earliest evaluation instant whose window lies inside the retention: the window's first bucket must be no
    /// older than the oldest bucket the store keeps at <see cref="BacktestBounds.Now"/>.
    /// </summary>
    public static DateTimeOffset Earliest(BacktestBounds bounds, TimeSpan window)
    {
        var buckets = (long)Math.Ceiling(window.Ticks / (double)bounds.Resolution.Ticks);
        return bounds.Now - bounds.Retention + TimeSpan.FromTicks(buckets * bounds.Resolution.Ticks);
    }

    /// <summary>
    /// How far back one evaluation reads (the group adds its query_offset). An absence rule's lookback is not
    /// counted: it would narrow every replay to nothing with the default 1h lookback and retention; early in a replay
    /// such a rule knows only the label sets the retention still holds (decision 022).
    /// </summary>
    private static TimeSpan WindowOf(AlertRule rule, IReadOnlyDictionary<string, AggregateRule> aggregates) =>
        RuleSetValidator.ReferencedAggregate(rule, aggregates)?.Window ?? rule.Window;

    private static RuleGroup Only(RuleGroup group, string? alert) => group with
    {
        Alerts = alert is null ? group.Alerts : [.. group.Alerts.Where(a => a.Name == alert)],

        // Recorded aggregates are read through the aggregates map when an alert refers to one; a replay records nothing.
        Aggregates = [],
    };

    private static string OverBudget(string what, long max) =>
        $"this backtest {what}, over rules.backtest_max_evaluations ({max:N0}); narrow it: a shorter from..to, " +
        "one rule (?group=G&alert=A, or a file with fewer rules), a rule with fewer instances (fewer by labels), or raise the setting";

    private static List<BacktestInstance> Instances(IEnumerable<AlertTransition> transitions) =>
        transitions
            .GroupBy(t => LabelSet.Key(t.InstanceLabels), StringComparer.Ordinal)
            .OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => new BacktestInstance(
                LabelSet.Sorted(g.First().InstanceLabels),
                [.. g.Select(t => new BacktestTransition(t.At, AlertStateMachine.Name(t.From), AlertStateMachine.Name(t.To), t.Value, t.Samples, t.Reason))]))
            .ToList();
}
