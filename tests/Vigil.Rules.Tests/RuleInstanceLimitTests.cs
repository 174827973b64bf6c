using System.Diagnostics.Metrics;
using Microsoft.Extensions.Time.Testing;
using Vigil.Rules.Api;
using static Vigil.Rules.Tests.FakeWindowReader;

namespace Vigil.Rules.Tests;

/// <summary>max_instances and rules.max_instances_per_rule: the excess is refused, visibly, and nothing is sent for it.</summary>
public sealed class RuleInstanceLimitTests : IDisposable
{
    private const string Failures = "auth.requests{auth.outcome=\"failure\"}";
    private static readonly DateTimeOffset T0 = TestRules.T0;
    private readonly TempDirectory _dir = new();
    private readonly FakeTimeProvider _time = new(T0);
    private readonly FakeWindowReader _reader = new();
    private readonly RecordingTransitionSink _sink = new();
    private readonly Meter _meter = new("Vigil");

    public void Dispose()
    {
        _meter.Dispose();
        _dir.Dispose();
    }

    private static string Rule(string? maxInstances) => $"""
        group: eng
        interval: 30s
        rules:
          - alert: Failures
            severity: P2
            runbook_url: https://runbooks.example.com/failures
            increase: {Failures}
            by: [tenant.id]
            threshold: "> 5"
        {(maxInstances is null ? string.Empty : $"    max_instances: {maxInstances}")}
        """;

    private RuleManager Manager(RuleLimits? limits = null) =>
        new(new RuleManagerOptions { RulesDirectory = _dir.Path, Limits = limits ?? RuleLimits.Default }, _reader, _time, _sink, _meter);

    [Fact]
    public async Task OverMaxInstances_TheExcessIsRefused_WithHealthErrAndTheMetric_AndHeldInstancesKeepTheirState()
    {
        _dir.Write("eng.yaml", Rule("2"));
        _reader.Set(Failures, S(9, 9, ("tenant.id", "c")), S(9, 9, ("tenant.id", "a")), S(9, 9, ("tenant.id", "b")));
        using var manager = Manager();
        manager.Reload();

        await manager.EvaluateAsync(T0);

        // a and b come first in label order; c has no instance, so nothing fires or is sent for it.
        Assert.Equal(["a", "b"], _sink.Transitions.Select(t => t.InstanceLabels["tenant.id"]).Order());
        Assert.Equal(["a", "b"], manager.GetAlerts().Alerts.Select(a => a.Labels["tenant.id"]).Order());
        var rule = Assert.IsType<AlertingRuleInfo>(Assert.Single(Assert.Single(manager.GetRules().Groups).Rules));
        Assert.Equal("err", rule.Health);
        Assert.Equal("1 new instance(s) refused: the rule is at its limit of 2 instances (max_instances); narrow 'by' or raise the limit", rule.LastError);
        Assert.Equal(1, MeterReadings.Value(_meter, "vigil.rules.instances.refused", ("group", "eng"), ("alert", "Failures")));
        Assert.StartsWith("refused:", manager.Explain("eng", "Failures").Instances.Single(i => i.Labels["tenant.id"] == "c").Reason, StringComparison.Ordinal);

        // a recovers (resolved, still held), b keeps firing, c is refused again: counted once more, still not sent.
        _reader.Set(Failures, S(1, 1, ("tenant.id", "a")), S(9, 9, ("tenant.id", "b")), S(9, 9, ("tenant.id", "c")));
        await manager.EvaluateAsync(T0.AddSeconds(30));

        Assert.Equal(("a", AlertState.Firing, AlertState.Resolved), (_sink.Transitions[^1].InstanceLabels["tenant.id"], _sink.Transitions[^1].From, _sink.Transitions[^1].To));
        Assert.Equal(3, _sink.Transitions.Count);
        var b = Assert.Single(manager.GetAlerts().Alerts);
        Assert.Equal(("b", "firing", T0), (b.Labels["tenant.id"], b.State, b.ActiveAt));
        Assert.Equal(2, MeterReadings.Value(_meter, "vigil.rules.instances.refused", ("group", "eng"), ("alert", "Failures")));
    }

    [Fact]
    public async Task WithoutMaxInstances_TheGlobalDefaultApplies_AndTheMessageNamesIt()
    {
        _dir.Write("eng.yaml", Rule(null));
        _reader.Set(Failures, S(9, 9, ("tenant.id", "a")), S(9, 9, ("tenant.id", "b")));
        using var manager = Manager(RuleLimits.Default with { MaxInstancesPerRule = 1 });
        manager.Reload();

        await manager.EvaluateAsync(T0);

        Assert.Equal("a", Assert.Single(_sink.Transitions).InstanceLabels["tenant.id"]);
        var rule = Assert.IsType<AlertingRuleInfo>(Assert.Single(Assert.Single(manager.GetRules().Groups).Rules));
        Assert.Equal(("err", "1 new instance(s) refused: the rule is at its limit of 1 instances (rules.max_instances_per_rule); narrow 'by' or raise the limit"),
            (rule.Health, rule.LastError));
    }

    [Fact]
    public async Task UnderTheLimit_TheRuleIsHealthy_AndNothingIsRefused()
    {
        _dir.Write("eng.yaml", Rule("2"));
        _reader.Set(Failures, S(9, 9, ("tenant.id", "a")), S(9, 9, ("tenant.id", "b")));
        using var manager = Manager();
        manager.Reload();

        await manager.EvaluateAsync(T0);

        Assert.Equal(2, _sink.Transitions.Count);
        Assert.Equal("ok", Assert.Single(Assert.Single(manager.GetRules().Groups).Rules).Health);
        Assert.Null(MeterReadings.Value(_meter, "vigil.rules.instances.refused", ("group", "eng"), ("alert", "Failures")));
    }

    [Theory]
    [InlineData("0")]
    [InlineData("2.5")]
    [InlineData("-3")]
    [InlineData("many")]
    public void BadMaxInstances_IsReportedAtItsLineAndColumn(string value)
    {
        var yaml = Rule(value);
        var lines = yaml.Split('\n');
        var line = Array.FindIndex(lines, l => l.Contains("max_instances:", StringComparison.Ordinal)) + 1;
        var column = lines[line - 1].IndexOf(value, StringComparison.Ordinal) + 1;

        var problem = Assert.Single(RuleFileLoader.Load("eng.yaml", yaml).Problems);

        Assert.Equal((line, column), (problem.Line, problem.Column));
        var expected = value == "many" ? "'max_instances' must be a number, not 'many'" : $"'max_instances' must be a whole number of at least 1, not '{value}'";
        Assert.Equal(expected, problem.Message);
    }
}
