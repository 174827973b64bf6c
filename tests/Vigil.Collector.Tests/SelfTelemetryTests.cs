using System.Net;
using Google.Protobuf;

namespace Vigil.Collector.Tests;

/// <summary>Vigil's own metrics leave through the OpenTelemetry SDK's OTLP exporter when an endpoint is set.</summary>
public sealed class SelfTelemetryTests
{
    [Fact]
    public async Task SelfMetrics_AreExportedOverOtlp_ToAnotherVigil()
    {
        // The monitored Vigil runs as its own process: the SDK listens to meters by name process-wide,
        // so in this process it would also see the other test servers' "Vigil" meters.
        await using var monitor = await VigilServer.StartAsync();
        var dataDir = VigilServer.NewDataDir();
        var config = Path.Combine(Path.GetTempPath(), $"vigil-telemetry-{Guid.NewGuid():N}.yaml");
        await File.WriteAllTextAsync(config, $"telemetry:\n  otlp_endpoint: {monitor.GrpcUri}\n  otlp_protocol: grpc\n  export_interval: 1s\n");
        try
        {
            using var vigil = await ChildCollector.StartAsync(dataDir, "--config", config);
            using (var http = new HttpClient { BaseAddress = vigil.OtlpHttpUri })
            {
                using var content = new ByteArrayContent(OtlpRequests.DeltaCounter("auth.requests", 2, points: 3).ToByteArray());
                content.Headers.ContentType = new("application/x-protobuf");
                using var response = await http.PostAsync("/v1/metrics", content);
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            }

            using var api = new VigilApi(monitor.HttpUri);
            var deadline = DateTime.UtcNow.AddSeconds(20);
            List<VigilApi.Sample> accepted = [];
            while (DateTime.UtcNow < deadline)
            {
                accepted = await api.AggregateAsync("vigil.ingest.points.accepted", "increase", "5m");
                // The monitor may hold one export's counter before it holds the next one's gauge and histogram.
                if (accepted.Count == 1 && accepted[0].Value >= 3 &&
                    monitor.Store.ListSeries("vigil.series.active").Count > 0 && monitor.Store.ListSeries("vigil.ingest.request.duration").Count > 0)
                {
                    break;
                }

                await Task.Delay(100);
            }

            // The monitored Vigil started after the monitor, so its cumulative counter counts from zero: increase = accepted.
            Assert.Equal(3, Assert.Single(accepted).Value);
            Assert.NotEmpty(monitor.Store.ListSeries("vigil.series.active"));
            Assert.NotEmpty(monitor.Store.ListSeries("vigil.ingest.request.duration"));
        }
        finally
        {
            File.Delete(config);
            if (Directory.Exists(dataDir))
            {
                Directory.Delete(dataDir, recursive: true);
            }
        }
    }
}
