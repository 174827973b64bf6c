using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;

namespace Vigil.Instrumentation;

/// <summary>Registration of the Vigil conventions with the OpenTelemetry SDK.</summary>
public static class VigilInstrumentationExtensions
{
    /// <summary>
    /// Registers <see cref="VigilTelemetry"/> as a singleton and an OpenTelemetry MeterProvider (through
    /// OpenTelemetry.Extensions.Hosting) that listens to its meter and exports it over OTLP. Settings left
    /// unset come from the standard OTEL_* environment variables.
    /// </summary>
    /// <exception cref="ArgumentException">the options are invalid; the message lists every problem.</exception>
    public static IServiceCollection AddVigilInstrumentation(this IServiceCollection services, Action<VigilInstrumentationOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var options = new VigilInstrumentationOptions();
        configure?.Invoke(options);
        options.ThrowIfInvalid();

        services.TryAddSingleton(provider => provider.GetService<IMeterFactory>() is { } factory
            ? new VigilTelemetry(factory, options.MeterName)
            : new VigilTelemetry(options.MeterName));

        services.AddOpenTelemetry()
            .ConfigureResource(resource => ConfigureResource(resource, options))
            .WithMetrics(metrics => metrics
                .AddMeter(options.MeterName)
                .AddOtlpExporter((exporter, reader) => options.ApplyTo(exporter, reader)));
        return services;
    }

    /// <summary>Listens to the Vigil conventions' meter; add your own exporter (or use the overload that adds OTLP).</summary>
    public static MeterProviderBuilder AddVigilInstrumentation(this MeterProviderBuilder builder, string meterName = VigilTelemetry.DefaultMeterName)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(meterName);
        return builder.AddMeter(meterName);
    }

    /// <summary>
    /// Without a host: listens to the conventions' meter, sets the resource and adds the OTLP exporter
    /// configured by <paramref name="configure"/> (unset settings come from OTEL_* environment variables).
    /// </summary>
    public static MeterProviderBuilder AddVigilInstrumentation(this MeterProviderBuilder builder, Action<VigilInstrumentationOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        var options = new VigilInstrumentationOptions();
        configure(options);
        options.ThrowIfInvalid();
        return builder
            .ConfigureResource(resource => ConfigureResource(resource, options))
            .AddMeter(options.MeterName)
            .AddOtlpExporter((exporter, reader) => options.ApplyTo(exporter, reader));
    }

    private static void ConfigureResource(ResourceBuilder resource, VigilInstrumentationOptions options)
    {
        if (options.ServiceName is { } serviceName)
        {
            resource.AddService(serviceName);
        }

        if (options.ResourceAttributes.Count > 0)
        {
            resource.AddAttributes(options.ResourceAttributes);
        }
    }
}
