using System.Globalization;
using Google.Protobuf;
using Microsoft.AspNetCore.Http.Features;
using Vigil.Otlp.Proto.Rpc;

namespace Vigil.Collector.Otlp;

/// <summary>OTLP/HTTP on its own listener: <c>POST /v1/metrics</c> in protobuf or JSON, gzip or not.</summary>
public static class OtlpHttpEndpoints
{
    private const string Protobuf = "application/x-protobuf";
    private const string Json = "application/json";
    private static readonly JsonFormatter Formatter = new(JsonFormatter.Settings.Default.WithFormatDefaultValues(false));

    public static void Map(IEndpointRouteBuilder app, string listener)
    {
        app.MapPost("/v1/metrics", HandleAsync).WithMetadata(new ListenerAttribute(listener));

        // Prometheus 3's OTLP receiver path: an exporter set up for a Prometheus endpoint only changes host and port.
        app.MapPost("/api/v1/otlp/v1/metrics", HandleAsync).WithMetadata(new ListenerAttribute(listener));
        app.MapMethods("/v1/metrics", ["GET", "PUT", "DELETE", "PATCH"], (HttpContext context) =>
        {
            context.Response.Headers.Allow = "POST";
            return Results.Text("use POST /v1/metrics with an OTLP ExportMetricsServiceRequest\n", statusCode: StatusCodes.Status405MethodNotAllowed);
        }).WithMetadata(new ListenerAttribute(listener));
        foreach (var signal in new[] { "traces", "logs", "profiles" })
        {
            app.MapPost($"/v1/{signal}", () => Results.Text(
                $"Vigil receives metrics only: POST /v1/metrics. Send {signal} to a {signal} backend (e.g. through an OpenTelemetry Collector pipeline).\n",
                statusCode: StatusCodes.Status404NotFound)).WithMetadata(new ListenerAttribute(listener));
        }
    }

    private static async Task HandleAsync(HttpContext context, OtlpReceiver receiver)
    {
        var json = IsMediaType(context.Request.ContentType, Json);

        // Before the body is read: an unauthenticated sender costs no decoding and reaches neither the WAL nor the store.
        var (binding, refusal) = receiver.Authenticate(context.Request.Headers, "http");
        if (refusal is { } unauthenticated)
        {
            context.Response.Headers.WWWAuthenticate = "Bearer realm=\"vigil-ingest\"";
            await Status(context, json, StatusCodes.Status401Unauthorized, 16, unauthenticated.Message!);
            return;
        }

        if (!json && !IsMediaType(context.Request.ContentType, Protobuf))
        {
            await Text(context, StatusCodes.Status415UnsupportedMediaType, $"unsupported Content-Type '{context.Request.ContentType}'; OTLP/HTTP takes {Protobuf} or {Json}");
            return;
        }

        var encoding = context.Request.Headers.ContentEncoding.ToString().AsSpan().Trim();
        var gzip = encoding.Equals("gzip", StringComparison.OrdinalIgnoreCase);
        if (!gzip && !encoding.IsEmpty && !encoding.Equals("identity", StringComparison.OrdinalIgnoreCase))
        {
            await Status(context, json, StatusCodes.Status415UnsupportedMediaType, 3, $"unsupported Content-Encoding '{encoding.ToString().ToLowerInvariant()}'; use gzip or none");
            return;
        }

        // Kestrel's own cap is lifted here: the reader enforces the limit on both compressed and decompressed sizes.
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } sizeFeature)
        {
            sizeFeature.MaxRequestBodySize = null;
        }

        RequestBody body;
        try
        {
            body = await RequestBody.ReadAsync(context.Request.Body, gzip, context.Request.ContentLength, receiver.Gate.Options, context.RequestAborted);
        }
        catch (BodyRefusedException e)
        {
            context.RequestServices.GetRequiredService<BodyRefusals>().Add("http", e.Reason);
            await Status(context, json, e.HttpStatus, e.HttpBodyCode, e.Message);
            return;
        }

        OtlpOutcome outcome;
        using (body)
        {
            outcome = await receiver.ExportAsync(body, json, "http", binding, context.RequestAborted);
        }

        switch (outcome.Kind)
        {
            case OtlpOutcomeKind.Success:
                var response = outcome.ToResponse();
                context.Response.StatusCode = StatusCodes.Status200OK;
                await Write(context, json, response);
                break;
            case OtlpOutcomeKind.Overloaded or OtlpOutcomeKind.Unavailable:
                // 429/503 + Retry-After: the OTLP exporters retry these after the delay.
                context.Response.Headers.RetryAfter = ((long)(outcome.RetryAfter ?? receiver.Gate.Options.RetryAfter).TotalSeconds).ToString(CultureInfo.InvariantCulture);
                var overloaded = outcome.Kind == OtlpOutcomeKind.Overloaded;
                await Status(context, json, overloaded ? StatusCodes.Status429TooManyRequests : StatusCodes.Status503ServiceUnavailable, overloaded ? 8 : 14, outcome.Message!);
                break;
            default:
                await Status(context, json, StatusCodes.Status400BadRequest, 3, outcome.Message!);
                break;
        }
    }

    /// <summary>Whether a Content-Type names <paramref name="mediaType"/> (parameters and case aside), without allocating per request.</summary>
    private static bool IsMediaType(string? header, string mediaType)
    {
        var value = header.AsSpan();
        var parameters = value.IndexOf(';');
        return (parameters < 0 ? value : value[..parameters]).Trim().Equals(mediaType, StringComparison.OrdinalIgnoreCase);
    }

    private static Task Status(HttpContext context, bool json, int httpStatus, int grpcCode, string message)
    {
        context.Response.StatusCode = httpStatus;
        return Write(context, json, new Status { Code = grpcCode, Message = message });
    }

    private static Task Text(HttpContext context, int status, string message)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "text/plain; charset=utf-8";
        return context.Response.WriteAsync(message + "\n");
    }

    private static async Task Write(HttpContext context, bool json, IMessage message)
    {
        if (json)
        {
            context.Response.ContentType = Json;
            await context.Response.WriteAsync(Formatter.Format(message));
        }
        else
        {
            context.Response.ContentType = Protobuf;
            await context.Response.Body.WriteAsync(message.ToByteArray());
        }
    }
}
