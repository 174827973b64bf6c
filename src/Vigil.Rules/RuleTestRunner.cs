using System.Globalization;
using Vigil.Storage;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Vigil.Rules;

/// <summary>
/// Runs rule unit tests (docs/rules.md, "Rule unit tests"): input series go into a real <see cref="WindowStore"/>
/// on a hand-moved clock, the real <see cref="RuleManager"/> evaluates every group on its interval, and the
/// alert states are compared with the expectations at the given times.
/// </summary>
public static class RuleTestRunner
{
    private static readonly string[] FileFields = ["rule_files", "tests"];
    private static readonly string[] TestFields = ["name", "interval", "input_series", "alerts"];
    private static readonly string[] SeriesFields = ["series", "values", "type", "temporality"];
    private static readonly string[] AlertFields = ["at", "alert", "group", "instances"];
    private static readonly string[] InstanceFields = ["labels", "state", "value"];

    /// <summary>The start of every test's clock: input point 0 and evaluation 0 happen here.</summary>
    public static readonly DateTimeOffset Origin = new(2000, 1, 1, 0, 0, 0, TimeSpan.Zero);

    internal sealed record InputSeries(string Metric, IReadOnlyDictionary<string, string> Labels, MetricKind Kind, bool Cumulative, IReadOnlyList<double?> Values);

    internal sealed record ExpectedInstance(IReadOnlyDictionary<string, string> Labels, AlertState State, double? Value);

    internal sealed record Expectation(TimeSpan At, string Alert, string? Group, IReadOnlyList<ExpectedInstance> Instances, SourcePosition Position);

    internal sealed record UnitTest(string Name, TimeSpan Interval, IReadOnlyList<InputSeries> Series, IReadOnlyList<Expectation> Alerts);

    /// <summary>A parsed test file whose rule files load cleanly: the rule files (as the runner opens them) and its tests.</summary>
    internal sealed record TestSuite(string Path, IReadOnlyList<string> RuleFiles, IReadOnlyList<UnitTest> Tests);

    /// <summary>Runs every test of one file; writes one line per failure detail and returns (passed, failed).</summary>
    public static (int Passed, int Failed) RunFile(string path, TextWriter output)
    {
        if (Prepare(path, output, out var testCount) is not { } suite)
        {
            return (0, Math.Max(1, testCount));
        }

        int passed = 0, failed = 0;
        foreach (var test in suite.Tests)
        {
            var failures = Run(suite.RuleFiles, test);
            if (failures.Count == 0)
            {
                passed++;
                continue;
            }

            failed++;
            output.WriteLine($"FAIL {path}: test '{test.Name}'");
            foreach (var f in failures)
            {
                output.WriteLine(f);
            }
        }

        return (passed, failed);
    }

    /// <summary>
    /// Parses a test file and checks the rule files under test; prints their problems and returns null when there
    /// are any (<paramref name="testCount"/> still counts the tests that parsed).
    /// </summary>
    internal static TestSuite? Prepare(string path, TextWriter output, out int testCount)
    {
        var ctx = new YamlReadContext(path);
        var (ruleFiles, tests) = Parse(path, ctx);
        testCount = tests.Count;
        if (ctx.Problems.Count > 0)
        {
            foreach (var p in ctx.Problems)
            {
                output.WriteLine(p.ToString());
            }

            return null;
        }

        var check = RulesCli.Collect(ruleFiles, out var ruleProblems);
        if (ruleProblems.Count > 0)
        {
            foreach (var p in ruleProblems)
            {
                output.WriteLine(p.ToString());
            }

            output.WriteLine($"FAIL {path}: the rule files under test have problems");
            return null;
        }

        return new TestSuite(path, check, tests);
    }

