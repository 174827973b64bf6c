using Vigil.Rules.Mutation;

namespace Vigil.Rules.Tests;

public sealed class MutationTests
{
    private static readonly string Packs = Path.Combine(AppContext.BaseDirectory, "RulePacks");

    // What each written field contributes (docs/rules.md, "Mutation testing"): a threshold not 0 gives +25 %, -25 %,
    // flipped and boundary; recover is removed; for, keep_firing_for and window are halved and doubled; min_samples
    // is halved; no_data goes to each of the two other policies when the rule can have no data (all but
    // TenantCrossTenantDenied, an increase by tenant.id without a guard, and the absence rules, which have no value to miss).
    private static int Expected(bool threshold = false, bool recover = false, int durations = 0, bool minSamples = false, bool noData = false) =>
        (threshold ? 4 : 0) + (recover ? 1 : 0) + 2 * durations + (minSamples ? 1 : 0) + (noData ? 2 : 0);

    /// <summary>The fields each default rule writes, read off rules/*.yaml by hand.</summary>
    private static readonly (string File, string Rule, int Mutants)[] DefaultPackMutants =
    [
        ("ai.yaml", "AiRunFailureRateHigh", Expected(threshold: true, recover: true, durations: 3, minSamples: true, noData: true)),
        ("ai.yaml", "AiPolicyBlockRateHigh", Expected(threshold: true, durations: 2, minSamples: true, noData: true)),
        ("ai.yaml", "AiValidationMismatchRateHigh", Expected(threshold: true, durations: 2, minSamples: true, noData: true)),
        ("ai.yaml", "AiAverageCostPerRunHigh", Expected(threshold: true, durations: 1, minSamples: true, noData: true)),
        ("ai.yaml", "AiTelemetryMissing", Expected(durations: 2)),
        ("ai.yaml", "ai.run.cost_per_run", Expected(durations: 1)),
        ("auth.yaml", "AuthFailureRateHigh", Expected(threshold: true, recover: true, durations: 3, minSamples: true, noData: true)),
        ("auth.yaml", "AuthUnauthorizedSpike", Expected(threshold: true, durations: 2, minSamples: true, noData: true)),
        ("auth.yaml", "AuthTelemetryMissing", Expected(durations: 2)),
        ("tenant.yaml", "TenantCrossTenantDenied", Expected(threshold: true, durations: 1)),
        ("tenant.yaml", "TenantUnauthorizedRateHigh", Expected(threshold: true, durations: 2, minSamples: true, noData: true)),
        ("tenant.yaml", "WorkspaceLifecycleAnomalyRateHigh", Expected(threshold: true, durations: 2, minSamples: true, noData: true)),
        ("tenant.yaml", "TenantMembershipDenialSpike", Expected(threshold: true, durations: 2, minSamples: true, noData: true)),
        ("tenant.yaml", "TenantTelemetryMissing", Expected(durations: 2)),
    ];

    private static string Run(IEnumerable<string> args, out int exit)
    {
        var output = new StringWriter();
        exit = RulesCli.Test(args, output);

        // Survivors are shown relative to the working directory when below it; tests compare file names.
        var text = output.ToString();
        foreach (var dir in new[] { TestRules.Fixture(string.Empty).TrimEnd(Path.DirectorySeparatorChar), Packs })
        {
            text = text.Replace(dir + Path.DirectorySeparatorChar, string.Empty, StringComparison.Ordinal)
                .Replace(Path.GetRelativePath(Environment.CurrentDirectory, dir) + Path.DirectorySeparatorChar, string.Empty, StringComparison.Ordinal);
        }

        return text;
    }

    [Fact]
    public void DefaultPacks_EveryRuleFieldGivesItsMutants()
    {
        foreach (var file in DefaultPackMutants.Select(m => m.File).Distinct())
        {
            var mutants = RuleMutations.Of(RuleFileLoader.LoadFile(Path.Combine(Packs, file)).File);

            var expected = DefaultPackMutants.Where(m => m.File == file).Select(m => (m.Rule, m.Mutants)).ToList();
            Assert.Equal(expected, mutants.GroupBy(m => m.Rule).Select(g => (g.Key, g.Count())).ToList());
        }
    }

