using Vigil.Rules;

namespace Vigil.Fuzz.Tests;

/// <summary>
/// The rule loader on mutants of the shipped rule packs and YAML-shape seeds. The contract: a file
/// loads or yields problems with a position inside the file; the loader never throws.
/// </summary>
public sealed class RuleFileFuzzTests
{
    private static readonly string[] Tokens =
    [
        ":", "- ", "  ", "\n", "\t", "{", "}", "[", "]", "&a ", "*a", "!!binary ", "!!int ", "? ", "|", ">-", "'", "\"",
        "---\n", "...\n", "%YAML 1.2\n", "{{", "}}", "{{ $value | percent }}", "{{ $labels.", "=~\"(a+)+\"", "> 1e400",
        "99999999999999d", "\u0000", "\uFEFF", "#",
    ];

    [Fact]
    public void MutatedRuleFiles_LoadOrReportProblemsInsideTheFile()
    {
        var seeds = Corpus.Texts("rules", "*.yaml");
        FuzzRun.Run(Mutations.OfText(seeds, Tokens), text =>
        {
            var result = RuleFileLoader.Load("fuzz.yaml", text);
            // YAML breaks lines at \r, \n, NEL, LS and PS too (a mutant decodes to them), and \r\n is one break.
            var lines = text.Replace("\r\n", "\n", StringComparison.Ordinal).Count(c => c is '\n' or '\r' or '\u0085' or '\u2028' or '\u2029') + 1;
            foreach (var problem in result.Problems)
            {
                Assert.Equal("fuzz.yaml", problem.File);
                Assert.InRange(problem.Line, 1, lines + 1);
                Assert.True(problem.Column >= 1, $"column {problem.Column} in {problem}");
                Assert.False(string.IsNullOrWhiteSpace(problem.Message));
            }
        }, text => text);
    }
}
