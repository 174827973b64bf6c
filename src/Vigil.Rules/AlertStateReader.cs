using Vigil.Rules.Api;

namespace Vigil.Rules;

/// <summary>
/// A pending or firing alert instance as the last evaluation of its group published it: the rule engine's one typed
/// read model of alert state. Its labels and annotations are assembled in one place (<see cref="GroupSnapshot"/>);
/// alerting and the exposition read it as it is, and the HTTP API maps it to Prometheus' JSON (<see cref="ToApi"/>).
/// </summary>
public sealed record ActiveAlert(
    string Group,
    string Rule,
    IReadOnlyDictionary<string, string> Labels,
    IReadOnlyDictionary<string, string> Annotations,
    AlertState State,
    DateTimeOffset? ActiveAt,
    DateTimeOffset? KeepFiringSince,
    double? Value,
    double Samples,
    Severity Severity,
    string RunbookUrl,
    string Threshold,
    TimeSpan Window)
{
    /// <summary>The state as Prometheus writes it: <c>pending</c> or <c>firing</c> (the <c>alertstate</c> label).</summary>
    public string StateName => AlertStateMachine.Name(State);

    /// <summary>The alert in <c>GET /api/v1/alerts</c>' shape (value as a string, state in words).</summary>
    public AlertInfo ToApi() => new(Labels, Annotations, StateName, ActiveAt, KeepFiringSince, RuleGroupRunner.FormatValue(Value),
        Severity.ToString(), RunbookUrl, Threshold, Samples);
}

/// <summary>Reads the active alerts of the running rules, from each group's last published snapshot (never waits for an evaluation).</summary>
public interface IAlertStateReader
{
    /// <summary>Every pending and firing instance of every group.</summary>
    IReadOnlyList<ActiveAlert> ActiveAlerts();
}
