using System.Text.Json;

namespace Vigil.Differential.Tests;

/// <summary>The differential test's own judges: the tolerance, the label-set comparison and the corpus reader.</summary>
public sealed class ComparisonTests
{
    [Theory]
    [InlineData(1.0, 1.0 + 1e-10, true)]
    [InlineData(1.0, 1.0 + 1e-8, false)]
    [InlineData(1e6, 1e6 + 1e-4, true)]
    [InlineData(0.0, 1e-13, true)]
    [InlineData(0.0, 1e-11, false)]
    [InlineData(double.NaN, double.NaN, true)]
    [InlineData(double.NaN, 0.0, false)]
    [InlineData(double.PositiveInfinity, double.MaxValue, false)]
    [InlineData(double.NegativeInfinity, double.NegativeInfinity, true)]
    public void Close_IsRelativeOneInABillion_OrAbsoluteBelowATrillionth(double expected, double actual, bool close) =>
        Assert.Equal(close, QueryResult.Close(expected, actual));

    [Fact]
    public void Difference_IgnoresSeriesOrder_ButNotLabels()
    {
        var prometheus = Vector("""[{"metric":{"a":"1"},"value":[10,"1"]},{"metric":{"a":"2"},"value":[10,"+Inf"]}]""");
        var reordered = Vector("""[{"metric":{"a":"2"},"value":[10,"+Inf"]},{"metric":{"a":"1"},"value":[10,"1.0000000000001"]}]""");
        var renamed = Vector("""[{"metric":{"a":"1","__name__":"m"},"value":[10,"1"]},{"metric":{"a":"2"},"value":[10,"+Inf"]}]""");

        Assert.Null(QueryResult.Difference(prometheus, reordered));
        Assert.Equal("label sets differ: missing {a=\"1\"}, extra {__name__=\"m\",a=\"1\"}", QueryResult.Difference(prometheus, renamed));
    }

    [Fact]
    public void Difference_ComparesEveryPointOfARange()
    {
        var prometheus = Matrix("""[{"metric":{},"values":[[10,"1"],[70,"2"]]}]""");
        var late = Matrix("""[{"metric":{},"values":[[10,"1"],[70,"2.5"]]}]""");

        Assert.Equal("{} at 70: 2.5, Prometheus 2", QueryResult.Difference(prometheus, late));
    }

    [Fact]
    public void Corpus_UnknownClass_ReportsFileLineAndColumn()
    {
        var path = Path.Combine(Path.GetTempPath(), "vigil-corpus-" + Guid.NewGuid().ToString("N") + ".txt");
        File.WriteAllLines(path, ["# a comment", "", "up ## same", "sum(up) ## similar"]);
        try
        {
            var error = Assert.Throws<FormatException>(() => QueryCorpus.Parse(path));

            Assert.StartsWith($"{path}:4:12: unknown classification \"similar\"", error.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Corpus_ReadsEachClass()
    {
        var path = Path.Combine(Path.GetTempPath(), "vigil-corpus-" + Guid.NewGuid().ToString("N") + ".txt");
        File.WriteAllLines(path, ["up", "up ## same", "irate(up[1m]) ## unsupported irate", "count_over_time(up[5m]) ## differs closed-window => count_over_time(up[310s])", "up ## differs counter-since-retention <= increase(up[1h])", "up ## differs a-feeling => up"]);
        try
        {
            var error = Assert.Throws<FormatException>(() => QueryCorpus.Parse(path));
            Assert.StartsWith($"{path}:6:7: 'differs' needs a documented difference", error.Message, StringComparison.Ordinal);

            File.WriteAllLines(path, File.ReadAllLines(path)[..5]);
            var queries = QueryCorpus.Parse(path);

            Assert.Equal([Expectation.SameOrUnsupported, Expectation.Same, Expectation.Unsupported, Expectation.Differs, Expectation.Differs], queries.Select(q => q.Expectation));
            Assert.Equal("irate", queries[2].Construct);
            Assert.Equal(("count_over_time(up[310s])", true), (queries[3].Equivalent, queries[3].EquivalentOnVigil));
            Assert.Equal(("increase(up[1h])", false), (queries[4].Equivalent, queries[4].EquivalentOnVigil));
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static QueryResult Vector(string result) => Parse("vector", result);

    private static QueryResult Matrix(string result) => Parse("matrix", result);

    private static QueryResult Parse(string type, string result)
    {
        using var document = JsonDocument.Parse($$"""{"resultType":"{{type}}","result":{{result}}}""");
        return QueryResult.Parse(document.RootElement);
    }
}
