using System.Text.Json.Serialization;

namespace Vigil.Rules.Backtest;

/// <summary>
/// <c>POST /api/v1/rules/backtest</c> data: the span replayed (evaluation instants within it) and, per alert rule, the
/// transitions each instance went through. Instances that stayed inactive the whole span are left out.
/// </summary>
public sealed record BacktestResult(
    [property: JsonPropertyName("from")] DateTimeOffset From,
    [property: JsonPropertyName("to")] DateTimeOffset To,
    [property: JsonPropertyName("rules")] IReadOnlyList<BacktestRule> Rules);

/// <summary>
/// One alert rule's replay: how many times it was evaluated, and its instances' transitions. <see cref="Error"/> is
/// the first refused query (as <c>lastError</c> in /api/v1/rules would show it), null when every evaluation ran.
/// </summary>
public sealed record BacktestRule(
    [property: JsonPropertyName("group")] string Group,
    [property: JsonPropertyName("alert")] string Alert,
    [property: JsonPropertyName("evaluations")] int Evaluations,
    [property: JsonPropertyName("instances")] IReadOnlyList<BacktestInstance> Instances,
    [property: JsonPropertyName("error")] [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Error = null);

/// <summary>One instance (the rule's group-by labels) and its transitions, oldest first.</summary>
public sealed record BacktestInstance(
    [property: JsonPropertyName("labels")] IReadOnlyDictionary<string, string> Labels,
    [property: JsonPropertyName("transitions")] IReadOnlyList<BacktestTransition> Transitions);

/// <summary>A state change as the live engine reports it: states by name (inactive, pending, firing, resolved).</summary>
public sealed record BacktestTransition(
    [property: JsonPropertyName("at")] DateTimeOffset At,
    [property: JsonPropertyName("from")] string From,
    [property: JsonPropertyName("to")] string To,
    [property: JsonPropertyName("value")] [property: JsonNumberHandling(JsonNumberHandling.AllowNamedFloatingPointLiterals)] double? Value,
    [property: JsonPropertyName("samples")] double Samples,
    [property: JsonPropertyName("reason")] string Reason);

/// <summary>What bounds a replay: the store's view of time and the evaluation budget.</summary>
public sealed record BacktestBounds(
    DateTimeOffset Now,
    TimeSpan Retention,
    TimeSpan Resolution,
    long MaxEvaluations,
    TimeSpan ResolvedRetention);

/// <summary>A replay's answer: the result, or why it was refused (what to narrow) — never both.</summary>
public sealed record BacktestOutcome(BacktestResult? Result, string? Refusal)
{
    public static BacktestOutcome Refused(string why) => new(null, why);
}
