using System.Collections;
using System.Reflection;
using System.Text;
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

            var entries = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var (key, value) in map.Children)
            {
                var name = (key as YamlScalarNode)?.Value ?? string.Empty;
                if (value is YamlScalarNode { Value: var entry })
                {
                    entries[name] = entry ?? string.Empty;
                }
                else
                {
                    problems.Add($"{Where(file, value)}: {path}.{name} must be a single value");
                }
            }

            return entries;
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
        if (type == typeof(string))
        {
            return text;
        }

        var (result, problem) = type switch
        {
            _ when type == typeof(TimeSpan) => Box<TimeSpan>(text, ConfigScalars.Duration),
            _ when type == typeof(int) => Box<int>(text, ConfigScalars.Int),
            _ when type == typeof(long) => Box<long>(text, ConfigScalars.Long),
            _ when type == typeof(double) => Box<double>(text, ConfigScalars.Double),
            _ when type == typeof(bool) => Box<bool>(text, ConfigScalars.Boolean),
            _ => (null, $"'{text}' cannot be read into {type.Name}"),
        };
        if (problem is not null)
        {
            problems.Add($"{Where(file, node)}: {path}: {problem}");
        }

        return result;
    }

    private delegate string? Parser<T>(string? text, out T value);

    private static (object? Value, string? Problem) Box<T>(string text, Parser<T> parse)
        where T : struct
    {
        var problem = parse(text, out var value);
        return problem is null ? (value, null) : (null, problem);
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
