using System.Text;

namespace Vigil.Rules.Tests;

/// <summary>
/// Rule and rule-test files nested past the YAML depth limit are refused with file:line:column, however deep:
/// YamlDotNet builds its node tree recursively, so an unbounded document would exhaust the stack.
/// </summary>
public sealed class YamlNestingTests
{
    // The documented limit (docs/rules.md, docs/decisions/008-nesting-depth-limits.md); the top-level mapping is level 1.
    private const int MaxDepth = 100;

    private const string Prefix = "group: g\nlabels: ";

    /// <summary>A rule file whose <c>labels</c> value opens <paramref name="levels"/> lists or mappings.</summary>
    private static string Nested(string shape, int levels)
    {
        var text = new StringBuilder(Prefix);
        switch (shape)
        {
            case "flow-sequence":
                text.Insert(text.Length, "[", levels).Insert(text.Length, "]", levels);
                break;
            case "flow-mapping":
                text.Insert(text.Length, "{a: ", levels).Append('1').Insert(text.Length, "}", levels);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(shape));
        }

        return text.Append('\n').ToString();
    }

    [Theory]
    [InlineData("flow-sequence", 1)]
    [InlineData("flow-mapping", 4)]
    public void HundredThousandLevels_AreReportedAtTheFirstLevelPastTheLimit(string shape, int charsPerLevel)
    {
        var problems = RuleFileLoader.Load("deep.yaml", Nested(shape, 100_000)).Problems;

        // labels' value is level 2, so level MaxDepth + 1 opens with the MaxDepth-th bracket of line 2.
        var column = "labels: ".Length + ((MaxDepth - 1) * charsPerLevel) + 1;
        Assert.Equal(
            [new RuleProblem("deep.yaml", 2, column, $"YAML nested deeper than {MaxDepth} levels of mappings and lists", "no Vigil file needs more than a few levels; look for runaway [ or { here")],
            problems);
    }

    [Theory]
    [InlineData("flow-sequence")]
    [InlineData("flow-mapping")]
    public void OneLevelPastTheLimit_IsReported(string shape)
    {
        var problems = RuleFileLoader.Load("deep.yaml", Nested(shape, MaxDepth)).Problems;

        Assert.Contains(problems, p => p.Message.Contains($"nested deeper than {MaxDepth} levels", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("flow-sequence")]
    [InlineData("flow-mapping")]
    public void AtTheLimit_TheFileIsReadAndOnlyItsContentIsJudged(string shape)
    {
        var problems = RuleFileLoader.Load("deep.yaml", Nested(shape, MaxDepth - 1)).Problems;

        Assert.DoesNotContain(problems, p => p.Message.Contains("nested deeper", StringComparison.Ordinal));
        // A group's labels are a flat map, so the deep value is judged as content, on its own line.
        Assert.Contains(problems, p => p.Line == 2 && (p.Message.Contains("'labels' must be", StringComparison.Ordinal) || p.Message.Contains("must be a single value", StringComparison.Ordinal)));
    }

    [Fact]
    public void BlockStyleNesting_CountsToo()
    {
        var text = new StringBuilder("group: g\nlabels:\n");
        for (var level = 1; level < MaxDepth; level++)
        {
            text.Append(' ', level * 2).Append("a:\n");
        }

        text.Append(' ', MaxDepth * 2).Append("b: 1\n");

        var problem = Assert.Single(RuleFileLoader.Load("deep.yaml", text.ToString()).Problems, p => p.Message.Contains("nested deeper", StringComparison.Ordinal));

        // The mapping that opens level MaxDepth + 1 starts on the line of its first key.
        Assert.Equal((MaxDepth + 2, (MaxDepth * 2) + 1), (problem.Line, problem.Column));
    }

    [Fact]
    public void RuleTestFile_NestedTooDeep_FailsWithThePosition()
    {
        var path = Path.Combine(Path.GetTempPath(), $"vigil-deep-{Guid.NewGuid():N}.test.yaml");
        File.WriteAllText(path, "rule_files: " + new string('[', 100_000) + new string(']', 100_000) + "\n");
        try
        {
            var output = new StringWriter();

            var (passed, failed) = RuleTestRunner.RunFile(path, output);

            Assert.Equal((0, 1), (passed, failed));
            Assert.StartsWith($"{path}:1:{"rule_files: ".Length + MaxDepth}: YAML nested deeper than {MaxDepth} levels", output.ToString(), StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
