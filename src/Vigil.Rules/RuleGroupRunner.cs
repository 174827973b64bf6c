using System.Globalization;
using System.Text.RegularExpressions;
using Vigil.Storage.Query;

namespace Vigil.Rules;

/// <summary>One alert instance (rule + group-by labels) and what its last evaluation saw.</summary>
internal sealed class AlertInstance(IReadOnlyDictionary<string, string> labels, string key, int historyCapacity)
{
    public IReadOnlyDictionary<string, string> Labels { get; } = labels;

    public string Key { get; } = key;

    public AlertInstanceState State { get; set; } = AlertInstanceState.Initial;

    public EffectiveRule? Effective { get; set; }

    public string Reason { get; set; } = "not evaluated yet";

    public bool Guarded { get; set; }

    public IReadOnlyDictionary<string, string> Annotations { get; set; } = LabelSet.Empty;

    /// <summary>Its last evaluations, for explain.</summary>
    public EvaluationHistory History { get; } = new(historyCapacity);
}

internal sealed class AlertRuleRuntime(AlertRule rule)
{
    public AlertRule Rule { get; } = rule;

    public string DefinitionHash { get; } = AlertStateStore.HashOf(rule.DefinitionKey);

    public Dictionary<string, AlertInstance> Instances { get; set; } = new(StringComparer.Ordinal);

    public string Health { get; set; } = "unknown";

    public string? LastError { get; set; }

    public DateTimeOffset LastEvaluation { get; set; }

    public TimeSpan EvaluationTime { get; set; }

    /// <summary>New instances the last evaluation refused because the rule was at its instance limit.</summary>
    public int LastRefused { get; set; }
}

internal sealed class AggregateRuntime(AggregateRule rule)
{
    public AggregateRule Rule { get; } = rule;

    public IReadOnlyList<SelectionSample> Last { get; set; } = [];

    public string Health { get; set; } = "unknown";

    public string? LastError { get; set; }

    public DateTimeOffset LastEvaluation { get; set; }

    public TimeSpan EvaluationTime { get; set; }
}

/// <summary>Evaluates one group: its recorded aggregates, then its alert rules through the state machine.</summary>
internal sealed class RuleGroupRunner
{
    private readonly RuleEvaluator _evaluator;
    private readonly IReadOnlyDictionary<string, AggregateRule> _aggregates;
    private readonly TimeProvider _time;
    private readonly TimeSpan _resolvedRetention;
    private readonly RuleLimits _limits;
    private volatile GroupSnapshot? _published;

    public RuleGroupRunner(RuleGroup group, RuleEvaluator evaluator, IReadOnlyDictionary<string, AggregateRule> aggregates, TimeProvider time, TimeSpan resolvedRetention, RuleLimits limits)
    {
        _limits = limits;
        Group = group;
        _evaluator = evaluator;
        _aggregates = aggregates;
        _time = time;
        _resolvedRetention = resolvedRetention;
        Alerts = group.Alerts.Select(a => new AlertRuleRuntime(a)).ToList();
        Aggregates = group.Aggregates.Select(a => new AggregateRuntime(a)).ToList();
    }

    public RuleGroup Group { get; }

    /// <summary>The offset the last evaluation read with: the group's query_offset, or what auto derived.</summary>
    public TimeSpan QueryOffset { get; private set; }

    /// <summary>
    /// query_offset: auto — the latest p99 arrival lag of the metrics the group reads, so a window is read once the
    /// points that arrive late have arrived, at most the group's query_offset_max. Unknown lags count as none.
    /// </summary>
    private TimeSpan AutoOffset()
    {
        var lag = TimeSpan.Zero;
        foreach (var metric in Metrics)
        {
            if (_evaluator.ArrivalLagOf(metric) is { } l && l > lag)
            {
                lag = l;
            }
        }

        return lag < Group.QueryOffsetMax ? lag : Group.QueryOffsetMax;
    }

    private IEnumerable<string> Metrics =>
        Group.Alerts.Select(a => a.Selection).Concat(Group.Aggregates.Select(a => a.Selection))
            .SelectMany(s => s.To is null ? [s.Of.Metric] : new[] { s.Of.Metric, s.To.Metric })
            .Distinct(StringComparer.Ordinal);

    /// <summary>Held while evaluating or moving state; the timer skips a tick rather than queue behind it.</summary>
    public Lock Gate { get; } = new();

    public IReadOnlyList<AlertRuleRuntime> Alerts { get; }

    public IReadOnlyList<AggregateRuntime> Aggregates { get; }

    public DateTimeOffset LastEvaluation { get; private set; }

    public TimeSpan EvaluationTime { get; private set; }

    public ITimer? Timer { get; set; }

