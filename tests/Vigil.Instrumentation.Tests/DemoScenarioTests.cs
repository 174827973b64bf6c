using Vigil.Demo;

namespace Vigil.Instrumentation.Tests;

/// <summary>
/// Plays demo traffic on a simulated clock (1 s ticks, a delta export every 10 s like Vigil's buckets) and
/// evaluates the default rules of rules/*.yaml on it, so each scenario provably fires its rule and resolves.
/// </summary>
public sealed class DemoScenarioTests
{
    private const string Target = "globex";
    private static readonly string[] Tenants = ["acme", Target, "initech"];
    private static readonly TimeSpan Flush = TimeSpan.FromSeconds(10);

    // What the real pipeline adds to the simulation: one export interval of the demo (5 s) and one 10 s bucket.
    // Evaluation misalignment is already in the simulation at its worst (incidents start right after an
    // evaluation), and so is the recording lag of aggregates. An incident must fire its rule this long before it ends.
    private static readonly TimeSpan Margin = TimeSpan.FromSeconds(15);

    private static readonly string[] RuleFiles = ["rules/auth.yaml", "rules/tenant.yaml", "rules/ai.yaml"];

    [Theory]
    [InlineData(Scenario.CrossTenantProbe)]
    [InlineData(Scenario.AuthFailureBurst)]
    [InlineData(Scenario.AiFailureSpike)]
    [InlineData(Scenario.CostSpike)]
    public void Incident_FiresItsDefaultRuleBeforeItEnds_AndTheAlertResolvesAfterwards(Scenario scenario)
    {
        var info = ScenarioInfo.Of(scenario);
        var oracle = NewOracle();
        var rule = oracle.Alert(info.Alert!);
        var warmup = TimeSpan.FromMinutes(15);
        var recovery = ResolutionBound(oracle, rule);

        var histories = Simulate(oracle, warmup + info.DefaultLength + recovery, at => at > warmup && at <= warmup + info.DefaultLength ? scenario : Scenario.Normal);

        var fired = Assert.Single(histories, h => h.FiredAt is not null);
        Assert.Equal(info.Alert, fired.Rule);
        Assert.Equal(ExpectedLabels(rule, scenario), fired.Labels);
        Assert.True(
            fired.FiredAt <= warmup + info.DefaultLength - Margin,
            $"{fired} must fire by {warmup + info.DefaultLength - Margin} (incident {warmup}..{warmup + info.DefaultLength})");
        Assert.True(fired.ResolvedAt is not null, $"{fired} never resolved within {recovery} after the incident");
    }

    [Fact]
    public void NormalTraffic_FiresNoDefaultRuleOverHalfAnHour()
    {
        var oracle = NewOracle();

        var histories = Simulate(oracle, TimeSpan.FromMinutes(30), _ => Scenario.Normal);

        Assert.Empty(histories.Where(h => h.FiredAt is not null).Select(h => h.ToString()));
        Assert.Contains(histories, h => h.Rule == "AuthFailureRateHigh");
    }

    [Fact]
    public void DefaultSchedule_ANewcomerSeesAnAlertWithinAMinute()
    {
        var options = new DemoOptions { Tenants = Tenants };
        var schedule = new DemoSchedule(options);
        var oracle = NewOracle();

        var histories = Simulate(oracle, TimeSpan.FromMinutes(2), at => schedule.PhaseAt(at - TimeSpan.FromSeconds(1)), options.Tenants);

        var first = histories.Where(h => h.FiredAt is not null).MinBy(h => h.FiredAt);
        Assert.NotNull(first);
        Assert.True(first.FiredAt + options.ExportInterval <= TimeSpan.FromMinutes(1), $"first alert: {first}");
    }

    [Fact]
    public void DefaultSchedule_TwoCycles_FireEachIncidentOncePerTargetTenant_AndEverythingResolves()
    {
        var options = new DemoOptions { Tenants = Tenants };
        var schedule = new DemoSchedule(options);
        var oracle = NewOracle();
        var played = schedule.CycleLength * 2;

        var histories = Simulate(
            oracle,
            played + TimeSpan.FromMinutes(20),
            at => at <= played ? schedule.PhaseAt(at - TimeSpan.FromSeconds(1)) : new DemoPhase(Scenario.Normal, Target, at, Flush, 2),
            options.Tenants);

        var fired = histories.Where(h => h.FiredAt is not null).Select(h => $"{h.Rule}{{{h.Labels}}}").Order(StringComparer.Ordinal).ToList();
        string[] expected =
        [
            "AiAverageCostPerRunHigh{tenant.id=acme,workspace.id=acme-research}",
            "AiAverageCostPerRunHigh{tenant.id=globex,workspace.id=globex-research}",
            "AiRunFailureRateHigh{tenant.id=acme,workspace.id=acme-support}",
            "AiRunFailureRateHigh{tenant.id=globex,workspace.id=globex-support}",
            "AuthFailureRateHigh{tenant.id=acme}",
            "AuthFailureRateHigh{tenant.id=globex}",
            "TenantCrossTenantDenied{tenant.id=acme}",
            "TenantCrossTenantDenied{tenant.id=globex}",
        ];
        Assert.Equal(expected, fired);
        Assert.All(histories.Where(h => h.FiredAt is not null), h => Assert.True(h.ResolvedAt is not null, $"{h} never resolved"));
    }

    private static RuleOracle NewOracle() => new(RuleFiles.Select(RepoPaths.Of));

    // The breach has left the window (a recorded aggregate's own window for `last`), keep_firing_for has run
    // out and two evaluations have passed.
    private static TimeSpan ResolutionBound(RuleOracle oracle, RuleSpec rule)
    {
        var window = rule.LastOf is { } record ? oracle.Record(record).Window : rule.Window;
        return window + rule.KeepFiringFor + (2 * rule.Interval) + Flush;
    }

    private static string ExpectedLabels(RuleSpec rule, Scenario scenario) => string.Join(",", rule.By.Select(label => label switch
    {
        "tenant.id" => $"tenant.id={Target}",
        "workspace.id" => "workspace.id=" + (scenario == Scenario.CostSpike ? DemoTraffic.ResearchWorkspace(Target) : DemoTraffic.SupportWorkspace(Target)),
        _ => throw new InvalidOperationException($"{rule.Name}: unexpected by label {label}"),
    }));

    private static IReadOnlyList<AlertHistory> Simulate(RuleOracle oracle, TimeSpan length, Func<TimeSpan, Scenario> scenarioAt) =>
        Simulate(oracle, length, at => new DemoPhase(scenarioAt(at), Target, at, Flush, 0), Tenants);

    // Second t emits the traffic of (t-1, t] for the phase playing then; every 10 s the deltas go to the oracle.
    private static IReadOnlyList<AlertHistory> Simulate(RuleOracle oracle, TimeSpan length, Func<TimeSpan, DemoPhase> phaseAt, IReadOnlyList<string> tenants)
    {
        var meterName = "test." + Guid.NewGuid().ToString("N");
        using var capture = new MetricCapture(meterName);
        using var telemetry = new VigilTelemetry(meterName);
        var traffic = new DemoTraffic(telemetry, tenants, new Random(7));
        for (var at = TimeSpan.FromSeconds(1); at <= length; at += TimeSpan.FromSeconds(1))
        {
            var phase = phaseAt(at);
            traffic.Emit(phase.Scenario, phase.TargetTenant, TimeSpan.FromSeconds(1));
            if (at.Ticks % Flush.Ticks == 0)
            {
                oracle.Add(at, capture.Collect());
            }
        }

        return oracle.Run(length);
    }
}
