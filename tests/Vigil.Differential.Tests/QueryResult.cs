using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Vigil.Differential.Tests;

/// <summary>
/// A successful query answer reduced to what the comparison looks at: the result type, and per label set
/// (printed sorted, <c>__name__</c> included) its points. Order of series is not compared (neither API promises one
/// outside <c>sort</c>, which Grafana re-sorts anyway).
/// </summary>
internal sealed class QueryResult
{
    /// <summary>Relative tolerance between two values; absolute below <see cref="AbsoluteTolerance"/>, so a 1e-17 residue equals 0.</summary>
    public const double RelativeTolerance = 1e-9;

    public const double AbsoluteTolerance = 1e-12;

    private QueryResult(string type, SortedDictionary<string, List<(double Time, double Value)>> series)
    {
        Type = type;
        Series = series;
    }

    public string Type { get; }

    public SortedDictionary<string, List<(double Time, double Value)>> Series { get; }

    public static QueryResult Parse(JsonElement data)
    {
        var type = data.GetProperty("resultType").GetString()!;
        var series = new SortedDictionary<string, List<(double, double)>>(StringComparer.Ordinal);
        var result = data.GetProperty("result");
        switch (type)
        {
            case "scalar":
                series[""] = [Point(result)];
                break;
            case "vector":
                foreach (var item in result.EnumerateArray())
                {
                    Add(series, Labels(item.GetProperty("metric")), [Point(item.GetProperty("value"))]);
                }

                break;
            case "matrix":
                foreach (var item in result.EnumerateArray())
                {
                    Add(series, Labels(item.GetProperty("metric")), [.. item.GetProperty("values").EnumerateArray().Select(Point)]);
                }

                break;
            default:
                throw new FormatException($"result type {type} is not compared");
        }

        return new QueryResult(type, series);
    }

    /// <summary>Null when <paramref name="actual"/> (Vigil) answers as <paramref name="expected"/> (Prometheus); else the first difference.</summary>
    public static string? Difference(QueryResult expected, QueryResult actual)
    {
        if (expected.Type != actual.Type)
        {
            return $"result type {actual.Type}, Prometheus {expected.Type}";
        }

        var missing = expected.Series.Keys.Where(k => !actual.Series.ContainsKey(k)).ToList();
        var extra = actual.Series.Keys.Where(k => !expected.Series.ContainsKey(k)).ToList();
        if (missing.Count > 0 || extra.Count > 0)
        {
            return $"label sets differ: missing {Show(missing)}, extra {Show(extra)}";
        }

        foreach (var (labels, points) in expected.Series)
        {
            var other = actual.Series[labels];
            if (points.Count != other.Count)
            {
                return $"{labels}: {other.Count} points, Prometheus {points.Count} (first times {Times(other)} vs {Times(points)})";
            }

            for (var i = 0; i < points.Count; i++)
            {
                if (points[i].Time != other[i].Time)
                {
                    return $"{labels}: point {i} at {other[i].Time}, Prometheus at {points[i].Time}";
                }

                if (!Close(points[i].Value, other[i].Value))
                {
                    return $"{labels} at {points[i].Time}: {other[i].Value.ToString("R", CultureInfo.InvariantCulture)}, Prometheus {points[i].Value.ToString("R", CultureInfo.InvariantCulture)}";
                }
            }
        }

        return null;
    }

    /// <summary>Equal within the stated tolerance; NaN equals NaN and an infinity only itself.</summary>
    public static bool Close(double expected, double actual)
    {
        if (double.IsNaN(expected) || double.IsNaN(actual))
        {
            return double.IsNaN(expected) && double.IsNaN(actual);
        }

        if (double.IsInfinity(expected) || double.IsInfinity(actual))
        {
            return expected == actual;
        }

        var difference = Math.Abs(expected - actual);
        return difference <= AbsoluteTolerance || difference <= RelativeTolerance * Math.Max(Math.Abs(expected), Math.Abs(actual));
    }

    private static void Add(SortedDictionary<string, List<(double, double)>> series, string labels, List<(double, double)> points)
    {
        if (!series.TryAdd(labels, points))
        {
            throw new FormatException($"the answer holds the label set {labels} twice");
        }
    }

    private static (double, double) Point(JsonElement pair) => (pair[0].GetDouble(), Value(pair[1].GetString()!));

    // Both APIs print Go's spellings of the infinities; .NET reads NaN but not "+Inf".
    private static double Value(string text) => text switch
    {
        "+Inf" or "Inf" => double.PositiveInfinity,
        "-Inf" => double.NegativeInfinity,
        _ => double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture),
    };

    private static string Labels(JsonElement metric)
    {
        var text = new StringBuilder("{");
        foreach (var label in metric.EnumerateObject().OrderBy(p => p.Name, StringComparer.Ordinal))
        {
            text.Append(text.Length > 1 ? "," : "").Append(label.Name).Append("=\"").Append(label.Value.GetString()).Append('"');
        }

        return text.Append('}').ToString();
    }

    private static string Show(List<string> labelSets) => labelSets.Count == 0 ? "none" : string.Join(" ", labelSets.Take(3)) + (labelSets.Count > 3 ? $" (+{labelSets.Count - 3})" : "");

    private static string Times(List<(double Time, double Value)> points) => string.Join(",", points.Take(3).Select(p => p.Time.ToString(CultureInfo.InvariantCulture)));
}
