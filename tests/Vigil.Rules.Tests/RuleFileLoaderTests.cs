using Vigil.Storage;
using Vigil.Storage.Query;

namespace Vigil.Rules.Tests;

public sealed class RuleFileLoaderTests
{
    private static IReadOnlyList<string> Problems(string fixture)
    {
        var path = TestRules.Fixture(fixture);
        return RuleFileLoader.LoadFile(path).Problems.Select(p => p.ToString().Replace(path, fixture, StringComparison.Ordinal)).ToList();
    }

    [Fact]
    public void ValidFile_LoadsEveryField()
    {
        var result = RuleFileLoader.LoadFile(TestRules.Fixture("valid_rules.yaml"));

        Assert.Empty(result.Problems);
        var group = Assert.Single(result.File.Groups);
        Assert.Equal("checkout", group.Name);
        Assert.Equal(TimeSpan.FromSeconds(30), group.Interval);
        var aggregate = Assert.Single(group.Aggregates);
        Assert.Equal("checkout.error_ratio", aggregate.Record);
        Assert.Equal(new SourcePosition(4, 5), aggregate.Position);
        Assert.Equal("increase(http.requests{http.status_class=\"5xx\"}[5m]) / increase(http.requests[5m]) by (tenant.id)", aggregate.Query);
        var errors = group.Alerts[0];
        Assert.Equal("CheckoutErrorRatioHigh", errors.Name);
        Assert.Equal(new SourcePosition(11, 5), errors.Position);
        Assert.Equal(SelectionKind.Last, errors.Selection.Kind);
        Assert.Equal(10, errors.MinSamples);
        var ov = Assert.Single(errors.Overrides);
        Assert.Equal(TestRules.L(("tenant.id", "acme")), ov.Match);
        Assert.Equal(new Threshold(ThresholdOp.Greater, 0.02), ov.Threshold);
        Assert.Equal(Severity.P1, ov.Severity);
        var latency = group.Alerts[1];
        Assert.Equal(SelectionKind.Quantile, latency.Selection.Kind);
        Assert.Equal(0.99, latency.Selection.Quantile);
        Assert.Equal(MatchOp.Regex, latency.Selection.Of.Matchers[0].Op);
        Assert.Equal(new Threshold(ThresholdOp.GreaterOrEqual, 2.5), latency.Threshold);
        Assert.Equal(TimeSpan.FromMinutes(5), latency.For);
        Assert.Equal(TimeSpan.FromMinutes(10), latency.Window);
        Assert.Equal(NoDataPolicy.KeepLast, latency.NoData);
    }

    [Fact]
    public void UnknownField_ReportsLineColumnAndClosestName()
    {
        Assert.Equal(
        [
            "unknown_field.yaml:3:5: alert 'AuthFailures' is missing required field 'threshold' (write it as \"> 0.2\", \">= 10\", \"< 1\" or \"<= 0\")",
            "unknown_field.yaml:7:5: unknown field 'treshold' in alert rule (did you mean 'threshold'?)",
        ], Problems("unknown_field.yaml"));
    }

    [Fact]
    public void BadDuration_ReportsValuePosition()
    {
        Assert.Equal(
            ["bad_duration.yaml:9:10: bad duration '5 minutes' for 'for' (use a duration such as 30s, 5m, 1h or 1h30m)"],
            Problems("bad_duration.yaml"));
    }

    [Fact]
    public void MissingRunbookUrl_ReportsTheRule()
    {
        Assert.Equal(
            ["missing_runbook_url.yaml:3:5: alert 'AuthFailures' is missing required field 'runbook_url' (every alert links to its runbook: an absolute https:// URL)"],
            Problems("missing_runbook_url.yaml"));
    }

    [Fact]
    public void RelativeRunbookUrl_ReportsValuePosition()
    {
        Assert.Equal(
            ["relative_runbook_url.yaml:5:18: runbook_url '/runbooks/auth' is not an absolute http(s) URL (write the full address, e.g. https://runbooks.example.com/auth/failure-rate)"],
            Problems("relative_runbook_url.yaml"));
    }

