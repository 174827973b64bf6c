using System.Net;
using Google.Protobuf;

namespace Vigil.Collector.Tests;

/// <summary>
/// After a crash, rules are evaluated only once the WAL has refilled the store: on a half-replayed
/// store a firing alert would look like its series vanished, resolve, and fire again (two pages).
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
