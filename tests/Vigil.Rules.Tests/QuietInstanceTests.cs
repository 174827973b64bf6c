using System.Text.Json;
using Microsoft.Extensions.Time.Testing;
using Vigil.Rules.Api;
using static Vigil.Rules.Tests.FakeWindowReader;

namespace Vigil.Rules.Tests;

/// <summary>
/// An instance that stays inactive renders no annotations at a round (issue 14's idle cost); the round it turns
/// pending renders them from its own labels, as if they had been rendered all along.
/// </summary>
public sealed class QuietInstanceTests : IDisposable
{
    private const string Rules = """
        group: ai
        interval: 30s
        rules:
          - alert: AiRunFailures
            severity: P1
            runbook_url: https://runbooks.example.com/ai
            summary: "failures in {{ $labels.tenant.id }}"
            ratio:
              of: ai.runs{ai.run.status="failed"}
              to: ai.runs
            by: [tenant.id]
            window: 10m
            threshold: "> 0.05"
            for: 5m
        """;

    private readonly TempDirectory _dir = new();
    private readonly FakeTimeProvider _time = new(TestRules.T0);
    private readonly FakeWindowReader _reader = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task InstanceTurningPending_CarriesItsRenderedSummary()
    {
        _dir.Write("ai.yaml", Rules);
        using var manager = new RuleManager(new RuleManagerOptions { RulesDirectory = _dir.Path }, _reader, _time, new RecordingTransitionSink());
        manager.Reload();

        // acme 1/30 stays under 5 %, beta 4/40 is over it.
        _reader.Set("ai.runs{ai.run.status=\"failed\"}", S(1, 1, ("tenant.id", "acme")), S(4, 4, ("tenant.id", "beta")));
        _reader.Set("ai.runs", S(30, 30, ("tenant.id", "acme")), S(40, 40, ("tenant.id", "beta")));
        await manager.EvaluateAsync(TestRules.T0);
        Assert.Equal(new Dictionary<string, string?> { ["beta"] = "failures in beta" }, Summaries(manager));

        // acme 6/30 is over it now.
        _reader.Set("ai.runs{ai.run.status=\"failed\"}", S(6, 6, ("tenant.id", "acme")), S(4, 4, ("tenant.id", "beta")));
        await manager.EvaluateAsync(TestRules.T0.AddSeconds(30));
        Assert.Equal(new Dictionary<string, string?> { ["acme"] = "failures in acme", ["beta"] = "failures in beta" }, Summaries(manager));
    }

    private static Dictionary<string, string?> Summaries(RuleManager manager)
    {
        using var doc = JsonDocument.Parse(JsonSerializer.Serialize(ApiResponse.Success(manager.GetAlerts())));
        return doc.RootElement.GetProperty("data").GetProperty("alerts").EnumerateArray()
            .ToDictionary(a => a.GetProperty("labels").GetProperty("tenant.id").GetString()!, a => a.GetProperty("annotations").GetProperty("summary").GetString());
    }
}
