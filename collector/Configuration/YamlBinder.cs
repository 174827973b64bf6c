using System.Collections;
using System.Globalization;
using System.Reflection;
using System.Text;
using Vigil.Storage;
using YamlDotNet.RepresentationModel;

namespace Vigil.Collector.Configuration;

/// <summary>
/// Binds a YAML mapping onto an options object with settable properties: snake_case keys map to
/// PascalCase properties; strings, numbers, booleans, durations (30s, 5m), lists, string maps and
/// nested objects are supported. Every problem is reported with file:line:column and, for an
/// unknown key, the closest known one.
/// </summary>
public static class YamlBinder
{
    public static void Bind(object target, YamlNode node, string path, string file, List<string> problems)
    {
        if (node is YamlScalarNode { Value: null or "" })
        {
            return;
        }

        if (node is not YamlMappingNode mapping)
        {
            problems.Add($"{Where(file, node)}: {path} must be a mapping");
            return;
        }

        var properties = target.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.CanWrite && p.GetSetMethod() is not null)
            .ToDictionary(p => SnakeCase(p.Name), StringComparer.Ordinal);
        foreach (var (keyNode, valueNode) in mapping.Children)
        {
            var key = ((YamlScalarNode)keyNode).Value ?? string.Empty;
            if (!properties.TryGetValue(key, out var property))
            {
                problems.Add($"{Where(file, keyNode)}: unknown setting '{path}.{key}'{ConfigLoader.Suggest(key, properties.Keys)}");
                continue;
            }

            var value = Convert(property.PropertyType, valueNode, $"{path}.{key}", file, problems);
            if (value is not null)
            {
                property.SetValue(target, value);
            }
        }
    }

    private static object? Convert(Type type, YamlNode node, string path, string file, List<string> problems)
    {
        if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(List<>))
        {
            if (node is not YamlSequenceNode sequence)
            {
                problems.Add($"{Where(file, node)}: {path} must be a list");
                return null;
            }

            var list = (IList)Activator.CreateInstance(type)!;
            var elementType = type.GetGenericArguments()[0];
            var index = 0;
            foreach (var child in sequence.Children)
            {
                var element = Convert(elementType, child, $"{path}[{index++}]", file, problems);
                if (element is not null)
                {
                    list.Add(element);
                }
            }

            return list;
        }

        if (type == typeof(Dictionary<string, string>))
        {
            if (node is not YamlMappingNode map)
            {
                problems.Add($"{Where(file, node)}: {path} must be a mapping of names to values");
                return null;
            }

            return map.Children.ToDictionary(c => ((YamlScalarNode)c.Key).Value ?? string.Empty, c => (c.Value as YamlScalarNode)?.Value ?? string.Empty, StringComparer.Ordinal);
        }

        if (type.IsClass && type != typeof(string))
        {
            var nested = Activator.CreateInstance(type)!;
            Bind(nested, node, path, file, problems);
            return nested;
        }

        if (node is not YamlScalarNode scalar)
        {
            problems.Add($"{Where(file, node)}: {path} must be a single value");
            return null;
        }

        var text = scalar.Value ?? string.Empty;
        object? result = type switch
        {
            _ when type == typeof(string) => text,
            _ when type == typeof(TimeSpan) => DurationFormat.TryParse(text, out var d) ? d : null,
            _ when type == typeof(int) => int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var i) ? i : null,
            _ when type == typeof(long) => long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var l) ? l : null,
            _ when type == typeof(double) => double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var f) ? f : null,
            _ when type == typeof(bool) => bool.TryParse(text, out var b) ? b : null,
            _ => null,
        };
        if (result is null)
        {
            var expected = type == typeof(TimeSpan) ? "a duration like 30s, 5m, 1h30m" : type == typeof(bool) ? "true or false" : $"a {type.Name.ToLowerInvariant()}";
            problems.Add($"{Where(file, node)}: {path}: '{text}' is not {expected}");
        }

        return result;
    }

    private static string Where(string file, YamlNode node) => $"{file}:{node.Start.Line}:{node.Start.Column}";

    private static string SnakeCase(string name)
    {
        var builder = new StringBuilder(name.Length + 4);
        for (var i = 0; i < name.Length; i++)
        {
            if (char.IsUpper(name[i]) && i > 0)
            {
                builder.Append('_');
            }

            builder.Append(char.ToLowerInvariant(name[i]));
        }

        return builder.ToString();
    }
}
