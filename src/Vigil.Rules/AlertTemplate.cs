using System.Globalization;
using System.Text;

namespace Vigil.Rules;

/// <summary>The values a summary, description or annotation template can use.</summary>
public sealed record TemplateContext(double? Value, double? Threshold, double Samples, IReadOnlyDictionary<string, string> Labels)
{
    /// <summary>When the current breach began (pending or firing); null while inactive.</summary>
    public DateTimeOffset? ActiveAt { get; init; }

    /// <summary>The rule's <c>for</c>, as the instance's override has it.</summary>
    public TimeSpan For { get; init; }

    /// <summary>The rule's window.</summary>
    public TimeSpan Window { get; init; }
}

/// <summary>
/// Templates such as <c>{{ $value | percent }} in {{ $labels.tenant.id }}</c>. Variables: <c>$value</c>,
/// <c>$threshold</c>, <c>$samples</c>, <c>$labels.NAME</c> (NAME may contain dots), and the texts <c>$activeAt</c>
/// (RFC 3339, UTC), <c>$for</c> and <c>$window</c> (durations such as <c>5m</c>); functions on numbers:
/// <c>percent</c>, <c>humanize</c>.
/// </summary>
public static class AlertTemplate
{
    /// <summary>The longest rendered text, in characters, marker included.</summary>
    public const int MaxOutputLength = 64 * 1024;

    /// <summary>Ends a rendering cut at <see cref="MaxOutputLength"/>.</summary>
    public const string TruncationMarker = "…[truncated]";

    private static readonly string[] Functions = ["percent", "humanize"];

    private static readonly string[] TextVariables = ["$activeAt", "$for", "$window"];

    /// <summary>Checks a template; returns (offset in the text, message) for each problem.</summary>
    public static IReadOnlyList<(int Offset, string Message)> Check(string template)
    {
        var problems = new List<(int, string)>();
        Walk(template, (offset, expr) =>
        {
            var error = Validate(expr);
            if (error is not null)
            {
                problems.Add((offset, error));
            }

            return string.Empty;
        }, (offset, message) => problems.Add((offset, message)));
        return problems;
    }

    /// <summary>
    /// Renders a template. Labels can be long and a template can use them many times, so the text is cut at
    /// <see cref="MaxOutputLength"/> characters, ending with <see cref="TruncationMarker"/>.
    /// </summary>
    public static string Render(string template, TemplateContext context)
    {
        var text = Walk(template, (_, expr) => Evaluate(expr, context), (_, _) => { }, MaxOutputLength);
        if (text.Length <= MaxOutputLength)
        {
            return text;
        }

        var keep = MaxOutputLength - TruncationMarker.Length;
        if (char.IsHighSurrogate(text[keep - 1]))
        {
            keep--;
        }

        return string.Concat(text.AsSpan(0, keep), TruncationMarker);
    }

    /// <summary>Expands <paramref name="template"/>, stopping once the text is longer than <paramref name="stopAfter"/>.</summary>
    private static string Walk(string template, Func<int, string, string> expression, Action<int, string> error, int stopAfter = int.MaxValue)
    {
        var sb = new StringBuilder();
        var pos = 0;
        while (pos < template.Length && sb.Length <= stopAfter)
        {
            var open = template.IndexOf("{{", pos, StringComparison.Ordinal);
            if (open < 0)
            {
                sb.Append(template, pos, template.Length - pos);
                break;
            }

            sb.Append(template, pos, open - pos);
            var close = template.IndexOf("}}", open + 2, StringComparison.Ordinal);
            if (close < 0)
            {
                error(open, "template has '{{' without a closing '}}'");
                sb.Append(template, open, template.Length - open);
                break;
            }

            sb.Append(expression(open, template[(open + 2)..close].Trim()));
            pos = close + 2;
        }

        return sb.ToString();
    }

    private static string? Validate(string expr)
    {
        var parts = expr.Split('|', StringSplitOptions.TrimEntries);
        var head = parts[0];
        if (TextVariables.Contains(head, StringComparer.Ordinal))
        {
            return parts.Length > 1 ? $"'{head}' is text: template functions apply to $value, $threshold and $samples" : null;
        }

        if (head is not ("$value" or "$threshold" or "$samples") && !IsLabelReference(head))
        {
            return $"unknown template variable '{head}' (use $value, $threshold, $samples, $activeAt, $for, $window or $labels.NAME)";
        }

        foreach (var fn in parts.Skip(1))
        {
            if (!Functions.Contains(fn, StringComparer.Ordinal))
            {
                return $"unknown template function '{fn}' (use percent or humanize)";
            }
        }

        return null;
    }

    private static bool IsLabelReference(string head) =>
        head.StartsWith("$labels.", StringComparison.Ordinal) && head.Length > "$labels.".Length;

    private static string Evaluate(string expr, TemplateContext context)
    {
        var parts = expr.Split('|', StringSplitOptions.TrimEntries);
        var head = parts[0];
        if (IsLabelReference(head))
        {
            return context.Labels.TryGetValue(head["$labels.".Length..], out var label) ? label : string.Empty;
        }

        switch (head)
        {
            case "$activeAt":
                return context.ActiveAt is { } at ? at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture) : string.Empty;
            case "$for":
                return PromDuration.Format(context.For);
            case "$window":
                return PromDuration.Format(context.Window);
        }

        double? number = head switch
        {
            "$value" => context.Value,
            "$threshold" => context.Threshold,
            "$samples" => context.Samples,
            _ => null,
        };
        if (number is not { } v)
        {
            return head is "$value" or "$threshold" ? "no data" : string.Empty;
        }

        var fn = parts.Length > 1 ? parts[^1] : null;
        return fn switch
        {
            "percent" => FormatNumber(v * 100) + "%",
            "humanize" => Humanize(v),
            _ => FormatNumber(v),
        };
    }

    /// <summary>SI prefixes for large numbers: 1500 → 1.5k, 2300000 → 2.3M.</summary>
    private static string Humanize(double v)
    {
        string[] prefixes = ["", "k", "M", "G", "T", "P"];
        var i = 0;
        while (Math.Abs(v) >= 1000 && i < prefixes.Length - 1)
        {
            v /= 1000;
            i++;
        }

        return Math.Round(v, 2).ToString("0.##", CultureInfo.InvariantCulture) + prefixes[i];
    }

    /// <summary>Short, stable number text: up to 4 decimals, invariant culture.</summary>
    public static string FormatNumber(double v) =>
        double.IsNaN(v) ? "NaN" : Math.Round(v, 4).ToString("0.####", CultureInfo.InvariantCulture);
}
