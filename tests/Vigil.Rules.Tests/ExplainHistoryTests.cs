using System.Text.Json;
using Microsoft.Extensions.Time.Testing;
using Vigil.Rules.Api;
using static Vigil.Rules.Tests.FakeWindowReader;

namespace Vigil.Rules.Tests;

/// <summary>Explain keeps each instance's last rules.explain_history evaluations, and no more.</summary>
public sealed class ExplainHistoryTests : IDisposable
{
    private const string Failures = "auth.requests{auth.outcome=\"failure\"}";
    private const string Rules = $"""
        group: eng
        interval: 30s
        rules:
          - alert: Failures
            severity: P2
            runbook_url: https://runbooks.example.com/failures
            increase: {Failures}
            by: [tenant.id]
            threshold: "> 100"
        """;

    private static readonly DateTimeOffset T0 = TestRules.T0;
    private readonly TempDirectory _dir = new();
    private readonly FakeTimeProvider _time = new(T0);
    private readonly FakeWindowReader _reader = new();

    public void Dispose() => _dir.Dispose();

    private RuleManager Manager(RuleLimits limits) =>
        new(new RuleManagerOptions { RulesDirectory = _dir.Path, Limits = limits }, _reader, _time);

    [Fact]
    public async Task AfterNPlus5Evaluations_ExplainHasExactlyTheLastN_WithTheirReasons()
    {
        _dir.Write("eng.yaml", Rules);
        using var manager = Manager(RuleLimits.Default);
        manager.Reload();
        const int n = 20;
        for (var i = 0; i < n + 5; i++)
        {
            _reader.Set(Failures, S(i + 1, i + 1, ("tenant.id", "acme")));
            await manager.EvaluateAsync(T0.AddSeconds(30 * i));
        }

        var history = Assert.Single(manager.Explain("eng", "Failures").Instances).History;

        // The first five (values 1..5) are gone; evaluation i saw value i + 1.
        Assert.Equal(Enumerable.Range(5, n).Select(i => T0.AddSeconds(30 * i)), history.Select(h => h.At));
        Assert.Equal(Enumerable.Range(6, n).Select(v => (double?)v), history.Select(h => h.Value));
        Assert.Equal(Enumerable.Range(6, n).Select(v => $"inactive: value {v} is not > 100"), history.Select(h => h.Reason));
        Assert.Equal(Enumerable.Range(6, n).Select(v => $"passed: {v} >= min_samples 0"), history.Select(h => h.Guard));
        Assert.All(history, h => Assert.Equal(("> 100", "inactive"), (h.Threshold, h.State)));
    }

    [Fact]
    public async Task History_ShowsWhyItDidNotFireAtAnEarlierTime()
    {
        _dir.Write("eng.yaml", Rules.Replace("threshold: \"> 100\"", "threshold: \"> 5\"\n    min_samples: 10", StringComparison.Ordinal));
        using var manager = Manager(RuleLimits.Default);
        manager.Reload();
        _reader.Set(Failures, S(8, 8, ("tenant.id", "acme")));
        await manager.EvaluateAsync(T0);
        _reader.Set(Failures, S(12, 12, ("tenant.id", "acme")));
        await manager.EvaluateAsync(T0.AddSeconds(30));

        var history = Assert.Single(manager.Explain("eng", "Failures").Instances).History;

        Assert.Equal(2, history.Count);
        Assert.Equal((T0, "blocked: 8 < min_samples 10", "inactive"), (history[0].At, history[0].Guard, history[0].State));
        Assert.Equal("inactive: only 8 samples in the window, min_samples is 10 (guard); no_data: ok counts it as not breaching", history[0].Reason);
        Assert.Equal((T0.AddSeconds(30), "passed: 12 >= min_samples 10", "firing", "firing: value 12 is > 5"), (history[1].At, history[1].Guard, history[1].State, history[1].Reason));
        using var json = JsonDocument.Parse(JsonSerializer.Serialize(manager.Explain("eng", "Failures")));
        var first = json.RootElement.GetProperty("instances")[0].GetProperty("history")[0];
        Assert.Equal(["at", "value", "samples", "guard", "threshold", "state", "reason"], first.EnumerateObject().Select(p => p.Name));
    }

    [Fact]
    public async Task ManyInstances_RetainAtMostNEntriesEach_AndForgottenInstancesTakeTheirHistory()
    {
        _dir.Write("eng.yaml", Rules);
        using var manager = Manager(RuleLimits.Default with { ExplainHistory = 3 });
        manager.Reload();
        var tenants = Enumerable.Range(0, 200).Select(i => S(1, 1, ("tenant.id", $"t{i:D3}"))).ToArray();
        _reader.Set(Failures, tenants);
        for (var i = 0; i < 10; i++)
        {
            await manager.EvaluateAsync(T0.AddSeconds(30 * i));
        }

        Assert.Equal(200 * 3, manager.ExplainHistoryEntries);

        // Half the series stop reporting: their inactive instances are forgotten, history and all.
        _reader.Set(Failures, tenants[..100]);
        await manager.EvaluateAsync(T0.AddSeconds(300));
        Assert.Equal(100 * 3, manager.ExplainHistoryEntries);
    }

    [Fact]
    public async Task ExplainHistoryZero_KeepsNothing()
    {
        _dir.Write("eng.yaml", Rules);
        using var manager = Manager(RuleLimits.Default with { ExplainHistory = 0 });
        manager.Reload();
        _reader.Set(Failures, S(1, 1, ("tenant.id", "acme")));
        await manager.EvaluateAsync(T0);

        Assert.Empty(Assert.Single(manager.Explain("eng", "Failures").Instances).History);
        Assert.Equal(0, manager.ExplainHistoryEntries);
    }
}
