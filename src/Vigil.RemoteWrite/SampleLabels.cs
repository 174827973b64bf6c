using System.Globalization;
using System.Text;
using Vigil.Query;
using Vigil.Storage.Query;

namespace Vigil.RemoteWrite;

/// <summary>The label set of one sent sample, in Prometheus names and sorted by name (byte order) as remote write requires.</summary>
internal static class SampleLabels
{
    public const string MetricName = "__name__";

    /// <summary>
    /// <c>__name__</c>, the store labels translated by <see cref="PrometheusNames.LabelName"/> (empty values left out, the
    /// first of two attributes that translate alike wins, as in the query API) and an optional extra label (le, quantile).
    /// </summary>
    public static List<KeyValuePair<string, string>> FromStore(string name, IReadOnlyDictionary<string, string> attributes, string? extraName = null, string? extraValue = null)
    {
        var labels = new List<KeyValuePair<string, string>>(attributes.Count + 2) { new(MetricName, name) };
        foreach (var (attribute, value) in attributes)
        {
            var label = PrometheusNames.LabelName(attribute);
            if (value.Length > 0 && label != MetricName && label != extraName && !Contains(labels, label))
            {
                labels.Add(new(label, value));
            }
        }

        if (extraName is not null)
        {
            labels.Add(new(extraName, extraValue!));
        }

        labels.Sort(static (a, b) => string.CompareOrdinal(a.Key, b.Key));
        return labels;
    }

    /// <summary><c>__name__</c> plus labels already in Prometheus names (an exposition sample's).</summary>
    public static List<KeyValuePair<string, string>> FromExposition(string name, IReadOnlyList<KeyValuePair<string, string>> labels)
    {
        var result = new List<KeyValuePair<string, string>>(labels.Count + 1) { new(MetricName, name) };
        foreach (var label in labels)
        {
            if (label.Key != MetricName)
            {
                result.Add(label);
            }
        }

        result.Sort(static (a, b) => string.CompareOrdinal(a.Key, b.Key));
        return result;
    }

    /// <summary>True when no selectors are given or the labels match every matcher of one of them.</summary>
    public static bool Matches(IReadOnlyList<KeyValuePair<string, string>> labels, IReadOnlyList<IReadOnlyList<LabelMatcher>> selectors)
    {
        if (selectors.Count == 0)
        {
            return true;
        }

        foreach (var selector in selectors)
        {
            var all = true;
            foreach (var matcher in selector)
            {
                if (!matcher.Matches(Find(labels, matcher.Name)))
                {
                    all = false;
                    break;
                }
            }

            if (all)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>A stable 64-bit id of a sorted label set (FNV-1a over name 0xFF value 0xFF): the key of a counter's running total.</summary>
    public static ulong Id(IReadOnlyList<KeyValuePair<string, string>> sorted)
    {
        var hash = 14695981039346656037UL;
        foreach (var (name, value) in sorted)
        {
            hash = Add(hash, name);
            hash = (hash ^ 0xFF) * 1099511628211UL;
            hash = Add(hash, value);
            hash = (hash ^ 0xFF) * 1099511628211UL;
        }

        return hash;
    }

    /// <summary>A histogram bound as Prometheus writes <c>le</c>: shortest round-trip decimal, no exponent; +Inf.</summary>
    public static string FormatBound(double bound)
    {
        if (double.IsPositiveInfinity(bound))
        {
            return "+Inf";
        }

        var text = bound.ToString("R", CultureInfo.InvariantCulture);
        return text.Contains('E', StringComparison.Ordinal) && Math.Abs(bound) < 7.9e28 ? ((decimal)bound).ToString(CultureInfo.InvariantCulture) : text;
    }

    public static string? Find(IReadOnlyList<KeyValuePair<string, string>> labels, string name)
    {
        foreach (var (key, value) in labels)
        {
            if (key == name)
            {
                return value;
            }
        }

        return null;
    }

    private static bool Contains(List<KeyValuePair<string, string>> labels, string name) => Find(labels, name) is not null;

    private static ulong Add(ulong hash, string text)
    {
        Span<byte> buffer = stackalloc byte[256];
        var bytes = Encoding.UTF8.GetMaxByteCount(text.Length) <= buffer.Length ? buffer : new byte[Encoding.UTF8.GetByteCount(text)];
        var n = Encoding.UTF8.GetBytes(text, bytes);
        foreach (var b in bytes[..n])
        {
            hash = (hash ^ b) * 1099511628211UL;
        }

        return hash;
    }
}
