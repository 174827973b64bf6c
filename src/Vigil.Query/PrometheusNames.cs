using System.Text;
using Vigil.Storage;

namespace Vigil.Query;

/// <summary>
/// Translates OTel metric and attribute names to Prometheus names the way Prometheus' OTLP receiver does
/// (the OpenTelemetry "Prometheus and OpenMetrics compatibility" rules, with unit and type suffixes):
/// <c>auth.requests</c> <c>{request}</c> counter → <c>auth_requests_total</c>;
/// <c>ai.run.duration</c> <c>s</c> histogram → <c>ai_run_duration_seconds</c>; <c>tenant.id</c> → <c>tenant_id</c>.
/// </summary>
public static class PrometheusNames
{
    private static readonly Dictionary<string, string> Units = new(StringComparer.Ordinal)
    {
        ["d"] = "days",
        ["h"] = "hours",
        ["min"] = "minutes",
        ["s"] = "seconds",
        ["ms"] = "milliseconds",
        ["us"] = "microseconds",
        ["ns"] = "nanoseconds",
        ["By"] = "bytes",
        ["KiBy"] = "kibibytes",
        ["MiBy"] = "mebibytes",
        ["GiBy"] = "gibibytes",
        ["TiBy"] = "tebibytes",
        ["KBy"] = "kilobytes",
        ["MBy"] = "megabytes",
        ["GBy"] = "gigabytes",
        ["TBy"] = "terabytes",
        ["m"] = "meters",
        ["V"] = "volts",
        ["A"] = "amperes",
        ["J"] = "joules",
        ["W"] = "watts",
        ["g"] = "grams",
        ["Cel"] = "celsius",
        ["Hz"] = "hertz",
        ["1"] = string.Empty,
        ["%"] = "percent",
    };

    private static readonly Dictionary<string, string> PerUnits = new(StringComparer.Ordinal)
    {
        ["s"] = "second",
        ["m"] = "minute",
        ["h"] = "hour",
        ["d"] = "day",
        ["w"] = "week",
        ["mo"] = "month",
        ["y"] = "year",
    };

    /// <summary>
    /// The Prometheus family name: for counters it ends in <c>_total</c>; histograms and summaries get
    /// <c>_bucket</c>/<c>_sum</c>/<c>_count</c> appended to it per series.
    /// </summary>
    public static string MetricName(string name, string unit, MetricKind kind)
    {
        var tokens = Tokens(name);
        var (main, per) = UnitSuffixes(unit);
        if (main.Length > 0 && !tokens.Contains(main))
        {
            tokens.Add(main);
        }

        if (per.Length > 0 && !tokens.Contains(per))
        {
            tokens.Add(per);
        }

        if (kind == MetricKind.Counter)
        {
            tokens.RemoveAll(t => t == "total");
            tokens.Add("total");
        }

        if (unit == "1" && kind == MetricKind.Gauge)
        {
            tokens.RemoveAll(t => t == "ratio");
            tokens.Add("ratio");
        }

        var result = string.Join('_', tokens);
        return result.Length > 0 && char.IsAsciiDigit(result[0]) ? "_" + result : result;
    }

    /// <summary>The unit as Prometheus writes it (<c>s</c> → <c>seconds</c>, <c>By/s</c> → <c>bytes_per_second</c>); empty for annotations.</summary>
    public static string Unit(string unit)
    {
        var (main, per) = UnitSuffixes(unit);
        return main.Length > 0 && per.Length > 0 ? main + "_" + per : main + per;
    }

    /// <summary>An attribute name as a Prometheus label: invalid characters become one <c>_</c>; a leading digit gets <c>key_</c>.</summary>
    public static string LabelName(string name)
    {
        if (name.Length == 0)
        {
            return name;
        }

        var reserved = name.Length >= 4 && name.StartsWith("__", StringComparison.Ordinal) && name.EndsWith("__", StringComparison.Ordinal);
        var inner = reserved ? name[2..^2] : name;
        var builder = new StringBuilder(inner.Length + 4);
        var previousUnderscore = false;
        foreach (var c in inner)
        {
            if (char.IsAsciiLetterOrDigit(c))
            {
                builder.Append(c);
                previousUnderscore = false;
            }
            else if (!previousUnderscore)
            {
                builder.Append('_');
                previousUnderscore = true;
            }
        }

        var result = reserved ? "__" + builder + "__" : builder.ToString();
        return char.IsAsciiDigit(result[0]) ? "key_" + result : result;
    }

    /// <summary>True for label names as Prometheus 2.x accepts them: <c>[a-zA-Z_][a-zA-Z0-9_]*</c>.</summary>
    public static bool IsValidLabelName(string name) =>
        name.Length > 0 && !char.IsAsciiDigit(name[0]) && name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_');

    /// <summary>True for names PromQL and the exposition formats accept as they are.</summary>
    public static bool IsValidMetricName(string name)
    {
        if (name.Length == 0 || char.IsAsciiDigit(name[0]))
        {
            return false;
        }

        foreach (var c in name)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '_' or ':'))
            {
                return false;
            }
        }

        return true;
    }

    private static List<string> Tokens(string name)
    {
        var tokens = new List<string>();
        var start = -1;
        for (var i = 0; i <= name.Length; i++)
        {
            var valid = i < name.Length && (char.IsAsciiLetterOrDigit(name[i]) || name[i] == ':');
            if (valid && start < 0)
            {
                start = i;
            }
            else if (!valid && start >= 0)
            {
                tokens.Add(name[start..i]);
                start = -1;
            }
        }

        return tokens;
    }

    private static (string Main, string Per) UnitSuffixes(string unit)
    {
        var slash = unit.IndexOf('/', StringComparison.Ordinal);
        var mainText = (slash < 0 ? unit : unit[..slash]).Trim();
        var perText = slash < 0 ? string.Empty : unit[(slash + 1)..].Trim();
        var main = mainText.Length == 0 || mainText.AsSpan().ContainsAny('{', '}') ? string.Empty : Units.GetValueOrDefault(mainText, mainText);
        var per = perText.Length == 0 || perText.AsSpan().ContainsAny('{', '}') ? string.Empty : "per_" + PerUnits.GetValueOrDefault(perText, perText);
        main = CleanUnit(main);
        per = CleanUnit(per).TrimEnd('_');
        if (per == "per")
        {
            per = string.Empty;
        }

        if (per.Length > 0)
        {
            main = main.TrimEnd('_');
        }

        return (main, per);
    }

    private static string CleanUnit(string unit)
    {
        var builder = new StringBuilder(unit.Length);
        foreach (var c in unit)
        {
            var valid = char.IsAsciiLetterOrDigit(c) || c == ':';
            var next = valid ? c : '_';
            if (next == '_' && (builder.Length == 0 || builder[^1] == '_'))
            {
                continue;
            }

            builder.Append(next);
        }

        return builder.ToString();
    }
}