    [Fact]
    public void DefaultPacks_KillEveryMutantButTheDocumentedEquivalentOne()
    {
        var total = DefaultPackMutants.Sum(m => m.Mutants);

        var text = Run([Path.Combine(Packs, "tests"), "--mutate", "--min-score", "99"], out var exit);

        // docs/rules.md: ">= 0.75" and ">= 1" fire on the same data, since an increase of counted requests is whole.
        Assert.Equal(123, total);
        Assert.Equal(
            "SURVIVED tenant.yaml:16:16 TenantCrossTenantDenied: threshold >= 1 -> >= 0.75 (-25 %)" + Environment.NewLine +
            $"mutation score 99.2 % ({total - 1}/{total})" + Environment.NewLine,
            text);
        Assert.Equal(0, exit);
    }

    [Fact]
    public void WeakTests_ListEverySurvivorWithFileLineAndFailTheMinScore()
    {
        var text = Run([TestRules.Fixture("mutation_tests_weak.yaml"), "--mutate", "--min-score=50"], out var exit);

        // Half the requests fail, far from 0.2 and 0.1, and the only look is at 8m, long after any for: only a
        // comparison that can no longer be met is noticed. 1 of 12 is 8.3 %.
        const string at = "SURVIVED mutation_rules.yaml:";
        Assert.Equal(
            at + "12:16 CheckoutErrorRateHigh: threshold > 0.2 -> > 0.25 (+25 %)" + Environment.NewLine +
            at + "12:16 CheckoutErrorRateHigh: threshold > 0.2 -> > 0.15 (-25 %)" + Environment.NewLine +
            at + "12:16 CheckoutErrorRateHigh: threshold > 0.2 -> >= 0.2 (boundary included)" + Environment.NewLine +
            at + "13:14 CheckoutErrorRateHigh: recover < 0.1 removed" + Environment.NewLine +
            at + "14:10 CheckoutErrorRateHigh: for 2m -> 1m (halved)" + Environment.NewLine +
            at + "14:10 CheckoutErrorRateHigh: for 2m -> 4m (doubled)" + Environment.NewLine +
            at + "15:22 CheckoutErrorRateHigh: keep_firing_for 2m -> 1m (halved)" + Environment.NewLine +
            at + "15:22 CheckoutErrorRateHigh: keep_firing_for 2m -> 4m (doubled)" + Environment.NewLine +
            at + "10:13 CheckoutErrorRateHigh: window 5m -> 2m30s (halved)" + Environment.NewLine +
            at + "10:13 CheckoutErrorRateHigh: window 5m -> 10m (doubled)" + Environment.NewLine +
            at + "11:18 CheckoutErrorRateHigh: min_samples 10 -> 5 (halved)" + Environment.NewLine +
            "mutation score 8.3 % (1/12)" + Environment.NewLine +
            "FAIL: mutation score 8.3 % is below --min-score 50 %" + Environment.NewLine,
            text);
        Assert.Equal(1, exit);
    }

    [Fact]
    public void MinScore_AtOrBelowTheScore_Passes()
    {
        Run([TestRules.Fixture("mutation_tests_weak.yaml"), "--mutate", "--min-score", "8%"], out var exit);

        Assert.Equal(0, exit);
    }

    [Fact]
    public void Mutants_AreEditedInMemory_TheRuleFileIsUntouched()
    {
        var path = TestRules.Fixture("mutation_rules.yaml");
        var before = File.ReadAllText(path);
        var original = RuleFileLoader.LoadFile(path).File;

        var mutants = RuleMutations.Of(original);
        Run([TestRules.Fixture("mutation_tests_weak.yaml"), "--mutate"], out _);

        Assert.Equal(before, File.ReadAllText(path));
        var halved = Assert.Single(mutants, m => m.Description == "for 2m -> 1m (halved)");
        Assert.Equal(new SourcePosition(14, 10), halved.At);
        var rule = halved.Mutated.Groups[0].Alerts[0];
        Assert.Equal(TimeSpan.FromMinutes(1), rule.For);
        Assert.Equal(TimeSpan.FromMinutes(2), original.Groups[0].Alerts[0].For);
        Assert.Equal(original.Groups[0].Alerts[0] with { For = TimeSpan.FromMinutes(1) }, rule);
    }

    [Fact]
    public void ThresholdEdits_MoveByAQuarterFlipAndMoveTheBoundary()
    {
        var edits = RuleMutations.ThresholdEdits(new Threshold(ThresholdOp.LessOrEqual, 0.4)).Select(e => $"{e.Edited} ({e.Why})");

        Assert.Equal(["<= 0.5 (+25 %)", "<= 0.3 (-25 %)", ">= 0.4 (comparison flipped)", "< 0.4 (boundary excluded)"], edits);
    }

