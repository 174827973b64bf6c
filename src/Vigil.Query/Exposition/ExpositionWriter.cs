using System.Globalization;
using System.Text;

namespace Vigil.Query.Exposition;

/// <summary>The two text formats of <c>GET /metrics</c>.</summary>
public enum ExpositionFormat
{
    /// <summary>Prometheus text format 0.0.4.</summary>
    PrometheusText,

    /// <summary>OpenMetrics 1.0 text, ending in <c># EOF</c>.</summary>
    OpenMetrics,
}

/// <summary>Writes metric families in Prometheus text 0.0.4 or OpenMetrics 1.0, and picks the format from an Accept header.</summary>
public static class ExpositionWriter
{
    public const string PrometheusTextContentType = "text/plain; version=0.0.4; charset=utf-8";
    public const string OpenMetricsContentType = "application/openmetrics-text; version=1.0.0; charset=utf-8";

    /// <summary>OpenMetrics when the client accepts <c>application/openmetrics-text</c> (as Prometheus' scraper does), else text 0.0.4.</summary>
    public static ExpositionFormat Negotiate(string? accept)
    {
        if (string.IsNullOrEmpty(accept))
        {
            return ExpositionFormat.PrometheusText;
        }

        foreach (var part in accept.Split(','))
        {
            var fields = part.Split(';', StringSplitOptions.TrimEntries);
            if (!fields[0].Equals("application/openmetrics-text", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            var refused = fields.Skip(1).Any(f => f.Replace(" ", string.Empty, StringComparison.Ordinal) is "q=0" or "q=0.0" or "q=0.00" or "q=0.000");
            var version = fields.Skip(1).FirstOrDefault(f => f.StartsWith("version=", StringComparison.OrdinalIgnoreCase));
            var versionOk = version is null || version["version=".Length..].StartsWith("1.", StringComparison.Ordinal) || version.EndsWith("=1", StringComparison.Ordinal);
            if (!refused && versionOk)
            {
                return ExpositionFormat.OpenMetrics;
            }
        }

        return ExpositionFormat.PrometheusText;
    }

    public static string ContentType(ExpositionFormat format) =>
        format == ExpositionFormat.OpenMetrics ? OpenMetricsContentType : PrometheusTextContentType;

    /// <summary>Writes the families in order; families of one name (from several sources) are written as one.</summary>
    public static string Write(IEnumerable<MetricFamily> families, ExpositionFormat format)
    {
        var text = new StringBuilder();
        var merged = new List<MetricFamily>();
        var byName = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var family in families)
        {
            if (byName.TryGetValue(family.Name, out var index))
            {
                merged[index] = merged[index] with { Samples = [.. merged[index].Samples, .. family.Samples] };
                continue;
            }

            byName[family.Name] = merged.Count;
            merged.Add(family);
        }

        foreach (var family in merged)
        {
            if (format == ExpositionFormat.OpenMetrics)
            {
                WriteOpenMetrics(text, family);
            }
            else
            {
                WriteText(text, family);
            }
        }

        if (format == ExpositionFormat.OpenMetrics)
        {
            text.Append("# EOF\n");
        }

        return text.ToString();
    }

    private static void WriteText(StringBuilder text, MetricFamily family)
    {
        // Text 0.0.4 names a counter family by its sample name (with _total); OpenMetrics by the name without.
        var name = family.Type == FamilyType.Counter ? family.Name + "_total" : family.Name;
        if (family.Help.Length > 0)
        {
            text.Append("# HELP ").Append(name).Append(' ').Append(Escape(family.Help, quotes: false)).Append('\n');
        }

        text.Append("# TYPE ").Append(name).Append(' ').Append(TypeName(family.Type, openMetrics: false)).Append('\n');
        foreach (var sample in family.Samples)
        {
            WriteSample(text, family.SampleName(sample), sample, openMetrics: false);
        }
    }

    private static void WriteOpenMetrics(StringBuilder text, MetricFamily family)
    {
        text.Append("# TYPE ").Append(family.Name).Append(' ').Append(TypeName(family.Type, openMetrics: true)).Append('\n');
        // OpenMetrics requires a family's unit to be the suffix of its name; other units are left out.
        if (family.Unit.Length > 0 && family.Name.EndsWith("_" + family.Unit, StringComparison.Ordinal))
        {
            text.Append("# UNIT ").Append(family.Name).Append(' ').Append(family.Unit).Append('\n');
        }

        if (family.Help.Length > 0)
        {
            text.Append("# HELP ").Append(family.Name).Append(' ').Append(Escape(family.Help, quotes: true)).Append('\n');
        }

        foreach (var sample in family.Samples)
        {
            WriteSample(text, family.SampleName(sample), sample, openMetrics: true);
        }
    }

    private static void WriteSample(StringBuilder text, string name, ExpositionSample sample, bool openMetrics)
    {
        text.Append(name);
        if (sample.Labels.Count > 0)
        {
            text.Append('{');
            var first = true;
            foreach (var (label, value) in sample.Labels)
            {
                if (!first)
                {
                    text.Append(',');
                }

                first = false;
                text.Append(label).Append("=\"").Append(Escape(value, quotes: true)).Append('"');
            }

            text.Append('}');
        }

        text.Append(' ').Append(FormatValue(sample.Value));
        if (sample.TimestampMs is { } ms)
        {
            // Text 0.0.4 stamps in milliseconds, OpenMetrics in seconds.
            text.Append(' ').Append(openMetrics ? (ms / 1000m).ToString(CultureInfo.InvariantCulture) : ms.ToString(CultureInfo.InvariantCulture));
        }

        text.Append('\n');
    }

    private static string TypeName(FamilyType type, bool openMetrics) => type switch
    {
        FamilyType.Counter => "counter",
        FamilyType.Gauge => "gauge",
        FamilyType.Histogram => "histogram",
        FamilyType.Summary => "summary",
        _ => openMetrics ? "unknown" : "untyped",
    };

    /// <summary>Numbers as both formats and Prometheus' JSON API write them: shortest round-trip, <c>+Inf</c>, <c>-Inf</c>, <c>NaN</c>.</summary>
    public static string FormatValue(double value) => value switch
    {
        double.PositiveInfinity => "+Inf",
        double.NegativeInfinity => "-Inf",
        double.NaN => "NaN",
        _ => value.ToString("R", CultureInfo.InvariantCulture),
    };

    private static string Escape(string value, bool quotes)
    {
        if (value.AsSpan().IndexOfAny('\\', '\n', '"') < 0)
        {
            return value;
        }

        var builder = new StringBuilder(value.Length + 8);
        foreach (var c in value)
        {
            switch (c)
            {
                case '\\':
                    builder.Append(@"\\");
                    break;
                case '\n':
                    builder.Append(@"\n");
                    break;
                case '"' when quotes:
                    builder.Append("\\\"");
                    break;
                default:
                    builder.Append(c);
                    break;
            }
        }

        return builder.ToString();
    }
}
