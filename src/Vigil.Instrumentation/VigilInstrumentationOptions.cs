using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;

namespace Vigil.Instrumentation;

/// <summary>
/// Where and how the Vigil conventions are exported. Every exporter setting left null keeps the
/// OpenTelemetry SDK's own resolution, which reads the standard environment variables:
/// <c>OTEL_EXPORTER_OTLP_(METRICS_)ENDPOINT</c>, <c>OTEL_EXPORTER_OTLP_(METRICS_)PROTOCOL</c>,
/// <c>OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE</c>, <c>OTEL_METRIC_EXPORT_INTERVAL</c>,
/// <c>OTEL_SERVICE_NAME</c> and <c>OTEL_RESOURCE_ATTRIBUTES</c>.
/// </summary>
public sealed class VigilInstrumentationOptions
{
    /// <summary>The meter <see cref="VigilTelemetry"/> emits on and the MeterProvider listens to.</summary>
    public string MeterName { get; set; } = VigilTelemetry.DefaultMeterName;

    /// <summary>
    /// The OTLP endpoint, like OTEL_EXPORTER_OTLP_ENDPOINT: <c>http://vigil:4317</c> for gRPC, or
    /// <c>http://vigil:4318</c> for http/protobuf (<c>/v1/metrics</c> is appended unless the path already ends with it).
    /// </summary>
    public Uri? Endpoint { get; set; }

    /// <summary>grpc or http/protobuf.</summary>
    public OtlpExportProtocol? Protocol { get; set; }

    /// <summary>Cumulative (the SDK default) or Delta; Vigil accepts both.</summary>
    public MetricReaderTemporalityPreference? Temporality { get; set; }

    /// <summary>How often the periodic reader exports (the SDK default is 60 s).</summary>
    public TimeSpan? ExportInterval { get; set; }

    /// <summary>Resource <c>service.name</c>; null keeps OTEL_SERVICE_NAME or the SDK's default.</summary>
    public string? ServiceName { get; set; }

    /// <summary>Extra resource attributes (e.g. <c>tenant.id</c>, <c>deployment.environment.name</c>), added to OTEL_RESOURCE_ATTRIBUTES.</summary>
    public IDictionary<string, object> ResourceAttributes { get; } = new Dictionary<string, object>(StringComparer.Ordinal);

    /// <summary>Every problem, each naming its option; empty when the options are usable.</summary>
    public IReadOnlyList<string> Validate()
    {
        var problems = new List<string>();
        if (string.IsNullOrWhiteSpace(MeterName))
        {
            problems.Add("MeterName: must not be empty");
        }

        if (Endpoint is not null && (!Endpoint.IsAbsoluteUri || (Endpoint.Scheme != Uri.UriSchemeHttp && Endpoint.Scheme != Uri.UriSchemeHttps)))
        {
            problems.Add($"Endpoint: '{Endpoint}' is not an absolute http:// or https:// URI (e.g. http://127.0.0.1:4317)");
        }

        if (ExportInterval is { } interval && interval < TimeSpan.FromMilliseconds(1))
        {
            problems.Add($"ExportInterval: {interval} must be at least 1 ms");
        }

        if (ServiceName is { Length: 0 })
        {
            problems.Add("ServiceName: must be null (use OTEL_SERVICE_NAME) or non-empty");
        }

        return problems;
    }

    internal void ThrowIfInvalid()
    {
        var problems = Validate();
        if (problems.Count > 0)
        {
            throw new ArgumentException("Vigil instrumentation options are invalid:" + Environment.NewLine + "  " + string.Join(Environment.NewLine + "  ", problems));
        }
    }

    /// <summary>Applies the settings that were given, leaving the SDK's (environment-derived) values for the rest.</summary>
    internal void ApplyTo(OtlpExporterOptions exporter, MetricReaderOptions reader)
    {
        if (Protocol is { } protocol)
        {
            exporter.Protocol = protocol;
        }

        if (Endpoint is { } endpoint)
        {
            exporter.Endpoint = exporter.Protocol == OtlpExportProtocol.HttpProtobuf ? MetricsPath(endpoint) : endpoint;
        }

        if (Temporality is { } temporality)
        {
            reader.TemporalityPreference = temporality;
        }

        if (ExportInterval is { } interval)
        {
            reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = (int)Math.Max(1, Math.Min(int.MaxValue, interval.TotalMilliseconds));
        }
    }

    // The SDK appends /v1/metrics only to an endpoint that came from the environment; one set in code is used as is.
    internal static Uri MetricsPath(Uri endpoint)
    {
        if (endpoint.AbsolutePath.EndsWith("/v1/metrics", StringComparison.Ordinal))
        {
            return endpoint;
        }

        var builder = new UriBuilder(endpoint);
        builder.Path = builder.Path.TrimEnd('/') + "/v1/metrics";
        return builder.Uri;
    }
}
