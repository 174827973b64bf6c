using System.Text.Json.Serialization;
using Vigil.Rules;

namespace Vigil.Alerting;

/// <summary>
/// Filters for <c>GET /api/v1/alerts/history</c>. Times filter on the event's transition time, inclusive.
/// <see cref="Label"/> keeps only events whose labels hold that name and value (a tenant's events), before the limit.
/// </summary>
public sealed record AlertHistoryQuery(
    string? Rule = null,
    Severity? Severity = null,
    AlertStatus? Status = null,
    DateTimeOffset? From = null,
    DateTimeOffset? To = null,
    int Limit = 100,
    KeyValuePair<string, string>? Label = null);

/// <summary>One event with what happened to it at each receiver.</summary>
public sealed record AlertHistoryEntry(
    [property: JsonPropertyName("event")] AlertEvent Event,
    [property: JsonPropertyName("deliveries")] IReadOnlyList<DeliveryOutcome> Deliveries);

[JsonConverter(typeof(JsonStringEnumConverter<DeliveryState>))]
public enum DeliveryState
{
    [JsonStringEnumMemberName("pending")]
    Pending,

    [JsonStringEnumMemberName("delivered")]
    Delivered,

    [JsonStringEnumMemberName("expired")]
    Expired,
}

/// <summary>One receiver's delivery of one event.</summary>
public sealed record DeliveryOutcome(
    [property: JsonPropertyName("receiver")] string Receiver,
    [property: JsonPropertyName("state")] DeliveryState State,
    [property: JsonPropertyName("attempts")] int Attempts,
    [property: JsonPropertyName("lastError")] string? LastError,
    [property: JsonPropertyName("lastAttemptAt")] DateTimeOffset? LastAttemptAt,
    [property: JsonPropertyName("nextAttemptAt")] DateTimeOffset? NextAttemptAt,
    [property: JsonPropertyName("deliveredAt")] DateTimeOffset? DeliveredAt,
    [property: JsonPropertyName("expiredAt")] DateTimeOffset? ExpiredAt);
