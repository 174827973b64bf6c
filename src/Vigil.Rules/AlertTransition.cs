using System.Text.Json.Serialization;

namespace Vigil.Rules;

/// <summary>
/// One change of an alert instance's state, with everything an alert event needs. <see cref="Labels"/> are the
/// alert's labels (group-by labels, rule labels, alertname, severity); <see cref="InstanceLabels"/> the group-by labels only.
/// </summary>
public sealed record AlertTransition(
    string Group,
    string Alert,
    IReadOnlyDictionary<string, string> Labels,
    IReadOnlyDictionary<string, string> InstanceLabels,
    AlertState From,
    AlertState To,
    DateTimeOffset At,
    double? Value,
    double Samples,
    string Threshold,
    Severity Severity,
    string RunbookUrl,
    IReadOnlyDictionary<string, string> Annotations,
    TimeSpan Window,
    DateTimeOffset? ActiveAt,
    DateTimeOffset? FiredAt,
    DateTimeOffset? ResolvedAt,
    string Reason)
{
    /// <summary>
    /// This state change's id (a UUIDv7, 32 hex digits), assigned by the rule engine when it happens. A transition
    /// handed over again after a crash carries the same id, so the event made from it can be recognised as one.
    /// Null only for transitions built outside the rule engine.
    /// </summary>
    public string? Id { get; init; }

    [JsonIgnore]
    public string? Summary => Annotations.TryGetValue("summary", out var s) ? s : null;

    [JsonIgnore]
    public string? Description => Annotations.TryGetValue("description", out var d) ? d : null;

    /// <summary>A new transition id for a change at <paramref name="at"/>: time-ordered, unique.</summary>
    public static string NewId(DateTimeOffset at) => Guid.CreateVersion7(at).ToString("N");
}

/// <summary>
/// Receives every state change, in order, after the new state and the transition are committed together. Returning
/// means the sink has taken the transition (durably, if it promises delivery); throwing means it has not: with a
/// data directory the rule engine keeps the transition journaled and hands it over again — on the next evaluation or
/// after a restart — before any later one. A sink can therefore see a transition twice, with the same
/// <see cref="AlertTransition.Id"/>, and must treat it as one. Called on the evaluating thread: return quickly.
/// </summary>
public interface IAlertTransitionSink
{
    void OnTransition(AlertTransition transition);
}

/// <summary>A sink that keeps every transition in memory; for tests and the rules test runner.</summary>
public sealed class RecordingTransitionSink : IAlertTransitionSink
{
    private readonly List<AlertTransition> _transitions = [];

    public IReadOnlyList<AlertTransition> Transitions
    {
        get
        {
            lock (_transitions)
            {
                return _transitions.ToList();
            }
        }
    }

    public void OnTransition(AlertTransition transition)
    {
        lock (_transitions)
        {
            _transitions.Add(transition);
        }
    }
}
