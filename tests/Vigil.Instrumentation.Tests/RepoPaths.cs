namespace Vigil.Instrumentation.Tests;

internal static class RepoPaths
{
    /// <summary>The repository root: the first ancestor of the test binaries holding Vigil.slnx.</summary>
    public static string Root { get; } = FindRoot();

    public static string Of(string relative) => Path.Combine(Root, relative.Replace('/', Path.DirectorySeparatorChar));

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Vigil.slnx")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"no Vigil.slnx above {AppContext.BaseDirectory}");
    }
}