    /// <summary>What readers see (decision 020): replaced by <see cref="Publish"/>, read without <see cref="Gate"/>.</summary>
    public GroupSnapshot Published => _published ?? throw new InvalidOperationException("a group is published before it is shared");

    /// <summary>Publishes the group's current state to readers; the caller holds <see cref="Gate"/>.</summary>
    public GroupSnapshot Publish() => _published = GroupSnapshot.Of(this);

    /// <summary>
    /// Transitions whose commit failed (the disk refused it): the in-memory state has moved past them, so they are
    /// committed with the group's next save instead of being forgotten. Touched under <see cref="Gate"/>.
    /// </summary>
    public List<AlertTransition> Uncommitted { get; } = [];

    /// <summary>Evaluates the group at <paramref name="now"/>; the caller holds <see cref="Gate"/>.</summary>
    public List<AlertTransition> Evaluate(DateTimeOffset now)
    {
        var groupStart = _time.GetTimestamp();
        QueryOffset = Group.QueryOffsetAuto ? AutoOffset() : Group.QueryOffset;
        var transitions = new List<AlertTransition>();
        foreach (var aggregate in Aggregates)
        {
            var start = _time.GetTimestamp();
            try
            {
                aggregate.Last = _evaluator.Record(aggregate.Rule, now - QueryOffset);
                (aggregate.Health, aggregate.LastError) = ("ok", null);
            }
            catch (Exception ex) when (ex is QueryException or RegexMatchTimeoutException)
            {
                (aggregate.Health, aggregate.LastError) = ("err", ex.Message);
            }

            aggregate.LastEvaluation = now;
            aggregate.EvaluationTime = _time.GetElapsedTime(start);
        }

        foreach (var runtime in Alerts)
        {
            var start = _time.GetTimestamp();
            EvaluateRule(runtime, now, transitions);
            runtime.LastEvaluation = now;
            runtime.EvaluationTime = _time.GetElapsedTime(start);
        }

        LastEvaluation = now;
        EvaluationTime = _time.GetElapsedTime(groupStart);
        return transitions;
    }

    private void EvaluateRule(AlertRuleRuntime runtime, DateTimeOffset now, List<AlertTransition> transitions)
    {
        IReadOnlyList<InstanceObservation> observations;
        try
        {
            observations = _evaluator.Observe(runtime.Rule, now - QueryOffset, _aggregates);
            (runtime.Health, runtime.LastError) = ("ok", null);
        }
        catch (Exception ex) when (ex is QueryException or RegexMatchTimeoutException)
        {
            // A refused query leaves every instance as it was: an error is not evidence of recovery.
            (runtime.Health, runtime.LastError) = ("err", ex.Message);
            return;
        }

        var admitted = Admit(runtime, observations);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var observation in observations)
        {
            seen.Add(observation.Key);
            if (!runtime.Instances.TryGetValue(observation.Key, out var instance))
            {
                if (admitted is not null && !admitted.Contains(observation.Key))
                {
                    continue;
                }

                instance = new AlertInstance(LabelSet.Sorted(observation.Labels), observation.Key, _limits.ExplainHistory);
                runtime.Instances[observation.Key] = instance;
            }

            Step(runtime, instance, observation.Observation, now, transitions);
        }

        foreach (var instance in runtime.Instances.Values.Where(i => !seen.Contains(i.Key)).ToList())
        {
            Step(runtime, instance, Observation.Gone, now, transitions);
        }

