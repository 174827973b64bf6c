using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using Google.Protobuf;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Vigil.Alerting;

namespace Vigil.Collector.Tests;

/// <summary>
/// After a crash, rules are evaluated only once the WAL has refilled the store: on a half-replayed
/// store a firing alert would look like its series vanished, resolve, and fire again (two pages).
/// And a crash right after an alert fires never loses its event: the state and the transition are one
/// commit, handed to the outbox again on restart.
/// </summary>
public sealed class RestartAlertStateTests
{
    private const string Rule = """
        group: restart
        interval: 1s
        rules:
          - alert: RestartProbe
            severity: P2
            runbook_url: https://runbooks.example.com/restart
            increase: auth.requests{auth.outcome="failure"}
            by: [tenant.id]
            window: 10m
            threshold: "> 10"
        """;

    [Fact]
    public async Task FiringAlert_AfterKill9_IsNotResolvedWhileTheWalReplays()
    {
        var root = VigilServer.NewDataDir();
        var dataDir = Path.Combine(root, "data");
        var rulesDir = Path.Combine(root, "rules");
        Directory.CreateDirectory(rulesDir);
        await File.WriteAllTextAsync(Path.Combine(rulesDir, "restart.yaml"), Rule);
        try
        {
            using (var child = await ChildCollector.StartAsync(dataDir, "--rules", rulesDir))
            {
                using var otlp = new HttpClient { BaseAddress = child.OtlpHttpUri };
                await PostAsync(otlp, OtlpRequests.DeltaCounterAt("auth.requests", DateTimeOffset.UtcNow, "acme", ("auth.outcome", "failure", 60)));
                using var api = new VigilApi(child.HttpUri);
                var deadline = DateTime.UtcNow.AddSeconds(15);
                while (await StateAsync(api) != "firing" && DateTime.UtcNow < deadline)
                {
                    await Task.Delay(50);
                }

                Assert.Equal("firing", await StateAsync(api));

                // More log to replay, so the replay takes a while.
                for (var i = 0; i < 100; i++)
                {
                    await PostAsync(otlp, OtlpRequests.DeltaCounter("noise", 1, tenant: "t" + i, points: 1000));
                }

                await child.KillAsync();
            }

            await using var restarted = await VigilServer.StartAsync(o => o with { RulesDir = rulesDir }, dataDir: dataDir);
            using var again = new VigilApi(restarted.HttpUri);
            Assert.Equal("firing", await StateAsync(again));
            var history = await again.GetJsonAsync("/api/v1/alerts/history?rule=RestartProbe");
            var statuses = history.GetProperty("data").EnumerateArray().Select(e => e.GetProperty("event").GetProperty("status").GetString()).ToList();
            Assert.Equal(["firing"], statuses);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public async Task FiringAlert_Kill9AsSoonAsItFires_TheRestartDeliversItsEventOnce()
    {
        var root = VigilServer.NewDataDir();
        var dataDir = Path.Combine(root, "data");
        var rulesDir = Path.Combine(root, "rules");
        Directory.CreateDirectory(rulesDir);
        await File.WriteAllTextAsync(Path.Combine(rulesDir, "restart.yaml"), Rule);

        // The webhook refuses everything until the kill, so whatever it accepts was sent by the restarted Vigil.
        var accepting = false;
        var accepted = new ConcurrentQueue<string>();
        var hook = WebApplication.CreateSlimBuilder();
        hook.Logging.ClearProviders();
        hook.WebHost.UseUrls("http://127.0.0.1:0");
        await using var receiver = hook.Build();
        receiver.MapPost("/hook", async (HttpRequest request) =>
        {
            using var reader = new StreamReader(request.Body);
            var body = await reader.ReadToEndAsync();
            if (!Volatile.Read(ref accepting))
            {
                return Results.StatusCode(503);
            }

            accepted.Enqueue(body);
            return Results.Ok();
        });
        await receiver.StartAsync();
        var webhook = new WebhookOptions { Name = "pager", Url = receiver.Urls.Single() + "/hook", Secret = "a-webhook-secret-of-16-or-more" };
        var config = Path.Combine(root, "vigil.yaml");
        await File.WriteAllTextAsync(config, $"""
            alerting:
              webhooks:
                - {"{"}name: {webhook.Name}, url: "{webhook.Url}", secret: {webhook.Secret}{"}"}
            """);
        try
        {
            using (var child = await ChildCollector.StartAsync(dataDir, "--rules", rulesDir, "--config", config))
            {
                // Killed the moment the transition is logged: the log sink comes before the outbox, so this is as
                // close to "the state is saved, the event is not yet recorded" as a real process gets.
                var fired = child.WaitForOutputAsync(l => l.Contains("Alert RestartProbe", StringComparison.Ordinal) && l.Contains("-> Firing", StringComparison.Ordinal),
                    TimeSpan.FromSeconds(15));
                using var otlp = new HttpClient { BaseAddress = child.OtlpHttpUri };
                await PostAsync(otlp, OtlpRequests.DeltaCounterAt("auth.requests", DateTimeOffset.UtcNow, "acme", ("auth.outcome", "failure", 60)));
                await fired;
                await child.KillAsync();
            }

            Volatile.Write(ref accepting, true);
            await using var restarted = await VigilServer.StartAsync(
                o => o with { RulesDir = rulesDir, Alerting = new AlertingOptions { Webhooks = [webhook] } }, dataDir: dataDir);
            using var again = new VigilApi(restarted.HttpUri);
            var delivered = DateTime.UtcNow.AddSeconds(15);
            while (await DeliveryStateAsync(again) != "delivered" && DateTime.UtcNow < delivered)
            {
                await Task.Delay(20);
            }

            Assert.Equal("delivered", await DeliveryStateAsync(again));
            Assert.Equal("firing", await StateAsync(again));
            var history = (await again.GetJsonAsync("/api/v1/alerts/history?rule=RestartProbe")).GetProperty("data").EnumerateArray().ToList();
            var recorded = Assert.Single(history).GetProperty("event");
            Assert.Equal("firing", recorded.GetProperty("status").GetString());
            var sent = accepted.SelectMany(b => JsonDocument.Parse(b).RootElement.GetProperty("alerts").EnumerateArray().Select(a => a.Clone())).ToList();
            var alert = Assert.Single(sent);
            Assert.Equal("firing", alert.GetProperty("status").GetString());
            Assert.Equal(recorded.GetProperty("id").GetString(), alert.GetProperty("vigil").GetProperty("id").GetString());
            Assert.Equal(recorded.GetProperty("fingerprint").GetString(), alert.GetProperty("fingerprint").GetString());
        }
        finally
        {
            await receiver.StopAsync();
            Directory.Delete(root, recursive: true);
        }
    }

    /// <summary>The webhook delivery state of RestartProbe's only event (null while there is none).</summary>
    private static async Task<string?> DeliveryStateAsync(VigilApi api)
    {
        var body = await api.GetJsonAsync("/api/v1/alerts/history?rule=RestartProbe");
        return body.GetProperty("data").EnumerateArray()
            .SelectMany(e => e.GetProperty("deliveries").EnumerateArray())
            .Select(d => d.GetProperty("state").GetString())
            .FirstOrDefault();
    }

    private static async Task<string?> StateAsync(VigilApi api)
    {
        var body = await api.GetJsonAsync("/api/v1/alerts");
        return body.GetProperty("data").GetProperty("alerts").EnumerateArray()
            .Where(a => a.GetProperty("labels").GetProperty("alertname").GetString() == "RestartProbe")
            .Select(a => a.GetProperty("state").GetString())
            .FirstOrDefault();
    }

    private static async Task PostAsync(HttpClient http, IMessage request)
    {
        using var content = new ByteArrayContent(request.ToByteArray());
        content.Headers.ContentType = new("application/x-protobuf");
        using var response = await http.PostAsync("/v1/metrics", content);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }
}
