using System.Text.Json.Serialization;
using Vigil.Rules;

namespace Vigil.Alerting;

[JsonConverter(typeof(JsonStringEnumConverter<AlertStatus>))]
public enum AlertStatus
{
    [JsonStringEnumMemberName("firing")]
    Firing,

    [JsonStringEnumMemberName("resolved")]
    Resolved,
}

/// <summary>
/// One published alert event (DESIGN §7): an alert instance started firing or stopped. Immutable; the outbox stores it
/// as JSON and every receiver renders it into its own wire shape. <see cref="EndsAt"/> is null while firing (each
/// receiver decides what "open-ended" looks like) and the resolve time once resolved.
/// </summary>
public sealed record AlertEvent
{
    [JsonPropertyName("id")]
    public required string Id { get; init; }

    /// <summary>The alert rule's name (also <c>labels.alertname</c>).</summary>
    [JsonPropertyName("rule")]
    public required string Rule { get; init; }

    [JsonPropertyName("group")]
    public required string Group { get; init; }

    /// <summary>Alertmanager's fingerprint of <see cref="Labels"/>: FNV-1a 64 over the sorted label set, 16 hex digits.</summary>
    [JsonPropertyName("fingerprint")]
    public required string Fingerprint { get; init; }

    [JsonPropertyName("severity")]
    [JsonConverter(typeof(JsonStringEnumConverter<Severity>))]
    public required Severity Severity { get; init; }

    [JsonPropertyName("status")]
    public required AlertStatus Status { get; init; }

    /// <summary>alertname, severity, the instance (group-by) labels and the rule's labels, sorted by name.</summary>
    [JsonPropertyName("labels")]
    public required IReadOnlyDictionary<string, string> Labels { get; init; }

    /// <summary>summary, description (when the rule has them), runbook_url and any other rule annotation.</summary>
    [JsonPropertyName("annotations")]
    public required IReadOnlyDictionary<string, string> Annotations { get; init; }

    /// <summary>The evaluated value at the transition; null when the window had no data.</summary>
    [JsonPropertyName("value")]
    [JsonNumberHandling(JsonNumberHandling.AllowNamedFloatingPointLiterals)]
    public double? Value { get; init; }

    /// <summary>The threshold as the rule states it, e.g. <c>&gt; 0.2</c>.</summary>
    [JsonPropertyName("threshold")]
    public required string Threshold { get; init; }

    /// <summary>The rule's window as a Prometheus duration, e.g. <c>10m</c>.</summary>
    [JsonPropertyName("window")]
    public required string Window { get; init; }

    /// <summary>When the instance started firing.</summary>
    [JsonPropertyName("startsAt")]
    public required DateTimeOffset StartsAt { get; init; }

    [JsonPropertyName("endsAt")]
    public DateTimeOffset? EndsAt { get; init; }

    /// <summary>When the transition that produced this event happened.</summary>
    [JsonPropertyName("timestamp")]
    public required DateTimeOffset Timestamp { get; init; }

    [JsonPropertyName("generatorURL")]
    public required string GeneratorUrl { get; init; }

    /// <summary>
    /// One key per alert episode and status, equal on every Vigil that evaluates the same rules over the same data (an
    /// HA pair evaluates on the same grid, so its twin events share fingerprint and startsAt): receivers that bypass
    /// Alertmanager (webhooks, OTLP logs, the stream) drop the second event with a key they have seen. Hex of the first
    /// 16 bytes of SHA-256 over fingerprint, startsAt (unix ms) and status.
    /// </summary>
    [JsonPropertyName("dedupKey")]
    public string DedupKey => ComputeDedupKey(Fingerprint, StartsAt, Status);

    public static string ComputeDedupKey(string fingerprint, DateTimeOffset startsAt, AlertStatus status)
    {
        var text = $"{fingerprint}\n{startsAt.ToUnixTimeMilliseconds()}\n{(status == AlertStatus.Firing ? "firing" : "resolved")}";
        return Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(text)).AsSpan(0, 16));
    }

    [JsonIgnore]
    public string? Summary => Annotations.TryGetValue("summary", out var s) ? s : null;

    [JsonIgnore]
    public string? Description => Annotations.TryGetValue("description", out var d) ? d : null;

    [JsonIgnore]
    public string? RunbookUrl => Annotations.TryGetValue("runbook_url", out var r) ? r : null;
}
