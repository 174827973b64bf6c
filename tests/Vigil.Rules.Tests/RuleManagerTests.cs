using System.Text.Json;
using Microsoft.Extensions.Time.Testing;
using Vigil.Rules.Api;
using static Vigil.Rules.Tests.FakeWindowReader;

namespace Vigil.Rules.Tests;

public sealed class RuleManagerTests : IDisposable
{
    private const string AiRules = """
        group: ai
        interval: 30s
        rules:
          - alert: AiRunFailures
            severity: P1
            runbook_url: https://runbooks.example.com/ai
            summary: "Failure rate {{ $value | percent }} in {{ $labels.workspace.id }}"
            ratio:
              of: ai.runs{ai.run.status="failed"}
              to: ai.runs
            by: [tenant.id, workspace.id]
            min_samples: 20
            threshold: "> 0.2"
            for: 1m
            labels: { team: ai }
            overrides:
              - match: { tenant.id: acme }
                threshold: "> 0.05"
              - match: { tenant.id: acme, workspace.id: w1 }
                threshold: "> 0.5"
                severity: P2
        """;

    private static readonly DateTimeOffset T0 = TestRules.T0;
    private readonly TempDirectory _dir = new();
    private readonly FakeTimeProvider _time = new(T0);
    private readonly FakeWindowReader _reader = new();
    private readonly RecordingTransitionSink _sink = new();

    public void Dispose() => _dir.Dispose();

    private RuleManager Manager(bool persist = false) =>
        new(new RuleManagerOptions { RulesDirectory = _dir.Path, DataDirectory = persist ? Path.Combine(_dir.Path, "data") : null }, _reader, _time, _sink);

    private void FailureRatio(string tenant, string workspace, double failed, double total)
    {
        _reader.Set("ai.runs{ai.run.status=\"failed\"}", S(failed, failed, ("tenant.id", tenant), ("workspace.id", workspace)));
        _reader.Set("ai.runs", S(total, total, ("tenant.id", tenant), ("workspace.id", workspace)));
    }

    private void BothTenants()
    {
        _reader.Set("ai.runs{ai.run.status=\"failed\"}",
            S(3, 3, ("tenant.id", "acme"), ("workspace.id", "w2")), S(25, 25, ("tenant.id", "beta"), ("workspace.id", "w3")));
        _reader.Set("ai.runs", S(30, 30, ("tenant.id", "acme"), ("workspace.id", "w2")), S(50, 50, ("tenant.id", "beta"), ("workspace.id", "w3")));
    }

    private static (AlertState State, DateTimeOffset? ActiveAt, DateTimeOffset? FiredAt) Instance(RuleManager manager, string group, string alert, params (string, string)[] labels)
    {
        var key = LabelSet.Key(TestRules.L(labels));
        var (_, state) = manager.GetInstances(group, alert).Single(i => LabelSet.Key(i.Labels) == key);
        return (state.State, state.ActiveAt, state.FiredAt);
    }

    [Fact]
    public async Task Ratio_JoinsOnByLabelsAndGuardsOnDenominatorSamples()
    {
        _dir.Write("ai.yaml", AiRules);
        _reader.Set("ai.runs{ai.run.status=\"failed\"}",
            S(3, 3, ("tenant.id", "acme"), ("workspace.id", "w2")),
            S(9, 9, ("tenant.id", "beta"), ("workspace.id", "w9")));
        _reader.Set("ai.runs",
            S(30, 30, ("tenant.id", "acme"), ("workspace.id", "w2")),
            S(10, 10, ("tenant.id", "beta"), ("workspace.id", "w9")),
            S(50, 50, ("tenant.id", "beta"), ("workspace.id", "w8")));
        using var manager = Manager();
        manager.Reload();

        var transitions = await manager.EvaluateAsync(T0);

        var t = Assert.Single(transitions);
        Assert.Equal(("ai", "AiRunFailures", AlertState.Inactive, AlertState.Pending), (t.Group, t.Alert, t.From, t.To));
        Assert.Equal(TestRules.L(("tenant.id", "acme"), ("workspace.id", "w2")), t.InstanceLabels);
        Assert.Equal(TestRules.L(("alertname", "AiRunFailures"), ("severity", "P1"), ("team", "ai"), ("tenant.id", "acme"), ("workspace.id", "w2")), t.Labels);
        Assert.Equal(0.1, t.Value);
        Assert.Equal(30, t.Samples);
        Assert.Equal("> 0.05", t.Threshold);
        Assert.Equal("Failure rate 10% in w2", t.Summary);
        Assert.Equal("https://runbooks.example.com/ai", t.RunbookUrl);
        Assert.Equal(T0, t.At);
        Assert.Equal(AlertState.Inactive, Instance(manager, "ai", "AiRunFailures", ("tenant.id", "beta"), ("workspace.id", "w9")).State);
        Assert.Equal(AlertState.Inactive, Instance(manager, "ai", "AiRunFailures", ("tenant.id", "beta"), ("workspace.id", "w8")).State);
    }

