using Vigil.Storage.Query;

namespace Vigil.Rules;

/// <summary>The logic of <c>vigil rules check</c> and <c>vigil rules test</c>; the host only maps arguments and exit codes.</summary>
public static class RulesCli
{
    /// <summary>
    /// Validates rule files (directories: every *.yaml / *.yml at their top level). Prints one line per problem,
    /// <c>file:line:col: message (hint)</c>, or a summary line on success. Returns 0 when clean, 1 otherwise.
    /// </summary>
    public static int Check(IEnumerable<string> filesOrDirs, TextWriter output, IWindowReader? reader = null)
    {
        var files = Expand(filesOrDirs, out var problems);
        var loaded = files.Select(RuleFileLoader.LoadFile).ToList();
        problems.AddRange(loaded.SelectMany(l => l.Problems));
        problems.AddRange(RuleSetValidator.Validate(loaded.Select(l => l.File).ToList(), reader));
        if (files.Count == 0 && problems.Count == 0)
        {
            problems.Add(new RuleProblem(string.Join(" ", filesOrDirs), 1, 1, "no rule files found", "pass *.yaml files or a directory holding them"));
        }

        if (problems.Count > 0)
        {
            foreach (var p in Sort(problems))
            {
                output.WriteLine(p.ToString());
            }

            return 1;
        }

        var groups = loaded.SelectMany(l => l.File.Groups).ToList();
        output.WriteLine($"OK: {RuleTestRunner.Plural(files.Count, "file")}, {RuleTestRunner.Plural(groups.Count, "group")}, " +
            $"{RuleTestRunner.Plural(groups.Sum(g => g.Alerts.Count), "alert rule")}, {RuleTestRunner.Plural(groups.Sum(g => g.Aggregates.Count), "aggregate")}");
        return 0;
    }

    /// <summary>
    /// Runs rule unit test files (directories: every *.yaml / *.yml at their top level). Prints expected vs actual
    /// for every failure and a summary line. Returns 0 when every test passes, 1 otherwise.
    /// </summary>
    public static int Test(IEnumerable<string> testFiles, TextWriter output)
    {
        if (Mutation.MutationCli.IsMutationRun(testFiles)) return Mutation.MutationCli.Run(testFiles, output);
        var files = Expand(testFiles, out var problems);
        foreach (var p in problems)
        {
            output.WriteLine(p.ToString());
        }

        int passed = 0, failed = 0;
        foreach (var file in files)
        {
            var (p, f) = RuleTestRunner.RunFile(file, output);
            passed += p;
            failed += f;
        }

        if (files.Count == 0)
        {
            output.WriteLine("FAIL: no test files found");
            return 1;
        }

        output.WriteLine(failed == 0 && problems.Count == 0
            ? $"PASS: {RuleTestRunner.Plural(passed, "test")} in {RuleTestRunner.Plural(files.Count, "file")}"
            : $"FAIL: {failed} of {RuleTestRunner.Plural(passed + failed, "test")} failed in {RuleTestRunner.Plural(files.Count, "file")}");
        return failed == 0 && problems.Count == 0 ? 0 : 1;
    }

    /// <summary>The files named, directories expanded to their top-level rule files; problems for paths that do not exist.</summary>
    internal static IReadOnlyList<string> Collect(IEnumerable<string> filesOrDirs, out List<RuleProblem> problems)
    {
        var files = Expand(filesOrDirs, out problems);
        var loaded = files.Select(RuleFileLoader.LoadFile).ToList();
        problems.AddRange(loaded.SelectMany(l => l.Problems));
        problems.AddRange(RuleSetValidator.Validate(loaded.Select(l => l.File).ToList(), null));
        return files;
    }

    internal static List<string> Expand(IEnumerable<string> paths, out List<RuleProblem> problems)
    {
        problems = [];
        var files = new List<string>();
        foreach (var path in paths)
        {
            if (Directory.Exists(path))
            {
                files.AddRange(Directory.EnumerateFiles(path, "*", SearchOption.TopDirectoryOnly).Where(RuleManager.IsRuleFile).Order(StringComparer.Ordinal));
            }
            else if (File.Exists(path))
            {
                files.Add(path);
            }
            else
            {
                problems.Add(new RuleProblem(path, 1, 1, "no such file or directory"));
            }
        }

        return files.Distinct(StringComparer.Ordinal).ToList();
    }

    private static IEnumerable<RuleProblem> Sort(IEnumerable<RuleProblem> problems) =>
        problems.Distinct().OrderBy(p => p.File, StringComparer.Ordinal).ThenBy(p => p.Line).ThenBy(p => p.Column);
}
