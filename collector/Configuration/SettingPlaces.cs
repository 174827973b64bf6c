using System.Text.RegularExpressions;
using YamlDotNet.RepresentationModel;

namespace Vigil.Collector.Configuration;

/// <summary>
/// Where each setting came from — <c>file:line:column</c>, a flag or an environment variable — so a
/// problem found after binding (an options record's <c>Validate()</c>, which only knows config paths
/// such as <c>alerting.webhooks[0].secret</c>) still tells the user where to look.
/// </summary>
internal sealed partial class SettingPlaces
{
    private readonly Dictionary<string, string> _places = new(StringComparer.Ordinal);
    private readonly HashSet<string> _unresolved = new(StringComparer.Ordinal);
    private readonly List<(string Setting, string Place, int Length)> _credentials = [];

    /// <summary>Records every setting under <paramref name="root"/>; <paramref name="skip"/> leaves out paths whose index would not match the bound list.</summary>
    public void Add(string file, YamlNode root, Func<string, bool>? skip = null) =>
        ConfigTree.Walk(root, string.Empty, (path, key, value) =>
        {
            if (skip?.Invoke(path) != true)
            {
                // A scalar is edited where its value is; a section or list is found by its key.
                var node = value is YamlScalarNode || key is null ? value : key;
                _places[path] = $"{file}:{node.Start.Line}:{node.Start.Column}";
            }

            if (key is YamlScalarNode { Value: { } name } && value is YamlScalarNode { Value: { Length: > 0 } text } && CredentialLength(name, text) is { } length)
            {
                _credentials.Add((path, $"{file}:{value.Start.Line}:{value.Start.Column}", length));
            }
        });

    /// <summary>
    /// Settings of the file named like a credential whose (non-empty) value is shorter than
    /// <paramref name="minimum"/> and still in force (not overridden, e.g. by VIGIL_ADMIN_TOKEN).
    /// Only lengths are kept, never the values.
    /// </summary>
    public IEnumerable<(string Setting, string Place, int Length)> ShortCredentials(int minimum) =>
        _credentials.Where(c => c.Length < minimum && _places.GetValueOrDefault(c.Setting) == c.Place);

    /// <summary>
    /// The length of the credential a setting or header carries, or null when its name does not say it
    /// carries one: <c>Authorization</c> (what follows the scheme), and names holding token, secret or api-key.
    /// </summary>
    public static int? CredentialLength(string name, string value)
    {
        if (name.Equals("authorization", StringComparison.OrdinalIgnoreCase))
        {
            var space = value.IndexOf(' ', StringComparison.Ordinal);
            return (space < 0 ? value : value[(space + 1)..]).Trim().Length;
        }

        foreach (var word in (ReadOnlySpan<string>)["token", "secret", "api-key", "apikey", "api_key"])
        {
            if (name.Contains(word, StringComparison.OrdinalIgnoreCase))
            {
                return value.Length;
            }
        }

        return null;
    }

    /// <summary>A setting given elsewhere (a flag, an environment variable) no longer points into the file.</summary>
    public void Set(string setting, string place) => _places[setting] = place;

    /// <summary>Settings whose <c>${VAR}</c> failed: that was reported, and what follows from their absence is not.</summary>
    public void Unresolved(IEnumerable<string> settings) => _unresolved.UnionWith(settings);

    /// <summary>
    /// Prefixes a problem that begins with a config path (<c>storage.retention: …</c>) with the place
    /// of that setting, or of the nearest enclosing one that was written (the list entry of a missing
    /// field). Other problems are returned as they are; null for a problem about a setting whose
    /// <c>${VAR}</c> was already reported.
    /// </summary>
    public string? Locate(string problem)
    {
        var colon = problem.IndexOf(": ", StringComparison.Ordinal);
        if (colon <= 0 || !SettingPath().IsMatch(problem.AsSpan(0, colon)))
        {
            return problem;
        }

        var path = problem[..colon];
        if (_unresolved.Contains(path))
        {
            return null;
        }

        while (path.Length > 0)
        {
            if (_places.TryGetValue(path, out var place))
            {
                return $"{place}: {problem}";
            }

            path = path[..Math.Max(0, path.LastIndexOfAny(['.', '[']))];
        }

        return problem;
    }

    [GeneratedRegex(@"^[a-z_][a-z0-9_]*(\.[A-Za-z0-9_\-]+|\[\d+\])*$")]
    private static partial Regex SettingPath();
}

/// <summary>Visits every value of a config document with its path, as Validate() messages spell it (<c>a.b[2].c</c>).</summary>
internal static class ConfigTree
{
    /// <summary>Calls <paramref name="visit"/> with (path, key node or null for a list item, value node) for every mapping value and list item, parents first.</summary>
    public static void Walk(YamlNode root, string basePath, Action<string, YamlNode?, YamlNode> visit) => Walk(root, basePath, visit, depth: 0);

    /// <summary>Deeper than any setting: a hostile document is refused by the YAML loader, and no setting lives there.</summary>
    public const int MaxDepth = 32;

    private static void Walk(YamlNode node, string path, Action<string, YamlNode?, YamlNode> visit, int depth)
    {
        if (depth > MaxDepth)
        {
            return;
        }

        switch (node)
        {
            case YamlMappingNode mapping:
                foreach (var (key, value) in mapping.Children)
                {
                    var name = (key as YamlScalarNode)?.Value ?? string.Empty;
                    var child = path.Length == 0 ? name : $"{path}.{name}";
                    visit(child, key, value);
                    Walk(value, child, visit, depth + 1);
                }

                break;
            case YamlSequenceNode sequence:
                for (var i = 0; i < sequence.Children.Count; i++)
                {
                    var child = $"{path}[{i}]";
                    visit(child, null, sequence.Children[i]);
                    Walk(sequence.Children[i], child, visit, depth + 1);
                }

                break;
        }
    }
}
