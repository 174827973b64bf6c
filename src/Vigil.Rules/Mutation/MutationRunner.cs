namespace Vigil.Rules.Mutation;

/// <summary>A mutant and the test that noticed it (null: it survived).</summary>
public sealed record MutantOutcome(RuleMutant Mutant, string? KilledBy)
{
    public bool Survived => KilledBy is null;
}

/// <summary>What a mutation run found; <see cref="Score"/> is the killed share in percent (100 with no mutant).</summary>
public sealed record MutationReport(IReadOnlyList<MutantOutcome> Outcomes, int TestRuns)
{
    public int Killed => Outcomes.Count(o => !o.Survived);

    public double Score => Outcomes.Count == 0 ? 100 : 100.0 * Killed / Outcomes.Count;
}

/// <summary>
/// Runs the tests of some test files against every mutant of the rule files they test, one mutant at a time and in
/// memory: the rule manager of each test run is handed the edited model instead of reading the file. A mutant is
/// killed by the first test that fails, so a run costs at most mutants × tests test runs.
/// </summary>
internal sealed class MutationRunner
{
    private readonly IReadOnlyList<RuleTestRunner.TestSuite> _suites;
    private readonly Dictionary<string, RuleLoadResult> _loaded = new(StringComparer.Ordinal);

    public MutationRunner(IReadOnlyList<RuleTestRunner.TestSuite> suites)
    {
        _suites = suites;
        foreach (var file in suites.SelectMany(s => s.RuleFiles))
        {
            var key = Path.GetFullPath(file);
            if (!_loaded.ContainsKey(key))
            {
                _loaded[key] = RuleFileLoader.LoadFile(file);
            }
        }
    }

    /// <summary>Every mutant of the rule files under test, file by file in the order the test files name them.</summary>
    public IReadOnlyList<RuleMutant> Mutants() => _loaded.Values.SelectMany(r => RuleMutations.Of(r.File)).ToList();

    /// <summary>Runs every test unedited; returns the failure lines (empty when all pass), each test's prefixed by its name.</summary>
    public List<string> Baseline()
    {
        var failures = new List<string>();
        foreach (var suite in _suites)
        {
            foreach (var test in suite.Tests)
            {
                var lines = RuleTestRunner.Run(suite.RuleFiles, test, Cached);
                if (lines.Count > 0)
                {
                    failures.Add($"FAIL {suite.Path}: test '{test.Name}'");
                    failures.AddRange(lines);
                }
            }
        }

        return failures;
    }

    public MutationReport Run(IReadOnlyList<RuleMutant> mutants)
    {
        var outcomes = new List<MutantOutcome>(mutants.Count);
        var runs = 0;
        foreach (var mutant in mutants)
        {
            var target = Path.GetFullPath(mutant.File);
            RuleLoadResult Load(string path, RuleLimits limits) =>
                string.Equals(Path.GetFullPath(path), target, StringComparison.Ordinal) ? new RuleLoadResult(mutant.Mutated, []) : Cached(path, limits);

            string? killedBy = null;
            foreach (var (suite, test) in TestsOf(target, mutant.Rule))
            {
                runs++;
                if (RuleTestRunner.Run(suite.RuleFiles, test, Load).Count > 0)
                {
                    killedBy = $"{suite.Path}: test '{test.Name}'";
                    break;
                }
            }

            outcomes.Add(new MutantOutcome(mutant, killedBy));
        }

        return new MutationReport(outcomes, runs);
    }

    private RuleLoadResult Cached(string path, RuleLimits limits) =>
        _loaded.TryGetValue(Path.GetFullPath(path), out var loaded) ? loaded : RuleFileLoader.LoadFile(path, limits);

    /// <summary>The tests of the files that test <paramref name="ruleFile"/>; those that expect something of <paramref name="rule"/> first, as they are the likely killers.</summary>
    private IEnumerable<(RuleTestRunner.TestSuite Suite, RuleTestRunner.UnitTest Test)> TestsOf(string ruleFile, string rule) =>
        _suites
            .Where(s => s.RuleFiles.Any(f => string.Equals(Path.GetFullPath(f), ruleFile, StringComparison.Ordinal)))
            .SelectMany(s => s.Tests.Select(t => (Suite: s, Test: t)))
            .OrderBy(p => p.Test.Alerts.Any(a => a.Alert == rule) ? 0 : 1);
}
