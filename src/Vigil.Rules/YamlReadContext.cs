using System.Globalization;
using System.Text;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Vigil.Rules;

/// <summary>Reads YAML nodes into values and collects problems with their positions; shared by rule and test files.</summary>
internal sealed class YamlReadContext(string file)
{
    public string File { get; } = file;

    public List<RuleProblem> Problems { get; } = [];

    public static SourcePosition At(YamlNode node) => new((int)node.Start.Line, (int)node.Start.Column);

    public static SourcePosition At(Mark mark) => new((int)mark.Line, (int)mark.Column);

    /// <summary>The position of a character inside a scalar, when the scalar sits on one line.</summary>
    public static SourcePosition AtOffset(YamlScalarNode node, int offset)
    {
        var start = At(node);
        if (node.Start.Line != node.End.Line)
        {
            return start;
        }

        return node.Style switch
        {
            ScalarStyle.Plain or ScalarStyle.Any => start with { Column = start.Column + offset },
            ScalarStyle.SingleQuoted or ScalarStyle.DoubleQuoted => start with { Column = start.Column + 1 + offset },
            _ => start,
        };
    }

    public void Report(SourcePosition at, string message, string? hint = null) =>
        Problems.Add(new RuleProblem(File, at, message, hint));

    public void Report(YamlNode node, string message, string? hint = null) => Report(At(node), message, hint);

    /// <summary>The fields of a mapping, reporting unknown ones with the closest known name.</summary>
    public Fields? Map(YamlNode node, string what, IReadOnlyCollection<string> known)
    {
        if (node is not YamlMappingNode mapping)
        {
            Report(node, $"{what} must be a mapping of fields", "fields are written 'name: value', one per line");
            return null;
        }

        var fields = new Fields(mapping);
        foreach (var (keyNode, value) in mapping.Children)
        {
            if (keyNode is not YamlScalarNode { Value: { } key })
            {
                Report(keyNode, $"{what} has a field name that is not text");
                continue;
            }

            if (!known.Contains(key))
            {
                Report(keyNode, $"unknown field '{key}' in {what}", FieldNames.Hint(key, known));
                continue;
            }

            fields.Add(key, (YamlScalarNode)keyNode, value);
        }

        return fields;
    }

    public string? Text(YamlNode node, string field)
    {
        if (node is YamlScalarNode scalar)
        {
            if (IsNull(scalar))
            {
                Report(node, $"'{field}' has no value");
                return null;
            }

            return scalar.Value;
        }

        Report(node, $"'{field}' must be a single value, not a {(node is YamlSequenceNode ? "list" : "mapping")}");
        return null;
    }

    public static bool IsNull(YamlScalarNode scalar) =>
        scalar.Style is ScalarStyle.Plain or ScalarStyle.Any && (scalar.Value is null or "" or "~" or "null");

    public TimeSpan? Duration(YamlNode node, string field, bool allowZero = true)
    {
        var text = Text(node, field);
        if (text is null)
        {
            return null;
        }

        if (!PromDuration.TryParse(text, out var value))
        {
            Report(node, $"bad duration '{text}' for '{field}'", "use a duration such as 30s, 5m, 1h or 1h30m");
            return null;
        }

        if (!allowZero && value <= TimeSpan.Zero)
        {
            Report(node, $"'{field}' must be longer than 0s", "use a duration such as 30s, 5m, 1h or 1h30m");
            return null;
        }

        return value;
    }

    public double? Number(YamlNode node, string field)
    {
        var text = Text(node, field);
        if (text is null)
        {
            return null;
        }

        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !double.IsFinite(value))
        {
            Report(node, $"'{field}' must be a number, not '{text}'");
            return null;
        }

        return value;
    }

    public IReadOnlyList<string>? TextList(YamlNode node, string field)
    {
        if (node is not YamlSequenceNode sequence)
        {
            Report(node, $"'{field}' must be a list", $"write {field}: [a, b]");
            return null;
        }

        var result = new List<string>();
        foreach (var item in sequence.Children)
        {
            var text = Text(item, field);
            if (text is not null)
            {
                result.Add(text);
            }
        }

        return result;
    }

    public Dictionary<string, string>? TextMap(YamlNode node, string field)
    {
        if (node is not YamlMappingNode mapping)
        {
            Report(node, $"'{field}' must be a mapping of names to values", $"write {field}: {{ name: value }}");
            return null;
        }

        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in mapping.Children)
        {
            var name = Text(key, field);
            var text = value is YamlScalarNode s && !IsNull(s) ? s.Value : Text(value, name ?? field);
            if (name is not null && text is not null)
            {
                result[name] = text;
            }
        }

        return result;
    }

    /// <summary>A canonical rendering of a node (no positions, comments or styles) to compare definitions.</summary>
    public static string Canonical(YamlNode node)
    {
        var sb = new StringBuilder();
        Write(node, sb);
        return sb.ToString();

        static void Write(YamlNode node, StringBuilder sb)
        {
            switch (node)
            {
                case YamlScalarNode s:
                    sb.Append('"').Append((s.Value ?? string.Empty).Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal)).Append('"');
                    break;
                case YamlSequenceNode seq:
                    sb.Append('[');
                    foreach (var item in seq.Children)
                    {
                        Write(item, sb);
                        sb.Append(',');
                    }

                    sb.Append(']');
                    break;
                case YamlMappingNode map:
                    sb.Append('{');
                    foreach (var (k, v) in map.Children)
                    {
                        Write(k, sb);
                        sb.Append(':');
                        Write(v, sb);
                        sb.Append(',');
                    }

                    sb.Append('}');
                    break;
            }
        }
    }
}

/// <summary>The known fields of one mapping, in source order.</summary>
internal sealed class Fields(YamlMappingNode node)
{
    private readonly Dictionary<string, (YamlScalarNode Key, YamlNode Value)> _fields = new(StringComparer.Ordinal);

    public YamlMappingNode Node { get; } = node;

    public SourcePosition Position => YamlReadContext.At(Node);

    public IEnumerable<string> Names => _fields.Keys;

    public void Add(string name, YamlScalarNode key, YamlNode value) => _fields[name] = (key, value);

    public YamlNode? this[string name] => _fields.TryGetValue(name, out var f) ? f.Value : null;

    public YamlScalarNode? KeyOf(string name) => _fields.TryGetValue(name, out var f) ? f.Key : null;

    public bool Has(string name) => _fields.ContainsKey(name);

    /// <summary>Where each field's value starts, by field name.</summary>
    public IReadOnlyDictionary<string, SourcePosition> ValuePositions() =>
        _fields.ToDictionary(f => f.Key, f => YamlReadContext.At(f.Value.Value), StringComparer.Ordinal);
}
