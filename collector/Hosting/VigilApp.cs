using Grpc.AspNetCore.Server;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using Vigil.Collector.Alerting;
using Vigil.Collector.Api;
using Vigil.Collector.Configuration;
using Vigil.Collector.Otlp;
using Vigil.Collector.Rules;
using Vigil.Collector.Security;
using Vigil.Query.Exposition;
using Vigil.Rules;
using Vigil.Storage;

namespace Vigil.Collector;

/// <summary>Composes Vigil: three Kestrel listeners, the OTLP receivers, the window store and the API.</summary>
public static class VigilApp
{
    public static WebApplication Build(VigilOptions options, TimeProvider? timeProvider = null, Action<WebApplicationBuilder>? configure = null)
    {
        var time = timeProvider ?? TimeProvider.System;
        BoundedGzipStream.RequireStrictValidation();
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args = [],
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
            o.UseUtcTimestamp = true;
        });
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.Logging.AddFilter("Grpc", LogLevel.Warning);

        var listeners = new Listeners();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            var tls = kestrel.ApplicationServices.GetService<TlsCertificates>(); // server.tls: every listener, or none
            kestrel.AddServerHeader = false;
            // API bodies are small; OTLP receivers lift this cap and enforce ingest.max_request_size
            // themselves, on both compressed and decompressed sizes (gRPC: GrpcFrameGuard, MaxReceiveMessageSize
            // and BoundedGzipCompressionProvider).
            kestrel.Limits.MaxRequestBodySize = 1024 * 1024;
            kestrel.Listen(options.OtlpGrpc, listen =>
            {
                listen.Protocols = HttpProtocols.Http2; // gRPC over cleartext HTTP/2 (h2c), or HTTP/2 over TLS
                tls?.Use(listen);
                listeners.Add(Listeners.OtlpGrpc, listen);
            });
            kestrel.Listen(options.OtlpHttp, listen =>
            {
                // HTTP/1.1 and HTTP/2: by ALPN over TLS; in cleartext by the connection's first bytes (Listeners, h2c).
                listen.Protocols = tls is null ? HttpProtocols.Http1 : HttpProtocols.Http1AndHttp2;
                tls?.Use(listen);
                listeners.Add(Listeners.OtlpHttp, listen);
            });
            kestrel.Listen(options.Http, listen =>
            {
                listen.Protocols = HttpProtocols.Http1;
                tls?.Use(listen);
                listeners.Add(Listeners.Http, listen);
            });
        });

        var services = builder.Services;
        services.AddSingleton(options);
        services.AddSingleton(listeners);
        services.AddSingleton(time);
        if (options.Tls.Enabled)
        {
            services.AddSingleton<TlsCertificates>();
        }

        services.AddSingleton(new WindowStore(options.Storage, time));
        services.AddSingleton<OtlpIngest>();
        services.AddSingleton<IMemoryGauge>(GcMemoryGauge.Instance);
        var (hardLimit, softLimit) = options.Ingest.MemoryLimits(GcMemoryGauge.AvailableBytes());
        if (hardLimit > 0)
        {
            services.AddSingleton(sp => new MemoryLimiter(
                hardLimit, softLimit, options.Ingest.MemoryCheckInterval, sp.GetRequiredService<IMemoryGauge>(), time, sp.GetRequiredService<ILogger<MemoryLimiter>>()));
        }

        services.AddSingleton(sp => new IngestGate(options.Ingest, sp.GetService<MemoryLimiter>(), options.Ingest.TenantRateLimited ? new TenantRateLimiter(options.Ingest, time) : null));
        var bodyRefusals = new BodyRefusals();
        services.AddSingleton(bodyRefusals);
        services.AddSingleton<OtlpReceiver>();
        services.AddSingleton<ReadAccess>();
        services.AddSingleton<VigilMetrics>();
        services.AddSingleton<Readiness>();
        services.AddHostedService<StoreSweeper>();
        PrometheusEndpoints.AddServices(services, options, time);
        services.AddSingleton<WalService>();
        services.AddSingleton(new RulesLocation(RulesLocation.Resolve(options.RulesDir), options.DataDir));
        services.AddSingleton<TransitionLog>();
        services.AddSingleton<AlertingHost>();
        services.AddSingleton<IAlertTransitionSink>(sp => new CompositeTransitionSink(
            [sp.GetRequiredService<TransitionLog>(), sp.GetRequiredService<AlertingHost>()],
            sp.GetRequiredService<ILogger<CompositeTransitionSink>>()));
        services.AddSingleton<RulesHost>();
        services.AddSingleton<RemoteWriteHost>();
        services.AddSingleton<IExpositionSource>(sp => sp.GetRequiredService<RemoteWriteHost>().Exposition);
        services.AddHostedService(sp => sp.GetRequiredService<RulesHost>());
        services.AddHostedService(sp => sp.GetRequiredService<AlertingHost>());
        services.AddHostedService(sp => sp.GetRequiredService<RemoteWriteHost>());
        services.AddHostedService(sp => sp.GetRequiredService<WalService>());
        services.AddGrpc(grpc =>
        {
            grpc.MaxReceiveMessageSize = (int)Math.Min(options.Ingest.MaxRequestBytes, int.MaxValue);
            // Replaces Grpc.AspNetCore's gzip: inflation bounded by size and ratio, broken streams answered INTERNAL.
            grpc.CompressionProviders = [new BoundedGzipCompressionProvider(options.Ingest, bodyRefusals)];
            grpc.EnableDetailedErrors = false;
        });
        services.ConfigureHttpJsonOptions(json =>
        {
            json.SerializerOptions.NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals;
        });

        var metrics = services.AddOpenTelemetry().WithMetrics(meters =>
        {
            meters.AddMeter(VigilMetrics.MeterName);
            if (options.Telemetry.OtlpEndpoint is { } endpoint)
            {
                meters.AddOtlpExporter((exporter, reader) =>
                {
                    exporter.Endpoint = endpoint;
                    exporter.Protocol = options.Telemetry.OtlpProtocol == "grpc" ? OtlpExportProtocol.Grpc : OtlpExportProtocol.HttpProtobuf;
                    reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = (int)options.Telemetry.ExportInterval.TotalMilliseconds;
                });
            }
        });

        configure?.Invoke(builder);
        var app = builder.Build();

        app.Use(async (context, next) =>
        {
            // Each endpoint belongs to one listener; elsewhere it does not exist.
            var listener = listeners.NameOfPort(context.Connection.LocalPort);
            var owner = context.GetEndpoint()?.Metadata.GetMetadata<ListenerAttribute>();
            if (owner is not null && listener is not null && owner.Name != listener)
            {
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                await context.Response.WriteAsync($"{context.Request.Path} is not served on this port ({listener}); it is on the {owner.Name} listener\n");
                return;
            }

            if (listener == Listeners.OtlpGrpc && context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size)
            {
                size.MaxRequestBodySize = null;
            }

            if (listener == Listeners.OtlpGrpc && !await GrpcFrameGuard.AdmitAsync(context, options.Ingest.MaxRequestBytes, bodyRefusals))
            {
                return;
            }

            await next(context);
        });

        app.MapGrpcService<OtlpGrpcMetricsService>().WithMetadata(new ListenerAttribute(Listeners.OtlpGrpc));
        OtlpHttpEndpoints.Map(app, Listeners.OtlpHttp);
        AggregateEndpoints.Map(app);
        PrometheusEndpoints.Map(app);
        HealthEndpoints.Map(app);
        RulesEndpoints.Map(app);
        BacktestEndpoints.Map(app);
        GateEndpoints.Map(app);
        AlertingEndpoints.Map(app);

        var readiness = app.Services.GetRequiredService<Readiness>();
        readiness.Require("storage");
        Directory.CreateDirectory(options.DataDir);
        app.Lifetime.ApplicationStarted.Register(() =>
        {
            readiness.MarkReady("storage");
            var log = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Vigil");
            log.LogInformation(
                "Vigil listening: OTLP/gRPC {Grpc}, OTLP/HTTP {OtlpHttp}, API {Http}; data in {DataDir}",
                listeners.EndPoint(Listeners.OtlpGrpc),
                listeners.EndPoint(Listeners.OtlpHttp),
                listeners.EndPoint(Listeners.Http),
                Path.GetFullPath(options.DataDir));
            if (app.Services.GetService<TlsCertificates>() is { } tls)
            {
                log.LogInformation(
                    "TLS on every listener: certificate {Subject}, valid until {NotAfter:O}; client certificates {ClientCertificates}",
                    tls.Certificate.Subject, tls.Certificate.NotAfter.ToUniversalTime(), tls.RequiresClientCertificate ? "required (server.tls.client_ca_file)" : "not asked for");
            }

            foreach (var warning in StartupWarnings.For(options))
            {
                log.LogWarning("Open to the network: {Warning}", warning);
            }
        });

        if (app.Services.GetService<MemoryLimiter>() is { } limiter)
        {
            // New series are admitted against memory only after the WAL replay: what was acknowledged
            // before a restart comes back whatever memory says (the gate refuses requests meanwhile).
            var store = app.Services.GetRequiredService<WindowStore>();
            _ = app.Services.GetRequiredService<WalService>().Ready.ContinueWith(
                _ => store.Memory = limiter, CancellationToken.None, TaskContinuationOptions.OnlyOnRanToCompletion, TaskScheduler.Default);
            app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Vigil").LogInformation(
                "Memory limit: hard {Hard} MiB, soft {Soft} MiB (of {Available} MiB available), checked every {Interval}",
                hardLimit / (1024 * 1024), softLimit / (1024 * 1024), GcMemoryGauge.AvailableBytes() / (1024 * 1024), options.Ingest.MemoryCheckInterval);
        }
        else
        {
            app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Vigil").LogWarning(
                "No memory limit (ingest.memory_limit: 0): only storage.max_series ({MaxSeries}) bounds the series held", options.Storage.MaxSeries);
        }

        // Both readers of the "Vigil" meter start now, before any measurement, so /metrics and the OTLP export count
        // from the same instant and show the same values.
        _ = app.Services.GetRequiredService<MeterExpositionSource>();
        _ = app.Services.GetService<MeterProvider>();
        _ = app.Services.GetRequiredService<VigilMetrics>();
        _ = metrics;
        return app;
    }
}
