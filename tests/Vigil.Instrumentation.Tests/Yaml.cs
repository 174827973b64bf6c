using YamlDotNet.RepresentationModel;

namespace Vigil.Instrumentation.Tests;

/// <summary>Small navigation helpers over YamlDotNet's representation model for the config tests.</summary>
internal static class Yaml
{
    public static YamlMappingNode Load(string relativePath)
    {
        var yaml = new YamlStream();
        using (var reader = File.OpenText(RepoPaths.Of(relativePath)))
        {
            yaml.Load(reader);
        }

        Assert.True(yaml.Documents.Count == 1, $"{relativePath}: expected one YAML document");
        return Assert.IsType<YamlMappingNode>(yaml.Documents[0].RootNode);
    }

    public static YamlNode? Get(this YamlNode? node, string key) =>
        node is YamlMappingNode map && map.Children.TryGetValue(new YamlScalarNode(key), out var child) ? child : null;

    public static YamlNode Need(this YamlNode? node, string key, string where) =>
        node.Get(key) ?? throw new Xunit.Sdk.XunitException($"{where}: missing '{key}'");

    public static string? Str(this YamlNode? node, string key) => (node.Get(key) as YamlScalarNode)?.Value;

    public static IEnumerable<YamlNode> Items(this YamlNode? node) => node is YamlSequenceNode seq ? seq.Children : [];

    public static IEnumerable<string> Strings(this YamlNode? node) => node.Items().OfType<YamlScalarNode>().Select(s => s.Value!);

    public static IEnumerable<(string Key, YamlNode Value)> Entries(this YamlNode? node) =>
        node is YamlMappingNode map ? map.Children.Select(kv => (((YamlScalarNode)kv.Key).Value!, kv.Value)) : [];
}
