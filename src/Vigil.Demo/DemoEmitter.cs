using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using Vigil.Instrumentation;

namespace Vigil.Demo;

/// <summary>
/// Plays the demo schedule (<see cref="DemoSchedule"/>) through <see cref="VigilTelemetry"/>: normal traffic for every
/// tenant and, in turn, each incident of <see cref="DemoOptions.Cycle"/>. Used by <c>vigil --demo</c> (in process)
/// and <c>vigil --demo-emit URL</c> (only emit, as the docker-compose demo emitter does).
/// </summary>
public sealed class DemoEmitter
{
    private readonly VigilTelemetry _telemetry;
    private readonly ILogger _logger;

    public DemoEmitter(VigilTelemetry telemetry, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(telemetry);
        _telemetry = telemetry;
        _logger = logger ?? NullLogger.Instance;
    }

    /// <summary>Emits until <paramref name="cancellationToken"/> is cancelled; returns normally then.</summary>
    public async Task RunAsync(DemoOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        var schedule = new DemoSchedule(options);
        var traffic = new DemoTraffic(_telemetry, options.Tenants, new Random(options.Seed));
        var clock = options.TimeProvider;
        var started = clock.GetTimestamp();
        var emittedUntil = TimeSpan.Zero;
        DemoPhase? current = null;

        using var timer = new PeriodicTimer(options.Tick, clock);
        try
        {
            do
            {
                // Emit for the time that really passed: a late tick carries more traffic, never less.
                var now = clock.GetElapsedTime(started);
                var phase = schedule.PhaseAt(emittedUntil);
                if (phase != current)
                {
                    current = phase;
                    LogPhase(phase);
                }

                traffic.Emit(phase.Scenario, phase.TargetTenant, now - emittedUntil);
                emittedUntil = now;
            }
            while (await timer.WaitForNextTickAsync(cancellationToken));
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>
    /// Starts the demo in the background with its own MeterProvider exporting OTLP to <paramref name="otlpEndpoint"/>
    /// (e.g. Vigil's own <c>http://127.0.0.1:4317</c>). Dispose to stop: the last points are flushed.
    /// </summary>
    public static IAsyncDisposable StartInProcess(Uri otlpEndpoint, DemoOptions? options = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(otlpEndpoint);
        options ??= new DemoOptions();
        var provider = BuildMeterProvider(otlpEndpoint, options);
        var telemetry = new VigilTelemetry(options.MeterName);
        var cancellation = new CancellationTokenSource();
        var run = Task.Run(() => new DemoEmitter(telemetry, logger).RunAsync(options, cancellation.Token));
        (logger ?? NullLogger.Instance).LogInformation(
            "Demo emitter exporting to {Endpoint} every {Interval}; cycle: {Cycle}",
            otlpEndpoint, options.ExportInterval, string.Join(", ", options.Cycle));
        return new InProcessRun(run, cancellation, provider, telemetry);
    }

    /// <summary>Runs the demo against <paramref name="otlpEndpoint"/> until cancelled (for <c>vigil --demo-emit URL</c>).</summary>
    public static async Task RunStandaloneAsync(Uri otlpEndpoint, DemoOptions? options, ILogger? logger, CancellationToken cancellationToken)
    {
        var run = StartInProcess(otlpEndpoint, options, logger);
        try
        {
            await Task.Delay(Timeout.InfiniteTimeSpan, cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        finally
        {
            await run.DisposeAsync();
        }
    }

    internal static MeterProvider BuildMeterProvider(Uri otlpEndpoint, DemoOptions options)
    {
        var problems = options.Validate();
        if (problems.Count > 0)
        {
            throw new ArgumentException("demo options are invalid: " + string.Join("; ", problems), nameof(options));
        }

        return Sdk.CreateMeterProviderBuilder()
            .AddVigilInstrumentation(o =>
            {
                o.MeterName = options.MeterName;
                o.Endpoint = otlpEndpoint;
                o.Protocol = options.Protocol ?? (otlpEndpoint.Port == 4318 ? OtlpExportProtocol.HttpProtobuf : OtlpExportProtocol.Grpc);
                o.ExportInterval = options.ExportInterval;
                o.ServiceName = "vigil-demo";
            })
            .Build();
    }

    private void LogPhase(DemoPhase phase)
    {
        var info = ScenarioInfo.Of(phase.Scenario);
        if (info.Alert is null)
        {
            _logger.LogInformation("Demo: normal traffic for {Length}", phase.Length);
        }
        else
        {
            _logger.LogInformation(
                "Demo: {Scenario} on tenant {Tenant} for {Length} ({Description}); expect {Alert} to fire, then resolve after the incident",
                phase.Scenario, phase.TargetTenant, phase.Length, info.Description, info.Alert);
        }
    }

    private sealed class InProcessRun(Task run, CancellationTokenSource cancellation, MeterProvider provider, VigilTelemetry telemetry) : IAsyncDisposable
    {
        private int _disposed;

        public async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0)
            {
                return;
            }

            await cancellation.CancelAsync();
            try
            {
                await run;
            }
            finally
            {
                provider.ForceFlush(timeoutMilliseconds: 5000);
                provider.Dispose();
                telemetry.Dispose();
                cancellation.Dispose();
            }
        }
    }
}
