using System.Globalization;

namespace Vigil.Rules.Mutation;

/// <summary>
/// <c>vigil rules test TESTFILE_OR_DIR… --mutate [--min-score PERCENT]</c>: lists every edit of the rules under test
/// that no test notices, then the score. Exit 0, or 1 when the tests fail unedited or the score is below
/// <c>--min-score</c>; 2 for a bad argument.
/// </summary>
public static class MutationCli
{
    private const string MutateFlag = "--mutate";
    private const string MinScoreFlag = "--min-score";

    /// <summary>Whether the arguments ask for a mutation run (either flag; <c>--min-score</c> alone is a usage error).</summary>
    public static bool IsMutationRun(IEnumerable<string> args) =>
        args.Any(a => a == MutateFlag || a == MinScoreFlag || a.StartsWith(MinScoreFlag + "=", StringComparison.Ordinal));

    public static int Run(IEnumerable<string> args, TextWriter output)
    {
        if (!TryParse(args.ToList(), out var paths, out var minScore, out var usage))
        {
            output.WriteLine($"rules test: {usage}");
            return 2;
        }

        var files = RulesCli.Expand(paths, out var problems);
        foreach (var p in problems)
        {
            output.WriteLine(p.ToString());
        }

        if (files.Count == 0)
        {
            output.WriteLine("FAIL: no test files found");
            return 1;
        }

        var suites = new List<RuleTestRunner.TestSuite>();
        foreach (var file in files)
        {
            if (RuleTestRunner.Prepare(file, output, out _) is { } suite)
            {
                suites.Add(suite);
            }
        }

        if (suites.Count < files.Count || problems.Count > 0)
        {
            output.WriteLine("FAIL: mutation testing needs test files and rule files without problems");
            return 1;
        }

        var runner = new MutationRunner(suites);
        var baseline = runner.Baseline();
        if (baseline.Count > 0)
        {
            foreach (var line in baseline)
            {
                output.WriteLine(line);
            }

            output.WriteLine("FAIL: the tests fail on the unedited rules; mutation testing needs passing tests");
            return 1;
        }

        var mutants = runner.Mutants();
        var report = runner.Run(mutants);
        foreach (var survivor in report.Outcomes.Where(o => o.Survived))
        {
            output.WriteLine($"SURVIVED {Display(survivor.Mutant.File)}:{survivor.Mutant.At} {survivor.Mutant.Rule}: {survivor.Mutant.Description}");
        }

        output.WriteLine($"mutation score {Percent(report.Score)} % ({report.Killed}/{report.Outcomes.Count})");
        if (minScore is { } min && report.Score < min)
        {
            output.WriteLine($"FAIL: mutation score {Percent(report.Score)} % is below --min-score {Percent(min)} %");
            return 1;
        }

        return 0;
    }

    /// <summary>Test files, and the flags; <c>--min-score 90</c>, <c>--min-score=90</c> and <c>90%</c> are the same.</summary>
    internal static bool TryParse(IReadOnlyList<string> args, out List<string> paths, out double? minScore, out string? usage)
    {
        paths = [];
        minScore = null;
        usage = null;
        var mutate = false;
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (arg == MutateFlag)
            {
                mutate = true;
            }
            else if (arg == MinScoreFlag || arg.StartsWith(MinScoreFlag + "=", StringComparison.Ordinal))
            {
                var value = arg == MinScoreFlag ? (i + 1 < args.Count ? args[++i] : null) : arg[(MinScoreFlag.Length + 1)..];
                var number = value?.TrimEnd('%').Trim();
                if (!double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var percent) || percent is < 0 or > 100)
                {
                    usage = value is null
                        ? "--min-score needs a percentage, e.g. --min-score 90"
                        : $"--min-score '{value}' is not a percentage from 0 to 100, e.g. --min-score 90";
                    return false;
                }

                minScore = percent;
            }
            else
            {
                paths.Add(arg);
            }
        }

        if (!mutate)
        {
            usage = "--min-score needs --mutate";
            return false;
        }

        if (paths.Count == 0)
        {
            usage = "--mutate needs test files or directories, e.g. vigil rules test rules/tests --mutate";
            return false;
        }

        return true;
    }

    /// <summary>One decimal; a score short of 100 never shows as 100 (1999 of 2000 is 99.9, not 100).</summary>
    internal static string Percent(double value) =>
        (value < 100 ? Math.Min(Math.Round(value, 1), 99.9) : Math.Round(value, 1)).ToString("0.#", CultureInfo.InvariantCulture);

    /// <summary>A rule file's path relative to the working directory when it lies below it, as a terminal user would type it.</summary>
    private static string Display(string path)
    {
        var relative = Path.GetRelativePath(Environment.CurrentDirectory, Path.GetFullPath(path));
        return relative.StartsWith("..", StringComparison.Ordinal) || Path.IsPathRooted(relative) ? Path.GetFullPath(path) : relative;
    }
}
