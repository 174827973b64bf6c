namespace Vigil.Collector.Api;

public static class HealthEndpoints
{
    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapGet("/healthz", () => Results.Text("ok\n")).WithMetadata(new ListenerAttribute(Listeners.Http));
        app.MapGet("/readyz", (Readiness readiness) =>
        {
            var parts = readiness.Snapshot();
            var detail = readiness.Details();
            object body = detail.Count == 0
                ? new { status = readiness.IsReady ? "ready" : "starting", parts }
                : new { status = readiness.IsReady ? "ready" : "starting", parts, detail };
            return Results.Json(
                body,
                statusCode: readiness.IsReady ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable);
        }).WithMetadata(new ListenerAttribute(Listeners.Http));
    }
}
