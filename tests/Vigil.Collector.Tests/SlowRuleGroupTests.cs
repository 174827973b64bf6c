using System.Net;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Vigil.Collector.Rules;

namespace Vigil.Collector.Tests;

/// <summary>The rule API answers while a group is held inside its evaluation, with what the last evaluation published.</summary>
public sealed class SlowRuleGroupTests
{
    [Fact]
    public async Task AlertsRulesAndMetrics_AnswerWhileAGroupEvaluates_WithTheLastPublishedState()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var vigil = await VigilServer.StartAsync(time: time);
        var manager = vigil.Services.GetRequiredService<RulesHost>().Manager;
        await ReadScopeTests.SendAsync(vigil, ReadScopeTests.Requests(time.GetUtcNow(), ("a", 2)));

        // TenantCrossTenantDenied (rules/tenant.yaml) has no `for`: one evaluation fires it for tenant a.
        var at = time.GetUtcNow();
        await manager.EvaluateGroupAsync("tenant", at);
        using var http = new HttpClient { BaseAddress = vigil.HttpUri, Timeout = TimeSpan.FromSeconds(10) };
        var before = await AlertsAsync(http);
        Assert.Contains("TenantCrossTenantDenied", before, StringComparison.Ordinal);

        using var entered = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        manager.EvaluationStarting += group =>
        {
            if (group == "tenant" && !release.IsSet)
            {
                entered.Set();
                release.Wait(TimeSpan.FromSeconds(30));
            }
        };
        var held = Task.Run(() => manager.EvaluateGroupAsync("tenant", at.AddSeconds(30)));
        Assert.True(entered.Wait(TimeSpan.FromSeconds(30)), "the evaluation never started");
        try
        {
            // Each read is bounded by the client's timeout: one that waited for the group would fail, not hang.
            Assert.Equal(before, await AlertsAsync(http));
            using var rules = JsonDocument.Parse(await http.GetStringAsync("/api/v1/rules"));
            var tenant = rules.RootElement.GetProperty("data").GetProperty("groups").EnumerateArray().Single(g => g.GetProperty("name").GetString() == "tenant");
            Assert.Equal(at, tenant.GetProperty("lastEvaluation").GetDateTimeOffset());
            Assert.Contains("ALERTS{alertname=\"TenantCrossTenantDenied\",alertstate=\"firing\"", await http.GetStringAsync("/metrics"), StringComparison.Ordinal);
        }
        finally
        {
            release.Set();
        }

        await held;
    }

    private static async Task<string> AlertsAsync(HttpClient http)
    {
        using var response = await http.GetAsync("/api/v1/alerts");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return json.RootElement.GetProperty("data").GetProperty("alerts").GetRawText();
    }
}
