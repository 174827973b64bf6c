using System.Text.Json.Serialization;

namespace Vigil.Rules.Api;

/// <summary>Prometheus' response envelope: <c>{"status":"success","data":...}</c>.</summary>
public sealed record ApiResponse<T>(
    [property: JsonPropertyName("status")] string Status,
    [property: JsonPropertyName("data")] T Data);

public static class ApiResponse
{
    public static ApiResponse<T> Success<T>(T data) => new("success", data);
}

/// <summary><c>GET /api/v1/rules</c> data.</summary>
public sealed record RuleDiscovery([property: JsonPropertyName("groups")] IReadOnlyList<RuleGroupInfo> Groups);

public sealed record RuleGroupInfo(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("file")] string File,
    [property: JsonPropertyName("rules")] IReadOnlyList<RuleInfo> Rules,
    [property: JsonPropertyName("interval")] double Interval,
    [property: JsonPropertyName("limit")] int Limit,
    [property: JsonPropertyName("evaluationTime")] double EvaluationTime,
    [property: JsonPropertyName("lastEvaluation")] DateTimeOffset LastEvaluation,
    [property: JsonPropertyName("queryOffset")] double QueryOffsetSeconds = 0);

/// <summary>An alerting or recording rule; serialized with the fields of its concrete type.</summary>
[JsonDerivedType(typeof(AlertingRuleInfo))]
[JsonDerivedType(typeof(RecordingRuleInfo))]
public abstract record RuleInfo(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("query")] string Query,
    [property: JsonPropertyName("labels")] IReadOnlyDictionary<string, string> Labels,
    [property: JsonPropertyName("health")] string Health,
    [property: JsonPropertyName("lastError")] string? LastError,
    [property: JsonPropertyName("evaluationTime")] double EvaluationTime,
    [property: JsonPropertyName("lastEvaluation")] DateTimeOffset LastEvaluation,
    [property: JsonPropertyName("type")] string Type);

public sealed record AlertingRuleInfo(
    string Name,
    string Query,
    [property: JsonPropertyName("state")] string State,
    [property: JsonPropertyName("duration")] double Duration,
    [property: JsonPropertyName("keepFiringFor")] double KeepFiringFor,
    IReadOnlyDictionary<string, string> Labels,
    [property: JsonPropertyName("annotations")] IReadOnlyDictionary<string, string> Annotations,
    [property: JsonPropertyName("alerts")] IReadOnlyList<AlertInfo> Alerts,
    string Health,
    string? LastError,
    double EvaluationTime,
    DateTimeOffset LastEvaluation,
    [property: JsonPropertyName("severity")] string Severity,
    [property: JsonPropertyName("runbook_url")] string RunbookUrl,
    [property: JsonPropertyName("threshold")] string Threshold,
    [property: JsonPropertyName("window")] string Window)
    : RuleInfo(Name, Query, Labels, Health, LastError, EvaluationTime, LastEvaluation, "alerting")
{
    /// <summary>A rule's state from its active instances, as Prometheus reports it: firing if any fires, else pending if any, else inactive.</summary>
    public static string StateOf(IReadOnlyList<AlertInfo> alerts) =>
        alerts.Any(a => a.State == "firing") ? "firing" : alerts.Count > 0 ? "pending" : "inactive";
}

public sealed record RecordingRuleInfo(
    string Name,
    string Query,
    IReadOnlyDictionary<string, string> Labels,
    string Health,
    string? LastError,
    double EvaluationTime,
    DateTimeOffset LastEvaluation,
    [property: JsonPropertyName("window")] string Window)
    : RuleInfo(Name, Query, Labels, Health, LastError, EvaluationTime, LastEvaluation, "recording");

/// <summary><c>GET /api/v1/alerts</c> data.</summary>
public sealed record AlertDiscovery([property: JsonPropertyName("alerts")] IReadOnlyList<AlertInfo> Alerts);

/// <summary>An active alert in Prometheus' shape (value as a string) plus Vigil's fields.</summary>
public sealed record AlertInfo(
    [property: JsonPropertyName("labels")] IReadOnlyDictionary<string, string> Labels,
    [property: JsonPropertyName("annotations")] IReadOnlyDictionary<string, string> Annotations,
    [property: JsonPropertyName("state")] string State,
    [property: JsonPropertyName("activeAt")] DateTimeOffset? ActiveAt,
    [property: JsonPropertyName("keepFiringSince")] DateTimeOffset? KeepFiringSince,
    [property: JsonPropertyName("value")] string Value,
    [property: JsonPropertyName("severity")] string Severity,
    [property: JsonPropertyName("runbook_url")] string RunbookUrl,
    [property: JsonPropertyName("threshold")] string Threshold,
    [property: JsonPropertyName("samples")] double Samples);

/// <summary>Why each instance of a rule is or is not firing.</summary>
public sealed record AlertExplanation(
    [property: JsonPropertyName("group")] string Group,
    [property: JsonPropertyName("alert")] string Alert,
    [property: JsonPropertyName("query")] string Query,
    [property: JsonPropertyName("at")] DateTimeOffset At,
    [property: JsonPropertyName("health")] string Health,
    [property: JsonPropertyName("lastError")] string? LastError,
    [property: JsonPropertyName("instances")] IReadOnlyList<InstanceExplanation> Instances);

public sealed record InstanceExplanation(
    [property: JsonPropertyName("labels")] IReadOnlyDictionary<string, string> Labels,
    [property: JsonPropertyName("value")] double? Value,
    [property: JsonPropertyName("samples")] double Samples,
    [property: JsonPropertyName("minSamples")] double MinSamples,
    [property: JsonPropertyName("guard")] string Guard,
    [property: JsonPropertyName("threshold")] string Threshold,
    [property: JsonPropertyName("recover")] string? Recover,
    [property: JsonPropertyName("for")] string For,
    [property: JsonPropertyName("severity")] string Severity,
    [property: JsonPropertyName("override")] IReadOnlyDictionary<string, string>? Override,
    [property: JsonPropertyName("state")] string State,
    [property: JsonPropertyName("activeAt")] DateTimeOffset? ActiveAt,
    [property: JsonPropertyName("firedAt")] DateTimeOffset? FiredAt,
    [property: JsonPropertyName("reason")] string Reason,
    [property: JsonPropertyName("history")] IReadOnlyList<EvaluationInfo> History);

/// <summary>One past evaluation of an instance (explain keeps the last <c>rules.explain_history</c>, oldest first).</summary>
public sealed record EvaluationInfo(
    [property: JsonPropertyName("at")] DateTimeOffset At,
    [property: JsonPropertyName("value")] double? Value,
    [property: JsonPropertyName("samples")] double Samples,
    [property: JsonPropertyName("guard")] string Guard,
    [property: JsonPropertyName("threshold")] string Threshold,
    [property: JsonPropertyName("state")] string State,
    [property: JsonPropertyName("reason")] string Reason);

/// <summary>The latest value of a recorded aggregate, for the query API and /metrics.</summary>
public sealed record RecordedSample(
    [property: JsonPropertyName("record")] string Record,
    [property: JsonPropertyName("labels")] IReadOnlyDictionary<string, string> Labels,
    [property: JsonPropertyName("value")] double? Value,
    [property: JsonPropertyName("samples")] double Samples,
    [property: JsonPropertyName("at")] DateTimeOffset At);
