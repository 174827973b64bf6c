using System.Globalization;

namespace Vigil.Rules;

public enum ThresholdOp
{
    Greater,
    GreaterOrEqual,
    Less,
    LessOrEqual,
}

/// <summary>A comparison such as <c>&gt; 0.2</c>: the condition a value must meet.</summary>
public sealed record Threshold(ThresholdOp Op, double Value)
{
    public bool IsMet(double value) => Op switch
    {
        ThresholdOp.Greater => value > Value,
        ThresholdOp.GreaterOrEqual => value >= Value,
        ThresholdOp.Less => value < Value,
        _ => value <= Value,
    };

    /// <summary>True for <c>&gt;</c> and <c>&gt;=</c>: breaching means going up.</summary>
    public bool IsUpward => Op is ThresholdOp.Greater or ThresholdOp.GreaterOrEqual;

    public string Symbol => Op switch
    {
        ThresholdOp.Greater => ">",
        ThresholdOp.GreaterOrEqual => ">=",
        ThresholdOp.Less => "<",
        _ => "<=",
    };

    public override string ToString() => $"{Symbol} {Value.ToString("R", CultureInfo.InvariantCulture)}";

    /// <summary>Parses <c>&gt; N</c>, <c>&gt;= N</c>, <c>&lt; N</c>, <c>&lt;= N</c>; otherwise returns null and what is wrong with the text.</summary>
    public static Threshold? TryParse(string? text, out string? error)
    {
        error = null;
        var s = (text ?? string.Empty).Trim();
        ThresholdOp op;
        int skip;
        if (s.StartsWith(">=", StringComparison.Ordinal))
        {
            (op, skip) = (ThresholdOp.GreaterOrEqual, 2);
        }
        else if (s.StartsWith("<=", StringComparison.Ordinal))
        {
            (op, skip) = (ThresholdOp.LessOrEqual, 2);
        }
        else if (s.StartsWith('>'))
        {
            (op, skip) = (ThresholdOp.Greater, 1);
        }
        else if (s.StartsWith('<'))
        {
            (op, skip) = (ThresholdOp.Less, 1);
        }
        else
        {
            error = double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out _)
                ? $"'{s}' has no comparison"
                : $"'{s}' is not a comparison";
            return null;
        }

        var number = s[skip..].Trim();
        if (!double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !double.IsFinite(value))
        {
            error = $"'{s}' does not compare with a number";
            return null;
        }

        return new Threshold(op, value);
    }
}