    [Fact]
    public void Overrides_MostSpecificMatchWins()
    {
        var rule = TestRules.Alert(AiRules);

        var w1 = RuleEvaluator.Resolve(rule, TestRules.L(("tenant.id", "acme"), ("workspace.id", "w1")));
        var w2 = RuleEvaluator.Resolve(rule, TestRules.L(("tenant.id", "acme"), ("workspace.id", "w2")));
        var other = RuleEvaluator.Resolve(rule, TestRules.L(("tenant.id", "beta"), ("workspace.id", "w1")));

        Assert.Equal(("> 0.5", Severity.P2), (w1.Threshold.ToString(), w1.Severity));
        Assert.Equal(("> 0.05", Severity.P1), (w2.Threshold.ToString(), w2.Severity));
        Assert.Equal(("> 0.2", Severity.P1, (RuleOverride?)null), (other.Threshold.ToString(), other.Severity, other.Override));
        Assert.Equal(TimeSpan.FromMinutes(1), w1.For);
    }

    [Fact]
    public async Task Restart_RestoresPendingAndFiringFromSqlite_WithoutRewaitingFor()
    {
        _dir.Write("ai.yaml", AiRules);
        FailureRatio("acme", "w2", 3, 30);
        using (var first = Manager(persist: true))
        {
            first.Reload();
            await first.EvaluateAsync(T0);
            await first.EvaluateAsync(T0.AddSeconds(60));
            BothTenants();
            await first.EvaluateAsync(T0.AddSeconds(90));
        }

        Assert.True(File.Exists(Path.Combine(_dir.Path, "data", "alerts.db")));
        var before = _sink.Transitions.Count;
        using var second = Manager(persist: true);
        second.Reload();

        Assert.Equal((AlertState.Firing, T0, T0.AddSeconds(60)), Instance(second, "ai", "AiRunFailures", ("tenant.id", "acme"), ("workspace.id", "w2")));
        Assert.Equal((AlertState.Pending, T0.AddSeconds(90), null), Instance(second, "ai", "AiRunFailures", ("tenant.id", "beta"), ("workspace.id", "w3")));
        var transitions = await second.EvaluateAsync(T0.AddSeconds(150));

        Assert.Equal(before, _sink.Transitions.Count - transitions.Count);
        var t = Assert.Single(transitions);
        Assert.Equal((AlertState.Pending, AlertState.Firing, T0.AddSeconds(150)), (t.From, t.To, t.At));
        Assert.Equal("beta", t.InstanceLabels["tenant.id"]);
        Assert.Equal(T0.AddSeconds(90), t.ActiveAt);
    }

