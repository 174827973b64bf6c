using Vigil.Collector.Configuration;
using Vigil.Collector.Rules;
using Vigil.Rules.Api;

namespace Vigil.Collector.Api;

/// <summary>
/// <c>GET /api/v1/rules</c>, <c>GET /api/v1/alerts</c> (Prometheus' shapes plus Vigil's fields),
/// <c>GET /api/v1/rules/{group}/{alert}/explain</c> and <c>POST /-/reload</c>.
/// </summary>
public static class RulesEndpoints
{
    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapGet("/api/v1/rules", (RulesHost rules) =>
        {
            var discovery = rules.Manager.GetRules();
            var last = rules.Manager.LastReload;
            return Results.Json(new
            {
                status = "success",
                data = new
                {
                    groups = discovery.Groups,
                    lastReload = last is null ? null : new
                    {
                        at = last.At,
                        success = last.Success,
                        error = last.Error,
                        problems = last.Problems.Select(p => p.ToString()),
                    },
                },
            });
        }).WithMetadata(new ListenerAttribute(Listeners.Http));

        app.MapGet("/api/v1/alerts", (RulesHost rules) => Results.Json(ApiResponse.Success(rules.Manager.GetAlerts())))
            .WithMetadata(new ListenerAttribute(Listeners.Http));

        app.MapGet("/api/v1/rules/{group}/{alert}/explain", (string group, string alert, RulesHost rules) =>
        {
            try
            {
                return Results.Json(ApiResponse.Success(rules.Manager.Explain(group, alert)));
            }
            catch (KeyNotFoundException)
            {
                return AggregateEndpoints.Error($"no alert rule '{alert}' in group '{group}'; GET /api/v1/rules lists them", StatusCodes.Status404NotFound);
            }
        }).WithMetadata(new ListenerAttribute(Listeners.Http));

        app.MapPost("/-/reload", (HttpRequest request, RulesHost rules, VigilOptions options) =>
        {
            if (!AdminAuthorization.IsAllowed(request, options))
            {
                return AdminAuthorization.Denied();
            }

            var result = rules.Reload("POST /-/reload");
            return result.Success
                ? Results.Json(new { status = "success", groups = result.Groups, alertRules = result.AlertRules, aggregates = result.Aggregates })
                : Results.Json(new { status = "error", errorType = "bad_data", error = result.Error, problems = result.Problems.Select(p => p.ToString()) }, statusCode: StatusCodes.Status400BadRequest);
        }).WithMetadata(new ListenerAttribute(Listeners.Http));
    }
}
