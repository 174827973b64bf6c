using System.Diagnostics.Metrics;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;

namespace Vigil.Collector.Tests;

/// <summary>
/// The real OpenTelemetry .NET SDK exporting to a real Vigil on 127.0.0.1, over gRPC and
/// HTTP/protobuf, with cumulative and delta temporality; values read back through /api/v1/aggregate.
/// </summary>
public sealed class SdkEndToEndTests
{
    [Theory]
    [InlineData(OtlpExportProtocol.Grpc, MetricReaderTemporalityPreference.Cumulative)]
    [InlineData(OtlpExportProtocol.Grpc, MetricReaderTemporalityPreference.Delta)]
    [InlineData(OtlpExportProtocol.HttpProtobuf, MetricReaderTemporalityPreference.Cumulative)]
    [InlineData(OtlpExportProtocol.HttpProtobuf, MetricReaderTemporalityPreference.Delta)]
    public async Task SdkCounterHistogramAndGauge_ComeBackExactly(OtlpExportProtocol protocol, MetricReaderTemporalityPreference temporality)
    {
        await using var vigil = await VigilServer.StartAsync();
        using var api = new VigilApi(vigil.HttpUri);
        using var meter = new Meter("vigil.e2e." + Guid.NewGuid().ToString("N"));
        var gaugeValue = 42.0;
        var requests = meter.CreateCounter<long>("auth.requests", "{request}");
        var duration = meter.CreateHistogram<double>("ai.run.duration", "s");
        meter.CreateObservableGauge("ai.queue.depth", () => gaugeValue, "{run}");

        using var provider = Sdk.CreateMeterProviderBuilder()
            .AddMeter(meter.Name)
            .ConfigureResource(r => r.AddService("checkout").AddAttributes([new("tenant.id", "acme"), new("host.name", "not-an-identity-attribute")]))
            .AddView("ai.run.duration", new ExplicitBucketHistogramConfiguration { Boundaries = [0.5, 1, 5, 10] })
            .AddOtlpExporter((exporter, reader) =>
            {
                exporter.Protocol = protocol;
                exporter.Endpoint = protocol == OtlpExportProtocol.Grpc ? vigil.GrpcUri : new Uri(vigil.OtlpHttpUri, "/v1/metrics");
                reader.TemporalityPreference = temporality;
                reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = 3_600_000;
            })
            .Build();

        requests.Add(3, new KeyValuePair<string, object?>("auth.outcome", "failure"));
        requests.Add(5, new KeyValuePair<string, object?>("auth.outcome", "success"));
        foreach (var seconds in new[] { 0.1, 0.4, 2.0 })
        {
            duration.Record(seconds);
        }

        Assert.True(provider.ForceFlush());
        requests.Add(2, new KeyValuePair<string, object?>("auth.outcome", "failure"));
        duration.Record(7.0);
        gaugeValue = 17;
        Assert.True(provider.ForceFlush());

        var byOutcome = await api.AggregateAsync("auth.requests", "increase", by: "tenant.id,auth.outcome");
        Assert.Equal(2, byOutcome.Count);
        var failure = byOutcome.Single(s => s.Labels["auth.outcome"] == "failure");
        var success = byOutcome.Single(s => s.Labels["auth.outcome"] == "success");
        Assert.Equal("acme", failure.Labels["tenant.id"]);
        Assert.Equal(5, failure.Value);
        Assert.Equal(5, failure.Samples);
        Assert.Equal(5, success.Value);
        Assert.Equal(10, await api.ValueAsync("auth.requests", "increase"));
        Assert.Equal(5, await api.ValueAsync("auth.requests", "sum", match: ["auth.outcome=failure"]));
        Assert.Equal(10.0 / 300, await api.ValueAsync("auth.requests", "rate"), 12);

        Assert.Equal(4, await api.ValueAsync("ai.run.duration", "count"));
        Assert.Equal(9.5, await api.ValueAsync("ai.run.duration", "sum"), 9);
        Assert.Equal(9.5 / 4, await api.ValueAsync("ai.run.duration", "avg"), 9);
        // Ranks 2 and 3 of 4 fall in (0, 0.5] and (1, 5]: linear interpolation as histogram_quantile.
        Assert.Equal(0.5, await api.ValueAsync("ai.run.duration", "quantile", q: 0.5), 9);
        Assert.Equal(5.0, await api.ValueAsync("ai.run.duration", "quantile", q: 0.75), 9);

        Assert.Equal(17, await api.ValueAsync("ai.queue.depth", "last"));
        Assert.Equal(42, await api.ValueAsync("ai.queue.depth", "max"));
        Assert.Equal(17, await api.ValueAsync("ai.queue.depth", "min"));
        Assert.Equal(2, await api.ValueAsync("ai.queue.depth", "count"));

        var series = vigil.Store.ListSeries("auth.requests");
        Assert.All(series, s =>
        {
            Assert.Equal("checkout", s.Labels["service.name"]);
            Assert.False(s.Labels.ContainsKey("host.name"));
        });
        Assert.Empty(vigil.Store.Stats.RefusedByReason);
    }

    [Theory]
    [InlineData(OtlpExportProtocol.Grpc)]
    [InlineData(OtlpExportProtocol.HttpProtobuf)]
    public async Task SdkExponentialHistogram_MergesAndAnswersQuantiles(OtlpExportProtocol protocol)
    {
        await using var vigil = await VigilServer.StartAsync();
        using var api = new VigilApi(vigil.HttpUri);
        using var meter = new Meter("vigil.e2e." + Guid.NewGuid().ToString("N"));
        var tokens = meter.CreateHistogram<long>("gen_ai.client.token.usage", "{token}");
        using var provider = Sdk.CreateMeterProviderBuilder()
            .AddMeter(meter.Name)
            .AddView("gen_ai.client.token.usage", new Base2ExponentialBucketHistogramConfiguration())
            .AddOtlpExporter((exporter, reader) =>
            {
                exporter.Protocol = protocol;
                exporter.Endpoint = protocol == OtlpExportProtocol.Grpc ? vigil.GrpcUri : new Uri(vigil.OtlpHttpUri, "/v1/metrics");
                reader.TemporalityPreference = MetricReaderTemporalityPreference.Delta;
                reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = 3_600_000;
            })
            .Build();

        for (var i = 1; i <= 100; i++)
        {
            tokens.Record(i * 10, new KeyValuePair<string, object?>("gen_ai.token.type", "input"));
        }

        Assert.True(provider.ForceFlush());
        for (var i = 1; i <= 100; i++)
        {
            tokens.Record(i * 1000, new KeyValuePair<string, object?>("gen_ai.token.type", "input"));
        }

        Assert.True(provider.ForceFlush());

        Assert.Equal(200, await api.ValueAsync("gen_ai.client.token.usage", "count"));
        Assert.Equal((50_500 + 5_050_000), await api.ValueAsync("gen_ai.client.token.usage", "sum"));
        // Half the observations are at most 1000, the other half at least 1000: the median sits at the
        // boundary, within the relative error of the merged scale.
        var median = await api.ValueAsync("gen_ai.client.token.usage", "quantile", q: 0.5);
        Assert.InRange(median, 900, 1100);
        var p99 = await api.ValueAsync("gen_ai.client.token.usage", "quantile", q: 0.99);
        Assert.InRange(p99, 95_000, 100_000);
    }
}
