namespace Vigil.Rules;

/// <summary>
/// Where rules come from and where alert state lives. Rules are read from <see cref="RulesDirectory"/> (every
/// *.yaml / *.yml at its top level; sub-directories such as rules/tests are not rules) and/or <see cref="RuleFiles"/>.
/// Without <see cref="DataDirectory"/> alert state is kept in memory only.
/// </summary>
public sealed record RuleManagerOptions
{
    public string? RulesDirectory { get; init; }

    public IReadOnlyList<string> RuleFiles { get; init; } = [];

    public string? DataDirectory { get; init; }

    /// <summary>How long a resolved instance stays visible before it is forgotten.</summary>
    public TimeSpan ResolvedRetention { get; init; } = TimeSpan.FromMinutes(15);

    /// <summary>Quiet time after the last file change before the watcher reloads.</summary>
    public TimeSpan WatchDebounce { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>What rule files may hold; a file over a limit keeps its last good rules.</summary>
    public RuleLimits Limits { get; init; } = RuleLimits.Default;

    /// <summary>Reads one rule file; <c>rules test --mutate</c> hands in edited models here instead of re-reading files.</summary>
    internal Func<string, RuleLimits, RuleLoadResult> Loader { get; init; } = RuleFileLoader.LoadFile;

    /// <summary>Every problem, with its configuration key.</summary>
    public IReadOnlyList<string> Validate()
    {
        var problems = new List<string>(Limits.Validate());
        if (string.IsNullOrWhiteSpace(RulesDirectory) && RuleFiles.Count == 0)
        {
            problems.Add("rules.directory: set a rules directory (or rule files) to load");
        }

        if (ResolvedRetention < TimeSpan.Zero)
        {
            problems.Add("rules.resolved_retention: must not be negative");
        }

        if (WatchDebounce < TimeSpan.Zero)
        {
            problems.Add("rules.watch_debounce: must not be negative");
        }

        return problems;
    }
}

/// <summary>The outcome of a reload: every problem found, and what is running now.</summary>
public sealed record RuleReloadResult(DateTimeOffset At, IReadOnlyList<RuleProblem> Problems, int Groups, int AlertRules, int Aggregates)
{
    public bool Success => Problems.Count == 0;

    /// <summary>All problems, one per line, as <c>file:line:col: message (hint)</c>; null on success.</summary>
    public string? Error => Success ? null : string.Join(Environment.NewLine, Problems);
}
