using System.Globalization;
using System.Net.Http.Headers;
using System.Text.Json;
using Vigil.Alerting.Implementation;
using Vigil.Rules;

namespace Vigil.Alerting.Receivers;

/// <summary>
/// A signed webhook: one POST per batch with Alertmanager's webhook body (version 4), so tools that accept
/// Alertmanager webhooks accept Vigil's, plus a <c>vigil</c> object per alert (id, rule, group, value, threshold,
/// window). Signed per <see cref="WebhookSignature"/>. Label names are kept verbatim (JSON has no naming rule).
/// </summary>
public sealed class WebhookReceiver : IAlertReceiver
{
    private static readonly string ZeroTime = "0001-01-01T00:00:00Z";
    private readonly WebhookOptions _options;
    private readonly HttpClient _http;
    private readonly TimeProvider _time;
    private readonly string _externalUrl;
    private readonly Uri _url;

    public WebhookReceiver(WebhookOptions options, HttpClient http, TimeProvider timeProvider, string externalUrl)
    {
        _options = options;
        _http = http;
        _time = timeProvider;
        _externalUrl = externalUrl;
        _url = new Uri(options.Url);
    }

    public string Name => _options.ReceiverName;

    public async Task DeliverAsync(IReadOnlyList<AlertEvent> events, CancellationToken cancellationToken)
    {
        if (events.Count == 0)
        {
            return;
        }

        var body = Render(_options.Name, _externalUrl, events);
        var timestamp = _time.GetUtcNow().ToUnixTimeSeconds();
        using var request = new HttpRequestMessage(HttpMethod.Post, _url) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.Add(WebhookSignature.TimestampHeader, timestamp.ToString(CultureInfo.InvariantCulture));
        request.Headers.Add(WebhookSignature.SignatureHeader, WebhookSignature.Compute(_options.Secret, timestamp, body));
        await HttpDelivery.SendAsync(_http, request, _options.Timeout, Name, cancellationToken);
    }

    /// <summary>The Alertmanager-compatible webhook body for <paramref name="events"/>.</summary>
    public static byte[] Render(string receiver, string externalUrl, IReadOnlyList<AlertEvent> events)
    {
        var commonLabels = Common(events.Select(e => e.Labels));
        var commonAnnotations = Common(events.Select(e => e.Annotations));
        var groupLabels = new SortedDictionary<string, string>(StringComparer.Ordinal);
        if (commonLabels.TryGetValue("alertname", out var alertname))
        {
            groupLabels["alertname"] = alertname;
        }

        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("version", "4");
            json.WriteString("groupKey", "{}:" + LabelSet.Key(groupLabels));
            json.WriteNumber("truncatedAlerts", 0);
            json.WriteString("status", events.Any(e => e.Status == AlertStatus.Firing) ? "firing" : "resolved");
            json.WriteString("receiver", receiver);
            WriteMap(json, "groupLabels", groupLabels);
            WriteMap(json, "commonLabels", commonLabels);
            WriteMap(json, "commonAnnotations", commonAnnotations);
            json.WriteString("externalURL", externalUrl);
            json.WriteStartArray("alerts");
            foreach (var e in events)
            {
                json.WriteStartObject();
                json.WriteString("status", e.Status == AlertStatus.Firing ? "firing" : "resolved");
                WriteMap(json, "labels", e.Labels);
                WriteMap(json, "annotations", e.Annotations);
                json.WriteString("startsAt", HttpDelivery.Rfc3339(e.StartsAt));
                json.WriteString("endsAt", e.Status == AlertStatus.Firing ? ZeroTime : HttpDelivery.Rfc3339(e.EndsAt ?? e.Timestamp));
                json.WriteString("generatorURL", e.GeneratorUrl);
                json.WriteString("fingerprint", e.Fingerprint);
                json.WriteStartObject("vigil");
                json.WriteString("id", e.Id);
                json.WriteString("dedupKey", e.DedupKey);
                json.WriteString("rule", e.Rule);
                json.WriteString("group", e.Group);
                json.WriteString("severity", e.Severity.ToString());
                if (e.Value is { } v && double.IsFinite(v))
                {
                    json.WriteNumber("value", v);
                }
                else
                {
                    json.WriteNull("value");
                }

                json.WriteString("threshold", e.Threshold);
                json.WriteString("window", e.Window);
                json.WriteEndObject();
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        return buffer.ToArray();
    }

    private static SortedDictionary<string, string> Common(IEnumerable<IReadOnlyDictionary<string, string>> maps)
    {
        SortedDictionary<string, string>? common = null;
        foreach (var map in maps)
        {
            if (common is null)
            {
                common = LabelSet.Sorted(map);
                continue;
            }

            foreach (var key in common.Keys.ToList())
            {
                if (!map.TryGetValue(key, out var v) || v != common[key])
                {
                    common.Remove(key);
                }
            }
        }

        return common ?? new SortedDictionary<string, string>(StringComparer.Ordinal);
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
