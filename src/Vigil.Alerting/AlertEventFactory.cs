using System.Globalization;
using Vigil.Rules;
using Vigil.Rules.Api;

namespace Vigil.Alerting;

/// <summary>Turns rule-engine transitions into alert events. Only "into firing" and "firing → resolved" are events.</summary>
public sealed class AlertEventFactory
{
    private readonly string _externalUrl;
    private readonly TimeProvider _time;

    /// <param name="externalUrl">Vigil's externally reachable base URL; generatorURL points at the rule's explain endpoint under it.</param>
    public AlertEventFactory(string? externalUrl, TimeProvider timeProvider)
    {
        _externalUrl = (externalUrl ?? string.Empty).TrimEnd('/');
        _time = timeProvider;
    }

    public static bool IsEvent(AlertTransition t) =>
        t.To == AlertState.Firing && t.From != AlertState.Firing || t.From == AlertState.Firing && t.To == AlertState.Resolved;

    /// <summary>The event for <paramref name="t"/>, or null when the transition is not an event (e.g. into pending).</summary>
    public AlertEvent? Create(AlertTransition t)
    {
        if (!IsEvent(t))
        {
            return null;
        }

        var firing = t.To == AlertState.Firing;
        var annotations = LabelSet.Sorted(t.Annotations);
        if (!string.IsNullOrEmpty(t.RunbookUrl))
        {
            annotations["runbook_url"] = t.RunbookUrl;
        }

        var labels = LabelSet.Sorted(t.Labels);
        labels.TryAdd("alertname", t.Alert);
        labels.TryAdd("severity", t.Severity.ToString());
        return new AlertEvent
        {
            // The transition's id: the same state change handed over again after a crash is the same event.
            Id = t.Id ?? NewId(),
            Rule = t.Alert,
            Group = t.Group,
            Fingerprint = AlertFingerprint.Compute(labels),
            Severity = t.Severity,
            Status = firing ? AlertStatus.Firing : AlertStatus.Resolved,
            Labels = labels,
            Annotations = annotations,
            Value = t.Value,
            Threshold = t.Threshold,
            Window = PromDuration.Format(t.Window),
            StartsAt = t.FiredAt ?? t.ActiveAt ?? t.At,
            EndsAt = firing ? null : t.ResolvedAt ?? t.At,
            Timestamp = t.At,
            GeneratorUrl = GeneratorUrl(t.Group, t.Alert),
        };
    }

    /// <summary>
    /// Firing events for every alert the rule engine reports as firing (<see cref="IAlertStateReader.ActiveAlerts"/>
    /// after it restored its state): what <see cref="AlertmanagerResender.Seed"/> needs after a restart. startsAt is
    /// the instance's activeAt.
    /// </summary>
    public IReadOnlyList<AlertEvent> FiringFrom(IEnumerable<ActiveAlert> alerts)
    {
        var now = _time.GetUtcNow();
        var events = new List<AlertEvent>();
        foreach (var alert in alerts.Where(a => a.State == AlertState.Firing))
        {
            var labels = LabelSet.Sorted(alert.Labels);
            var annotations = LabelSet.Sorted(alert.Annotations);
            annotations.TryAdd("runbook_url", alert.RunbookUrl);
            events.Add(new AlertEvent
            {
                Id = NewId(),
                Rule = alert.Rule,
                Group = alert.Group,
                Fingerprint = AlertFingerprint.Compute(labels),
                Severity = alert.Severity,
                Status = AlertStatus.Firing,
                Labels = labels,
                Annotations = annotations,
                Value = alert.Value,
                Threshold = alert.Threshold,
                Window = PromDuration.Format(alert.Window),
                StartsAt = alert.ActiveAt ?? now,
                Timestamp = now,
                GeneratorUrl = GeneratorUrl(alert.Group, alert.Rule),
            });
        }

        return events;
    }

    public string GeneratorUrl(string group, string alert) =>
        $"{_externalUrl}/api/v1/rules/{Uri.EscapeDataString(group)}/{Uri.EscapeDataString(alert)}/explain";

    /// <summary>A time-ordered unique id (UUIDv7): sorting ids sorts events by creation.</summary>
    public string NewId() => Guid.CreateVersion7(_time.GetUtcNow()).ToString("N");
}
