using System.Text;

namespace Vigil.Rules;

/// <summary>Helpers for label dictionaries: a canonical key per label set, and sorted copies for output.</summary>
public static class LabelSet
{
    public static IReadOnlyDictionary<string, string> Empty { get; } = new SortedDictionary<string, string>(StringComparer.Ordinal);

    /// <summary>A canonical, unambiguous key: names sorted ordinally, values escaped.</summary>
    public static string Key(IReadOnlyDictionary<string, string> labels)
    {
        var sb = new StringBuilder("{");
        foreach (var (name, value) in labels.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            if (sb.Length > 1)
            {
                sb.Append(',');
            }

            sb.Append(name).Append("=\"").Append(value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal)).Append('"');
        }

        return sb.Append('}').ToString();
    }

    public static SortedDictionary<string, string> Sorted(IEnumerable<KeyValuePair<string, string>> labels)
    {
        var sorted = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (k, v) in labels)
        {
            sorted[k] = v;
        }

        return sorted;
    }
}