    [Fact]
    public void RegexThatDoesNotCompile_PointsAtItsValueInsideTheSelector()
    {
        var problem = Assert.Single(Problems("bad_regex.yaml"));

        Assert.StartsWith("bad_regex.yaml:6:42: increase: regex for label 'auth.method' does not compile: ", problem, StringComparison.Ordinal);
        Assert.EndsWith("(regexes use .NET syntax and are anchored at both ends)", problem, StringComparison.Ordinal);
    }

    [Fact]
    public void ThresholdWithoutComparison_ReportsValuePosition()
    {
        Assert.Equal(
            ["bad_threshold.yaml:7:16: threshold '10' has no comparison (write it as \"> 0.2\", \">= 10\", \"< 1\" or \"<= 0\")"],
            Problems("bad_threshold.yaml"));
    }

    [Fact]
    public void DuplicateAlertName_ReportsTheSecondWithTheFirstLine()
    {
        Assert.Equal(
            ["duplicate_alert.yaml:8:5: duplicate alert name 'AuthFailures' in group 'auth' (first defined at line 3; names must be unique in a group)"],
            Problems("duplicate_alert.yaml"));
    }

    [Fact]
    public void OverrideThatCanNeverMatch_ReportsTheMatchedLabel()
    {
        Assert.Equal(
        [
            "override_never_matches.yaml:12:18: override can never match: label 'gen_ai.request.model' is neither in 'by' nor pinned by the selector (add 'gen_ai.request.model' to by: [workspace.id])",
            "override_never_matches.yaml:14:18: override can never match: the selector pins tenant.id=\"acme\" but the override matches tenant.id: globex (match tenant.id: acme, or remove this override)",
        ], Problems("override_never_matches.yaml"));
    }

    [Fact]
    public void ManyProblems_AreAllReportedInLineOrder()
    {
        var problems = Problems("many_problems.yaml");

        Assert.Equal(
        [
            "many_problems.yaml:2:11: bad duration 'soon' for 'interval' (use a duration such as 30s, 5m, 1h or 1h30m)",
            "many_problems.yaml:5:15: severity 'P5' is not one of P1, P2, P3, P4 (P1 pages now, P4 is informational)",
            "many_problems.yaml:6:18: runbook_url 'runbooks/first' is not an absolute http(s) URL (write the full address, e.g. https://runbooks.example.com/auth/failure-rate)",
            "many_problems.yaml:7:26",
            "many_problems.yaml:9:14: recover '> 0.95' points the same way as threshold '> 0.9' (recover is the condition that ends the alert, e.g. \"< 0.9\")",
            "many_problems.yaml:10:14: no_data 'alerted' is not one of ok, alerting, keep_last (did you mean 'alerting'?)",
            "many_problems.yaml:11:5: unknown field 'sumary' in alert rule (did you mean 'summary'?)",
            "many_problems.yaml:16:5: alert 'Second' needs exactly one selection, found 2: rate, max (keep one and move the others to their own rules)",
            "many_problems.yaml:18:13: bad duration '10' for 'window' (use a duration such as 30s, 5m, 1h or 1h30m)",
        ], problems.Select(p => p.StartsWith("many_problems.yaml:7:26", StringComparison.Ordinal) ? "many_problems.yaml:7:26" : p));
    }

    [Fact]
    public void YamlSyntaxError_ReportsPosition()
    {
        var problem = Assert.Single(Problems("syntax_error.yaml"));

        Assert.StartsWith("syntax_error.yaml:5:17: YAML syntax error: ", problem, StringComparison.Ordinal);
    }

    /// <summary>Inputs on which YamlDotNet throws other than YamlException (minimized from fuzzing): still a problem, not a crash.</summary>
    [Theory]
    [InlineData(": {\ne")]
    [InlineData(":\n :")]
    public void YamlTheScannerGivesUpOn_IsAProblemWithAPosition(string text)
    {
        var problem = Assert.Single(RuleFileLoader.Load("broken.yaml", text).Problems);

        Assert.StartsWith("YAML syntax error", problem.Message, StringComparison.Ordinal);
        Assert.InRange(problem.Line, 1, 2);
        Assert.True(problem.Column >= 1);
    }

    [Fact]
    public void QuantileOfACounter_SeenByTheStore_IsReportedAtTheSelector()
    {
        var path = TestRules.Fixture("quantile_of_counter.yaml");
        var reader = new FakeWindowReader { Kinds = { ["auth.requests"] = MetricKind.Counter } };

        var problems = RuleSetValidator.Validate([RuleFileLoader.LoadFile(path).File], reader);

        var problem = Assert.Single(problems);
        Assert.Equal(new RuleProblem(path, 7, 11, "quantile needs a histogram or exponential histogram or summary, but 'auth.requests' is a counter",
            "for a counter use ratio, increase, rate"), problem);
    }

