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
            return Results.Json(
                new { status = readiness.IsReady ? "ready" : "starting", parts },
                statusCode: readiness.IsReady ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable);
        }).WithMetadata(new ListenerAttribute(Listeners.Http)).Public();
    }
}
