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
            result.Add(match.Success ? new Sample(sample.Labels.With(dst, match.Result(replacement)), sample.Value) : sample);
        }

        return Unique(result, "label_replace");
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