    [Fact]
    public async Task Reload_KeepsInstancesOfUnchangedRules_AndResolvesChangedOnes()
    {
        var rules = AiRules + """

              - alert: AiRunFailuresAnyTenant
                severity: P3
                runbook_url: https://runbooks.example.com/ai-any
                ratio:
                  of: ai.runs{ai.run.status="failed"}
                  to: ai.runs
                by: [tenant.id, workspace.id]
                threshold: "> 0.01"
            """;
        _dir.Write("ai.yaml", rules);
        FailureRatio("acme", "w2", 3, 30);
        using var manager = Manager();
        manager.Reload();
        await manager.EvaluateAsync(T0);
        await manager.EvaluateAsync(T0.AddSeconds(60));
        _dir.Write("ai.yaml", rules.Replace("\"> 0.01\"", "\"> 0.02\"", StringComparison.Ordinal) + "\n# a comment changes nothing\n");
        _time.SetUtcNow(T0.AddSeconds(70));

        var result = manager.Reload();

        Assert.True(result.Success);
        Assert.Equal((AlertState.Firing, T0, T0.AddSeconds(60)), Instance(manager, "ai", "AiRunFailures", ("tenant.id", "acme"), ("workspace.id", "w2")));
        Assert.Empty(manager.GetInstances("ai", "AiRunFailuresAnyTenant"));
        var resolved = _sink.Transitions[^1];
        Assert.Equal(("AiRunFailuresAnyTenant", AlertState.Firing, AlertState.Resolved, T0.AddSeconds(70)), (resolved.Alert, resolved.From, resolved.To, resolved.At));
        Assert.Equal("the rule changed; its instances start again", resolved.Reason);
    }

    [Fact]
    public async Task Reload_BadFileKeepsLastGoodRulesAndTheirState()
    {
        var path = _dir.Write("ai.yaml", AiRules);
        FailureRatio("acme", "w2", 3, 30);
        using var manager = Manager();
        manager.Reload();
        await manager.EvaluateAsync(T0);
        _dir.Write("ai.yaml", AiRules.Replace("for: 1m", "for: 1 minute", StringComparison.Ordinal));

        var result = manager.Reload();

        Assert.False(result.Success);
        Assert.Equal($"{path}:14:10: bad duration '1 minute' for 'for' (use a duration such as 30s, 5m, 1h or 1h30m)", result.Error);
        Assert.Same(result, manager.LastReload);
        Assert.Equal("ai", Assert.Single(manager.Groups).Name);
        Assert.Equal((AlertState.Pending, T0, null), Instance(manager, "ai", "AiRunFailures", ("tenant.id", "acme"), ("workspace.id", "w2")));
        await manager.EvaluateAsync(T0.AddSeconds(60));
        Assert.Equal(AlertState.Firing, Instance(manager, "ai", "AiRunFailures", ("tenant.id", "acme"), ("workspace.id", "w2")).State);
    }

    [Fact]
    public async Task Reload_RemovedRuleResolvesItsFiringInstances()
    {
        var path = _dir.Write("ai.yaml", AiRules);
        FailureRatio("acme", "w2", 3, 30);
        using var manager = Manager();
        manager.Reload();
        await manager.EvaluateAsync(T0);
        await manager.EvaluateAsync(T0.AddSeconds(60));
        File.Delete(path);

        var result = manager.Reload();

        Assert.True(result.Success);
        Assert.Empty(manager.Groups);
        var t = _sink.Transitions[^1];
        Assert.Equal((AlertState.Firing, AlertState.Resolved, "the rule was removed"), (t.From, t.To, t.Reason));
        Assert.Empty(manager.GetAlerts().Alerts);
    }

    [Fact]
    public async Task SeriesThatStopsReporting_ResolvesItsInstance()
    {
        _dir.Write("ai.yaml", AiRules);
        FailureRatio("acme", "w2", 3, 30);
        using var manager = Manager();
        manager.Reload();
        await manager.EvaluateAsync(T0);
        await manager.EvaluateAsync(T0.AddSeconds(60));
        _reader.Set("ai.runs");
        _reader.Set("ai.runs{ai.run.status=\"failed\"}");

        var transitions = await manager.EvaluateAsync(T0.AddSeconds(90));

        var t = Assert.Single(transitions);
        Assert.Equal((AlertState.Firing, AlertState.Resolved, "resolved: the series stopped reporting"), (t.From, t.To, t.Reason));
        Assert.Equal(T0.AddSeconds(90), t.ResolvedAt);
    }

