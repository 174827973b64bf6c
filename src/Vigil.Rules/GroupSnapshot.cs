using Vigil.Rules.Api;

namespace Vigil.Rules;

/// <summary>
/// One group as readers see it, immutable: built under the group's lock when an evaluation (or a reload, or a failed
/// tick) has moved its state, then published by reference. <c>/api/v1/rules</c>, <c>/api/v1/alerts</c>, explain and
/// /metrics read the last published snapshot and never take the group's lock, so a slow evaluation never stalls them
/// (decision 020); they answer with the state of the last finished evaluation.
/// </summary>
internal sealed record GroupSnapshot(
    RuleGroupInfo Info,
    IReadOnlyList<ActiveAlert> Active,
    IReadOnlyList<AlertInfo> Alerts,
    IReadOnlyList<RecordedSample> Recorded,
    IReadOnlyDictionary<string, AlertRuleSnapshot> Rules)
{
    /// <summary>Builds the snapshot of <paramref name="runner"/>; the caller holds its gate.</summary>
    public static GroupSnapshot Of(RuleGroupRunner runner)
    {
        var rules = new List<RuleInfo>();
        var active = new List<ActiveAlert>();
        var alerts = new List<AlertInfo>();
        var recorded = new List<RecordedSample>();
        var byName = new Dictionary<string, AlertRuleSnapshot>(StringComparer.Ordinal);
        foreach (var a in runner.Aggregates)
        {
            rules.Add(new RecordingRuleInfo(a.Rule.Record, a.Rule.Query, LabelSet.Sorted(a.Rule.Labels), a.Health, a.LastError,
                a.EvaluationTime.TotalSeconds, a.LastEvaluation, PromDuration.Format(a.Rule.Window)));
            recorded.AddRange(a.Last.Select(s => new RecordedSample(a.Rule.Record, Merge(a.Rule.Labels, s.Labels), s.Value, s.Samples, a.LastEvaluation)));
        }

        foreach (var r in runner.Alerts)
        {
            var instances = r.Instances.Values.OrderBy(i => i.Key, StringComparer.Ordinal).ToList();
            var ruleActive = instances.Where(i => i.State.IsActive).Select(i => ActiveOf(runner.Group.Name, r.Rule, i)).ToList();
            List<AlertInfo> ruleAlerts = [.. ruleActive.Select(a => a.ToApi())];
            active.AddRange(ruleActive);
            alerts.AddRange(ruleAlerts);
            rules.Add(new AlertingRuleInfo(r.Rule.Name, r.Rule.Query, AlertingRuleInfo.StateOf(ruleAlerts), r.Rule.For.TotalSeconds, r.Rule.KeepFiringFor.TotalSeconds,
                LabelSet.Sorted(r.Rule.Labels), RuleAnnotations(r.Rule), ruleAlerts, r.Health, r.LastError, r.EvaluationTime.TotalSeconds,
                r.LastEvaluation, r.Rule.Severity.ToString(), r.Rule.RunbookUrl, r.Rule.Threshold.ToString(), PromDuration.Format(r.Rule.Window)));
            byName.TryAdd(r.Rule.Name, new AlertRuleSnapshot(r.Health, r.LastError,
                [.. instances.Select(i => new InstanceSnapshot(i.Key, i.Labels, i.State, i.History))]));
        }

        var info = new RuleGroupInfo(runner.Group.Name, runner.Group.File, rules, runner.Group.Interval.TotalSeconds, 0,
            runner.EvaluationTime.TotalSeconds, runner.LastEvaluation, runner.QueryOffset.TotalSeconds);
        return new GroupSnapshot(info, active, alerts, recorded, byName);
    }

    private static ActiveAlert ActiveOf(string group, AlertRule rule, AlertInstance i)
    {
        var effective = i.Effective ?? EffectiveRule.FromRule(rule);
        return new ActiveAlert(group, rule.Name, RuleGroupRunner.AlertLabels(rule, i.Labels, effective.Severity), i.Annotations,
            i.State.State, i.State.ActiveAt, i.State.KeepFiringSince, i.State.LastValue, i.State.LastSamples,
            effective.Severity, rule.RunbookUrl, effective.Threshold.ToString(), rule.Window);
    }

    private static IReadOnlyDictionary<string, string> RuleAnnotations(AlertRule rule)
    {
        var annotations = LabelSet.Sorted(rule.Annotations);
        if (rule.Summary is not null)
        {
            annotations["summary"] = rule.Summary;
        }

        if (rule.Description is not null)
        {
            annotations["description"] = rule.Description;
        }

        annotations["runbook_url"] = rule.RunbookUrl;
        return annotations;
    }

    private static IReadOnlyDictionary<string, string> Merge(IReadOnlyDictionary<string, string> a, IReadOnlyDictionary<string, string> b)
    {
        var merged = LabelSet.Sorted(a);
        foreach (var (k, v) in b)
        {
            merged[k] = v;
        }

        return merged;
    }
}

/// <summary>One alert rule in a <see cref="GroupSnapshot"/>: its health and every instance (inactive ones included), by key.</summary>
internal sealed record AlertRuleSnapshot(string Health, string? LastError, IReadOnlyList<InstanceSnapshot> Instances);

/// <summary>One instance in a <see cref="GroupSnapshot"/>.</summary>
/// <remarks><see cref="History"/> is the instance's live ring (thread-safe), so it may hold an evaluation newer than the snapshot.</remarks>
internal sealed record InstanceSnapshot(string Key, IReadOnlyDictionary<string, string> Labels, AlertInstanceState State, EvaluationHistory History);
