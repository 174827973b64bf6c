using System.Text.RegularExpressions;

namespace Vigil.Storage.Query;

/// <summary>Functions over a window; see docs/query.md for what each means per metric kind.</summary>
public enum AggregateFunction
{
    Increase,
    Rate,
    Sum,
    Avg,
    Min,
    Max,
    Last,
    Count,
    Quantile,
}

public enum MatchOp
{
    Equal,
    NotEqual,
    Regex,
    NotRegex,
}

/// <summary>
/// A label matcher. Regexes are fully anchored, as in Prometheus, and each match may take at most
/// <see cref="MatchTimeout"/>: a longer one throws <see cref="QueryException"/> naming the regex.
/// </summary>
public sealed class LabelMatcher
{
    public static readonly TimeSpan MatchTimeout = TimeSpan.FromMilliseconds(100);

    // Compiling a regex costs milliseconds, which 50,000 rules would pay at every reload (and a query at every
    // request); interpreting one is some times slower per match. So a regex is interpreted until it has matched
    // this often, and compiled then.
    private const int CompileAfter = 10_000;

    private const RegexOptions Options = RegexOptions.CultureInvariant;

    private readonly string? _pattern;
    private Regex? _regex;
    private int _matches;

    public LabelMatcher(string name, MatchOp op, string value)
    {
        Name = name;
        Op = op;
        Value = value;
        if (op is MatchOp.Regex or MatchOp.NotRegex)
        {
            _pattern = "^(?:" + value + ")$";
            _regex = new Regex(_pattern, Options, MatchTimeout);
        }
    }

    public string Name { get; }

    public MatchOp Op { get; }

    public string Value { get; }

    /// <summary>A missing label matches as the empty string, as in Prometheus.</summary>
    public bool Matches(string? actual)
    {
        actual ??= string.Empty;
        return Op switch
        {
            MatchOp.Equal => string.Equals(actual, Value, StringComparison.Ordinal),
            MatchOp.NotEqual => !string.Equals(actual, Value, StringComparison.Ordinal),
            MatchOp.Regex => IsMatch(actual),
            MatchOp.NotRegex => !IsMatch(actual),
            _ => false,
        };
    }

    private bool IsMatch(string actual)
    {
        if (_matches < CompileAfter && Interlocked.Increment(ref _matches) == CompileAfter)
        {
            _regex = new Regex(_pattern!, Options | RegexOptions.Compiled, MatchTimeout);
        }

        try
        {
            return _regex!.IsMatch(actual);
        }
        catch (RegexMatchTimeoutException)
        {
            var shown = Value.Length <= 200 ? Value : Value[..200] + "…";
            throw new RegexTimeoutException($"regex {Name}{(Op == MatchOp.Regex ? "=~" : "!~")}\"{shown}\" timed out after {MatchTimeout.TotalMilliseconds:0}ms on a value of {actual.Length} characters; " +
                "simplify it (nested quantifiers such as (a+)+ backtrack exponentially)");
        }
    }

    public override string ToString() => Op switch
    {
        MatchOp.Equal => $"{Name}={Quote(Value)}",
        MatchOp.NotEqual => $"{Name}!={Quote(Value)}",
        MatchOp.Regex => $"{Name}=~{Quote(Value)}",
        _ => $"{Name}!~{Quote(Value)}",
    };

    /// <summary>A double-quoted PromQL string that reads back as <paramref name="value"/> (backslash, quote, newline, tab and carriage-return escapes).</summary>
    public static string Quote(string value)
    {
        var text = new System.Text.StringBuilder(value.Length + 2).Append('"');
        foreach (var c in value)
        {
            _ = c switch
            {
                '\\' => text.Append("\\\\"),
                '"' => text.Append("\\\""),
                '\n' => text.Append("\\n"),
                '\r' => text.Append("\\r"),
                '\t' => text.Append("\\t"),
                _ => text.Append(c),
            };
        }

        return text.Append('"').ToString();
    }
}

/// <summary>One windowed aggregation: <c>fn(metric{matchers}[window]) by (labels)</c> evaluated at <see cref="At"/>.</summary>
public sealed record AggregateQuery(
    string Metric,
    AggregateFunction Function,
    TimeSpan Window,
    IReadOnlyList<string> By,
    IReadOnlyList<LabelMatcher> Matchers,
    DateTimeOffset At,
    double Quantile = 0.5);

/// <summary>
/// One group's result. <see cref="Samples"/> is what stands behind the value: data points for gauges,
/// events (the summed delta) for counters, observations for histograms and summaries.
/// </summary>
public sealed record AggregateSample(IReadOnlyDictionary<string, string> Labels, double Value, double Samples);

/// <summary>An expected refusal of a query (unknown metric kind for the function, bad window…).</summary>
public class QueryException(string message) : Exception(message);

/// <summary>A matcher's regex ran past <see cref="LabelMatcher.MatchTimeout"/>: the query cannot finish (422 in the APIs, health err in a rule).</summary>
public sealed class RegexTimeoutException(string message) : QueryException(message);

public sealed record SeriesInfo(string Metric, MetricKind Kind, string Unit, IReadOnlyDictionary<string, string> Labels);

/// <summary>What rules and the query API read. Implemented by the window store.</summary>
public interface IWindowReader
{
    /// <summary>Evaluates one aggregation. Throws <see cref="QueryException"/> for a query that cannot apply.</summary>
    IReadOnlyList<AggregateSample> Aggregate(AggregateQuery query);

    /// <summary>The kind of a metric Vigil has seen, or null when it has not seen it yet.</summary>
    MetricKind? KindOf(string metric);

    IReadOnlyList<SeriesInfo> ListSeries(string? metric);

    /// <summary>How late a metric's points have been arriving lately (its p99), or null when unknown.</summary>
    TimeSpan? ArrivalLagOf(string metric) => null;

    /// <summary>
    /// Hands every series with data in the bucket starting at <paramref name="bucketStart"/> to the visitor (what a
    /// classic histogram's per-<c>le</c> counts are read from). Readers that cannot do it throw <see cref="QueryException"/>.
    /// </summary>
    void ReadBucket(DateTimeOffset bucketStart, IBucketVisitor visitor) => throw new QueryException("this reader does not expose buckets");
}
