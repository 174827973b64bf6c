using System.Text;
using Vigil.Storage.Query;

namespace Vigil.Rules;

/// <summary><c>metric.name{label="v", other!="x", re=~"a|b", nre!~"c"}</c>; label names may contain dots.</summary>
public sealed record Selector(string Metric, IReadOnlyList<LabelMatcher> Matchers)
{
    /// <summary>Where the selector is written in its rule file.</summary>
    public SourcePosition Position { get; init; }

    /// <summary>Labels the selector pins to one value (<c>=</c> matchers).</summary>
    public IReadOnlyDictionary<string, string> EqualityLabels =>
        Matchers.Where(m => m.Op == MatchOp.Equal).GroupBy(m => m.Name, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.First().Value, StringComparer.Ordinal);

    public override string ToString() => Matchers.Count == 0
        ? Metric
        : Metric + "{" + string.Join(", ", Matchers.Select(m => m.ToString())) + "}";
}

/// <summary>A selector parse error; <see cref="Offset"/> is the 0-based character offset in the selector text.</summary>
public sealed record SelectorError(int Offset, string Message, string? Hint);

public static class SelectorParser
{
    public static Selector? TryParse(string text, out SelectorError? error)
    {
        error = null;
        var pos = 0;
        SkipSpaces(text, ref pos);
        var metricStart = pos;
        if (pos >= text.Length || !IsNameStart(text[pos]))
        {
            error = new SelectorError(pos, "selector must start with a metric name", "for example: auth.requests{auth.outcome=\"failure\"}");
            return null;
        }

        while (pos < text.Length && IsMetricChar(text[pos]))
        {
            pos++;
        }

        var metric = text[metricStart..pos];
        var matchers = new List<LabelMatcher>();
        SkipSpaces(text, ref pos);
        if (pos < text.Length && text[pos] == '{')
        {
            pos++;
            SkipSpaces(text, ref pos);
            while (pos < text.Length && text[pos] != '}')
            {
                var matcher = ParseMatcher(text, ref pos, out error);
                if (matcher is null)
                {
                    return null;
                }

                matchers.Add(matcher);
                SkipSpaces(text, ref pos);
                if (pos < text.Length && text[pos] == ',')
                {
                    pos++;
                    SkipSpaces(text, ref pos);
                }
                else if (pos < text.Length && text[pos] != '}')
                {
                    error = new SelectorError(pos, $"unexpected '{text[pos]}' in selector", "separate matchers with ','");
                    return null;
                }
            }

            if (pos >= text.Length)
            {
                error = new SelectorError(pos, "selector is missing its closing '}'", null);
                return null;
            }

            pos++;
            SkipSpaces(text, ref pos);
        }

        if (pos < text.Length)
        {
            error = new SelectorError(pos, $"unexpected '{text[pos]}' after selector", "a selector is metric.name{label=\"value\", ...}");
            return null;
        }

        return new Selector(metric, matchers);
    }

    private static LabelMatcher? ParseMatcher(string text, ref int pos, out SelectorError? error)
    {
        error = null;
        var nameStart = pos;
        if (!IsNameStart(text[pos]))
        {
            error = new SelectorError(pos, $"expected a label name, found '{text[pos]}'", null);
            return null;
        }

        while (pos < text.Length && IsLabelChar(text[pos]))
        {
            pos++;
        }

        var name = text[nameStart..pos];
        SkipSpaces(text, ref pos);
        MatchOp op;
        if (Next(text, pos, "=~"))
        {
            (op, pos) = (MatchOp.Regex, pos + 2);
        }
        else if (Next(text, pos, "!~"))
        {
            (op, pos) = (MatchOp.NotRegex, pos + 2);
        }
        else if (Next(text, pos, "!="))
        {
            (op, pos) = (MatchOp.NotEqual, pos + 2);
        }
        else if (Next(text, pos, "="))
        {
            (op, pos) = (MatchOp.Equal, pos + 1);
        }
        else
        {
            error = new SelectorError(pos, $"label '{name}' needs an operator", "use =, !=, =~ or !~");
            return null;
        }

        SkipSpaces(text, ref pos);
        var valueStart = pos;
        if (pos >= text.Length || (text[pos] != '"' && text[pos] != '\''))
        {
            error = new SelectorError(pos, $"value of label '{name}' must be quoted", $"write {name}{OpText(op)}\"value\"");
            return null;
        }

        var quote = text[pos++];
        var value = new StringBuilder();
        while (pos < text.Length && text[pos] != quote)
        {
            if (text[pos] == '\\' && pos + 1 < text.Length)
            {
                pos++;
                value.Append(text[pos] switch { 'n' => '\n', 't' => '\t', var c => c });
            }
            else
            {
                value.Append(text[pos]);
            }

            pos++;
        }

        if (pos >= text.Length)
        {
            error = new SelectorError(valueStart, $"value of label '{name}' has no closing quote", null);
            return null;
        }

        pos++;
        try
        {
            return new LabelMatcher(name, op, value.ToString());
        }
        catch (ArgumentException ex)
        {
            error = new SelectorError(valueStart, $"regex for label '{name}' does not compile: {FirstLine(ex.Message)}", "regexes use .NET syntax and are anchored at both ends");
            return null;
        }
    }

    private static string FirstLine(string s)
    {
        var i = s.IndexOf('\n', StringComparison.Ordinal);
        return (i < 0 ? s : s[..i]).Trim();
    }

    private static string OpText(MatchOp op) => op switch
    {
        MatchOp.Equal => "=",
        MatchOp.NotEqual => "!=",
        MatchOp.Regex => "=~",
        _ => "!~",
    };

    private static bool Next(string text, int pos, string token) =>
        string.CompareOrdinal(text, pos, token, 0, token.Length) == 0;

    private static void SkipSpaces(string text, ref int pos)
    {
        while (pos < text.Length && char.IsWhiteSpace(text[pos]))
        {
            pos++;
        }
    }

    private static bool IsNameStart(char c) => char.IsAsciiLetter(c) || c == '_';

    private static bool IsLabelChar(char c) => char.IsAsciiLetterOrDigit(c) || c is '_' or '.';

    private static bool IsMetricChar(char c) => char.IsAsciiLetterOrDigit(c) || c is '_' or '.' or ':' or '/' or '-';
}
