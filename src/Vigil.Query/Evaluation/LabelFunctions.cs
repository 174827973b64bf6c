using System.Text;
using System.Text.RegularExpressions;
using Vigil.Query.Parsing;
using Vigil.Storage.Query;

namespace Vigil.Query.Evaluation;

/// <summary>label_replace and label_join, as Prometheus defines them; both keep the metric name.</summary>
internal static class LabelFunctions
{
    /// <summary><c>label_replace(v, dst, replacement, src, regex)</c>: where the anchored regex matches src's value, dst becomes the expanded replacement.</summary>
    public static List<Sample> Replace(IReadOnlyList<Sample> samples, IReadOnlyList<Expr> args)
    {
        var dst = StringArg(args[1], "label_replace", 2);
        var replacement = StringArg(args[2], "label_replace", 3);
        var src = StringArg(args[3], "label_replace", 4);
        var pattern = StringArg(args[4], "label_replace", 5);
        Regex regex;
        try
        {
            regex = new Regex("^(?:" + pattern + ")$", RegexOptions.CultureInvariant, LabelMatcher.MatchTimeout);
        }
        catch (ArgumentException)
        {
            throw new PromQLException($"invalid regular expression in label_replace(): {pattern}");
        }

        CheckLabelName(dst, "label_replace");
        var result = new List<Sample>(samples.Count);
        foreach (var sample in samples)
        {
            var value = sample.Labels.Get(src) ?? string.Empty;
            Match match;
            try
            {
                match = regex.Match(value);
            }
            catch (RegexMatchTimeoutException)
            {
                throw new PromQLException(
                    $"the regular expression \"{pattern}\" of label_replace() took longer than {LabelMatcher.MatchTimeout.TotalMilliseconds:0}ms on a label value and was stopped; simplify it", PromQLException.Execution);
            }

            // An empty result removes the label, as an empty label is absent.
            result.Add(match.Success ? new Sample(sample.Labels.With(dst, Expand(replacement, regex, match)), sample.Value) : sample);
        }

        return Unique(result, "label_replace");
    }

    /// <summary>
    /// The replacement as Go's <c>regexp.Expand</c> writes it, which Prometheus uses: <c>$name</c> takes the longest run
    /// of letters, digits and <c>_</c> (so <c>$1x</c> is the group named "1x", empty, and <c>${1}x</c> is group 1 then x);
    /// an all-digit name without a leading zero is a group number; a missing or unmatched group is empty; <c>$$</c> is
    /// <c>$</c>; a <c>$</c> without a valid name after it (<c>$-</c>, <c>${1</c>) stays as written, so .NET's own
    /// <c>$&amp;</c>, <c>$`</c>, <c>$'</c> and <c>$+</c> are plain text, and <c>$_</c> is the (absent) group "_", as in Go.
    /// </summary>
    internal static string Expand(string template, Regex regex, Match match)
    {
        var result = new StringBuilder(template.Length);
        var i = 0;
        while (i < template.Length)
        {
            var dollar = template.IndexOf('$', i);
            if (dollar < 0)
            {
                result.Append(template, i, template.Length - i);
                break;
            }

            result.Append(template, i, dollar - i);
            i = dollar + 1;
            if (i < template.Length && template[i] == '$')
            {
                result.Append('$');
                i++;
                continue;
            }

            var brace = i < template.Length && template[i] == '{';
            var start = brace ? i + 1 : i;
            var end = start;
            while (end < template.Length && Rune.DecodeFromUtf16(template.AsSpan(end), out var rune, out var used) == System.Buffers.OperationStatus.Done
                && (Rune.IsLetter(rune) || Rune.IsDigit(rune) || rune.Value == '_'))
            {
                end += used;
            }

            if (end == start || (brace && (end >= template.Length || template[end] != '}')))
            {
                result.Append('$'); // malformed: the $ is text, and what follows is read again as text
                continue;
            }

            result.Append(GroupValue(template[start..end], regex, match));
            i = brace ? end + 1 : end;
        }

        return result.ToString();
    }

    private static string GroupValue(string name, Regex regex, Match match)
    {
        var number = -1;
        if (name.All(char.IsAsciiDigit) && (name.Length == 1 || name[0] != '0') && name.Length <= 9)
        {
            number = int.Parse(name, System.Globalization.CultureInfo.InvariantCulture);
        }

        if (number >= 0)
        {
            return regex.GetGroupNumbers().Contains(number) && match.Groups[number].Success ? match.Groups[number].Value : string.Empty;
        }

        // Names are looked up only among the named groups: .NET would also read "01" as group 1.
        var named = !name.All(char.IsAsciiDigit) && regex.GetGroupNames().Contains(name);
        return named && match.Groups[name].Success ? match.Groups[name].Value : string.Empty;
    }

    /// <summary><c>label_join(v, dst, separator, src…)</c>: dst becomes the src values (missing = empty) joined by the separator.</summary>
    public static List<Sample> Join(IReadOnlyList<Sample> samples, IReadOnlyList<Expr> args)
    {
        var dst = StringArg(args[1], "label_join", 2);
        var separator = StringArg(args[2], "label_join", 3);
        var sources = new string[args.Count - 3];
        for (var i = 3; i < args.Count; i++)
        {
            sources[i - 3] = StringArg(args[i], "label_join", i + 1);
        }

        CheckLabelName(dst, "label_join");
        var result = new List<Sample>(samples.Count);
        var joined = new StringBuilder();
        foreach (var sample in samples)
        {
            joined.Clear();
            for (var i = 0; i < sources.Length; i++)
            {
                joined.Append(i == 0 ? string.Empty : separator).Append(sample.Labels.Get(sources[i]));
            }

            result.Add(new Sample(sample.Labels.With(dst, joined.ToString()), sample.Value));
        }

        return Unique(result, "label_join");
    }

    private static string StringArg(Expr arg, string function, int position) => arg switch
    {
        StringLiteral s => s.Value,
        Paren p => StringArg(p.Inner, function, position),
        _ => throw new PromQLException($"{function}(): argument {position} must be a string, got {arg}"),
    };

    private static void CheckLabelName(string name, string function)
    {
        if (!PrometheusNames.IsValidLabelName(name))
        {
            throw new PromQLException($"invalid destination label name in {function}(): {name}");
        }
    }

    /// <summary>Two samples that end with one label set are an error in Prometheus, not a silent merge.</summary>
    private static List<Sample> Unique(List<Sample> samples, string function)
    {
        var keys = new HashSet<string>(StringComparer.Ordinal);
        foreach (var sample in samples)
        {
            if (!keys.Add(sample.Labels.Key))
            {
                throw new PromQLException($"{function}(): vector cannot contain metrics with the same labelset {sample.Labels}", PromQLException.Execution);
            }
        }

        return samples;
    }
}
