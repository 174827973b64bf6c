namespace Vigil.Rules.Tests;

public sealed class RulePackTests
{
    private static readonly string Packs = Path.Combine(AppContext.BaseDirectory, "RulePacks");

    [Fact]
    public void DefaultRulePacks_PassCheck()
    {
        var output = new StringWriter();

        var exit = RulesCli.Check([Packs], output);

        Assert.Equal("OK: 3 files, 3 groups, 13 alert rules, 1 aggregate" + Environment.NewLine, output.ToString());
        Assert.Equal(0, exit);
    }

    [Fact]
    public void DefaultRulePacks_PassTheirUnitTests()
    {
        var output = new StringWriter();

        var exit = RulesCli.Test([Path.Combine(Packs, "tests")], output);

        Assert.True(exit == 0, output.ToString());
        Assert.Equal("PASS: 44 tests in 3 files" + Environment.NewLine, output.ToString());
    }

    [Theory]
    [InlineData("auth.yaml", new[] { "AuthFailureRateHigh", "AuthUnauthorizedSpike", "AuthTelemetryMissing" })]
    [InlineData("tenant.yaml", new[] { "TenantCrossTenantDenied", "TenantUnauthorizedRateHigh", "WorkspaceLifecycleAnomalyRateHigh", "TenantMembershipDenialSpike", "TenantTelemetryMissing" })]
    [InlineData("ai.yaml", new[] { "AiRunFailureRateHigh", "AiPolicyBlockRateHigh", "AiValidationMismatchRateHigh", "AiAverageCostPerRunHigh", "AiTelemetryMissing" })]
    public void EveryDefaultRule_HasARunbookSummaryAndTests(string file, string[] alerts)
    {
        var loaded = RuleFileLoader.LoadFile(Path.Combine(Packs, file));
        var tests = File.ReadAllText(Path.Combine(Packs, "tests", file));

        Assert.Empty(loaded.Problems);
        var rules = loaded.File.Groups.SelectMany(g => g.Alerts).ToList();
        Assert.Equal(alerts, rules.Select(r => r.Name));
        Assert.All(rules, r =>
        {
            Assert.StartsWith("https://runbooks.vigil.example/", r.RunbookUrl, StringComparison.Ordinal);
            Assert.False(string.IsNullOrWhiteSpace(r.Summary));
            Assert.Contains("alert: " + r.Name, tests, StringComparison.Ordinal);
        });
    }
}
