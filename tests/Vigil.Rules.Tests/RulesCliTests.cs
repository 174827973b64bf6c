namespace Vigil.Rules.Tests;

public sealed class RulesCliTests
{
    private static string Run(Func<TextWriter, int> cli, out int exit)
    {
        var output = new StringWriter();
        exit = cli(output);
        return output.ToString().Replace(TestRules.Fixture(string.Empty) + Path.DirectorySeparatorChar, string.Empty, StringComparison.Ordinal);
    }

    [Fact]
    public void Check_ValidFile_PrintsSummaryAndExitsZero()
    {
        var text = Run(o => RulesCli.Check([TestRules.Fixture("valid_rules.yaml")], o), out var exit);

        Assert.Equal(0, exit);
        Assert.Equal("OK: 1 file, 1 group, 2 alert rules, 1 aggregate" + Environment.NewLine, text);
    }

    [Fact]
    public void Check_BadFiles_PrintsOneLinePerProblemAndExitsOne()
    {
        var text = Run(o => RulesCli.Check([TestRules.Fixture("bad_duration.yaml"), TestRules.Fixture("relative_runbook_url.yaml")], o), out var exit);

        Assert.Equal(1, exit);
        Assert.Equal(
            "bad_duration.yaml:9:10: bad duration '5 minutes' for 'for' (use a duration such as 30s, 5m, 1h or 1h30m)" + Environment.NewLine +
            "relative_runbook_url.yaml:1:1: duplicate group name 'auth' (first defined in bad_duration.yaml at line 1)" + Environment.NewLine +
            "relative_runbook_url.yaml:5:18: runbook_url '/runbooks/auth' is not an absolute http(s) URL (write the full address, e.g. https://runbooks.example.com/auth/failure-rate)" + Environment.NewLine,
            text);
    }

    [Fact]
    public void Check_MissingPath_IsAProblem()
    {
        var text = Run(o => RulesCli.Check(["does-not-exist.yaml"], o), out var exit);

        Assert.Equal(1, exit);
        Assert.Equal("does-not-exist.yaml:1:1: no such file or directory" + Environment.NewLine, text);
    }

    [Fact]
    public void Check_Directory_ReadsOnlyTopLevelRuleFiles()
    {
        using var dir = new TempDirectory();
        File.Copy(TestRules.Fixture("valid_rules.yaml"), Path.Combine(dir.Path, "checkout.yml"));
        dir.Write("tests/checkout.yaml", "rule_files: [../checkout.yml]\ntests: []\n");
        dir.Write("README.md", "not a rule file");

        var text = Run(o => RulesCli.Check([dir.Path], o), out var exit);

        Assert.Equal(0, exit);
        Assert.Equal("OK: 1 file, 1 group, 2 alert rules, 1 aggregate" + Environment.NewLine, text);
    }

    [Fact]
    public void Test_PassingFile_ExitsZeroWithSummary()
    {
        var text = Run(o => RulesCli.Test([TestRules.Fixture("unit_tests_pass.yaml")], o), out var exit);

        Assert.Equal("PASS: 2 tests in 1 file" + Environment.NewLine, text);
        Assert.Equal(0, exit);
    }

    [Fact]
    public void Test_FailingExpectation_PrintsExpectedAndActualAndExitsOne()
    {
        var text = Run(o => RulesCli.Test([TestRules.Fixture("unit_tests_fail.yaml")], o), out var exit);

        Assert.Equal(1, exit);
        Assert.Equal(
            """
            FAIL unit_tests_fail.yaml: test 'expects firing too early'
              at 1m (line 10) alert QueueDepthHigh:
                expected: {queue.name="emails"} firing
                actual:   {queue.name="emails"} pending value=150
                {queue.name="emails"} expected firing, got pending
            FAIL: 1 of 1 test failed in 1 file

            """.ReplaceLineEndings(), text);
    }

    [Fact]
    public void Test_InvalidTestFile_ReportsPositionsAndExitsOne()
    {
        var text = Run(o => RulesCli.Test([TestRules.Fixture("unit_tests_bad.yaml")], o), out var exit);

        Assert.Equal(1, exit);
        Assert.Equal(
            """
            unit_tests_bad.yaml:4:5: unknown field 'intervall' in test (did you mean 'interval'?)
            unit_tests_bad.yaml:8:17: values: '1+x3' is not 'a+bxn', 'a-bxn' or 'axn' (e.g. '0+10x30' (31 values from 0 by 10), '5 5 _ 7', '1x10')
            FAIL: 1 of 1 test failed in 1 file

            """.ReplaceLineEndings(), text);
    }

    [Theory]
    [InlineData("0+10x3", "0 10 20 30")]
    [InlineData("5x2", "5 5 5")]
    [InlineData("10-2x2 _ 7", "10 8 6 _ 7")]
    [InlineData("_x2 1", "_ _ 1")]
    [InlineData("1.5e1 -3", "15 -3")]
    public void SeriesNotation_ExpandsLikePromtool(string text, string expected)
    {
        var values = SeriesNotation.TryParse(text, out var error);

        Assert.Null(error);
        Assert.Equal(expected, string.Join(" ", values!.Select(v => v is { } d ? AlertTemplate.FormatNumber(d) : "_")));
    }
}
