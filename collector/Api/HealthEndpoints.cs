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
            var detail = readiness.Details();
            var ready = parts.Values.All(r => r);

            // "starting" until every part was ready once; "unavailable" when a part that served stopped and said why.
            var status = ready ? "ready" : reasons.Count > 0 ? "unavailable" : "starting";
            object body = detail.Count == 0 ? new { status, parts, reasons } : new { status, parts, reasons, detail };
            return Results.Json(
                body,
                statusCode: ready ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable);
        }).WithMetadata(new ListenerAttribute(Listeners.Http)).Public();
    }
}
