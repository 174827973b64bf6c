using Vigil.Rules;

namespace Vigil.Alerting.Implementation;

/// <summary>Field numbers of opentelemetry/proto/{collector/logs,logs,common,resource}/v1 used by the encoder.</summary>
internal static class OtlpLogsFields
{
    public const int ExportRequestResourceLogs = 1;
    public const int ResourceLogsResource = 1;
    public const int ResourceLogsScopeLogs = 2;
    public const int ResourceAttributes = 1;
    public const int ScopeLogsScope = 1;
    public const int ScopeLogsLogRecords = 2;
    public const int ScopeName = 1;
    public const int ScopeVersion = 2;
    public const int LogRecordTimeUnixNano = 1;
    public const int LogRecordSeverityNumber = 2;
    public const int LogRecordSeverityText = 3;
    public const int LogRecordBody = 5;
    public const int LogRecordAttributes = 6;
    public const int LogRecordObservedTimeUnixNano = 11;
    public const int LogRecordEventName = 12;
    public const int KeyValueKey = 1;
    public const int KeyValueValue = 2;
    public const int AnyValueString = 1;
    public const int AnyValueDouble = 4;
}

/// <summary>Builds an OTLP <c>ExportLogsServiceRequest</c> with one log record per alert event.</summary>
internal static class OtlpLogsEncoder
{
    public const string EventName = "vigil.alert";

    /// <summary>OTLP SeverityNumber for a Vigil severity: P1 → FATAL (21), P2 → ERROR (17), P3 → WARN (13), P4 → INFO (9).</summary>
    public static int SeverityNumber(Severity severity) => severity switch
    {
        Severity.P1 => 21,
        Severity.P2 => 17,
        Severity.P3 => 13,
        _ => 9,
    };

    public static byte[] Encode(IReadOnlyList<AlertEvent> events, DateTimeOffset observedAt, string serviceName = "vigil")
    {
        var scopeLogs = new ProtoWriter();
        var scope = new ProtoWriter();
        scope.String(OtlpLogsFields.ScopeName, "Vigil.Alerting");
        scope.String(OtlpLogsFields.ScopeVersion, typeof(OtlpLogsEncoder).Assembly.GetName().Version?.ToString());
        scopeLogs.Message(OtlpLogsFields.ScopeLogsScope, scope);
        foreach (var e in events)
        {
            scopeLogs.Message(OtlpLogsFields.ScopeLogsLogRecords, Record(e, observedAt));
        }

        var resource = new ProtoWriter();
        resource.Message(OtlpLogsFields.ResourceAttributes, Attribute("service.name", serviceName));
        var resourceLogs = new ProtoWriter();
        resourceLogs.Message(OtlpLogsFields.ResourceLogsResource, resource);
        resourceLogs.Message(OtlpLogsFields.ResourceLogsScopeLogs, scopeLogs);
        var request = new ProtoWriter();
        request.Message(OtlpLogsFields.ExportRequestResourceLogs, resourceLogs);
        return request.ToArray();
    }

    private static ProtoWriter Record(AlertEvent e, DateTimeOffset observedAt)
    {
        var record = new ProtoWriter();
        record.Fixed64(OtlpLogsFields.LogRecordTimeUnixNano, UnixNanos(e.Timestamp));
        record.Varint(OtlpLogsFields.LogRecordSeverityNumber, (ulong)SeverityNumber(e.Severity));
        record.String(OtlpLogsFields.LogRecordSeverityText, e.Severity.ToString());
        var body = new ProtoWriter();
        body.String(OtlpLogsFields.AnyValueString,
            $"[{(e.Status == AlertStatus.Firing ? "FIRING" : "RESOLVED")}] {e.Rule}: {e.Summary ?? e.Threshold}");
        record.Message(OtlpLogsFields.LogRecordBody, body);

        // Labels keep their OTel names (tenant.id stays tenant.id); Vigil's own fields live under vigil.alert.*.
        foreach (var (k, v) in e.Labels)
        {
            record.Message(OtlpLogsFields.LogRecordAttributes, Attribute(k, v));
        }

        foreach (var (k, v) in e.Annotations)
        {
            if (!e.Labels.ContainsKey(k))
            {
                record.Message(OtlpLogsFields.LogRecordAttributes, Attribute(k, v));
            }
        }

        record.Message(OtlpLogsFields.LogRecordAttributes, Attribute("vigil.alert.id", e.Id));
        record.Message(OtlpLogsFields.LogRecordAttributes, Attribute("vigil.alert.rule", e.Rule));
        record.Message(OtlpLogsFields.LogRecordAttributes, Attribute("vigil.alert.group", e.Group));
        record.Message(OtlpLogsFields.LogRecordAttributes, Attribute("vigil.alert.status", e.Status == AlertStatus.Firing ? "firing" : "resolved"));
        record.Message(OtlpLogsFields.LogRecordAttributes, Attribute("vigil.alert.fingerprint", e.Fingerprint));
        record.Message(OtlpLogsFields.LogRecordAttributes, Attribute("vigil.alert.dedup_key", e.DedupKey));
        record.Message(OtlpLogsFields.LogRecordAttributes, Attribute("vigil.alert.threshold", e.Threshold));
        record.Message(OtlpLogsFields.LogRecordAttributes, Attribute("vigil.alert.window", e.Window));
        record.Message(OtlpLogsFields.LogRecordAttributes, Attribute("vigil.alert.starts_at", HttpDelivery.Rfc3339(e.StartsAt)));
        if (e.EndsAt is { } endsAt)
        {
            record.Message(OtlpLogsFields.LogRecordAttributes, Attribute("vigil.alert.ends_at", HttpDelivery.Rfc3339(endsAt)));
        }

        record.Message(OtlpLogsFields.LogRecordAttributes, Attribute("vigil.alert.generator_url", e.GeneratorUrl));
        if (e.Value is { } value)
        {
            var kv = new ProtoWriter();
            kv.String(OtlpLogsFields.KeyValueKey, "vigil.alert.value");
            var any = new ProtoWriter();
            any.Double(OtlpLogsFields.AnyValueDouble, value);
            kv.Message(OtlpLogsFields.KeyValueValue, any);
            record.Message(OtlpLogsFields.LogRecordAttributes, kv);
        }

        record.Fixed64(OtlpLogsFields.LogRecordObservedTimeUnixNano, UnixNanos(observedAt));
        record.String(OtlpLogsFields.LogRecordEventName, EventName);
        return record;
    }

    private static ProtoWriter Attribute(string key, string value)
    {
        var kv = new ProtoWriter();
        kv.String(OtlpLogsFields.KeyValueKey, key);
        var any = new ProtoWriter();
        any.Bytes(OtlpLogsFields.AnyValueString, System.Text.Encoding.UTF8.GetBytes(value)); // set even when empty: a oneof
        kv.Message(OtlpLogsFields.KeyValueValue, any);
        return kv;
    }

    private static ulong UnixNanos(DateTimeOffset t) => (ulong)(t.UtcTicks - DateTime.UnixEpoch.Ticks) * 100;
}
