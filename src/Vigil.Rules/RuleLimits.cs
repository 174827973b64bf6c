using System.Globalization;

namespace Vigil.Rules;

/// <summary>
/// What a rule file may hold, and what the rule engine keeps per rule. A file over a limit is refused with a
/// file:line:col problem and its last good rules keep running; see docs/rules.md ("Limits") and
/// docs/decisions/011-hostile-rule-files.md and 020-rule-engine-reads-limits-history.md.
/// </summary>
public sealed record RuleLimits
{
    public static RuleLimits Default { get; } = new();

    /// <summary><c>rules.max_file_size</c>: a larger file is refused before it is read.</summary>
    public long MaxFileBytes { get; init; } = 10 * 1024 * 1024;

    /// <summary><c>rules.max_string_length</c>: the longest string (any scalar: a name, selector, template, key…) in characters.</summary>
    public int MaxStringLength { get; init; } = 64 * 1024;

    /// <summary><c>rules.max_rules_per_file</c>: alert rules and aggregates in one file.</summary>
    public int MaxRulesPerFile { get; init; } = 10_000;

    /// <summary><c>rules.max_rules</c>: alert rules and aggregates over every file.</summary>
    public int MaxRules { get; init; } = 50_000;

    /// <summary>
    /// <c>rules.max_instances_per_rule</c>: instances one alert rule may hold (inactive ones included) unless the rule
    /// sets <c>max_instances</c>; past it new instances are refused and the rule's health is err.
    /// </summary>
    public int MaxInstancesPerRule { get; init; } = 10_000;

    /// <summary><c>rules.explain_history</c>: evaluations explain keeps per instance (0 keeps none).</summary>
    public int ExplainHistory { get; init; } = 20;

    /// <summary>
    /// Nodes that aliases may add to a file (each alias counts the nodes of what it refers to): at most as many as
    /// the file writes itself, or this many in a smaller file.
    /// </summary>
    public int AliasNodeBudget { get; init; } = 100_000;

    /// <summary>Every problem, with its configuration key.</summary>
    public IReadOnlyList<string> Validate()
    {
        var problems = new List<string>();
        if (MaxFileBytes < 1)
        {
            problems.Add("rules.max_file_size: must be at least 1 byte");
        }

        if (MaxStringLength < 1)
        {
            problems.Add("rules.max_string_length: must be at least 1");
        }

        if (MaxRulesPerFile < 1)
        {
            problems.Add("rules.max_rules_per_file: must be at least 1");
        }

        if (MaxRules < 1)
        {
            problems.Add("rules.max_rules: must be at least 1");
        }

        if (MaxInstancesPerRule < 1)
        {
            problems.Add("rules.max_instances_per_rule: must be at least 1");
        }

        if (ExplainHistory is < 0 or > 1000)
        {
            problems.Add("rules.explain_history: must be between 0 and 1000");
        }

        if (AliasNodeBudget < 0)
        {
            problems.Add("RuleLimits.AliasNodeBudget: must not be negative");
        }

        return problems;
    }

    internal static string Count(long n) => n.ToString("N0", CultureInfo.InvariantCulture);
}
