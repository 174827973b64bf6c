using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;

namespace Vigil.Instrumentation.Tests;

public sealed class RegistrationTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task AddVigilInstrumentation_OnServices_ExportsTheConventionsOverOtlpHttp()
    {
        await using var sink = await OtlpSink.StartAsync();
        var meterName = "test." + Guid.NewGuid().ToString("N");
        var services = new ServiceCollection();
        services.AddVigilInstrumentation(o =>
        {
            o.MeterName = meterName;
            o.Endpoint = sink.BaseAddress;
            o.Protocol = OtlpExportProtocol.HttpProtobuf;
            o.ExportInterval = TimeSpan.FromHours(1);
            o.ServiceName = "checkout";
            o.ResourceAttributes["tenant.id"] = "acme";
        });
        await using var provider = services.BuildServiceProvider();

        var telemetry = provider.GetRequiredService<VigilTelemetry>();
        var meters = provider.GetRequiredService<MeterProvider>();
        telemetry.AuthAttempt("acme", "oidc", AuthOutcome.Failure);
        Assert.True(meters.ForceFlush(10_000));

        var request = await sink.WaitForAsync("auth.requests", Patience);
        Assert.Equal("/v1/metrics", request.Path);
        Assert.Equal("application/x-protobuf", request.ContentType);
        Assert.True(request.Mentions("checkout"), "service.name from the options is on the resource");
        Assert.True(request.Mentions("auth.outcome") && request.Mentions("failure"));
        Assert.Equal(meterName, telemetry.MeterName);
    }

    [Fact]
    public async Task AddVigilInstrumentation_OnMeterProviderBuilder_ExportsWithoutAHost()
    {
        await using var sink = await OtlpSink.StartAsync();
        var meterName = "test." + Guid.NewGuid().ToString("N");
        using var meters = Sdk.CreateMeterProviderBuilder()
            .AddVigilInstrumentation(o =>
            {
                o.MeterName = meterName;
                o.Endpoint = new Uri(sink.BaseAddress, "/v1/metrics");
                o.Protocol = OtlpExportProtocol.HttpProtobuf;
                o.Temporality = MetricReaderTemporalityPreference.Delta;
            })
            .Build();
        using var telemetry = new VigilTelemetry(meterName);

        telemetry.AiRun("acme", "ws-1", "gpt-4o", AiRunStatus.PolicyBlocked, 10, 0, 0.001, TimeSpan.FromSeconds(1));
        Assert.True(meters.ForceFlush(10_000));

        var request = await sink.WaitForAsync("ai.runs", Patience);
        Assert.Equal("/v1/metrics", request.Path);
        Assert.True(request.Mentions("policy_blocked"));
    }

    [Fact]
    public void AddVigilInstrumentation_WithInvalidOptions_ListsEveryProblem()
    {
        var error = Assert.Throws<ArgumentException>(() => new ServiceCollection().AddVigilInstrumentation(o =>
        {
            o.MeterName = "";
            o.Endpoint = new Uri("ftp://vigil:4317");
            o.ExportInterval = TimeSpan.Zero;
        }));

        Assert.Contains("MeterName", error.Message, StringComparison.Ordinal);
        Assert.Contains("Endpoint: 'ftp://vigil:4317", error.Message, StringComparison.Ordinal);
        Assert.Contains("ExportInterval", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void UnsetOptions_LeaveTheSdkValuesThatCameFromTheEnvironment()
    {
        var exporter = new OtlpExporterOptions { Endpoint = new Uri("http://from-env:4317"), Protocol = OtlpExportProtocol.Grpc };
        var reader = new MetricReaderOptions { TemporalityPreference = MetricReaderTemporalityPreference.Delta };
        reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = 1234;

        new VigilInstrumentationOptions().ApplyTo(exporter, reader);

        Assert.Equal(new Uri("http://from-env:4317"), exporter.Endpoint);
        Assert.Equal(OtlpExportProtocol.Grpc, exporter.Protocol);
        Assert.Equal(MetricReaderTemporalityPreference.Delta, reader.TemporalityPreference);
        Assert.Equal(1234, reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds);
    }

    [Theory]
    [InlineData("http://vigil:4318", "http://vigil:4318/v1/metrics")]
    [InlineData("http://vigil:4318/", "http://vigil:4318/v1/metrics")]
    [InlineData("http://gw/otlp", "http://gw/otlp/v1/metrics")]
    [InlineData("http://vigil:4318/v1/metrics", "http://vigil:4318/v1/metrics")]
    public void HttpProtobufEndpoint_GetsTheMetricsPathOnce(string given, string expected)
    {
        var exporter = new OtlpExporterOptions();
        var reader = new MetricReaderOptions();

        new VigilInstrumentationOptions
        {
            Endpoint = new Uri(given),
            Protocol = OtlpExportProtocol.HttpProtobuf,
            ExportInterval = TimeSpan.FromSeconds(5),
            Temporality = MetricReaderTemporalityPreference.Cumulative,
        }.ApplyTo(exporter, reader);

        Assert.Equal(new Uri(expected), exporter.Endpoint);
        Assert.Equal(5000, reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds);
        Assert.Equal(MetricReaderTemporalityPreference.Cumulative, reader.TemporalityPreference);
    }

    [Fact]
    public void GrpcEndpoint_IsUsedAsGiven()
    {
        var exporter = new OtlpExporterOptions();

        new VigilInstrumentationOptions { Endpoint = new Uri("http://vigil:4317"), Protocol = OtlpExportProtocol.Grpc }.ApplyTo(exporter, new MetricReaderOptions());

        Assert.Equal(new Uri("http://vigil:4317"), exporter.Endpoint);
    }
}