    [Fact]
    public void QuantileOfAnUnseenMetric_IsAccepted()
    {
        var path = TestRules.Fixture("quantile_of_counter.yaml");

        Assert.Empty(RuleSetValidator.Validate([RuleFileLoader.LoadFile(path).File], new FakeWindowReader()));
    }

    [Fact]
    public void TemplateWithUnknownVariable_PointsInsideTheString()
    {
        const string yaml = """
            group: g
            rules:
              - alert: A
                severity: P2
                runbook_url: https://runbooks.example.com/a
                summary: "Rate {{ $valeu | percent }}"
                rate: http.requests
                threshold: "> 1"
            """;

        var problem = Assert.Single(RuleFileLoader.Load("t.yaml", yaml).Problems);

        Assert.Equal(new RuleProblem("t.yaml", 6, 20, "summary: unknown template variable '$valeu' (use $value, $threshold, $samples, $activeAt, $for, $window or $labels.NAME)",
            "example: \"{{ $value | percent }} for {{ $labels.tenant.id }}\""), problem);
    }

    [Fact]
    public void AggregateReferencedWithAnotherFunction_IsReported()
    {
        const string yaml = """
            group: g
            aggregates:
              - record: err.ratio
                ratio:
                  of: http.requests{code="500"}
                  to: http.requests
                by: [tenant.id]
            rules:
              - alert: A
                severity: P2
                runbook_url: https://runbooks.example.com/a
                avg: err.ratio
                by: [tenant.id]
                threshold: "> 1"
            """;
        var file = RuleFileLoader.Load("t.yaml", yaml);
        Assert.Empty(file.Problems);

        var problem = Assert.Single(RuleSetValidator.Validate([file.File], null));

        Assert.Equal(new RuleProblem("t.yaml", 12, 10, "'err.ratio' is a recorded aggregate, already windowed: avg cannot apply", "select it with last: err.ratio"), problem);
    }

    [Fact]
    public void SelectorLabelNames_MayContainDots()
    {
        var selector = SelectorParser.TryParse("auth.requests{tenant.id=\"a\", auth.outcome!=\"success\", auth.method=~\"pass|token\", x.y!~\"z\"}", out var error);

        Assert.Null(error);
        Assert.Equal("auth.requests", selector!.Metric);
        Assert.Equal(["tenant.id=\"a\"", "auth.outcome!=\"success\"", "auth.method=~\"pass|token\"", "x.y!~\"z\""], selector.Matchers.Select(m => m.ToString()));
        Assert.Equal(TestRules.L(("tenant.id", "a")), selector.EqualityLabels);
    }

    [Theory]
    [InlineData("30s", 30)]
    [InlineData("5m", 300)]
    [InlineData("1h30m", 5400)]
    [InlineData("1d", 86400)]
    [InlineData("0", 0)]
    public void Durations_ParseLikePrometheus(string text, int seconds)
    {
        Assert.True(PromDuration.TryParse(text, out var value));
        Assert.Equal(TimeSpan.FromSeconds(seconds), value);
        Assert.Equal(text == "0" ? "0s" : text, PromDuration.Format(value));
    }

    [Theory]
    [InlineData("5")]
    [InlineData("5 m")]
    [InlineData("m5")]
    [InlineData("")]
    [InlineData("1m1h")]
    public void Durations_RejectWhatPrometheusRejects(string text)
    {
        Assert.False(PromDuration.TryParse(text, out _));
    }

    [Fact]
    public void Template_RendersValuesPercentsAndDottedLabels()
    {
        var context = new TemplateContext(0.2534, 0.2, 1500, TestRules.L(("tenant.id", "acme")));

        var text = AlertTemplate.Render("{{ $value | percent }} of {{ $samples | humanize }} for {{ $labels.tenant.id }} (>{{ $threshold }}, raw {{$value}}, {{ $labels.missing }})", context);

        Assert.Equal("25.34% of 1.5k for acme (>0.2, raw 0.2534, )", text);
    }
}
