using Vigil.Alerting;
using Vigil.Collector.Alerting;
using Vigil.Collector.Configuration;
using Vigil.Collector.Rules;
using Vigil.Collector.Security;
using Vigil.Rules;
using Vigil.Storage;
using Vigil.Storage.Query;

namespace Vigil.Collector.Api;

/// <summary>
/// <c>GET /api/v1/gate?severity=P1&amp;match=service.name=checkout&amp;quiet_for=10m</c>: may a release go? 200 with
/// <c>"pass":true</c>, or 409 with the alerts that hold it (<see cref="ReleaseGate"/>). Read-scoped: a tenant's key
/// asks about its own alerts.
/// </summary>
public static class GateEndpoints
{
    public static void Map(IEndpointRouteBuilder app) =>
        app.MapGet("/api/v1/gate", Gate).WithMetadata(new ListenerAttribute(Listeners.Http)).ReadScoped();

    private static IResult Gate(HttpRequest request, RulesHost rules, AlertingHost alerting, VigilOptions options, TimeProvider time)
    {
        var query = request.Query;
        var severity = Severity.P1;
        if (query["severity"].ToString() is { Length: > 0 } severityText
            && (!Enum.TryParse(severityText, ignoreCase: true, out severity) || !Enum.IsDefined(severity) || int.TryParse(severityText, out _)))
        {
            return AggregateEndpoints.Error($"parameter 'severity': '{severityText}' is not one of P1, P2, P3, P4 (alerts at it or more severe block)");
        }

        var quietFor = TimeSpan.Zero;
        var retention = options.Alerting.HistoryRetention;
        if (query["quiet_for"].ToString() is { Length: > 0 } quietText)
        {
            if (!DurationFormat.TryParse(quietText, out quietFor) || quietFor < TimeSpan.Zero)
            {
                return AggregateEndpoints.Error($"parameter 'quiet_for': '{quietText}' is not a duration; write e.g. 10m, 1h");
            }

            if (quietFor > retention)
            {
                return AggregateEndpoints.Error($"parameter 'quiet_for': {quietText} is longer than alerting.history_retention ({DurationFormat.Format(retention)}), the past the gate can see; ask for less or raise the setting");
            }
        }

        var matchers = new List<LabelMatcher>();
        try
        {
            foreach (var text in query["match"])
            {
                matchers.Add(AggregateEndpoints.ParseMatcher(text ?? string.Empty));
            }
        }
        catch (QueryException e)
        {
            return AggregateEndpoints.Error(e.Message);
        }

        var scope = ReadScope.Of(request.HttpContext);
        var now = time.GetUtcNow();
        var first = matchers.FirstOrDefault(m => m.Op == MatchOp.Equal);
        var history = quietFor == TimeSpan.Zero
            ? []
            : alerting.Service.GetHistory(scope.History(new AlertHistoryQuery(From: now - quietFor, To: now, Limit: 10_000,
                Label: first is null ? null : new KeyValuePair<string, string>(first.Name, first.Value))));
        var verdict = ReleaseGate.Decide(new GateQuery(severity, matchers, quietFor), scope.Alerts(rules.Manager.GetAlerts()).Alerts, history.Select(h => h.Event), now);
        return Results.Json(verdict, statusCode: verdict.Pass ? StatusCodes.Status200OK : StatusCodes.Status409Conflict);
    }
}