    /// <summary>Runs one test; <paramref name="loader"/> replaces reading the rule files (mutation testing). Returns the failure lines.</summary>
    internal static List<string> Run(IReadOnlyList<string> ruleFiles, UnitTest test, Func<string, RuleLimits, RuleLoadResult>? loader = null)
    {
        var clock = new ManualTimeProvider(Origin);
        var horizon = test.Alerts.Count == 0 ? TimeSpan.Zero : test.Alerts.Max(a => a.At);
        var retention = TimeSpan.FromHours(Math.Max(1, Math.Ceiling((horizon + TimeSpan.FromHours(1)).TotalHours)));
        var store = new WindowStore(new WindowStoreOptions { Retention = retention }, clock);
        var options = new RuleManagerOptions { RuleFiles = ruleFiles };
        using var manager = new RuleManager(loader is null ? options : options with { Loader = loader }, store, clock);
        var failures = new List<string>();
        var reload = manager.Reload();
        if (!reload.Success)
        {
            failures.AddRange(reload.Problems.Select(p => "  " + p));
            return failures;
        }

        var points = new List<(TimeSpan At, InputSeries Series, double Value, double? Previous, TimeSpan PreviousAt)>();
        foreach (var s in test.Series)
        {
            double? previous = null;
            var previousAt = TimeSpan.Zero;
            for (var i = 0; i < s.Values.Count; i++)
            {
                if (s.Values[i] is { } v)
                {
                    var at = test.Interval * i;
                    points.Add((at, s, v, previous, previousAt));
                    (previous, previousAt) = (v, at);
                }
            }
        }

        points.Sort((a, b) => a.At.CompareTo(b.At));
        var groups = manager.Groups;
        var moments = new SortedSet<TimeSpan>(test.Alerts.Select(a => a.At));
        foreach (var group in groups)
        {
            for (var t = TimeSpan.Zero; t <= horizon; t += group.Interval)
            {
                moments.Add(t);
            }
        }

        var next = 0;
        foreach (var t in moments)
        {
            clock.Set(Origin + t);
            for (; next < points.Count && points[next].At <= t; next++)
            {
                var (at, series, value, previous, previousAt) = points[next];
                var outcome = Ingest(store, series, at, value, previous, previousAt);
                if (!outcome.IsAccepted)
                {
                    failures.Add($"  input {series.Metric} at {PromDuration.Format(at)} was refused: {outcome.RefusalReason}");
                }
            }

            foreach (var group in groups.Where(g => t.Ticks % g.Interval.Ticks == 0))
            {
                manager.EvaluateGroupAsync(group.Name, Origin + t).GetAwaiter().GetResult();
            }

            foreach (var expectation in test.Alerts.Where(a => a.At == t))
            {
                Compare(manager, groups, expectation, failures);
            }
        }

        return failures;
    }

    private static PointOutcome Ingest(WindowStore store, InputSeries series, TimeSpan at, double value, double? previous, TimeSpan previousAt)
    {
        var time = Origin + at;
        if (series.Kind == MetricKind.Gauge)
        {
            return store.AddNumber(series.Metric, MetricKind.Gauge, false, series.Labels, time, time, value);
        }

        return series.Cumulative
            ? store.AddNumber(series.Metric, MetricKind.Counter, true, series.Labels, Origin, time, value)
            : store.AddNumber(series.Metric, MetricKind.Counter, false, series.Labels, previous is null ? time - TimeSpan.FromSeconds(1) : Origin + previousAt, time, value);
    }

    private static void Compare(RuleManager manager, IReadOnlyList<RuleGroup> groups, Expectation expectation, List<string> failures)
    {
        var group = groups.FirstOrDefault(g => (expectation.Group is null || g.Name == expectation.Group) && g.Alerts.Any(a => a.Name == expectation.Alert));
        var where = $"  at {PromDuration.Format(expectation.At)} (line {expectation.Position.Line}) alert {expectation.Alert}";
        if (group is null)
        {
            failures.Add($"{where}: no such alert in the rule files under test");
            return;
        }

        var actual = manager.GetInstances(group.Name, expectation.Alert);
        var problems = new List<string>();
        foreach (var expected in expectation.Instances)
        {
            var key = LabelSet.Key(expected.Labels);
            var found = actual.FirstOrDefault(a => LabelSet.Key(a.Labels) == key);
            var state = found.Labels is null ? AlertState.Inactive : found.State.State;
            if (state != expected.State)
            {
                problems.Add($"{key} expected {AlertStateMachine.Name(expected.State)}, got {AlertStateMachine.Name(state)}");
            }
            else if (expected.Value is { } v && (found.State?.LastValue is not { } got || Math.Abs(got - v) > 1e-9 * Math.Max(1, Math.Abs(v))))
            {
                problems.Add($"{key} expected value {AlertTemplate.FormatNumber(v)}, got {(found.State?.LastValue is { } g ? AlertTemplate.FormatNumber(g) : "no data")}");
            }
        }

        var listed = expectation.Instances.Select(e => LabelSet.Key(e.Labels)).ToHashSet(StringComparer.Ordinal);
        foreach (var (labels, state) in actual.Where(a => a.State.IsActive && !listed.Contains(LabelSet.Key(a.Labels))))
        {
            problems.Add($"{LabelSet.Key(labels)} is {AlertStateMachine.Name(state.State)} but not expected");
        }

        if (problems.Count == 0)
        {
            return;
        }

        failures.Add($"{where}:");
        failures.Add("    expected: " + Describe(expectation.Instances.Select(e => (e.Labels, e.State, e.Value))));
        failures.Add("    actual:   " + Describe(actual.Where(a => a.State.State != AlertState.Inactive).Select(a => (a.Labels, a.State.State, a.State.LastValue))));
        failures.AddRange(problems.Select(p => "    " + p));
    }

