using System.Text;

namespace Vigil.Query;

/// <summary>An immutable label set (Prometheus names), sorted by name; equal sets have equal <see cref="Key"/>s.</summary>
public sealed class Labels : IEquatable<Labels>
{
    public const string MetricName = "__name__";

    private readonly KeyValuePair<string, string>[] _pairs;

    public static readonly Labels Empty = new([]);

    private Labels(KeyValuePair<string, string>[] sortedPairs)
    {
        _pairs = sortedPairs;
        var key = new StringBuilder();
        foreach (var (name, value) in _pairs)
        {
            key.Append(name).Append('\u0001').Append(value).Append('\u0002');
        }

        Key = key.ToString();
    }

    /// <summary>Builds a set; empty values are dropped, as Prometheus treats an empty label as absent.</summary>
    public static Labels From(IEnumerable<KeyValuePair<string, string>> pairs)
    {
        var map = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, value) in pairs)
        {
            if (!string.IsNullOrEmpty(value))
            {
                map[name] = value;
            }
        }

        return new Labels([.. map]);
    }

    public string Key { get; }

    public int Count => _pairs.Length;

    public IReadOnlyList<KeyValuePair<string, string>> Pairs => _pairs;

    public string? Get(string name)
    {
        foreach (var (n, v) in _pairs)
        {
            if (n == name)
            {
                return v;
            }
        }

        return null;
    }

    public Labels WithoutName() => Get(MetricName) is null ? this : new Labels([.. _pairs.Where(p => p.Key != MetricName)]);

    /// <summary>Only the named labels (<c>by</c>, <c>on</c>).</summary>
    public Labels Keep(IReadOnlyCollection<string> names) => new([.. _pairs.Where(p => names.Contains(p.Key))]);

    /// <summary>All but the named labels (<c>without</c>, <c>ignoring</c>).</summary>
    public Labels Drop(IReadOnlyCollection<string> names) => new([.. _pairs.Where(p => !names.Contains(p.Key))]);

    public Labels With(string name, string value) => From(_pairs.Where(p => p.Key != name).Append(new(name, value)));

    public bool Equals(Labels? other) => other is not null && other.Key == Key;

    public override bool Equals(object? obj) => obj is Labels other && Equals(other);

    public override int GetHashCode() => Key.GetHashCode(StringComparison.Ordinal);

    public override string ToString()
    {
        var name = Get(MetricName);
        var rest = string.Join(", ", _pairs.Where(p => p.Key != MetricName).Select(p => $"{p.Key}=\"{p.Value}\""));
        return (name ?? string.Empty) + "{" + rest + "}";
    }
}
