using Vigil.Query.Parsing;
using Vigil.Storage.Query;

namespace Vigil.Query.Tests;

public sealed class ParserTests
{
    [Theory]
    [InlineData("auth_requests_total", "auth_requests_total")]
    [InlineData("auth_requests_total{tenant_id=\"acme\", auth_outcome=~\"fail.*\"}", "auth_requests_total{tenant_id=\"acme\", auth_outcome=~\"fail.*\"}")]
    [InlineData("rate(auth_requests_total[5m])", "rate(auth_requests_total[5m])")]
    [InlineData("sum by (tenant_id) (rate(m[1h30m]))", "sum by (tenant_id) (rate(m[1h30m]))")]
    [InlineData("sum(rate(m[5m])) by (le)", "sum by (le) (rate(m[5m]))")]
    [InlineData("avg without (a, b) (m)", "avg without (a, b) (m)")]
    [InlineData("a / on (tenant_id) b", "a / on (tenant_id) b")]
    [InlineData("a / ignoring(le) b", "a / ignoring (le) b")]
    [InlineData("a > bool 0.2", "a > bool 0.2")]
    [InlineData("{__name__=~\"auth.*\"}", "{__name__=~\"auth.*\"}")]
    [InlineData("histogram_quantile(0.99, sum by (le) (rate(d_bucket[5m])))", "histogram_quantile(0.99, sum by (le) (rate(d_bucket[5m])))")]
    [InlineData("-m", "-m")]
    [InlineData("m offset 5m", "m offset 5m")]
    [InlineData("rate(m[5m] offset -1h)", "rate(m[5m] offset -1h)")]
    [InlineData("m{a=\"x\\\\y\\\"z\"}", "m{a=\"x\\\\y\\\"z\"}")]
    [InlineData("{__name__=\"a-b\"}", "{__name__=\"a-b\"}")]
    [InlineData("a * on (x) group_left (y, z) b", "a * on (x) group_left (y, z) b")]
    [InlineData("a / ignoring(x) group_right b", "a / ignoring (x) group_right () b")]
    [InlineData("a and on(x) b or c unless d", "a and on (x) b or c unless d")]
    [InlineData("topk by (x) (3, m)", "topk by (x) (3, m)")]
    [InlineData("count_values(\"v\", m) without (a)", "count_values without (a) (\"v\", m)")]
    [InlineData("a % 2 ^ 3", "a % 2 ^ 3")]
    [InlineData("max_over_time(rate(m[5m])[10m:1m] offset 5m)", "max_over_time(rate(m[5m])[10m:1m] offset 5m)")]
    [InlineData("min_over_time(m[5m:])", "min_over_time(m[5m:])")]
    [InlineData("m @ 100 offset 5m", "m offset 5m @ 100")]
    [InlineData("rate(m[5m] @ end())", "rate(m[5m] @ end())")]
    [InlineData("max_over_time(m[5m:1m] @ start())", "max_over_time(m[5m:1m] @ start())")]
    [InlineData("quantile_over_time(0.9, sum(m)[1h:5m])", "quantile_over_time(0.9, sum(m)[1h:5m])")]
    public void ValidExpressions_ParseToTheExpectedTree(string query, string expected)
    {
        Assert.Equal(expected, Parser.Parse(query).ToString());
    }

    [Fact]
    public void Precedence_MultiplicationBindsTighterThanAdditionAndComparisonLoosest()
    {
        var expr = Assert.IsType<Binary>(Parser.Parse("a + b * c > 1"));

        Assert.Equal(">", expr.Op);
        var sum = Assert.IsType<Binary>(expr.Left);
        Assert.Equal("+", sum.Op);
        Assert.Equal("*", Assert.IsType<Binary>(sum.Right).Op);
    }

    [Fact]
    public void Power_IsRightAssociativeAndBindsTighterThanUnaryMinus()
    {
        // 2 ^ 3 ^ 2 is 2 ^ (3 ^ 2); -2 ^ 2 is -(2 ^ 2), as Prometheus' grammar has it.
        var power = Assert.IsType<Binary>(Parser.Parse("2 ^ 3 ^ 2"));
        Assert.IsType<NumberLiteral>(power.Left);
        Assert.Equal("^", Assert.IsType<Binary>(power.Right).Op);

        var negated = Assert.IsType<Unary>(Parser.Parse("-2 ^ 2"));
        Assert.Equal("^", Assert.IsType<Binary>(negated.Inner).Op);

        // Unary minus still binds tighter than *: -a * b is (-a) * b.
        Assert.IsType<Unary>(Assert.IsType<Binary>(Parser.Parse("-a * b")).Left);
    }

    [Fact]
    public void SetOperators_OrBindsLoosestThenAndUnlessThenComparisons()
    {
        var or = Assert.IsType<Binary>(Parser.Parse("a and b or c unless d > 1"));

        Assert.Equal("or", or.Op);
        Assert.Equal("and", Assert.IsType<Binary>(or.Left).Op);
        var unless = Assert.IsType<Binary>(or.Right);
        Assert.Equal("unless", unless.Op);
        Assert.Equal(">", Assert.IsType<Binary>(unless.Right).Op);
    }