    private static string Describe(IEnumerable<(IReadOnlyDictionary<string, string> Labels, AlertState State, double? Value)> instances)
    {
        var parts = instances.Select(i => $"{LabelSet.Key(i.Labels)} {AlertStateMachine.Name(i.State)}" +
            (i.Value is { } v ? $" value={AlertTemplate.FormatNumber(v)}" : string.Empty)).ToList();
        return parts.Count == 0 ? "(none)" : string.Join("; ", parts);
    }

    private static (IReadOnlyList<string> RuleFiles, IReadOnlyList<UnitTest> Tests) Parse(string path, YamlReadContext ctx)
    {
        YamlStream stream;
        try
        {
            stream = YamlNesting.Load(new StringReader(File.ReadAllText(path)));
        }
        catch (YamlNesting.TooDeepException ex)
        {
            ctx.Report(YamlReadContext.At(ex.Start), ex.Message, YamlNesting.Hint);
            return ([], []);
        }
        catch (YamlException ex)
        {
            ctx.Report(YamlReadContext.At(ex.Start), $"YAML syntax error: {(ex.InnerException as YamlException)?.Message ?? ex.Message}");
            return ([], []);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            ctx.Report(new SourcePosition(1, 1), $"cannot read test file: {ex.Message}");
            return ([], []);
        }

        if (stream.Documents.Count == 0 || ctx.Map(stream.Documents[0].RootNode, "test file", FileFields) is not { } fields)
        {
            ctx.Report(new SourcePosition(1, 1), "test file is empty", "a test file has rule_files: and tests:");
            return ([], []);
        }

        var baseDir = Path.GetDirectoryName(path) ?? ".";
        var ruleFiles = new List<string>();
        if (fields["rule_files"] is { } rf && ctx.TextList(rf, "rule_files") is { } names)
        {
            ruleFiles.AddRange(names.Select(n => Path.IsPathRooted(n) ? n : Path.Combine(baseDir, n)));
        }
        else if (fields["rule_files"] is null)
        {
            ctx.Report(fields.Position, "test file is missing required field 'rule_files'", "list the rule files under test, relative to this file");
        }

        var tests = new List<UnitTest>();
        if (fields["tests"] is YamlSequenceNode list)
        {
            foreach (var item in list.Children)
            {
                if (ParseTest(ctx, item) is { } test)
                {
                    tests.Add(test);
                }
            }
        }
        else
        {
            ctx.Report(fields["tests"] ?? (YamlNode)fields.Node, "'tests' must be a list of tests");
        }

        return (ruleFiles, tests);
    }

    private static UnitTest? ParseTest(YamlReadContext ctx, YamlNode node)
    {
        var fields = ctx.Map(node, "test", TestFields);
        if (fields is null)
        {
            return null;
        }

        var name = fields["name"] is { } n ? ctx.Text(n, "name") : $"test at line {fields.Position.Line}";
        var interval = fields["interval"] is { } i ? ctx.Duration(i, "interval", allowZero: false) : TimeSpan.FromMinutes(1);
        var series = new List<InputSeries>();
        if (fields["input_series"] is YamlSequenceNode inputs)
        {
            foreach (var input in inputs.Children)
            {
                if (ParseSeries(ctx, input) is { } s)
                {
                    series.Add(s);
                }
            }
        }
        else if (fields["input_series"] is { } bad)
        {
            ctx.Report(bad, "'input_series' must be a list");
        }

        var alerts = new List<Expectation>();
        if (fields["alerts"] is YamlSequenceNode expectations)
        {
            foreach (var e in expectations.Children)
            {
                if (ParseExpectation(ctx, e) is { } x)
                {
                    alerts.Add(x);
                }
            }
        }
        else
        {
            ctx.Report(fields["alerts"] ?? (YamlNode)fields.Node, "test needs an 'alerts' list of expectations");
        }

        return name is null || interval is null ? null : new UnitTest(name, interval.Value, series, alerts);
    }

