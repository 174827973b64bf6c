namespace Vigil.Differential.Tests;

/// <summary>What a corpus line expects of Vigil beside Prometheus.</summary>
internal enum Expectation
{
    /// <summary>No classification given: Prometheus' answer, or a 400 <c>bad_data</c>; never another value.</summary>
    SameOrUnsupported,

    /// <summary>Prometheus' answer, within the tolerance.</summary>
    Same,

    /// <summary>
    /// A documented difference, asserted as its relation: Vigil's answer to <see cref="CorpusQuery.Equivalent"/> is
    /// Prometheus' answer to the query (<c>=&gt;</c>), or Prometheus' answer to it is Vigil's (<c>&lt;=</c>).
    /// </summary>
    Differs,

    /// <summary>A 400 <c>bad_data</c> whose message names <see cref="CorpusQuery.Construct"/> (or, once supported, Prometheus' answer).</summary>
    Unsupported,
}

/// <summary>One line of queries.txt.</summary>
internal sealed record CorpusQuery(int Line, string Query, Expectation Expectation, string? Difference, string? Equivalent, bool EquivalentOnVigil, string? Construct)
{
    public override string ToString() => $"queries.txt:{Line}: {Query}";
}

/// <summary>
/// Reads a corpus (queries.txt, queries-offgrid.txt): one PromQL query a line, optionally followed by <c> ## </c> and its class —
/// <c>same</c>, <c>unsupported CONSTRUCT</c>, <c>differs NAME =&gt; VIGIL-QUERY</c> or <c>differs NAME &lt;= PROMETHEUS-QUERY</c>.
/// <c>#</c> starts a comment line.
/// </summary>
internal static class QueryCorpus
{
    /// <summary>The documented differences (docs/query.md, "Differences from Prometheus") a line may name.</summary>
    public static readonly IReadOnlySet<string> Differences = new HashSet<string>(StringComparer.Ordinal) { "closed-window", "counter-since-retention", "exact-increase" };

    public static List<CorpusQuery> Parse(string path)
    {
        var queries = new List<CorpusQuery>();
        var lines = File.ReadAllLines(path);
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            var split = line.IndexOf(" ## ", StringComparison.Ordinal);
            var query = (split < 0 ? line : line[..split]).Trim();
            var classification = split < 0 ? "" : line[(split + 4)..].Trim();
            var indent = lines[i].Length - lines[i].TrimStart().Length;
            queries.Add(Classify(path, i + 1, indent + (split < 0 ? 1 : split + 5), query, classification));
        }

        return queries;
    }

    private static CorpusQuery Classify(string path, int line, int column, string query, string classification)
    {
        var word = classification.Split(' ', 2, StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var rest = word.Length > 1 ? word[1] : "";
        switch (word.Length == 0 ? "" : word[0])
        {
            case "":
                return new CorpusQuery(line, query, Expectation.SameOrUnsupported, null, null, false, null);
            case "same" when rest.Length == 0:
                return new CorpusQuery(line, query, Expectation.Same, null, null, false, null);
            case "unsupported" when rest.Length > 0:
                return new CorpusQuery(line, query, Expectation.Unsupported, null, null, false, rest);
            case "differs":
                var onVigil = rest.Contains("=>", StringComparison.Ordinal);
                var arrow = rest.IndexOf(onVigil ? "=>" : "<=", StringComparison.Ordinal);
                var name = arrow < 0 ? rest : rest[..arrow].Trim();
                if (arrow < 0 || !Differences.Contains(name))
                {
                    throw new FormatException($"{path}:{line}:{column}: 'differs' needs a documented difference ({string.Join(", ", Differences)}), then '=> the query whose Vigil answer is Prometheus' answer' or '<= the query whose Prometheus answer is Vigil's', got \"{classification}\"");
                }

                return new CorpusQuery(line, query, Expectation.Differs, name, rest[(arrow + 2)..].Trim(), onVigil, null);
            default:
                throw new FormatException($"{path}:{line}:{column}: unknown classification \"{classification}\"; use same, unsupported CONSTRUCT, differs NAME => QUERY or differs NAME <= QUERY");
        }
    }
}
