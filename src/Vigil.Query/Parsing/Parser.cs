using System.Runtime.CompilerServices;
using Vigil.Storage.Query;

namespace Vigil.Query.Parsing;

/// <summary>
/// A hand-written recursive-descent parser for the PromQL subset Vigil evaluates. Constructs outside the
/// subset are recognised and refused by name ("subqueries are not supported") rather than failing as syntax.
/// </summary>
public sealed class Parser
{
    /// <summary>
    /// The deepest expression accepted (<see cref="Expr.Depth"/>): each parenthesis, unary minus, binary operator,
    /// function call and aggregation is a level. The parser and the evaluator recurse once per level on the request
    /// thread's fixed stack (1.5 MB for a thread-pool thread on Linux), and a stack overflow cannot be caught: it ends
    /// the process. So a level past the limit is refused before it is parsed (docs/decisions/008-nesting-depth-limits.md).
    /// </summary>
    public const int MaxDepth = 400;

    internal static readonly HashSet<string> RangeFunctions =
        ["rate", "increase", "sum_over_time", "avg_over_time", "min_over_time", "max_over_time", "count_over_time", "last_over_time", "present_over_time", "absent_over_time"];

    /// <summary>One-argument functions of a value, applied per sample; as in Prometheus all drop the metric name.</summary>
    internal static readonly Dictionary<string, Func<double, double>> MathFunctions = new(StringComparer.Ordinal)
    {
        ["abs"] = Math.Abs,
        ["ceil"] = Math.Ceiling,
        ["floor"] = Math.Floor,
        ["exp"] = Math.Exp,
        ["ln"] = Math.Log,
        ["log2"] = Math.Log2,
        ["log10"] = Math.Log10,
        ["sqrt"] = Math.Sqrt,
        ["sgn"] = v => v < 0 ? -1 : v > 0 ? 1 : v, // 0 stays 0 and NaN stays NaN, as Go's code has it.
        ["sin"] = Math.Sin,
        ["cos"] = Math.Cos,
        ["tan"] = Math.Tan,
        ["asin"] = Math.Asin,
        ["acos"] = Math.Acos,
        ["atan"] = Math.Atan,
        ["sinh"] = Math.Sinh,
        ["cosh"] = Math.Cosh,
        ["tanh"] = Math.Tanh,
        ["asinh"] = Math.Asinh,
        ["acosh"] = Math.Acosh,
        ["atanh"] = Math.Atanh,
        ["deg"] = v => v * 180 / Math.PI,
        ["rad"] = v => v * Math.PI / 180,
    };

    /// <summary>Date functions of a vector of unix seconds (the evaluation time without an argument), in UTC.</summary>
    internal static readonly Dictionary<string, Func<DateTime, double>> DateFunctions = new(StringComparer.Ordinal)
    {
        ["minute"] = d => d.Minute,
        ["hour"] = d => d.Hour,
        ["day_of_month"] = d => d.Day,
        ["day_of_week"] = d => (int)d.DayOfWeek,
        ["day_of_year"] = d => d.DayOfYear,
        ["days_in_month"] = d => DateTime.DaysInMonth(d.Year, d.Month),
        ["month"] = d => d.Month,
        ["year"] = d => d.Year,
    };

    /// <summary>
    /// Functions over time that need the samples of a window, which the bucket store does not keep: they take a
    /// subquery (whose steps are samples), and refuse a stored range m[w] naming the function.
    /// </summary>
    internal static readonly HashSet<string> SubqueryFunctions =
        ["quantile_over_time", "stddev_over_time", "stdvar_over_time", "changes", "resets", "irate", "idelta", "deriv", "predict_linear", "delta"];

    /// <summary>A subquery's step when it has none (<c>m[5m:]</c>): Prometheus' default evaluation interval.</summary>
    public static readonly TimeSpan DefaultSubqueryStep = TimeSpan.FromMinutes(1);

    /// <summary>The most steps one subquery may evaluate, as the points of a range query.</summary>
    public const int MaxSubquerySteps = 11_000;

    private static readonly HashSet<string> SupportedAggregations = ["sum", "avg", "min", "max", "count", "group", "stddev", "stdvar", "topk", "bottomk", "quantile", "count_values", "limitk", "limit_ratio"];