    [Fact]
    public async Task QueryRefused_MarksTheRuleUnhealthyAndKeepsItsState()
    {
        _dir.Write("ai.yaml", AiRules);
        FailureRatio("acme", "w2", 3, 30);
        using var manager = Manager();
        manager.Reload();
        await manager.EvaluateAsync(T0);
        _reader.Refuse = "window 5m is longer than the retention 1m";

        var transitions = await manager.EvaluateAsync(T0.AddSeconds(60));

        Assert.Empty(transitions);
        var rule = Assert.IsType<AlertingRuleInfo>(Assert.Single(Assert.Single(manager.GetRules().Groups).Rules));
        Assert.Equal(("err", "window 5m is longer than the retention 1m"), (rule.Health, rule.LastError));
        Assert.Equal(AlertState.Pending, Instance(manager, "ai", "AiRunFailures", ("tenant.id", "acme"), ("workspace.id", "w2")).State);
    }

    [Fact]
    public void Start_EvaluatesEachGroupOnItsIntervalFromTheTimeProvider()
    {
        _dir.Write("ai.yaml", AiRules);
        FailureRatio("acme", "w2", 3, 30);
        using var manager = Manager();
        manager.Reload();

        manager.Start();
        _time.Advance(TimeSpan.FromSeconds(30));
        _time.Advance(TimeSpan.FromSeconds(30));
        _time.Advance(TimeSpan.FromSeconds(30));
        manager.Stop();
        _time.Advance(TimeSpan.FromMinutes(5));

        // Evaluations fall on the group's grid: the first at the grid instant at or before the start, then every 30 s.
        var first = RuleManager.EvaluationSlot("ai", TimeSpan.FromSeconds(30), T0);
        Assert.InRange(T0 - first, TimeSpan.Zero, TimeSpan.FromSeconds(30) - TimeSpan.FromTicks(1));
        Assert.Equal(
            [(AlertState.Inactive, AlertState.Pending, first), (AlertState.Pending, AlertState.Firing, first.AddSeconds(60))],
            _sink.Transitions.Select(t => (t.From, t.To, t.At)));
        Assert.Equal(first.AddSeconds(90), Assert.Single(manager.GetRules().Groups).LastEvaluation);
    }

    [Fact]
    public void TwoManagersStartedApart_EvaluateAtTheSameInstants_SoTheirAlertsAgree()
    {
        _dir.Write("ai.yaml", AiRules);
        var twinSink = new RecordingTransitionSink();
        using var first = Manager();
        using var twin = new RuleManager(new RuleManagerOptions { RulesDirectory = _dir.Path }, _reader, _time, twinSink);

        // An HA pair: the same rules, one clock, started 17 s apart; then the data crosses the threshold for both.
        first.Start();
        _time.Advance(TimeSpan.FromSeconds(17));
        twin.Start();
        _time.Advance(TimeSpan.FromSeconds(20));
        FailureRatio("acme", "w2", 3, 30);
        for (var i = 0; i < 8; i++)
        {
            _time.Advance(TimeSpan.FromSeconds(15));
        }

        first.Stop();
        twin.Stop();
        var firing = Assert.Single(_sink.Transitions, t => t.To == AlertState.Firing);
        var twinFiring = Assert.Single(twinSink.Transitions, t => t.To == AlertState.Firing);
        Assert.Equal(firing.ActiveAt, twinFiring.ActiveAt);
        Assert.Equal(firing.FiredAt, twinFiring.FiredAt);
        Assert.Equal(firing.At, twinFiring.At);
    }

