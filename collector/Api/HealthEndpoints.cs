using Vigil.Collector.Security;

namespace Vigil.Collector.Api;

public static class HealthEndpoints
{
    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapGet("/healthz", () => Results.Text("ok\n")).WithMetadata(new ListenerAttribute(Listeners.Http)).Public();
        app.MapGet("/readyz", (Readiness readiness) =>
        {
            var parts = readiness.Snapshot();
            var reasons = readiness.Reasons();
            var ready = parts.Values.All(r => r);

            // "starting" until every part was ready once; "unavailable" when a part that served stopped and said why.
            var status = ready ? "ready" : reasons.Count > 0 ? "unavailable" : "starting";
            return Results.Json(
                new { status, parts, reasons },
                statusCode: ready ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable);
        }).WithMetadata(new ListenerAttribute(Listeners.Http)).Public();
    }
}
