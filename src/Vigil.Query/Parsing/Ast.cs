using Vigil.Storage.Query;

namespace Vigil.Query.Parsing;

/// <summary>A parsed PromQL expression (the subset in docs/query.md).</summary>
public abstract record Expr
{
    /// <summary>
    /// How many operators, parentheses, calls and aggregations enclose the deepest leaf (a leaf is 0). Computed from
    /// the children when a node is built, so no walk is needed; the parser refuses trees deeper than
    /// <see cref="Parser.MaxDepth"/>, which bounds every recursive walk over a tree (evaluation, printing, equality).
    /// </summary>
    public virtual int Depth => 0;
}

public sealed record NumberLiteral(double Value) : Expr
{
    public override string ToString() => Vigil.Query.Exposition.ExpositionWriter.FormatValue(Value);
}

public sealed record StringLiteral(string Value) : Expr
{
    public override string ToString() => LabelMatcher.Quote(Value);
}

/// <summary>
/// The <c>@</c> modifier: a fixed evaluation time in unix seconds, or the query's <c>start()</c> / <c>end()</c>
/// (<see cref="Special"/>), which an instant query's time is.
/// </summary>
public sealed record AtModifier(double Seconds, string? Special)
{
    public override string ToString() => " @ " + (Special is null ? Vigil.Query.Exposition.ExpositionWriter.FormatValue(Seconds) : Special + "()");
}

/// <summary><c>name{matchers} offset d @ t</c>; matchers use Prometheus label names and include <c>__name__</c>.</summary>
public sealed record VectorSelector(string? Name, IReadOnlyList<LabelMatcher> Matchers, TimeSpan Offset) : Expr
{
    /// <summary>The <c>@</c> modifier, or null to evaluate at the query's time.</summary>
    public AtModifier? At { get; init; }

    public override string ToString() => WithoutOffset() + OffsetText();

    /// <summary>The selector as written before its offset (a range goes between the two).</summary>
    public string WithoutOffset()
    {
        // A name that is not an identifier (set through {__name__="..."}) stays a matcher.
        var bare = Name is not null && IsIdentifier(Name) ? Name : null;
        var matchers = string.Join(", ", Matchers.Where(m => bare is null || !(m.Name == Labels.MetricName && m.Op == MatchOp.Equal && m.Value == bare)));
        return (bare ?? string.Empty) + (matchers.Length > 0 || bare is null ? "{" + matchers + "}" : string.Empty);
    }

    private static bool IsIdentifier(string name) =>
        name.Length > 0 && !char.IsAsciiDigit(name[0]) && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or ':')
        && name is not ("by" or "without" or "on" or "ignoring" or "offset" or "bool" or "and" or "or" or "unless");

    public string OffsetText() => Text(Offset) + At;

    /// <summary>An offset as written after a selector or subquery (empty for none).</summary>
    internal static string Text(TimeSpan offset) =>
        offset == TimeSpan.Zero ? string.Empty
        : offset < TimeSpan.Zero ? " offset -" + Vigil.Storage.DurationFormat.Format(-offset)
        : " offset " + Vigil.Storage.DurationFormat.Format(offset);
}

/// <summary><c>selector[range]</c>: only valid as the argument of a range function.</summary>
public sealed record MatrixSelector(VectorSelector Vector, TimeSpan Range) : Expr
{
    public override string ToString() => $"{Vector.WithoutOffset()}[{Vigil.Storage.DurationFormat.Format(Range)}]{Vector.OffsetText()}";
}

/// <summary>
/// <c>inner[range:step] offset d</c>: <see cref="Inner"/> evaluated at every multiple of the step (counted from the
/// unix epoch) in [T − range, T], as Prometheus 2.x; only valid as the argument of a function over time.
/// </summary>
public sealed record Subquery(Expr Inner, TimeSpan Range, TimeSpan Step, bool DefaultStep, TimeSpan Offset) : Expr
{
    public override int Depth { get; } = 1 + Inner.Depth;

    /// <summary>The <c>@</c> modifier, or null to evaluate at the query's time.</summary>
    public AtModifier? At { get; init; }

    public override string ToString()
    {
        var step = DefaultStep ? string.Empty : Vigil.Storage.DurationFormat.Format(Step);
        return $"{Inner}[{Vigil.Storage.DurationFormat.Format(Range)}:{step}]{VectorSelector.Text(Offset)}{At}";
    }
}

public sealed record Call(string Function, IReadOnlyList<Expr> Args) : Expr
{
    public override int Depth { get; } = 1 + Args.Select(a => a.Depth).DefaultIfEmpty(0).Max();

    public override string ToString() => $"{Function}({string.Join(", ", Args)})";
}

/// <summary>
/// <c>op by|without (labels) ([param,] inner)</c>; <see cref="Param"/> is the k of <c>topk</c>/<c>bottomk</c>, the φ of
/// <c>quantile</c> and the label name of <c>count_values</c>.
/// </summary>
public sealed record Aggregation(string Op, Expr Inner, IReadOnlyList<string> Grouping, bool Without, bool HasGrouping, Expr? Param = null) : Expr
{
    public override int Depth { get; } = 1 + Math.Max(Inner.Depth, Param?.Depth ?? 0);

    public override string ToString()
    {
        var args = Param is null ? $"({Inner})" : $"({Param}, {Inner})";
        return HasGrouping ? $"{Op} {(Without ? "without" : "by")} ({string.Join(", ", Grouping)}) {args}" : Op + args;
    }
}

/// <summary>Which side of a binary operation may hold several series per match group (<c>group_left</c> / <c>group_right</c>).</summary>
public enum Grouping
{
    OneToOne,
    ManyToOne,
    OneToMany,
}

/// <summary>
/// How two vectors' samples pair up: on(labels), ignoring(labels), or all labels but the name; <see cref="Card"/>
/// and <see cref="Include"/> are <c>group_left(include)</c> / <c>group_right(include)</c>.
/// </summary>
public sealed record VectorMatching(bool On, IReadOnlyList<string> Labels, Grouping Card = Grouping.OneToOne, IReadOnlyList<string>? Include = null)
{
    public override string ToString()
    {
        var text = $"{(On ? "on" : "ignoring")} ({string.Join(", ", Labels)})";
        return Card switch
        {
            Grouping.ManyToOne => $"{text} group_left ({string.Join(", ", Include ?? [])})",
            Grouping.OneToMany => $"{text} group_right ({string.Join(", ", Include ?? [])})",
            _ => text,
        };
    }
}

public sealed record Binary(string Op, Expr Left, Expr Right, bool ReturnBool, VectorMatching? Matching) : Expr
{
    public override int Depth { get; } = 1 + Math.Max(Left.Depth, Right.Depth);

    public bool IsComparison => Op is "==" or "!=" or ">" or "<" or ">=" or "<=";

    /// <summary><c>and</c>, <c>or</c>, <c>unless</c>: they select series and never combine values.</summary>
    public bool IsSetOperator => Op is "and" or "or" or "unless";

    public override string ToString() =>
        $"{Left} {Op}{(ReturnBool ? " bool" : string.Empty)}{(Matching is null ? string.Empty : " " + Matching)} {Right}";
}

public sealed record Unary(string Op, Expr Inner) : Expr
{
    public override int Depth { get; } = 1 + Inner.Depth;

    public override string ToString() => Op + Inner;
}

public sealed record Paren(Expr Inner) : Expr
{
    public override int Depth { get; } = 1 + Inner.Depth;

    public override string ToString() => $"({Inner})";
}