    /// <summary>Aggregations whose first argument is a parameter (k, φ, a ratio or a label name).</summary>
    internal static readonly HashSet<string> ParameterAggregations = ["topk", "bottomk", "quantile", "count_values", "limitk", "limit_ratio"];

    /// <summary>Functions the evaluator implements, with their least and greatest argument count (after the tables it is built from: static fields initialise in order).</summary>
    internal static readonly Dictionary<string, (int Min, int Max)> Functions = BuildFunctions();

    private static Dictionary<string, (int Min, int Max)> BuildFunctions()
    {
        var functions = new Dictionary<string, (int Min, int Max)>(StringComparer.Ordinal)
        {
            ["histogram_quantile"] = (2, 2),
            ["histogram_count"] = (1, 1),
            ["histogram_sum"] = (1, 1),
            ["histogram_fraction"] = (3, 3),
            ["timestamp"] = (1, 1),
            ["clamp"] = (3, 3),
            ["clamp_min"] = (2, 2),
            ["clamp_max"] = (2, 2),
            ["round"] = (1, 2),
            ["pi"] = (0, 0),
            ["scalar"] = (1, 1),
            ["vector"] = (1, 1),
            ["time"] = (0, 0),
            ["sort"] = (1, 1),
            ["sort_desc"] = (1, 1),
            ["absent"] = (1, 1),
            ["label_replace"] = (5, 5),
            ["label_join"] = (3, int.MaxValue),
        };
        foreach (var name in RangeFunctions.Concat(SubqueryFunctions))
        {
            functions[name] = (1, 1);
        }

        functions["quantile_over_time"] = (2, 2);
        functions["predict_linear"] = (2, 2);

        foreach (var name in MathFunctions.Keys)
        {
            functions[name] = (1, 1);
        }

        foreach (var name in DateFunctions.Keys)
        {
            functions[name] = (0, 1);
        }

        return functions;
    }

    private readonly Lexer _lexer;
    private Token _peek;

    // Levels open around the token being parsed; a tree's depth is at least this.
    private int _depth;

    private Parser(string text)
    {
        _lexer = new Lexer(text);
        _peek = _lexer.Next();
    }

    /// <summary>Parses an expression; throws <see cref="PromQLException"/> naming the position and the problem.</summary>
    public static Expr Parse(string text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            throw new PromQLException("parse error: the query is empty");
        }

        var parser = new Parser(text);
        var expr = parser.ParseBinary(0);
        var token = parser.Peek;
        if (token.Kind != TokenKind.End)
        {
            throw Unexpected(token, "end of input");
        }

