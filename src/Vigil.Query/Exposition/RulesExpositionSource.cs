using Vigil.Rules;
using Vigil.Rules.Api;

namespace Vigil.Query.Exposition;

/// <summary>
/// The rule engine on <c>/metrics</c>, in Prometheus' shapes: <c>ALERTS{alertname, alertstate, …labels} 1</c> and
/// <c>ALERTS_FOR_STATE{alertname, …labels} &lt;activeAt unix seconds&gt;</c> for every pending or firing instance,
/// and each recorded aggregate as a gauge named by its record (<c>ai.run.cost_per_run</c> → <c>ai_run_cost_per_run</c>).
/// </summary>
public sealed class RulesExpositionSource : IExpositionSource
{
    private readonly Func<IReadOnlyList<RecordedSample>> _recorded;
    private readonly Func<IReadOnlyList<ActiveAlert>> _alerts;

    public RulesExpositionSource(Func<IReadOnlyList<RecordedSample>> recorded, Func<IReadOnlyList<ActiveAlert>> alerts)
    {
        _recorded = recorded;
        _alerts = alerts;
    }

    /// <summary>Reads a manager that may not exist (rules not configured): then the source is empty.</summary>
    public static RulesExpositionSource For(Func<RuleManager?> manager) => new(
        () => manager()?.GetRecorded() ?? [],
        () => manager()?.ActiveAlerts() ?? []);

    public IEnumerable<MetricFamily> Collect() => ToFamilies(_recorded(), _alerts());

    /// <summary>The families for some recorded samples and active alerts: /metrics and remote write name them alike.</summary>
    public static IEnumerable<MetricFamily> ToFamilies(IReadOnlyList<RecordedSample> recorded, IReadOnlyList<ActiveAlert> alerts)
    {
        var alertSamples = new List<ExpositionSample>(alerts.Count);
        var forState = new List<ExpositionSample>(alerts.Count);
        foreach (var alert in alerts)
        {
            var labels = Families.Labels(alert.Labels);
            alertSamples.Add(new ExpositionSample(string.Empty, Families.Labels(alert.Labels.Append(new("alertstate", alert.StateName))), 1));
            if (alert.ActiveAt is { } activeAt)
            {
                forState.Add(new ExpositionSample(string.Empty, labels, activeAt.ToUnixTimeMilliseconds() / 1000.0));
            }
        }

        yield return new MetricFamily("ALERTS", FamilyType.Gauge, "Pending and firing alert instances of Vigil's rules (value 1).", string.Empty, alertSamples);
        yield return new MetricFamily("ALERTS_FOR_STATE", FamilyType.Gauge, "When each pending or firing alert instance became active (unix seconds).", string.Empty, forState);

        foreach (var record in recorded.Where(r => r.Value is not null).GroupBy(r => r.Record, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            var samples = record.Select(r => new ExpositionSample(string.Empty, Families.Labels(r.Labels), r.Value!.Value)).ToList();
            yield return Families.Gauge(record.Key, string.Empty, $"Recorded aggregate {record.Key} (Vigil rules).", samples);
        }
    }
}
