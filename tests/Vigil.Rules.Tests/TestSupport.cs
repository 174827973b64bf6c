using Vigil.Storage;
using Vigil.Storage.Query;

namespace Vigil.Rules.Tests;

/// <summary>An <see cref="IWindowReader"/> answering each selector with the samples a test set for it.</summary>
internal sealed class FakeWindowReader : IWindowReader
{
    private readonly Dictionary<string, IReadOnlyList<AggregateSample>> _results = new(StringComparer.Ordinal);

    public Dictionary<string, MetricKind> Kinds { get; } = new(StringComparer.Ordinal);

    public List<AggregateQuery> Queries { get; } = [];

    public string? Refuse { get; set; }

    /// <summary>Sets what a selector (as written, e.g. <c>ai.runs{ai.run.status="failed"}</c>) returns.</summary>
    public void Set(string selector, params AggregateSample[] samples) =>
        _results[SelectorParser.TryParse(selector, out _)!.ToString()] = samples;

    public IReadOnlyList<AggregateSample> Aggregate(AggregateQuery query)
    {
        Queries.Add(query);
        if (Refuse is not null)
        {
            throw new QueryException(Refuse);
        }

        var key = new Selector(query.Metric, query.Matchers).ToString();
        return _results.TryGetValue(key, out var samples) ? samples : [];
    }

    /// <summary>What <see cref="ArrivalLagOf"/> answers per metric (the store's measured p99 arrival lag).</summary>
    public Dictionary<string, TimeSpan> Lags { get; } = new(StringComparer.Ordinal);

    public TimeSpan? ArrivalLagOf(string metric) => Lags.TryGetValue(metric, out var lag) ? lag : null;

    public MetricKind? KindOf(string metric) => Kinds.TryGetValue(metric, out var kind) ? kind : null;

    public IReadOnlyList<SeriesInfo> ListSeries(string? metric) => [];

    public static AggregateSample S(double value, double samples, params (string Name, string Value)[] labels) =>
        new(labels.ToDictionary(l => l.Name, l => l.Value, StringComparer.Ordinal), value, samples);
}

internal sealed class TempDirectory : IDisposable
{
    public TempDirectory()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "vigil-rules-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string Write(string name, string text)
    {
        var file = System.IO.Path.Combine(Path, name);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(file)!);
        File.WriteAllText(file, text);
        return file;
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // A still-open SQLite file on some platforms; the OS temp cleaner takes it.
        }
    }
}

internal static class TestRules
{
    public static readonly DateTimeOffset T0 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public static AlertRule Alert(string yaml)
    {
        var result = RuleFileLoader.Load("test.yaml", yaml);
        Assert.Empty(result.Problems);
        return result.File.Groups[0].Alerts[0];
    }

    public static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", name);

    public static Dictionary<string, string> L(params (string Name, string Value)[] labels) =>
        labels.ToDictionary(l => l.Name, l => l.Value, StringComparer.Ordinal);
}