        return expr;
    }

    /// <summary>Parses a series selector as <c>match[]</c> takes it: <c>name{...}</c> or <c>{...}</c>.</summary>
    public static VectorSelector ParseSelector(string text)
    {
        var expr = Parse(text);
        return expr as VectorSelector ?? throw new PromQLException($"match[] must be a series selector like up{{job=\"x\"}}, got {expr}");
    }

    private Token Peek => _peek;

    private Token Take()
    {
        var token = _peek;
        if (token.Kind != TokenKind.End)
        {
            _peek = _lexer.Next();
        }

        return token;
    }

    /// <summary>Opens a level at <paramref name="token"/>; refuses it past <see cref="MaxDepth"/>, before recursing into it.</summary>
    private void Enter(Token token)
    {
        if (++_depth > MaxDepth)
        {
            throw TooDeep(token);
        }

        // Deeper than any stack should need at MaxDepth; a thread with a tiny stack still gets an error, not a crash.
        if (!RuntimeHelpers.TryEnsureSufficientExecutionStack())
        {
            throw new PromQLException($"parse error at char {token.Position}: the expression nests too deeply for this thread's stack");
        }
    }

    private void Exit() => _depth--;

    private static PromQLException TooDeep(Token token) => new(
        $"parse error at char {token.Position}: the expression nests deeper than {MaxDepth} levels (each parenthesis, unary minus, operator, function call, aggregation and subquery is one); simplify the query");

    private const int PowerPrecedence = 6;

    private static int Precedence(Token token) => token.Kind == TokenKind.Operator || token.Kind == TokenKind.Identifier
        ? token.Text switch
        {
            "or" => 1,
            "and" or "unless" => 2,
            "==" or "!=" or "<=" or "<" or ">=" or ">" => 3,
            "+" or "-" => 4,
            "*" or "/" or "%" or "atan2" => 5,
            "^" => PowerPrecedence,
            _ => -1,
        }
        : -1;

    // The methods that recurse per level are compiled optimized from their first call: unoptimized (tier-0) frames
    // are several times larger, and the first deep query after start would run on them.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private Expr ParseBinary(int minPrecedence)
    {
        var left = ParseUnary();
        while (true)
        {
            var op = Peek;
            var precedence = Precedence(op);
            if (precedence < 0 || precedence < minPrecedence || op.Text == "=")
            {
                return left;
            }

            Take();
            var (returnBool, matching) = ParseModifiers(op, precedence);

            // ^ is right-associative; everything else is left-associative.
            Enter(op);
            var right = ParseBinary(op.Text == "^" ? precedence : precedence + 1);
            Exit();

            // A chain a + b + c + … nests to the left without the parser recursing: its depth is checked here.
            left = new Binary(op.Text, left, right, returnBool, matching);
            if (left.Depth > MaxDepth)
            {
                throw TooDeep(op);
            }
        }
    }

    /// <summary>
    /// The modifiers after a binary operator: <c>bool</c>, <c>on</c>/<c>ignoring</c> and <c>group_left</c>/<c>group_right</c>.
    /// Kept out of <see cref="ParseBinary"/>, which recurses once per level: its frame stays small.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private (bool ReturnBool, VectorMatching? Matching) ParseModifiers(Token op, int precedence)
    {
        var setOperator = op.Text is "and" or "or" or "unless";
        var returnBool = false;
        if (Peek.Kind == TokenKind.Identifier && Peek.Text == "bool")
        {
            Take();
            returnBool = true;
            if (precedence != 3)
            {
                throw new PromQLException($"parse error at char {op.Position}: bool modifier can only be used on comparison operators");
            }
        }

        VectorMatching? matching = null;
        if (Peek.Kind == TokenKind.Identifier && Peek.Text is "on" or "ignoring")
        {
            var on = Take().Text == "on";
            matching = new VectorMatching(on, ParseLabelList());
            if (Peek.Kind == TokenKind.Identifier && Peek.Text is "group_left" or "group_right")
            {
                var group = Take();
                if (setOperator)
                {
                    throw new PromQLException($"parse error at char {group.Position}: no grouping allowed for \"{op.Text}\" operation");
                }

                IReadOnlyList<string> include = Peek.Kind == TokenKind.LeftParen ? ParseLabelList() : [];
                matching = matching with { Card = group.Text == "group_left" ? Grouping.ManyToOne : Grouping.OneToMany, Include = include };
            }
        }

        if (Peek.Kind == TokenKind.Identifier && Peek.Text is "group_left" or "group_right")
        {
            throw new PromQLException($"parse error at char {Peek.Position}: {Peek.Text} needs on (…) or ignoring (…) before it");
        }

        return (returnBool, matching);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private Expr ParseUnary()
    {
        var token = Peek;
        if (token.Kind == TokenKind.Operator && token.Text is "-" or "+")
        {
            Take();
            Enter(token);
            // Unary minus binds as tightly as * and /, less than ^ (as Prometheus' grammar): -2 ^ 2 is -(2 ^ 2).
            var inner = ParseBinary(PowerPrecedence);
            Exit();
            if (token.Text == "+")
            {
                return inner;
            }

            return inner is NumberLiteral number ? new NumberLiteral(-number.Value) : new Unary("-", inner);
        }

        return ParsePostfix(ParsePrimary());
    }

    private Expr ParsePostfix(Expr expr)
    {
        while (true)
        {
            var token = Peek;
            if (token.Kind == TokenKind.LeftBracket)
            {
                Take();
                var range = ExpectDuration("range");
                if (Peek.Kind == TokenKind.Colon)
                {
                    Take();
                    var defaultStep = Peek.Kind != TokenKind.Duration;
                    var step = defaultStep ? DefaultSubqueryStep : ExpectDuration("subquery step");
                    Expect(TokenKind.RightBracket, "]");
                    if (step <= TimeSpan.Zero)
                    {
                        throw new PromQLException($"parse error at char {token.Position}: the subquery step must be positive");
                    }

                    if (expr is MatrixSelector or Subquery or NumberLiteral or StringLiteral)
                    {
                        throw new PromQLException($"parse error at char {token.Position}: a subquery [..:..] applies to an instant vector expression, not to {expr}");
                    }

                    if (range.Ticks / step.Ticks > MaxSubquerySteps)
                    {
                        throw new PromQLException($"parse error at char {token.Position}: the subquery [{Vigil.Storage.DurationFormat.Format(range)}:{Vigil.Storage.DurationFormat.Format(step)}] has more than {MaxSubquerySteps.ToString("N0", System.Globalization.CultureInfo.InvariantCulture)} steps; use a longer step");
                    }

                    expr = new Subquery(expr, range, step, defaultStep, TimeSpan.Zero);
                    if (expr.Depth > MaxDepth)
                    {
                        throw TooDeep(token);
                    }

                    continue;
                }

                Expect(TokenKind.RightBracket, "]");
                if (expr is not VectorSelector selector)
                {
                    throw new PromQLException($"parse error at char {token.Position}: a range [..] applies only to a metric selector, not to {expr}; for an expression use a subquery, e.g. max_over_time(sum(m)[10m:1m])");
                }

                if (selector.Offset != TimeSpan.Zero || selector.At is not null)
                {
                    throw new PromQLException($"parse error at char {token.Position}: write offset and @ after the range, e.g. m[5m] offset 1h");
                }

                expr = new MatrixSelector(selector, range);
                continue;
            }

            if (token.Kind == TokenKind.Identifier && token.Text == "offset")
            {
                Take();
                var negative = Peek.Kind == TokenKind.Operator && Peek.Text == "-" && Take().Kind == TokenKind.Operator;
                var offset = ExpectDuration("offset");
                if (negative)
                {
                    offset = -offset;
                }

                expr = expr switch
                {
                    VectorSelector v => v with { Offset = offset },
                    MatrixSelector m => m with { Vector = m.Vector with { Offset = offset } },
                    Subquery q => q with { Offset = offset },
                    _ => throw new PromQLException($"parse error at char {token.Position}: offset applies only to a metric selector"),
                };
                continue;
            }

            if (token.Kind == TokenKind.At)
            {
                Take();
                var at = ParseAt(token);
                expr = expr switch
                {
                    VectorSelector { At: null } v => v with { At = at },
                    MatrixSelector { Vector.At: null } m => m with { Vector = m.Vector with { At = at } },
                    Subquery { At: null } q => q with { At = at },
                    VectorSelector or MatrixSelector or Subquery => throw new PromQLException($"parse error at char {token.Position}: @ <timestamp> may not be set multiple times"),
                    _ => throw new PromQLException($"parse error at char {token.Position}: @ modifier must be preceded by an instant vector selector or range vector selector or a subquery"),
                };
                continue;
            }

            return expr;
        }
    }

    /// <summary>What follows <c>@</c>: unix seconds, <c>start()</c> or <c>end()</c>.</summary>
    private AtModifier ParseAt(Token at)
    {
        var token = Take();
        if (token.Kind == TokenKind.Number)
        {
            return new AtModifier(token.Number, null);
        }

        if (token.Kind == TokenKind.Identifier && token.Text is "start" or "end" && Peek.Kind == TokenKind.LeftParen)
        {
            Take();
            Expect(TokenKind.RightParen, ")");
            return new AtModifier(0, token.Text);
        }

        throw new PromQLException($"parse error at char {at.Position}: @ needs a unix timestamp, start() or end(), got {token.Describe()}");
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private Expr ParsePrimary()
    {
        var token = Take();
        switch (token.Kind)
        {
            case TokenKind.Number:
                return new NumberLiteral(token.Number);
            case TokenKind.String:
                return new StringLiteral(token.Text);
            case TokenKind.Duration:
                throw new PromQLException($"parse error at char {token.Position}: unexpected duration \"{token.Text}\"; a duration belongs in a range [..] or after offset");
            case TokenKind.LeftParen:
                Enter(token);
                var inner = ParseBinary(0);
                Expect(TokenKind.RightParen, ")");
                Exit();
                return new Paren(inner);
            case TokenKind.LeftBrace:
                return ParseSelector(null, token.Position, braceTaken: true);
            case TokenKind.Identifier:
                return ParseIdentifier(token);
            default:
                throw Unexpected(token, "an expression");
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private Expr ParseIdentifier(Token token)
    {
        var name = token.Text;
        if (name.Equals("inf", StringComparison.OrdinalIgnoreCase))
        {
            return new NumberLiteral(double.PositiveInfinity);
        }

        if (name.Equals("nan", StringComparison.OrdinalIgnoreCase))
        {
            return new NumberLiteral(double.NaN);
        }

        if (SupportedAggregations.Contains(name))
        {
            if (Peek.Kind == TokenKind.LeftParen || (Peek.Kind == TokenKind.Identifier && Peek.Text is "by" or "without"))
            {
                return ParseAggregation(token);
            }
        }

        if (Peek.Kind == TokenKind.LeftParen)
        {
            return ParseCall(token);
        }

        if (name is "by" or "without" or "on" or "ignoring" or "bool" or "offset" or "group_left" or "group_right")
        {
            throw Unexpected(token, "an expression");
        }

        return ParseSelector(name, token.Position, braceTaken: false);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private Expr ParseCall(Token token)
    {
        var name = token.Text;
        if (!Functions.TryGetValue(name, out var arity))
        {
            throw new PromQLException($"function {name} is not supported");
        }

        Expect(TokenKind.LeftParen, "(");
        Enter(token);
        var args = new List<Expr>();
        if (Peek.Kind != TokenKind.RightParen)
        {
            args.Add(ParseBinary(0));
            while (Peek.Kind == TokenKind.Comma)
            {
                Take();
                args.Add(ParseBinary(0));
            }
        }

        Expect(TokenKind.RightParen, ")");
        Exit();
        CheckArguments(name, arity, args);
        return new Call(name, args);
    }

    /// <summary>The argument count and range argument of a call; out of <see cref="ParseCall"/>, which recurses per level.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void CheckArguments(string name, (int Min, int Max) arity, List<Expr> args)
    {
        if (args.Count < arity.Min || args.Count > arity.Max)
        {
            var expected = arity.Min == arity.Max ? arity.Min.ToString(System.Globalization.CultureInfo.InvariantCulture)
                : arity.Max == int.MaxValue ? $"at least {arity.Min}" : $"{arity.Min} to {arity.Max}";
            throw new PromQLException($"function {name} takes {expected} argument{(expected == "1" ? string.Empty : "s")}, got {args.Count}");
        }

        var rangeArgument = name == "quantile_over_time" ? 1 : 0;
        if ((RangeFunctions.Contains(name) || SubqueryFunctions.Contains(name)) && args.Count > rangeArgument && args[rangeArgument] is not (MatrixSelector or Subquery))
        {
            throw new PromQLException($"function {name} needs a range vector like m[5m], got {args[rangeArgument]}");
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private Expr ParseAggregation(Token token)
    {
        var op = token.Text;
        IReadOnlyList<string> grouping = [];
        var without = false;
        var hasGrouping = false;
        if (Peek.Kind == TokenKind.Identifier && Peek.Text is "by" or "without")
        {
            without = Take().Text == "without";
            grouping = ParseLabelList();
            hasGrouping = true;
        }

        Expect(TokenKind.LeftParen, "(");
        Enter(token);
        Expr? param = null;
        var inner = ParseBinary(0);
        if (ParameterAggregations.Contains(op))
        {
            param = inner;
            Expect(TokenKind.Comma, ",");
            inner = ParseBinary(0);
        }

        if (Peek.Kind == TokenKind.Comma)
        {
            throw new PromQLException($"aggregation {op} takes {(param is null ? "one argument" : "two arguments")}");
        }

        Expect(TokenKind.RightParen, ")");
        Exit();
        if (!hasGrouping && Peek.Kind == TokenKind.Identifier && Peek.Text is "by" or "without")
        {
            without = Take().Text == "without";
            grouping = ParseLabelList();
            hasGrouping = true;
        }

        return new Aggregation(op, inner, grouping, without, hasGrouping, param);
    }

    private List<string> ParseLabelList()
    {
        Expect(TokenKind.LeftParen, "(");
        var labels = new List<string>();
        while (Peek.Kind != TokenKind.RightParen)
        {
            var label = Take();
            if (label.Kind != TokenKind.Identifier || label.Text.Contains(':', StringComparison.Ordinal))
            {
                throw Unexpected(label, "a label name");
            }

            labels.Add(label.Text);
            if (Peek.Kind == TokenKind.Comma)
            {
                Take();
            }
            else if (Peek.Kind != TokenKind.RightParen)
            {
                throw Unexpected(Peek, "\",\" or \")\"");
            }
        }

        Take();
        return labels;
    }

    private VectorSelector ParseSelector(string? name, int position, bool braceTaken)
    {
        var matchers = new List<LabelMatcher>();
        if (name is not null)
        {
            matchers.Add(new LabelMatcher(Labels.MetricName, MatchOp.Equal, name));
        }

        if (braceTaken || Peek.Kind == TokenKind.LeftBrace)
        {
            if (!braceTaken)
            {
                Take();
            }

            while (Peek.Kind != TokenKind.RightBrace)
            {
                var label = Take();
                if (label.Kind is not (TokenKind.Identifier or TokenKind.String))
                {
                    throw Unexpected(label, "a label name");
                }

                var op = Take();
                var matchOp = op.Text switch
                {
                    "=" => MatchOp.Equal,
                    "!=" => MatchOp.NotEqual,
                    "=~" => MatchOp.Regex,
                    "!~" => MatchOp.NotRegex,
                    _ => throw Unexpected(op, "a matcher operator (=, !=, =~, !~)"),
                };
                var value = Take();
                if (value.Kind != TokenKind.String)
                {
                    throw Unexpected(value, "a quoted label value");
                }

                try
                {
                    matchers.Add(new LabelMatcher(label.Text, matchOp, value.Text));
                }
                catch (ArgumentException)
                {
                    throw new PromQLException($"parse error at char {value.Position}: invalid regular expression \"{value.Text}\" for label {label.Text}");
                }

                if (Peek.Kind == TokenKind.Comma)
                {
                    Take();
                }
                else if (Peek.Kind != TokenKind.RightBrace)
                {
                    throw Unexpected(Peek, "\",\" or \"}\"");
                }
            }

            Take();
        }

        var nameMatcher = matchers.FirstOrDefault(m => m.Name == Labels.MetricName && m.Op == MatchOp.Equal);
        if (name is not null && matchers.Count(m => m.Name == Labels.MetricName) > 1)
        {
            throw new PromQLException($"parse error at char {position}: metric name given twice (as {name} and in __name__)");
        }

        if (!matchers.Any(m => !m.Matches(string.Empty)))
        {
            throw new PromQLException($"parse error at char {position}: vector selector must contain at least one non-empty matcher");
        }

        return new VectorSelector(name ?? nameMatcher?.Value, matchers, TimeSpan.Zero);
    }

    private TimeSpan ExpectDuration(string what)
    {
        var token = Take();
        if (token.Kind == TokenKind.Duration)
        {
            if (token.Duration <= TimeSpan.Zero && what == "range")
            {
                throw new PromQLException($"parse error at char {token.Position}: range must be positive, got {token.Text}");
            }

            return token.Duration;
        }

        throw Unexpected(token, $"a duration for the {what} (e.g. 5m)");
    }

    private void Expect(TokenKind kind, string text)
    {
        var token = Take();
        if (token.Kind != kind)
        {
            throw Unexpected(token, $"\"{text}\"");
        }
    }

    private static PromQLException Unexpected(Token token, string expected) =>
        new($"parse error at char {token.Position}: unexpected {token.Describe()}, expected {expected}");
}