    private static InputSeries? ParseSeries(YamlReadContext ctx, YamlNode node)
    {
        var fields = ctx.Map(node, "input series", SeriesFields);
        if (fields is null)
        {
            return null;
        }

        Selector? selector = null;
        if (fields["series"] is YamlScalarNode s && ctx.Text(s, "series") is { } text)
        {
            selector = SelectorParser.TryParse(text, out var error);
            if (selector is null)
            {
                ctx.Report(YamlReadContext.AtOffset(s, error!.Offset), $"series: {error.Message}", error.Hint);
            }
            else if (selector.Matchers.Any(m => m.Op != Vigil.Storage.Query.MatchOp.Equal))
            {
                ctx.Report(s, "series labels must be written with '='", "an input series names one series: metric{label=\"value\"}");
                selector = null;
            }
        }
        else
        {
            ctx.Report(fields["series"] ?? (YamlNode)fields.Node, "input series needs 'series: metric{label=\"value\"}'");
        }

        IReadOnlyList<double?>? values = null;
        if (fields["values"] is YamlScalarNode v && ctx.Text(v, "values") is { } valuesText)
        {
            values = SeriesNotation.TryParse(valuesText, out var error);
            if (values is null)
            {
                ctx.Report(v, $"values: {error}", "e.g. '0+10x30' (31 values from 0 by 10), '5 5 _ 7', '1x10'");
            }
        }
        else
        {
            ctx.Report(fields["values"] ?? (YamlNode)fields.Node, "input series needs 'values'", "e.g. values: '0+10x30'");
        }

        var kind = MetricKind.Counter;
        if (fields["type"] is { } t)
        {
            switch (ctx.Text(t, "type"))
            {
                case "counter":
                    break;
                case "gauge":
                    kind = MetricKind.Gauge;
                    break;
                case { } other:
                    ctx.Report(t, $"type '{other}' is not counter or gauge");
                    break;
            }
        }

        var cumulative = true;
        if (fields["temporality"] is { } tp)
        {
            switch (ctx.Text(tp, "temporality"))
            {
                case "cumulative":
                    break;
                case "delta":
                    cumulative = false;
                    break;
                case { } other:
                    ctx.Report(tp, $"temporality '{other}' is not cumulative or delta");
                    break;
            }
        }

        if (selector is null || values is null)
        {
            return null;
        }

        return new InputSeries(selector.Metric, selector.EqualityLabels, kind, cumulative, values);
    }

    private static Expectation? ParseExpectation(YamlReadContext ctx, YamlNode node)
    {
        var fields = ctx.Map(node, "alert expectation", AlertFields);
        if (fields is null)
        {
            return null;
        }

        TimeSpan? at = fields["at"] is { } a ? ctx.Duration(a, "at") : null;
        if (fields["at"] is null)
        {
            ctx.Report(fields.Position, "alert expectation is missing required field 'at'", "e.g. at: 5m");
        }

        var alert = fields["alert"] is { } al ? ctx.Text(al, "alert") : null;
        if (fields["alert"] is null)
        {
            ctx.Report(fields.Position, "alert expectation is missing required field 'alert'");
        }

        var group = fields["group"] is { } g ? ctx.Text(g, "group") : null;
        var instances = new List<ExpectedInstance>();
        if (fields["instances"] is YamlSequenceNode list)
        {
            foreach (var item in list.Children)
            {
                var f = ctx.Map(item, "expected instance", InstanceFields);
                if (f is null)
                {
                    continue;
                }

                var labels = f["labels"] is { } l ? ctx.TextMap(l, "labels") : new Dictionary<string, string>();
                AlertState? state = null;
                if (f["state"] is { } st)
                {
                    state = ctx.Text(st, "state") switch
                    {
                        "inactive" => AlertState.Inactive,
                        "pending" => AlertState.Pending,
                        "firing" => AlertState.Firing,
                        "resolved" => AlertState.Resolved,
                        null => null,
                        var other => Bad(ctx, st, other),
                    };
                }
                else
                {
                    ctx.Report(f.Position, "expected instance is missing required field 'state'", "pending, firing, resolved or inactive");
                }

                double? value = f["value"] is { } vn ? ctx.Number(vn, "value") : null;
                if (labels is not null && state is not null)
                {
                    instances.Add(new ExpectedInstance(labels, state.Value, value));
                }
            }
        }
        else if (fields["instances"] is { } bad && !(bad is YamlScalarNode s && YamlReadContext.IsNull(s)))
        {
            ctx.Report(bad, "'instances' must be a list", "an empty list (instances: []) expects no pending or firing instance");
        }

        return at is null || alert is null ? null : new Expectation(at.Value, alert, group, instances, fields.Position);

        static AlertState? Bad(YamlReadContext ctx, YamlNode node, string text)
        {
            ctx.Report(node, $"state '{text}' is not one of inactive, pending, firing, resolved");
            return null;
        }
    }

    internal static string Plural(int n, string word) => n.ToString(CultureInfo.InvariantCulture) + " " + word + (n == 1 ? string.Empty : "s");
}
