using System.Globalization;
using CsCheck;
using Microsoft.Extensions.Time.Testing;
using Vigil.Query;
using Vigil.Query.Evaluation;
using Vigil.Query.Parsing;
using Vigil.Storage;
using Vigil.Storage.Query;

namespace Vigil.Fuzz.Tests;

/// <summary>
/// The PromQL parser and evaluator on mutants of everyday queries and on generated expressions. The
/// contract: a query is refused with <see cref="PromQLException"/> (or the store's
/// <see cref="QueryException"/>), never another exception; what parses prints back to text that parses
/// to the same expression.
/// </summary>
public sealed class PromQLFuzzTests
{
    private static readonly DateTimeOffset Now = new(2025, 6, 1, 12, 0, 0, TimeSpan.Zero);

    private static readonly string[] Tokens =
    [
        "(", ")", "[", "]", "{", "}", "\"", "'", "`", ",", "=~", "!~", "!=", "==", "-", "+", "*", "/", "^", "%",
        "bool", "by", "without", "on", "ignoring", "offset", "@", "5m", "0s", "1e308", "-Inf", "NaN", "0x1F",
        "sum(", "rate(", "histogram_quantile(", "\\", "\n", "\u0000", "ä", "9999999999999999999d",
    ];

    [Fact]
    public void MutatedQueries_AreRefusedWithAQueryError_OrEvaluate()
    {
        var engine = NewEngine();
        var seeds = Corpus.Lines("promql", "queries.txt");
        FuzzRun.Run(Mutations.OfText(seeds, Tokens), query => Check(engine, query), query => query);
    }

    [Fact]
    public void GeneratedExpressions_ParsePrintAndEvaluate()
    {
        var engine = NewEngine();
        FuzzRun.Run(Expression, query =>
        {
            // Everything the grammar generates is valid PromQL of the supported subset.
            var expr = Parser.Parse(query);
            Assert.Equal(expr.ToString(), Parser.Parse(expr.ToString()).ToString());
            Check(engine, query);
        }, query => query);
    }

    private static void Check(PromQueryEngine engine, string query)
    {
        Expr expr;
        try
        {
            expr = Parser.Parse(query);
        }
        catch (PromQLException)
        {
            return;
        }

        // What the parser prints must read back as the same expression (rules and the API echo it).
        var printed = expr.ToString();
        Expr reparsed;
        try
        {
            reparsed = Parser.Parse(printed);
        }
        catch (PromQLException e)
        {
            Assert.Fail($"'{query}' parsed, but its printed form '{printed}' does not: {e.Message}");
            return;
        }

        Assert.Equal(printed, reparsed.ToString());

        // ... and mean the same: both forms give the same answer (or the same refusal).
        Assert.Equal(Answer(engine, query), Answer(engine, printed));
    }

    /// <summary>An engine answer in a canonical text form (samples sorted), or the refusal's message.</summary>
    private static string Answer(PromQueryEngine engine, string query)
    {
        try
        {
            var instant = engine.Query(query, Now).Value switch
            {
                ScalarValue scalar => scalar.Value.ToString("R", CultureInfo.InvariantCulture),
                VectorValue vector => string.Join("; ", vector.Samples.Select(s => $"{s.Labels} {s.Value.ToString("R", CultureInfo.InvariantCulture)}").Order(StringComparer.Ordinal)),
                var other => other.ToString()!,
            };
            var range = engine.QueryRange(query, Now.AddMinutes(-10), Now, TimeSpan.FromMinutes(1)).Series
                .Select(s => $"{s.Labels} {string.Join(",", s.Points.Select(p => p.Value.ToString("R", CultureInfo.InvariantCulture)))}")
                .Order(StringComparer.Ordinal);
            return instant + " | " + string.Join("; ", range);
        }
        catch (Exception e) when (e is PromQLException or QueryException)
        {
            return "refused";
        }
    }

    /// <summary>Expressions of the supported subset, nested a few levels, over the fixture's names.</summary>
    private static readonly Gen<string> Expression = Gen.Recursive<string>((depth, self) =>
    {
        var metric = Gen.OneOf(Gen.Const("auth_requests_total"), Gen.Const("process_memory_bytes"), Gen.Const("ai_run_duration_seconds_bucket"), Gen.Const("missing_metric"));
        var matcher = Gen.Select(Gen.OneOf(Gen.Const("tenant_id"), Gen.Const("le"), Gen.Const("auth_outcome")), Gen.OneOf(Gen.Const("="), Gen.Const("!="), Gen.Const("=~"), Gen.Const("!~")), Gen.OneOf(Gen.Const("acme"), Gen.Const("a.*"), Gen.Const(""), Gen.Const("a\\\\b"), Gen.Const("q\\\"t\\n")), (l, op, v) => $"{l}{op}\"{v}\"");
        var offset = Gen.OneOf(Gen.Const(string.Empty), Gen.Const(" offset 5m"), Gen.Const(" offset -1m"));
        var selector = Gen.Select(metric, matcher.Array[0, 2], (m, ms) => ms.Length == 0 ? m : $"{m}{{{string.Join(", ", ms)}}}");
        var range = Gen.OneOf(Gen.Const("1m"), Gen.Const("5m"), Gen.Const("1h30m"));
        var number = Gen.OneOf(Gen.Const("0"), Gen.Const("1"), Gen.Const("0.5"), Gen.Const("1e3"), Gen.Const("-2"));
        var leaf = Gen.OneOf(selector, number, Gen.Select(Gen.OneOf(Gen.Const("rate"), Gen.Const("increase")), range, Gen.Select(selector, offset), (f, r, s) => $"{f}({s.Item1}[{r}]{s.Item2})"), Gen.Select(selector, offset, (s, o) => s + o));
        if (depth >= 4)
        {
            return leaf;
        }

        var op = Gen.OneOf(Gen.Const("+"), Gen.Const("-"), Gen.Const("*"), Gen.Const("/"), Gen.Const(">"), Gen.Const("<="), Gen.Const("== bool"));
        var aggregation = Gen.OneOf(Gen.Const("sum"), Gen.Const("avg"), Gen.Const("min"), Gen.Const("max"), Gen.Const("count"));
        return Gen.OneOf(
            leaf,
            Gen.Select(self, op, self, (l, o, r) => $"{l} {o} {r}"),
            Gen.Select(self, op, self, (l, o, r) => $"{l} {o} on (tenant_id) {r}"),
            Gen.Select(self, op, self, (l, o, r) => $"{l} {o} ignoring (le) {r}"),
            self.Select(e => $"({e})"),
            self.Select(e => $"-{e}"),
            Gen.Select(aggregation, self, (a, e) => $"{a} by (tenant_id) ({e})"),
            Gen.Select(aggregation, self, (a, e) => $"{a}({e})"),
            self.Select(e => $"histogram_quantile(0.9, {e})"));
    });

    private static PromQueryEngine NewEngine()
    {
        var clock = new FakeTimeProvider(Now);
        var store = new WindowStore(new WindowStoreOptions(), clock);
        var labels = new Dictionary<string, string> { ["tenant.id"] = "acme", ["auth.outcome"] = "denied" };
        for (var i = 0; i < 30; i++)
        {
            var at = Now.AddSeconds(-600 + i * 20);
            store.AddNumber("auth.requests", MetricKind.Counter, cumulative: false, labels, at.AddSeconds(-1), at, i);
            store.AddNumber("process.memory", MetricKind.Gauge, cumulative: false, labels, default, at, 1e6 + i);
        }

        return new PromQueryEngine(store, PromQueryOptions.From(store.Options), clock);
    }
}
