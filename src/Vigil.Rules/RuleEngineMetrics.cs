using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace Vigil.Rules;

/// <summary>
/// The rule engine's self-metrics, defined once on the meter the host passes (Vigil's, "Vigil"): the OTLP self-export
/// and <c>/metrics</c> both read these instruments. Counters are kept per group name, so a reload (which rebuilds the
/// groups) never makes a cumulative counter go back.
/// </summary>
internal sealed class RuleEngineMetrics
{
    /// <summary>Bucket bounds in seconds: a group takes from a millisecond to (at worst) its interval.</summary>
    internal static readonly double[] DurationBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

    private readonly ConcurrentDictionary<string, GroupCounters> _groups = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<(string Group, string Alert), long> _refused = new();
    private readonly Histogram<double>? _duration;

    public RuleEngineMetrics(Meter? meter, Func<IReadOnlyList<RuleGroupRunner>> runners)
    {
        if (meter is null)
        {
            return;
        }

        _duration = meter.CreateHistogram("vigil.rules.group.duration", "s", "Time one evaluation of a rule group took, by group",
            tags: null, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = DurationBuckets });
        meter.CreateObservableGauge("vigil.rules.group.last_duration", () => LastDurations(runners()), "s", "How long the last evaluation of each rule group took");
        meter.CreateObservableCounter("vigil.rules.group.iterations_missed", () => PerGroup(c => Volatile.Read(ref c.Missed)), "{iteration}",
            "Evaluation ticks skipped because the group's previous evaluation was still running");
        meter.CreateObservableCounter("vigil.rules.evaluation.failures", () => PerGroup(c => Volatile.Read(ref c.Failures)), "{evaluation}",
            "Rule evaluations that failed (the rule's health became err), by group");
        meter.CreateObservableGauge("vigil.rules.instances", () => InstancesByState(runners()), "{instance}",
            "Alert instances held by the rule engine, by group and state (inactive, pending, firing, resolved)");
        meter.CreateObservableCounter("vigil.rules.instances.refused", () => Refused(), "{instance}",
            "New alert instances refused because their rule is at max_instances, by group and alert");
    }

    public GroupCounters For(string group) => _groups.GetOrAdd(group, static _ => new GroupCounters());

    /// <summary>After an evaluation: its duration, and how many of its rules failed.</summary>
    public void Evaluated(string group, TimeSpan duration, int failures)
    {
        _duration?.Record(duration.TotalSeconds, new KeyValuePair<string, object?>("group", group));
        Failed(group, failures);
    }

    public void Failed(string group, int failures)
    {
        if (failures > 0)
        {
            Interlocked.Add(ref For(group).Failures, failures);
        }
    }

    public void Refuse(string group, string alert, long count) => _refused.AddOrUpdate((group, alert), count, (_, old) => old + count);

    private IEnumerable<Measurement<long>> PerGroup(Func<GroupCounters, long> read)
    {
        foreach (var (group, counters) in _groups)
        {
            yield return new Measurement<long>(read(counters), new KeyValuePair<string, object?>("group", group));
        }
    }

    private IEnumerable<Measurement<long>> Refused()
    {
        foreach (var ((group, alert), count) in _refused)
        {
            yield return new Measurement<long>(count, new KeyValuePair<string, object?>("group", group), new KeyValuePair<string, object?>("alert", alert));
        }
    }

    private static IEnumerable<Measurement<double>> LastDurations(IReadOnlyList<RuleGroupRunner> runners)
    {
        foreach (var runner in runners)
        {
            yield return new Measurement<double>(runner.Published.Info.EvaluationTime, new KeyValuePair<string, object?>("group", runner.Group.Name));
        }
    }

    private static IEnumerable<Measurement<long>> InstancesByState(IReadOnlyList<RuleGroupRunner> runners)
    {
        foreach (var runner in runners)
        {
            var counts = new long[Enum.GetValues<AlertState>().Length];
            foreach (var rule in runner.Published.Rules.Values)
            {
                foreach (var instance in rule.Instances)
                {
                    counts[(int)instance.State.State]++;
                }
            }

            foreach (var state in Enum.GetValues<AlertState>())
            {
                yield return new Measurement<long>(counts[(int)state],
                    new KeyValuePair<string, object?>("group", runner.Group.Name), new KeyValuePair<string, object?>("state", AlertStateMachine.Name(state)));
            }
        }
    }
}

/// <summary>One group's cumulative counters, updated with <see cref="Interlocked"/>.</summary>
internal sealed class GroupCounters
{
    public long Missed;
    public long Failures;

    /// <summary>The last grid instant (UTC ticks) evaluated or counted as missed: the gap after it is what was skipped.</summary>
    public long AccountedTicks;

    /// <summary>1 while ticks are being missed in a row: the first of a streak is logged, the rest only counted.</summary>
    public int Missing;
}
