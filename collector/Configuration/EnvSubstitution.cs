using System.Text;
using YamlDotNet.RepresentationModel;

namespace Vigil.Collector.Configuration;

/// <summary>
/// <c>${VAR}</c> in config values, as the OpenTelemetry Collector and the OpenTelemetry configuration
/// file format write it: <c>${VAR}</c> and <c>${env:VAR}</c> are the variable's value,
/// <c>${VAR:-default}</c> the default when it is unset or empty, <c>$$</c> a literal <c>$</c>. An unset
/// variable without a default is a problem at file:line:column — a secret silently becoming "" (or the
/// text <c>${VAR}</c>) is worse than refusing to start. Only values are expanded, never keys, and the
/// result is not read as YAML again: <c>${VAR}</c> is always one value. Decision 015.
/// </summary>
internal static class EnvSubstitution
{
    /// <summary>
    /// Expands every value under <paramref name="root"/> in place; problems name the setting, never the
    /// value. A setting whose reference fails is taken out of the document (as if not written), so it
    /// cannot also be judged as the literal text; its path is returned, for the caller to leave out
    /// problems that only follow from it (a "required" secret).
    /// </summary>
    public static IReadOnlyCollection<string> Apply(string file, YamlNode root, string basePath, Func<string, string?> environment, List<string> problems)
    {
        var unresolved = new List<string>();
        var keys = new HashSet<YamlNode>(ReferenceEqualityComparer.Instance);
        ConfigTree.Walk(root, basePath, (path, key, value) =>
        {
            if (value is YamlScalarNode { Value: { } text } scalar && text.Contains('$', StringComparison.Ordinal))
            {
                var (expanded, problem) = Expand(text, environment);
                if (problem is null)
                {
                    scalar.Value = expanded;
                    return;
                }

                problems.Add($"{file}:{scalar.Start.Line}:{scalar.Start.Column}: {path}: {problem}");
                unresolved.Add(path);
                if (key is not null)
                {
                    keys.Add(key);
                }
            }
        });

        if (keys.Count > 0)
        {
            Remove(root, keys, depth: 0);
        }

        return unresolved;
    }

    private static void Remove(YamlNode node, HashSet<YamlNode> keys, int depth)
    {
        if (depth > ConfigTree.MaxDepth)
        {
            return;
        }

        if (node is YamlMappingNode mapping)
        {
            foreach (var key in mapping.Children.Keys.Where(keys.Contains).ToList())
            {
                mapping.Children.Remove(key);
            }
        }

        var children = node switch
        {
            YamlMappingNode m => m.Children.Values,
            YamlSequenceNode q => q.Children,
            _ => (IEnumerable<YamlNode>)[],
        };
        foreach (var child in children)
        {
            Remove(child, keys, depth + 1);
        }
    }

    /// <summary>The text with every reference replaced, or the first problem in it.</summary>
    public static (string Text, string? Problem) Expand(string text, Func<string, string?> environment)
    {
        var result = new StringBuilder(text.Length);
        var i = 0;
        while (i < text.Length)
        {
            var dollar = text.IndexOf('$', i);
            if (dollar < 0 || dollar == text.Length - 1)
            {
                result.Append(text, i, text.Length - i);
                break;
            }

            result.Append(text, i, dollar - i);
            var next = text[dollar + 1];
            if (next == '$')
            {
                result.Append('$');
                i = dollar + 2;
                continue;
            }

            if (next != '{')
            {
                result.Append('$'); // a lone $ is itself, as in the Collector
                i = dollar + 1;
                continue;
            }

            var close = text.IndexOf('}', dollar + 2);
            if (close < 0)
            {
                return (text, "'${' is not closed by '}'; write ${VAR}, ${VAR:-default}, or $$ for a literal $");
            }

            var (value, problem) = Resolve(text[(dollar + 2)..close], environment);
            if (problem is not null)
            {
                return (text, problem);
            }

            result.Append(value);
            i = close + 1;
        }

        return (result.ToString(), null);
    }

    private static (string? Value, string? Problem) Resolve(string reference, Func<string, string?> environment)
    {
        var body = reference.StartsWith("env:", StringComparison.Ordinal) ? reference[4..] : reference;
        var length = 0;
        while (length < body.Length && (body[length] == '_' || char.IsAsciiLetter(body[length]) || (length > 0 && char.IsAsciiDigit(body[length]))))
        {
            length++;
        }

        var name = body[..length];
        var rest = body[length..];
        if (length == 0 || (rest.Length > 0 && !rest.StartsWith(":-", StringComparison.Ordinal)))
        {
            // The reference itself is not quoted: a secret that happens to hold "${" must not reach a log.
            return rest.StartsWith(':') && length > 0 && reference.Length == body.Length
                ? (null, $"${{{name}:…}}: only the env: provider is supported; write ${{env:VAR}} or ${{VAR}}")
                : (null, "a ${…} here is not a variable reference; write ${VAR}, ${env:VAR} or ${VAR:-default} (names: letters, digits, _), or $$ for a literal $");
        }

        var value = environment(name);
        if (rest.Length > 0)
        {
            return (string.IsNullOrEmpty(value) ? rest[2..] : value, null);
        }

        return value is null
            ? (null, $"environment variable {name} is not set; set it, or give a default: ${{{name}:-value}}")
            : (value, null);
    }
}
