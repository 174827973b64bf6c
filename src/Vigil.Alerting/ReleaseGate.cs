using System.Text.Json.Serialization;
using Vigil.Rules;
using Vigil.Rules.Api;
using Vigil.Storage.Query;

namespace Vigil.Alerting;

/// <summary>
/// What a release gate asks: may a release go, given alerts at <see cref="Severity"/> or more severe (P1 is the most)
/// whose labels match every matcher, if none fired in the last <see cref="QuietFor"/> and none fires now.
/// </summary>
public sealed record GateQuery(Severity Severity, IReadOnlyList<LabelMatcher> Matchers, TimeSpan QuietFor);

/// <summary>One alert that holds the release: firing now, or fired within quiet_for (then resolved).</summary>
public sealed record GateBlocker(
    [property: JsonPropertyName("labels")] IReadOnlyDictionary<string, string> Labels,
    [property: JsonPropertyName("severity")] string Severity,
    [property: JsonPropertyName("state")] string State,
    [property: JsonPropertyName("since")] DateTimeOffset? Since,
    [property: JsonPropertyName("resolvedAt")] DateTimeOffset? ResolvedAt,
    [property: JsonPropertyName("summary")] string? Summary,
    [property: JsonPropertyName("runbook_url")] string? RunbookUrl);

/// <summary>The gate's answer; <see cref="Reason"/> says why in one line, for a pipeline's log.</summary>
public sealed record GateVerdict(
    [property: JsonPropertyName("pass")] bool Pass,
    [property: JsonPropertyName("reason")] string Reason,
    [property: JsonPropertyName("at")] DateTimeOffset At,
    [property: JsonPropertyName("severity")] string Severity,
    [property: JsonPropertyName("match")] IReadOnlyList<string> Match,
    [property: JsonPropertyName("quiet_for")] string QuietFor,
    [property: JsonPropertyName("blocking")] IReadOnlyList<GateBlocker> Blocking);

/// <summary>
/// The release gate (docs/rules.md, decision 022): blocked while a matching alert fires, and for quiet_for after the
/// last one stopped. Active alerts come from the rule engine's state, past ones from the alert history (events are
/// written there as the transition happens), so a pending alert — not yet fired — never blocks.
/// </summary>
public static class ReleaseGate
{
    public static GateVerdict Decide(GateQuery query, IEnumerable<AlertInfo> active, IEnumerable<AlertEvent> history, DateTimeOffset now)
    {
        var since = now - query.QuietFor;
        var blockers = new Dictionary<string, GateBlocker>(StringComparer.Ordinal);
        foreach (var alert in active)
        {
            if (alert.State == "firing" && Enum.TryParse<Severity>(alert.Severity, out var severity) && Blocks(query, severity, alert.Labels))
            {
                alert.Annotations.TryGetValue("summary", out var summary);
                blockers[LabelSet.Key(alert.Labels)] = new GateBlocker(LabelSet.Sorted(alert.Labels), alert.Severity, "firing", alert.ActiveAt, null, summary, alert.RunbookUrl);
            }
        }

        // Newest first: an instance's latest event in the span says how it stands; one still firing is already listed.
        foreach (var e in history.Where(e => e.Timestamp > since && e.Timestamp <= now).OrderByDescending(e => e.Timestamp))
        {
            if (Blocks(query, e.Severity, e.Labels))
            {
                blockers.TryAdd(LabelSet.Key(e.Labels), new GateBlocker(LabelSet.Sorted(e.Labels), e.Severity.ToString(),
                    e.Status == AlertStatus.Firing ? "firing" : "resolved", e.StartsAt, e.EndsAt, e.Summary, e.RunbookUrl));
            }
        }

        var blocking = blockers.Values.OrderBy(b => b.State == "firing" ? 0 : 1).ThenBy(b => LabelSet.Key(b.Labels), StringComparer.Ordinal).ToList();
        var level = query.Severity == Severity.P1 ? "P1" : $"{query.Severity} or more severe";
        var scope = query.Matchers.Count == 0 ? string.Empty : $" matching {string.Join(", ", query.Matchers)}";
        var quiet = PromDuration.Format(query.QuietFor);
        var firing = blocking.Count(b => b.State == "firing");
        var reason = blocking.Count == 0
            ? $"pass: no {level} alert{scope} is firing" + (query.QuietFor > TimeSpan.Zero ? $" or fired in the last {quiet}" : string.Empty)
            : $"blocked: {firing} {level} alert(s){scope} firing" +
              (blocking.Count > firing ? $", {blocking.Count - firing} resolved less than {quiet} ago" : string.Empty) +
              $": {string.Join(", ", blocking.Select(b => b.Labels.TryGetValue("alertname", out var n) ? n : "?").Distinct(StringComparer.Ordinal))}";
        return new GateVerdict(blocking.Count == 0, reason, now, query.Severity.ToString(), [.. query.Matchers.Select(m => m.ToString())], quiet, blocking);
    }

    private static bool Blocks(GateQuery query, Severity severity, IReadOnlyDictionary<string, string> labels) =>
        severity <= query.Severity && query.Matchers.All(m => m.Matches(labels.TryGetValue(m.Name, out var v) ? v : null));
}
