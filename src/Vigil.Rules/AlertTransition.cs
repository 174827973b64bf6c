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
    public string? Summary => Annotations.TryGetValue("summary", out var s) ? s : null;

    public string? Description => Annotations.TryGetValue("description", out var d) ? d : null;
}

/// <summary>Receives every state change, after the new state is persisted. Called on the evaluating thread: return quickly.</summary>
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