    [Theory]
    [InlineData(28, 32, "87.5")]
    [InlineData(2, 3, "66.7")]
    [InlineData(1999, 2000, "99.9")]
    [InlineData(19999, 20000, "99.9")]
    [InlineData(5, 5, "100")]
    public void Score_IsShownWithOneDecimal_AndNeverAs100WhenAnEditSurvived(int killed, int total, string shown)
    {
        Assert.Equal(shown, MutationCli.Percent(100.0 * killed / total));
    }

    [Fact]
    public void ZeroThreshold_IsNotScaled()
    {
        var edits = RuleMutations.ThresholdEdits(new Threshold(ThresholdOp.Greater, 0)).Select(e => e.Edited.ToString());

        Assert.Equal(["< 0", ">= 0"], edits);
    }

    [Fact]
    public void Overrides_AreMutatedAtTheirOwnLines()
    {
        var file = RuleFileLoader.Load("o.yaml", """
            group: g
            rules:
              - alert: A
                severity: P2
                runbook_url: https://runbooks.example.com/a
                ratio: { of: 'm{s="bad"}', to: m }
                by: [tenant.id]
                threshold: "> 0.2"
                overrides:
                  - match: { tenant.id: acme }
                    threshold: "> 0.4"
                    for: 10m
            """).File;

        var overrides = RuleMutations.Of(file).Where(m => m.Description.StartsWith("override", StringComparison.Ordinal)).Select(m => $"{m.At} {m.Description}");

        Assert.Equal(
            [
                "11:20 override {tenant.id: acme} threshold > 0.4 -> > 0.5 (+25 %)",
                "11:20 override {tenant.id: acme} threshold > 0.4 -> > 0.3 (-25 %)",
                "11:20 override {tenant.id: acme} threshold > 0.4 -> < 0.4 (comparison flipped)",
                "11:20 override {tenant.id: acme} threshold > 0.4 -> >= 0.4 (boundary included)",
                "12:14 override {tenant.id: acme} for 10m -> 5m (halved)",
                "12:14 override {tenant.id: acme} for 10m -> 20m (doubled)",
            ],
            overrides);
    }

    [Theory]
    [InlineData("by: [queue.name]", "", 0)]
    [InlineData("by: [queue.name]", "min_samples: 5", 2)]
    [InlineData("", "", 2)]
    public void NoData_IsEditedOnlyWhereAnInstanceCanHaveNoData(string by, string minSamples, int expected)
    {
        var file = RuleFileLoader.Load("n.yaml", $$"""
            group: g
            rules:
              - alert: A
                severity: P2
                runbook_url: https://runbooks.example.com/a
                increase: jobs.errors
                {{by}}
                {{minSamples}}
                threshold: "> 5"
                no_data: alerting
            """).File;

        var noData = RuleMutations.Of(file).Where(m => m.Description.StartsWith("no_data", StringComparison.Ordinal)).Select(m => m.Description).ToList();

        Assert.Equal(expected, noData.Count);
        Assert.All(noData, d => Assert.Contains(d, new[] { "no_data alerting -> ok", "no_data alerting -> keep_last" }));
    }

    [Fact]
    public void FailingTests_AreReportedBeforeAnyMutation()
    {
        var text = Run([TestRules.Fixture("unit_tests_fail.yaml"), "--mutate"], out var exit);

        Assert.Equal(1, exit);
        Assert.StartsWith("FAIL unit_tests_fail.yaml: test '", text, StringComparison.Ordinal);
        Assert.EndsWith("FAIL: the tests fail on the unedited rules; mutation testing needs passing tests" + Environment.NewLine, text, StringComparison.Ordinal);
        Assert.DoesNotContain("mutation score", text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new[] { "t.yaml", "--min-score", "90" }, "rules test: --min-score needs --mutate")]
    [InlineData(new[] { "t.yaml", "--mutate", "--min-score", "abc" }, "rules test: --min-score 'abc' is not a percentage from 0 to 100, e.g. --min-score 90")]
    [InlineData(new[] { "t.yaml", "--mutate", "--min-score", "101" }, "rules test: --min-score '101' is not a percentage from 0 to 100, e.g. --min-score 90")]
    [InlineData(new[] { "t.yaml", "--mutate", "--min-score" }, "rules test: --min-score needs a percentage, e.g. --min-score 90")]
    [InlineData(new[] { "--mutate" }, "rules test: --mutate needs test files or directories, e.g. vigil rules test rules/tests --mutate")]
    public void BadArguments_AreUsageErrors(string[] args, string message)
    {
        var text = Run(args, out var exit);

        Assert.Equal(2, exit);
        Assert.Equal(message + Environment.NewLine, text);
    }
}