        foreach (var instance in runtime.Instances.Values.ToList())
        {
            var expired = instance.State.State == AlertState.Resolved && instance.State.ResolvedAt + _resolvedRetention <= now;
            // Under on_missing: alert an instance whose series vanished is what the rule watches, so it stays.
            var vanished = instance.State.State == AlertState.Inactive && !seen.Contains(instance.Key) && runtime.Rule.OnMissing != OnMissingPolicy.Alert;
            if (expired || vanished)
            {
                runtime.Instances.Remove(instance.Key);
            }
        }
    }

    /// <summary>The instance limit of <paramref name="rule"/>: its max_instances, else rules.max_instances_per_rule.</summary>
    public int MaxInstances(AlertRule rule) => rule.MaxInstances ?? _limits.MaxInstancesPerRule;

    /// <summary>
    /// Which new instances fit under the rule's limit (null: all of them). Instances the rule holds keep their state;
    /// new ones are admitted in label order while there is room, so the same ones win at every evaluation. The rest
    /// are not evaluated (no state, nothing sent), and the rule's health says so.
    /// </summary>
    private HashSet<string>? Admit(AlertRuleRuntime runtime, IReadOnlyList<InstanceObservation> observations)
    {
        runtime.LastRefused = 0;
        var limit = MaxInstances(runtime.Rule);
        var fresh = observations.Select(o => o.Key).Where(k => !runtime.Instances.ContainsKey(k)).Distinct(StringComparer.Ordinal).ToList();
        var room = Math.Max(0, limit - runtime.Instances.Count);
        if (fresh.Count <= room)
        {
            return null;
        }

        runtime.LastRefused = fresh.Count - room;
        var source = runtime.Rule.MaxInstances is null ? "rules.max_instances_per_rule" : "max_instances";
        (runtime.Health, runtime.LastError) = ("err",
            $"{runtime.LastRefused} new instance(s) refused: the rule is at its limit of {limit} instances ({source}); " +
            "narrow 'by' or raise the limit");
        return [.. fresh.Order(StringComparer.Ordinal).Take(room)];
    }

    private void Step(AlertRuleRuntime runtime, AlertInstance instance, Observation observation, DateTimeOffset now, List<AlertTransition> transitions)
    {
        var effective = RuleEvaluator.Resolve(runtime.Rule, instance.Labels);
        var step = AlertStateMachine.Next(instance.State, observation, now, effective);
        instance.State = step.State;
        instance.Effective = effective;
        instance.Reason = step.Reason;
        instance.Guarded = step.Guarded;
        // Only transitions, active alerts and the persisted (not inactive) states carry annotations: an instance that
        // stays inactive renders none, which is most instances of a quiet fleet at every round (issue 14's idle cost).
        instance.Annotations = step.Change is not null || step.State.State != AlertState.Inactive
            ? RenderAnnotations(runtime.Rule, instance, effective)
            : LabelSet.Empty;
        instance.History.Add(new EvaluationRecord(now, observation.Value, observation.Samples, observation.Absent, effective, step.State.State, step.Reason));
        if (step.Change is { } change)
        {
            transitions.Add(BuildTransition(runtime.Rule, instance, effective, change.From, change.To, change.At, step.Reason));
        }
    }

    public AlertTransition BuildTransition(AlertRule rule, AlertInstance instance, EffectiveRule effective, AlertState from, AlertState to, DateTimeOffset at, string reason) =>
        new(
            Group.Name,
            rule.Name,
            AlertLabels(rule, instance.Labels, effective.Severity),
            instance.Labels,
            from,
            to,
            at,
            instance.State.LastValue,
            instance.State.LastSamples,
            effective.Threshold.ToString(),
            effective.Severity,
            rule.RunbookUrl,
            instance.Annotations,
            rule.Window,
            instance.State.ActiveAt,
            instance.State.FiredAt,
            instance.State.ResolvedAt,
            reason)
        {
            Id = AlertTransition.NewId(at),
        };

    /// <summary>The labels an alert carries: the rule's labels, the group-by labels, alertname and severity.</summary>
    public static IReadOnlyDictionary<string, string> AlertLabels(AlertRule rule, IReadOnlyDictionary<string, string> instanceLabels, Severity severity)
    {
        var labels = LabelSet.Sorted(rule.Labels);
        foreach (var (k, v) in instanceLabels)
        {
            labels[k] = v;
        }

        labels["alertname"] = rule.Name;
        labels["severity"] = severity.ToString();
        return labels;
    }

    public static IReadOnlyDictionary<string, string> RenderAnnotations(AlertRule rule, AlertInstance instance, EffectiveRule effective)
    {
        var labels = LabelSet.Sorted(rule.Labels);
        foreach (var (k, v) in instance.Labels)
        {
            labels[k] = v;
        }

        var context = new TemplateContext(instance.State.LastValue, effective.Threshold.Value, instance.State.LastSamples, labels)
        {
            ActiveAt = instance.State.ActiveAt,
            For = effective.For,
            Window = rule.Window,
        };
        var annotations = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (k, v) in rule.Annotations)
        {
            annotations[k] = AlertTemplate.Render(v, context);
        }

        if (rule.Summary is not null)
        {
            annotations["summary"] = AlertTemplate.Render(rule.Summary, context);
        }

        if (rule.Description is not null)
        {
            annotations["description"] = AlertTemplate.Render(rule.Description, context);
        }

        annotations["runbook_url"] = rule.RunbookUrl;
        return annotations;
    }

    /// <summary>What to persist: every instance that is not inactive.</summary>
    public IEnumerable<StoredAlertState> Snapshot() =>
        from runtime in Alerts
        from instance in runtime.Instances.Values
        where instance.State.State != AlertState.Inactive
        select new StoredAlertState(Group.Name, runtime.Rule.Name, runtime.DefinitionHash, instance.Labels, instance.State,
            instance.Effective?.Severity ?? runtime.Rule.Severity, runtime.Rule.RunbookUrl, instance.Annotations);

    internal static string FormatValue(double? value) =>
        value is { } v ? v.ToString("R", CultureInfo.InvariantCulture) : "NaN";
}
