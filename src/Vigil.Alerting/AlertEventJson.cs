using System.Text.Json;
using Vigil.Rules;

namespace Vigil.Alerting;

/// <summary>The JSON form of <see cref="AlertEvent"/> used by the outbox, the history API and the live stream.</summary>
public static class AlertEventJson
{
    public static JsonSerializerOptions Options { get; } = new(JsonSerializerDefaults.Web);

    public static string Serialize(AlertEvent e) => JsonSerializer.Serialize(e, Options);

    public static AlertEvent Deserialize(string json)
    {
        var e = JsonSerializer.Deserialize<AlertEvent>(json, Options) ?? throw new JsonException("null alert event");
        return e with { Labels = LabelSet.Sorted(e.Labels), Annotations = LabelSet.Sorted(e.Annotations) };
    }
}
