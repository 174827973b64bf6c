using System.Net;
using Google.Protobuf;

namespace Vigil.Collector.Tests;

/// <summary>Vigil's own metrics leave through the OpenTelemetry SDK's OTLP exporter when an endpoint is set.</summary>
public sealed class SelfTelemetryTests
{
    [Fact]
    public async Task SelfMetrics_AreExportedOverOtlp_ToAnotherVigil()
    {
        // The second Vigil is the monitoring backend of the first.
        await using var monitor = await VigilServer.StartAsync();
        await using var vigil = await VigilServer.StartAsync(o => o with
        {
            Telemetry = o.Telemetry with { OtlpEndpoint = monitor.GrpcUri, OtlpProtocol = "grpc", ExportInterval = TimeSpan.FromSeconds(1) },
        });

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
            if (accepted.Count == 1 && accepted[0].Value >= 3)
            {
                break;
            }

            await Task.Delay(100);
        }

        Assert.Equal(3, Assert.Single(accepted).Value);
        Assert.NotEmpty(monitor.Store.ListSeries("vigil.series.active"));
        Assert.NotEmpty(monitor.Store.ListSeries("vigil.ingest.request.duration"));
    }
}
