using System.Net.Http.Headers;
using System.Text.Json;
using Vigil.Alerting.Implementation;

namespace Vigil.Alerting.Receivers;

/// <summary>
/// Alertmanager API v2: <c>POST {url}/api/v2/alerts</c> with a JSON array of postable alerts. A firing alert's endsAt
/// is "send time + validity" (Prometheus' rule: 4 × max(resend, evaluation interval)), so Alertmanager resolves it by
/// itself if Vigil goes silent; a resolved alert carries its resolve time. Label and annotation names are translated
/// to Prometheus-legal names (<c>tenant.id</c> → <c>tenant_id</c>) because Alertmanager rejects others.
/// </summary>
public sealed class AlertmanagerReceiver : IAlertReceiver
{
    private readonly AlertmanagerOptions _options;
    private readonly HttpClient _http;
    private readonly TimeProvider _time;
    private readonly TimeSpan _validity;
    private readonly Uri _endpoint;

    public AlertmanagerReceiver(AlertmanagerOptions options, HttpClient http, TimeProvider timeProvider, TimeSpan firingValidity)
    {
        _options = options;
        _http = http;
        _time = timeProvider;
        _validity = firingValidity;
        _endpoint = new Uri(options.Url.TrimEnd('/') + "/api/v2/alerts");
    }

    public string Name => _options.ReceiverName;

    public async Task DeliverAsync(IReadOnlyList<AlertEvent> events, CancellationToken cancellationToken)
    {
        if (events.Count == 0)
        {
            return;
        }

        using var request = new HttpRequestMessage(HttpMethod.Post, _endpoint)
        {
            Content = new ByteArrayContent(Render(events, _time.GetUtcNow() + _validity)),
        };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        await HttpDelivery.SendAsync(_http, request, _options.Timeout, Name, cancellationToken);
    }

    /// <summary>The request body: firing alerts end at <paramref name="firingEndsAt"/>, resolved ones at their resolve time.</summary>
    public static byte[] Render(IReadOnlyList<AlertEvent> events, DateTimeOffset firingEndsAt)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartArray();
            foreach (var e in events)
            {
                json.WriteStartObject();
                WriteMap(json, "labels", HttpDelivery.PrometheusNames(e.Labels));
                WriteMap(json, "annotations", HttpDelivery.PrometheusNames(e.Annotations));
                json.WriteString("startsAt", HttpDelivery.Rfc3339(e.StartsAt));
                json.WriteString("endsAt", HttpDelivery.Rfc3339(e.Status == AlertStatus.Firing ? firingEndsAt : e.EndsAt ?? e.Timestamp));
                json.WriteString("generatorURL", e.GeneratorUrl);
                json.WriteEndObject();
            }

            json.WriteEndArray();
        }

        return buffer.ToArray();
    }

    private static void WriteMap(Utf8JsonWriter json, string name, IEnumerable<KeyValuePair<string, string>> map)
    {
        json.WriteStartObject(name);
        foreach (var (k, v) in map)
        {
            json.WriteString(k, v);
        }

        json.WriteEndObject();
    }
}
