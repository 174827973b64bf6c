using System.Text;
using Vigil.Query.Api;
using Vigil.Query.Evaluation;
using Vigil.Query.Parsing;

namespace Vigil.Query.Tests;

/// <summary>
/// The nesting limit of PromQL expressions: every shape that nests (parentheses, unary minus, chains of binary
/// operators, function calls, aggregations) is accepted up to the limit, evaluated without exhausting the stack,
/// and refused beyond it with a message, however deep the input.
/// </summary>
public sealed class NestingDepthTests
{
    // The documented limit (docs/query.md, docs/decisions/008-nesting-depth-limits.md).
    private const int MaxDepth = 400;

    private const double Depth = 200; // queue_depth's value at the query time

    public static TheoryData<string> Shapes() => ["parens", "unary", "chain", "calls", "aggregations", "negated-parens", "right-nested", "power", "subqueries"];

    /// <summary>An expression over queue_depth that nests <paramref name="depth"/> levels, and its value.</summary>
    private static (string Query, double Value) Nested(string shape, int depth) => shape switch
    {
        "parens" => (Repeat("(", depth) + "queue_depth" + Repeat(")", depth), Depth),
        "unary" => (Repeat("-", depth) + "queue_depth", depth % 2 == 0 ? Depth : -Depth),
        "chain" => ("queue_depth" + Repeat(" + 1", depth), Depth + depth),
        "calls" => (Repeat("abs(", depth) + "queue_depth" + Repeat(")", depth), Depth),
        "aggregations" => (Repeat("sum(", depth) + "queue_depth" + Repeat(")", depth), Depth),
        "negated-parens" => (Repeat("-(", depth / 2) + "queue_depth" + Repeat(")", depth / 2), depth / 2 % 2 == 0 ? Depth : -Depth),
        "right-nested" => (Repeat("1 + (", depth / 2) + "queue_depth" + Repeat(")", depth / 2), Depth + (depth / 2)),
        "power" => (Repeat("1 ^ ", depth) + "queue_depth", 1), // right-associative: the parser recurses per ^
        "subqueries" => (Repeat("last_over_time(", depth / 2) + "queue_depth" + Repeat("[1s:10s])", depth / 2), Depth), // a call and a subquery per pair, one step each

        _ => throw new ArgumentOutOfRangeException(nameof(shape)),
    };

    private static QueryHarness Gauge()
    {
        var h = new QueryHarness();
        h.Clock.SetUtcNow(QueryHarness.At(180));
        h.Gauge("queue.depth", 130, Depth, ("host", "a"));
        return h;
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void AtTheLimit_InstantAndRangeQueriesEvaluate_OnAHalfMegabyteStack(string shape)
    {
        var h = Gauge();
        var (query, expected) = Nested(shape, MaxDepth);

        // A thread-pool thread has 1.5 MB on Linux; the deepest accepted query must fit in a third of it.
        var (instant, range) = OnStackOf(512 * 1024, () =>
            (h.Engine.Query(query, QueryHarness.At(180)), h.Engine.QueryRange(query, QueryHarness.At(160), QueryHarness.At(180), TimeSpan.FromSeconds(10))));

        Assert.Equal(expected, Assert.Single(Assert.IsType<VectorValue>(instant.Value).Samples).Value);
        Assert.Equal([expected, expected, expected], Assert.Single(range.Series).Points.Select(p => p.Value));
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void OneLevelBeyondTheLimit_IsRefusedNamingTheLimit(string shape)
    {
        var h = Gauge();
        var (query, _) = Nested(shape, shape is "negated-parens" or "right-nested" or "subqueries" ? MaxDepth + 2 : MaxDepth + 1);

        var e = Assert.Throws<PromQLException>(() => h.Engine.Query(query, QueryHarness.At(180)));

        Assert.Contains($"deeper than {MaxDepth} levels", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void HundredThousandLevels_AreRefusedWithoutExhaustingTheStack(string shape)
    {
        var h = Gauge();
        var (query, _) = Nested(shape, 100_000);

        var e = Assert.Throws<PromQLException>(() => h.Engine.QueryRange(query, QueryHarness.At(160), QueryHarness.At(180), TimeSpan.FromSeconds(10)));

        Assert.Contains($"deeper than {MaxDepth} levels", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void DeepParentheses_AreRefusedAtTheFirstOneBeyondTheLimit()
    {
        var e = Assert.Throws<PromQLException>(() => Parser.Parse(Repeat("(", 100_000) + "1" + Repeat(")", 100_000)));

        // Positions are 1-based: the parenthesis that opens level 401 is character 401.
        Assert.StartsWith($"parse error at char {MaxDepth + 1}: ", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void DeepMatchSelector_IsRefused()
    {
        var h = Gauge();

        var e = Assert.Throws<PromQLException>(() => PromApi.Series(h.Engine, [Repeat("(", 100_000) + "queue_depth" + Repeat(")", 100_000)]));

        Assert.Contains($"deeper than {MaxDepth} levels", e.Message, StringComparison.Ordinal);
    }

    private static string Repeat(string text, int count) => new StringBuilder(text.Length * count).Insert(0, text, count).ToString();

    private static T OnStackOf<T>(int bytes, Func<T> work)
    {
        T result = default!;
        Exception? failure = null;
        var thread = new Thread(
            () =>
            {
                try
                {
                    result = work();
                }
                catch (Exception e)
                {
                    failure = e;
                }
            },
            bytes);
        thread.Start();
        thread.Join();
        if (failure is not null)
        {
            throw new InvalidOperationException("the query failed on the small stack", failure);
        }

        return result;
    }
}
