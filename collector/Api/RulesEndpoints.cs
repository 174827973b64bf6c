using Vigil.Collector.Rules;
using Vigil.Collector.Security;
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
        app.MapGet("/api/v1/rules", (HttpContext context, RulesHost rules) =>
        {
            var discovery = ReadScope.Of(context).Rules(rules.Manager.GetRules());
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
        }).WithMetadata(new ListenerAttribute(Listeners.Http)).ReadScoped();

        app.MapGet("/api/v1/alerts", (HttpContext context, RulesHost rules) => Results.Json(ApiResponse.Success(ReadScope.Of(context).Alerts(rules.Manager.GetAlerts()))))
            .WithMetadata(new ListenerAttribute(Listeners.Http)).ReadScoped();

        app.MapGet("/api/v1/rules/{group}/{alert}/explain", (string group, string alert, HttpContext context, RulesHost rules) =>
        {
            try
            {
                return Results.Json(ApiResponse.Success(ReadScope.Of(context).Explain(rules.Manager.Explain(group, alert))));
            }
            catch (KeyNotFoundException)
            {
                return AggregateEndpoints.Error($"no alert rule '{alert}' in group '{group}'; GET /api/v1/rules lists them", StatusCodes.Status404NotFound);
            }
        }).WithMetadata(new ListenerAttribute(Listeners.Http)).ReadScoped();

        app.MapPost("/-/reload", (RulesHost rules) =>
        {
            var result = rules.Reload("POST /-/reload");
            return result.Success
                ? Results.Json(new { status = "success", groups = result.Groups, alertRules = result.AlertRules, aggregates = result.Aggregates })
                : Results.Json(new { status = "error", errorType = "bad_data", error = result.Error, problems = result.Problems.Select(p => p.ToString()) }, statusCode: StatusCodes.Status400BadRequest);
        }).WithMetadata(new ListenerAttribute(Listeners.Http)).AdminOnly();
    }
}
