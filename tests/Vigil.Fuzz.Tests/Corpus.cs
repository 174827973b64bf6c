using System.Text;

namespace Vigil.Fuzz.Tests;

/// <summary>The seed corpus in tests/Vigil.Fuzz.Tests/Corpus (copied next to the test assembly).</summary>
internal static class Corpus
{
    public static string Directory(string name) => Path.Combine(AppContext.BaseDirectory, "Corpus", name);

    public static IReadOnlyList<string> Texts(string name, string pattern)
    {
        var files = System.IO.Directory.GetFiles(Directory(name), pattern, SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToArray();
        Assert.NotEmpty(files);
        return files.Select(File.ReadAllText).ToArray();
    }

    /// <summary>Seeds kept one per line (PromQL), skipping blank lines and # comments.</summary>
    public static IReadOnlyList<string> Lines(string name, string file)
    {
        var lines = File.ReadAllLines(Path.Combine(Directory(name), file), Encoding.UTF8)
            .Where(line => line.Length > 0 && !line.StartsWith('#'))
            .ToArray();
        Assert.NotEmpty(lines);
        return lines;
    }
}
