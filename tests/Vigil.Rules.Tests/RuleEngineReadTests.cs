using System.Diagnostics.Metrics;
using Microsoft.Extensions.Time.Testing;
using Vigil.Rules.Api;
using static Vigil.Rules.Tests.FakeWindowReader;

namespace Vigil.Rules.Tests;

/// <summary>Reads (rules, alerts, explain) come from the last published snapshot, never from a group mid-evaluation.</summary>
public sealed class RuleEngineReadTests : IDisposable
{
    private const string Rules = """
        group: eng
        interval: 30s
        rules:
          - alert: Failures
            severity: P2
            runbook_url: https://runbooks.example.com/failures
            increase: auth.requests{auth.outcome="failure"}
            by: [tenant.id]
            threshold: "> 5"
            for: 30s
        """;

    private static readonly DateTimeOffset T0 = TestRules.T0;
    private readonly TempDirectory _dir = new();
    private readonly FakeTimeProvider _time = new(T0);
    private readonly FakeWindowReader _reader = new();
    private readonly Meter _meter = new("Vigil");

    public void Dispose()
    {
        _meter.Dispose();
        _dir.Dispose();
    }

    [Fact]
    public async Task SlowGroup_AlertsRulesAndExplainAnswerWithLastPublishedState_AndTheMissedTickIsCounted()
    {
        _dir.Write("eng.yaml", Rules);
        _reader.Set("auth.requests{auth.outcome=\"failure\"}", S(9, 9, ("tenant.id", "acme")));
        using var manager = new RuleManager(new RuleManagerOptions { RulesDirectory = _dir.Path }, _reader, _time, sink: null, _meter);
        manager.Reload();
        await manager.EvaluateAsync(T0);
        var missed = new List<(string Group, DateTimeOffset Slot)>();
        manager.IterationMissed += (group, slot) => missed.Add((group, slot));

        using var entered = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        manager.EvaluationStarting += _ =>
        {
            entered.Set();
            Assert.True(release.Wait(TimeSpan.FromSeconds(30)), "the test never released the group");
        };

        // 30 s later the instance has breached for `for`: this evaluation would fire it, but it is held at its start.
        var held = Task.Run(() => manager.EvaluateGroupAsync("eng", T0.AddSeconds(30)));
        Assert.True(entered.Wait(TimeSpan.FromSeconds(30)), "the evaluation never started");
        try
        {
            // Bounded: a read that waited for the group would fail here instead of hanging the run.
            var alerts = await Task.Run(manager.GetAlerts).WaitAsync(TimeSpan.FromSeconds(10));
            var alert = Assert.Single(alerts.Alerts);
            Assert.Equal(("pending", T0, "9"), (alert.State, alert.ActiveAt, alert.Value));
            var group = Assert.Single(manager.GetRules().Groups);
            Assert.Equal(T0, group.LastEvaluation);
            Assert.Equal("pending", Assert.IsType<AlertingRuleInfo>(Assert.Single(group.Rules)).State);
            Assert.Equal("pending", Assert.Single(manager.Explain("eng", "Failures").Instances).State);

            // Two timer ticks come while the group is still held: both are skipped and counted, and reported once.
            manager.Start();
            _time.Advance(TimeSpan.FromSeconds(30));
            _time.Advance(TimeSpan.FromSeconds(30));
            Assert.Equal(2, MeterReadings.Value(_meter, "vigil.rules.group.iterations_missed", ("group", "eng")));
            Assert.Equal("eng", Assert.Single(missed).Group);
        }
        finally
        {
            release.Set();
        }

        await held;
        Assert.Equal("firing", Assert.Single(manager.GetAlerts().Alerts).State);
        Assert.Equal(T0.AddSeconds(30), Assert.Single(manager.GetRules().Groups).LastEvaluation);
        manager.Stop();
    }

    [Fact]
    public void AnEvaluationLongerThanTwoIntervals_CountsTheInstantsItOutlasted()
    {
        _dir.Write("eng.yaml", Rules);
        _reader.Set("auth.requests{auth.outcome=\"failure\"}", S(1, 1, ("tenant.id", "acme")));

        // The clock starts on one of the group's grid instants, G, so each 30 s step lands on the next one.
        var interval = TimeSpan.FromSeconds(30);
        var g = RuleManager.EvaluationSlot("eng", interval, T0);
        var time = new FakeTimeProvider(g);
        using var manager = new RuleManager(new RuleManagerOptions { RulesDirectory = _dir.Path }, _reader, time, sink: null, _meter);
        manager.Reload();
        var missed = 0;
        manager.IterationMissed += (_, _) => missed++;
        var slots = new List<DateTimeOffset>();
        manager.Evaluated += e => slots.Add(e.At);
        var slow = false;
        manager.EvaluationStarting += _ =>
        {
            if (slow)
            {
                // This evaluation takes 70 s of the clock: G+60 until G+130.
                slow = false;
                time.Advance(TimeSpan.FromSeconds(70));
            }
        };

        manager.Start();
        time.Advance(interval);
        Assert.Equal(0, MeterReadings.Value(_meter, "vigil.rules.group.iterations_missed", ("group", "eng")));
        slow = true;
        time.Advance(interval);
        time.Advance(interval);

        // G+90 and G+120 passed while the slow evaluation ran; the next one is at G+150.
        Assert.Equal([g, g.AddSeconds(30), g.AddSeconds(60), g.AddSeconds(150)], slots);
        Assert.Equal(2, MeterReadings.Value(_meter, "vigil.rules.group.iterations_missed", ("group", "eng")));
        Assert.Equal(1, missed);
        manager.Stop();
    }

    [Fact]
    public async Task ActiveAlerts_AreTyped_AndTheAlertsApiIsTheirMapping()
    {
        _dir.Write("eng.yaml", Rules);
        _reader.Set("auth.requests{auth.outcome=\"failure\"}", S(9, 9, ("tenant.id", "acme")), S(2, 2, ("tenant.id", "beta")));
        using var manager = new RuleManager(new RuleManagerOptions { RulesDirectory = _dir.Path }, _reader, _time);
        manager.Reload();
        await manager.EvaluateAsync(T0);

        IAlertStateReader reader = manager;
        var alert = Assert.Single(reader.ActiveAlerts());

        Assert.Equal(("eng", "Failures", AlertState.Pending, (DateTimeOffset?)T0, (double?)9, 9d, Severity.P2, "> 5", TimeSpan.FromMinutes(5)),
            (alert.Group, alert.Rule, alert.State, alert.ActiveAt, alert.Value, alert.Samples, alert.Severity, alert.Threshold, alert.Window));
        Assert.Equal(TestRules.L(("alertname", "Failures"), ("severity", "P2"), ("tenant.id", "acme")), alert.Labels);
        Assert.Equal("https://runbooks.example.com/failures", alert.Annotations["runbook_url"]);
        Assert.Equal(
            System.Text.Json.JsonSerializer.Serialize(manager.GetAlerts().Alerts),
            System.Text.Json.JsonSerializer.Serialize(new[] { alert.ToApi() }));
    }
}
