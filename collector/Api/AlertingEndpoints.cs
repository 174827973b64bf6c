using System.Globalization;
using Vigil.Alerting;
using Vigil.Collector.Alerting;
using Vigil.Collector.Security;
using Vigil.Rules;

namespace Vigil.Collector.Api;

/// <summary><c>GET /api/v1/alerts/history</c> and the live stream <c>GET /api/v1/alerts/stream</c> (server-sent events).</summary>
public static class AlertingEndpoints
{
    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapGet("/api/v1/alerts/history", (HttpRequest request, AlertingHost alerting) =>
        {
            var query = request.Query;
            Severity? severity = null;
            if (query["severity"].ToString() is { Length: > 0 } severityText)
            {
                if (!Enum.TryParse<Severity>(severityText, ignoreCase: true, out var parsed) || !Enum.IsDefined(parsed) || int.TryParse(severityText, out _))
                {
                    return AggregateEndpoints.Error($"parameter 'severity': '{severityText}' is not one of P1, P2, P3, P4");
                }

                severity = parsed;
            }

            AlertStatus? status = null;
            if (query["status"].ToString() is { Length: > 0 } statusText)
            {
                if (statusText is not ("firing" or "resolved"))
                {
                    return AggregateEndpoints.Error($"parameter 'status': '{statusText}' is not firing or resolved");
                }

                status = statusText == "firing" ? AlertStatus.Firing : AlertStatus.Resolved;
            }

            if (!TryTime(query["from"], "from", out var from, out var error) || !TryTime(query["to"], "to", out var to, out error))
            {
                return AggregateEndpoints.Error(error!);
            }

            var limit = 100;
            if (query["limit"].ToString() is { Length: > 0 } limitText && (!int.TryParse(limitText, NumberStyles.None, CultureInfo.InvariantCulture, out limit) || limit is < 1 or > 10_000))
            {
                return AggregateEndpoints.Error($"parameter 'limit': '{limitText}' is not a number from 1 to 10000");
            }

            var rule = query["rule"].ToString();
            var history = alerting.Service.GetHistory(ReadScope.Of(request.HttpContext).History(new AlertHistoryQuery(rule.Length > 0 ? rule : null, severity, status, from, to, limit)));
            return Results.Json(new { status = "success", data = history });
        }).WithMetadata(new ListenerAttribute(Listeners.Http)).ReadScoped();

        app.MapGet("/api/v1/alerts/stream", async (HttpContext context, AlertingHost alerting) =>
        {
            var scope = ReadScope.Of(context);
            context.Response.ContentType = "text/event-stream";
            context.Response.Headers.CacheControl = "no-cache";
            await context.Response.WriteAsync(": Vigil alert events; each event is one JSON alert event\n\n", context.RequestAborted);
            await context.Response.Body.FlushAsync(context.RequestAborted);
            try
            {
                await foreach (var alert in alerting.Service.Stream.Subscribe(context.RequestAborted))
                {
                    if (!scope.Allows(alert.Labels))
                    {
                        continue;
                    }

                    await context.Response.WriteAsync($"id: {alert.Id}\nevent: {(alert.Status == AlertStatus.Firing ? "firing" : "resolved")}\ndata: {AlertEventJson.Serialize(alert)}\n\n", context.RequestAborted);
                    await context.Response.Body.FlushAsync(context.RequestAborted);
                }
            }
            catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
            {
            }
        }).WithMetadata(new ListenerAttribute(Listeners.Http)).ReadScoped();
    }

    private static bool TryTime(string? text, string name, out DateTimeOffset? time, out string? error)
    {
        time = null;
        error = null;
        if (string.IsNullOrEmpty(text))
        {
            return true;
        }

        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds))
        {
            time = DateTimeOffset.FromUnixTimeMilliseconds((long)(seconds * 1000));
            return true;
        }

        if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed))
        {
            time = parsed;
            return true;
        }

        error = $"parameter '{name}': '{text}' is neither RFC 3339 nor unix seconds";
        return false;
    }
}
