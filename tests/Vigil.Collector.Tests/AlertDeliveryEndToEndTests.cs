using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Time.Testing;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using Vigil.Alerting;

namespace Vigil.Collector.Tests;

/// <summary>
/// SDK → collector → rule fires → the event reaches a signed webhook, the live stream and the
/// history; the resolution follows the same way.
/// </summary>
public sealed class AlertDeliveryEndToEndTests
{
    private sealed record Received(string Body, bool SignatureValid);

    [Fact]
    public async Task FiringAndResolved_ReachWebhookStreamAndHistory()
    {
        const string secret = "a-webhook-secret-of-32-characters";
        var received = new ConcurrentQueue<Received>();
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);

        var hook = WebApplication.CreateSlimBuilder();
        hook.WebHost.UseUrls("http://127.0.0.1:0");
        await using var receiver = hook.Build();
        receiver.MapPost("/hook", async (HttpRequest request) =>
        {
            using var reader = new StreamReader(request.Body);
            var body = await reader.ReadToEndAsync();
            var valid = WebhookSignature.Verify(secret, request.Headers[WebhookSignature.TimestampHeader], body, request.Headers[WebhookSignature.SignatureHeader], time.GetUtcNow());
            received.Enqueue(new Received(body, valid));
            return Results.Ok();
        });
        await receiver.StartAsync();
        var hookUrl = receiver.Urls.Single() + "/hook";

        await using var vigil = await VigilServer.StartAsync(
            o => o with { Alerting = new AlertingOptions { Webhooks = [new WebhookOptions { Name = "pager", Url = hookUrl, Secret = secret, Severities = ["P1"] }] } },
            time);
        using var api = new VigilApi(vigil.HttpUri);

        // Subscribe to the live stream before anything fires.
        using var streamClient = new HttpClient { BaseAddress = vigil.HttpUri, Timeout = Timeout.InfiniteTimeSpan };
        using var stream = await streamClient.GetStreamAsync("/api/v1/alerts/stream");
        using var streamReader = new StreamReader(stream);
        Assert.StartsWith(":", await streamReader.ReadLineAsync());

        using var meter = new Meter("vigil.e2e.alerting." + Guid.NewGuid().ToString("N"));
        var runs = meter.CreateCounter<long>("ai.runs", "{run}");
        using var provider = Sdk.CreateMeterProviderBuilder()
            .AddMeter(meter.Name)
            .ConfigureResource(r => r.AddService("agents").AddAttributes([new("tenant.id", "acme"), new("workspace.id", "ws-1")]))
            .AddOtlpExporter((exporter, reader) =>
            {
                exporter.Protocol = OtlpExportProtocol.HttpProtobuf;
                exporter.Endpoint = new Uri(vigil.OtlpHttpUri, "/v1/metrics");
                reader.TemporalityPreference = MetricReaderTemporalityPreference.Delta;
                reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = 3_600_000;
            })
            .Build();
        runs.Add(30, new("ai.run.status", "failed"), new("gen_ai.request.model", "m1"));
        runs.Add(10, new("ai.run.status", "succeeded"), new("gen_ai.request.model", "m1"));
        Assert.True(provider.ForceFlush());

        // Step the clock until the AI failure-rate rule (P1) fires and the webhook has the event.
        await StepUntilAsync(time, () => received.Any(r => r.Body.Contains("\"status\":\"firing\"", StringComparison.Ordinal)));
        var firing = received.First(r => r.Body.Contains("\"status\":\"firing\"", StringComparison.Ordinal));
        Assert.True(firing.SignatureValid);
        var payload = JsonDocument.Parse(firing.Body).RootElement;
        Assert.Equal("4", payload.GetProperty("version").GetString());
        var alert = payload.GetProperty("alerts").EnumerateArray().Single();
        Assert.Equal("AiRunFailureRateHigh", alert.GetProperty("labels").GetProperty("alertname").GetString());
        Assert.Equal("P1", alert.GetProperty("labels").GetProperty("severity").GetString());
        Assert.StartsWith("https://", alert.GetProperty("annotations").GetProperty("runbook_url").GetString());

        var streamed = await ReadEventAsync(streamReader);
        Assert.Equal("firing", streamed.Event);
        Assert.Equal("AiRunFailureRateHigh", JsonDocument.Parse(streamed.Data).RootElement.GetProperty("rule").GetString());

        // The failures stop; the window empties and the alert resolves to the webhook too.
        await StepUntilAsync(time, () => received.Any(r => r.Body.Contains("\"status\":\"resolved\"", StringComparison.Ordinal)), TimeSpan.FromMinutes(30));
        Assert.True(received.Where(r => r.Body.Contains("\"status\":\"resolved\"", StringComparison.Ordinal)).All(r => r.SignatureValid));

        var history = await api.GetJsonAsync("/api/v1/alerts/history?rule=AiRunFailureRateHigh");
        var entries = history.GetProperty("data").EnumerateArray().ToList();
        Assert.Equal(2, entries.Count);
        Assert.All(entries, e => Assert.Equal("delivered", e.GetProperty("deliveries").EnumerateArray().Single().GetProperty("state").GetString()));
        using var bad = await api.GetAsync("/api/v1/alerts/history?severity=P7");
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
    }

    private static async Task StepUntilAsync(FakeTimeProvider time, Func<bool> done, TimeSpan? limit = null)
    {
        var stepped = TimeSpan.Zero;
        while (!done() && stepped < (limit ?? TimeSpan.FromMinutes(15)))
        {
            time.Advance(TimeSpan.FromSeconds(30));
            stepped += TimeSpan.FromSeconds(30);

            // Evaluations and deliveries run on timers the fake clock fires; give them a moment of real time.
            var deadline = DateTime.UtcNow.AddMilliseconds(100);
            while (!done() && DateTime.UtcNow < deadline)
            {
                await Task.Delay(10);
            }
        }

        Assert.True(done(), $"condition not reached after {stepped} of fake time");
    }

    private static async Task<(string Event, string Data)> ReadEventAsync(StreamReader reader)
    {
        string? name = null;
        string? data = null;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (await reader.ReadLineAsync(timeout.Token) is { } line)
        {
            if (line.StartsWith("event: ", StringComparison.Ordinal))
            {
                name = line[7..];
            }
            else if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                data = line[6..];
            }
            else if (line.Length == 0 && data is not null)
            {
                return (name!, data);
            }
        }

        throw new InvalidOperationException("the stream ended");
    }
}