    [Fact]
    public void Matchers_KeepOperatorAndPrometheusLabelName()
    {
        var selector = Assert.IsType<VectorSelector>(Parser.Parse("m{tenant_id!=\"a\", route!~'/x.*', q=`raw\\n`}"));

        Assert.Equal("m", selector.Name);
        Assert.Equal([MatchOp.Equal, MatchOp.NotEqual, MatchOp.NotRegex, MatchOp.Equal], selector.Matchers.Select(m => m.Op));
        Assert.Equal("raw\\n", selector.Matchers[3].Value);
    }

    [Fact]
    public void RangeAndOffset_AreKeptOnTheSelector()
    {
        var call = Assert.IsType<Call>(Parser.Parse("increase(m[10m] offset 1h)"));
        var matrix = Assert.IsType<MatrixSelector>(call.Args[0]);

        Assert.Equal(TimeSpan.FromMinutes(10), matrix.Range);
        Assert.Equal(TimeSpan.FromHours(1), matrix.Vector.Offset);
    }

    [Theory]
    [InlineData("m[5m:1m][5m:1m]", "parse error at char 9: a subquery [..:..] applies to an instant vector expression, not to m[5m:1m]")]
    [InlineData("sum(m)[5m]", "parse error at char 7: a range [..] applies only to a metric selector, not to sum(m); for an expression use a subquery, e.g. max_over_time(sum(m)[10m:1m])")]
    [InlineData("max_over_time(m[1d:1s])", "parse error at char 16: the subquery [1d:1s] has more than 11,000 steps; use a longer step")]
    [InlineData("holt_winters(m[5m], 0.5, 0.5)", "function holt_winters is not supported")]
    [InlineData("timestamp(up, 1)", "function timestamp takes 1 argument, got 2")]
    [InlineData("irate(m)", "function irate needs a range vector like m[5m], got m")]
    [InlineData("limitk(m)", "parse error at char 9: unexpected \")\", expected \",\"")]
    [InlineData("topk(m)", "parse error at char 7: unexpected \")\", expected \",\"")]
    [InlineData("a and bool b", "parse error at char 3: bool modifier can only be used on comparison operators")]
    [InlineData("a and on(x) group_left b", "parse error at char 13: no grouping allowed for \"and\" operation")]
    [InlineData("a * group_left b", "parse error at char 5: group_left needs on (…) or ignoring (…) before it")]
    [InlineData("round(m, 1, 2)", "function round takes 1 to 2 arguments, got 3")]
    [InlineData("label_join(m, \"a\")", "function label_join takes at least 3 arguments, got 2")]
    [InlineData("sum(m) @ 100", "parse error at char 8: @ modifier must be preceded by an instant vector selector or range vector selector or a subquery")]
    [InlineData("m @ 1 @ 2", "parse error at char 7: @ <timestamp> may not be set multiple times")]
    [InlineData("m @ now()", "parse error at char 3: @ needs a unix timestamp, start() or end(), got \"now\"")]
    [InlineData("sum by (x) (m", "parse error at char 14: unexpected end of input, expected \")\"")]
    [InlineData("{}", "parse error at char 1: vector selector must contain at least one non-empty matcher")]
    [InlineData("m{a=~\"(\"}", "parse error at char 6: invalid regular expression \"(\" for label a")]
    [InlineData("rate(m)", "function rate needs a range vector like m[5m], got m")]
    [InlineData("rate(m[5x])", "parse error at char 8: unexpected \"5\", expected a duration for the range (e.g. 5m)")]
    [InlineData("m{a=b}", "parse error at char 5: unexpected \"b\", expected a quoted label value")]
    [InlineData("histogram_quantile(0.9)", "function histogram_quantile takes 2 arguments, got 1")]
    [InlineData("m )", "parse error at char 3: unexpected \")\", expected end of input")]
    [InlineData("", "parse error: the query is empty")]
    [InlineData("m{a=\"x}", "parse error at char 5: unterminated string")]
    [InlineData("1 + 0x", "parse error at char 5: bad number \"0x\"; hexadecimal numbers go from 0x0 to 0x7fffffffffffffff")]
    [InlineData("1 + 0x10000000000000000", "parse error at char 5: bad number \"0x10000000000000000\"; hexadecimal numbers go from 0x0 to 0x7fffffffffffffff")]
    [InlineData("rate(m[99999999999999999d])", "parse error at char 8: bad duration \"99999999999999999d\"; write e.g. 30s, 5m, 1h30m, 7d")]
    public void InvalidOrUnsupportedExpressions_SayWhatAndWhere(string query, string error)
    {
        var e = Assert.Throws<PromQLException>(() => Parser.Parse(query));

        Assert.Equal(error, e.Message);
    }

    [Fact]
    public void MatchSelector_RefusesExpressions()
    {
        var e = Assert.Throws<PromQLException>(() => Parser.ParseSelector("rate(m[5m])"));

        Assert.Equal("match[] must be a series selector like up{job=\"x\"}, got rate(m[5m])", e.Message);
    }
}