    [Fact]
    public async Task AlertsApi_HasPrometheusShapePlusVigilFields()
    {
        _dir.Write("ai.yaml", AiRules);
        FailureRatio("acme", "w2", 3, 30);
        using var manager = Manager();
        manager.Reload();
        await manager.EvaluateAsync(T0);

        var json = JsonSerializer.Serialize(ApiResponse.Success(manager.GetAlerts()));

        Assert.Equal(
            """{"status":"success","data":{"alerts":[{"labels":{"alertname":"AiRunFailures","severity":"P1","team":"ai","tenant.id":"acme","workspace.id":"w2"},"annotations":{"runbook_url":"https://runbooks.example.com/ai","summary":"Failure rate 10% in w2"},"state":"pending","activeAt":"2026-01-01T00:00:00+00:00","keepFiringSince":null,"value":"0.1","severity":"P1","runbook_url":"https://runbooks.example.com/ai","threshold":"\u003E 0.05","samples":30}]}}""",
            json);
    }

    [Fact]
    public async Task RulesApi_ListsAlertingRulesWithTheirActiveAlerts()
    {
        _dir.Write("ai.yaml", AiRules);
        FailureRatio("acme", "w2", 3, 30);
        using var manager = Manager();
        manager.Reload();
        await manager.EvaluateAsync(T0);

        using var doc = JsonDocument.Parse(JsonSerializer.Serialize(ApiResponse.Success(manager.GetRules())));

        var group = doc.RootElement.GetProperty("data").GetProperty("groups")[0];
        Assert.Equal("ai", group.GetProperty("name").GetString());
        Assert.Equal(30, group.GetProperty("interval").GetDouble());
        var rule = group.GetProperty("rules")[0];
        Assert.Equal("alerting", rule.GetProperty("type").GetString());
        Assert.Equal("AiRunFailures", rule.GetProperty("name").GetString());
        Assert.Equal("increase(ai.runs{ai.run.status=\"failed\"}[5m]) / increase(ai.runs[5m]) by (tenant.id, workspace.id)", rule.GetProperty("query").GetString());
        Assert.Equal(60, rule.GetProperty("duration").GetDouble());
        Assert.Equal("pending", rule.GetProperty("state").GetString());
        Assert.Equal("ok", rule.GetProperty("health").GetString());
        Assert.Equal("P1", rule.GetProperty("severity").GetString());
        Assert.Equal("> 0.2", rule.GetProperty("threshold").GetString());
        Assert.Equal("2026-01-01T00:00:00+00:00", rule.GetProperty("lastEvaluation").GetString());
        Assert.Equal(1, rule.GetProperty("alerts").GetArrayLength());
    }

    [Fact]
    public async Task Explain_ShowsValueGuardEffectiveThresholdAndReason()
    {
        _dir.Write("ai.yaml", AiRules);
        _reader.Set("ai.runs{ai.run.status=\"failed\"}", S(3, 3, ("tenant.id", "acme"), ("workspace.id", "w2")), S(9, 9, ("tenant.id", "beta"), ("workspace.id", "w9")));
        _reader.Set("ai.runs", S(30, 30, ("tenant.id", "acme"), ("workspace.id", "w2")), S(10, 10, ("tenant.id", "beta"), ("workspace.id", "w9")));
        using var manager = Manager();
        manager.Reload();
        await manager.EvaluateAsync(T0);
        _time.SetUtcNow(T0.AddSeconds(30));

        var explanation = manager.Explain("ai", "AiRunFailures");

        Assert.Equal(2, explanation.Instances.Count);
        var acme = explanation.Instances[0];
        Assert.Equal((0.1, 30d, "passed: 30 >= min_samples 20", "> 0.05", "pending", (DateTimeOffset?)T0), (acme.Value, acme.Samples, acme.Guard, acme.Threshold, acme.State, acme.ActiveAt));
        Assert.Equal(TestRules.L(("tenant.id", "acme")), acme.Override);
        Assert.Equal("pending: value 0.1 is > 0.05 since 2026-01-01T00:00:00.0000000+00:00; fires after for 1m, at 2026-01-01T00:01:00.0000000+00:00", acme.Reason);
        var beta = explanation.Instances[1];
        Assert.Equal(("blocked: 10 < min_samples 20", "> 0.2", "inactive"), (beta.Guard, beta.Threshold, beta.State));
        Assert.Equal("inactive: only 10 samples in the window, min_samples is 20 (guard); no_data: ok counts it as not breaching", beta.Reason);
    }
}
