using System.Globalization;
using Microsoft.Extensions.Time.Testing;
using Vigil.Rules.Api;
using Vigil.Storage;
using Vigil.Storage.Query;
using static Vigil.Rules.Tests.FakeWindowReader;

namespace Vigil.Rules.Tests;

/// <summary>
/// Rule files built to hurt (alias bombs, huge files and strings, too many rules, names that forge log lines,
/// regexes that backtrack forever, templates that render megabytes): each is refused or contained with a
/// file:line:col problem, and the rules that ran before keep running.
/// </summary>
public sealed class HostileRuleFileTests : IDisposable
{
    private const string TeamRules = """
        group: team
        interval: 30s
        rules:
          - alert: TeamRequestsHigh
            severity: P2
            runbook_url: https://runbooks.example.com/team
            rate: auth.requests
            threshold: "> 100"
            for: 1m
        """;

    private const string OtherRules = """
        group: other
        interval: 30s
        rules:
          - alert: OtherRequestsHigh
            severity: P3
            runbook_url: https://runbooks.example.com/other
            rate: auth.requests
            threshold: "> 100"
            for: 1m
        """;

    private static readonly DateTimeOffset T0 = TestRules.T0;
    private readonly TempDirectory _dir = new();
    private readonly FakeTimeProvider _time = new(T0);
    private readonly FakeWindowReader _reader = new();
    private readonly RecordingTransitionSink _sink = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task AliasBomb_IsRefusedAtTheAliasOverTheBudget_AndTheLastGoodRulesKeepRunning()
    {
        var bomb = File.ReadAllText(TestRules.Fixture("alias_bomb.yaml"));

        var problem = Assert.Single(await ReloadWithHostileFile("team.yaml", path => File.WriteAllText(path, bomb)));

        var (line, column, message) = Split(problem, "team.yaml");
        Assert.StartsWith("*rules", LineOf(bomb, line)[(column - 1)..], StringComparison.Ordinal);
        Assert.Equal(
            $"alias '*rules' would expand the file beyond {RuleLimits.Count(RuleLimits.Default.AliasNodeBudget)} nodes; aliases may add at most as many nodes as the file writes, or {RuleLimits.Count(RuleLimits.Default.AliasNodeBudget)} in a smaller file (write the repeated parts out instead of nesting aliases)",
            message);
    }

    [Fact]
    public async Task AliasThatContainsItself_IsRefusedAtTheAlias()
    {
        var text = File.ReadAllText(TestRules.Fixture("alias_contains_itself.yaml"));

        var problems = await ReloadWithHostileFile("team.yaml", path => File.WriteAllText(path, text));

        Assert.Equal([$"team.yaml:{PositionOf(text, "*labels")}: alias '*labels' refers to a node that contains it (an anchor cannot be used inside its own value)"], problems);
    }

    [Fact]
    public void AliasBeforeItsAnchor_IsRefused_SoTwoOfThemCannotMakeACycle()
    {
        // YamlDotNet resolves an alias to an anchor written after it, and two such aliases point at each other.
        var text = TeamRules + "\n    labels: &labels { team: *annotations }\n    annotations: &annotations { summary: *labels }\n";

        var problems = RuleFileLoader.Load("team.yaml", text).Problems.Select(p => p.ToString());

        Assert.Equal([$"team.yaml:{PositionOf(text, "*annotations")}: alias '*annotations' comes before its anchor (write '&annotations' on the node before using '*annotations')"], problems);
    }

    [Fact]
    public void AliasToAnAnchorOfAnEarlierDocument_IsRefused()
    {
        // Anchors end with their document: YamlDotNet would resolve *annotations to the anchor further down instead.
        var text = "group: first\nrules: &annotations []\n---\n" + TeamRules + "\n    labels: &labels { team: *annotations }\n    annotations: &annotations { summary: *labels }\n";

        var problems = RuleFileLoader.Load("team.yaml", text).Problems.Select(p => p.ToString());

        Assert.Equal([$"team.yaml:{PositionOf(text, "*annotations")}: alias '*annotations' comes before its anchor (write '&annotations' on the node before using '*annotations')"], problems);
    }

    [Fact]
    public async Task FileOverTheSizeLimit_IsRefusedBeforeItIsRead()
    {
        // A sparse file: 50 MiB of zero bytes that would be a YAML error if it were ever parsed.
        const long size = 50L * 1024 * 1024;

        var problems = await ReloadWithHostileFile("team.yaml", path =>
        {
            using var file = new FileStream(path, FileMode.Create);
            file.SetLength(size);
        });

        Assert.Equal(
            [$"team.yaml:1:1: rule file is {RuleLimits.Count(size)} bytes, over the limit of {RuleLimits.Count(RuleLimits.Default.MaxFileBytes)} (rules.max_file_size) (split it into smaller files, or raise rules.max_file_size)"],
            problems);
    }

    [Fact]
    public async Task FileThatNeverEnds_IsReadNoFurtherThanTheLimit()
    {
        var limits = new RuleLimits { MaxFileBytes = 64 * 1024 };

        var problems = await ReloadWithHostileFile("team.yaml", path =>
        {
            File.Delete(path);
            File.CreateSymbolicLink(path, "/dev/zero");
        }, limits);

        Assert.Equal(
            [$"team.yaml:1:1: rule file is over the limit of {RuleLimits.Count(limits.MaxFileBytes)} bytes (rules.max_file_size) (split it into smaller files, or raise rules.max_file_size)"],
            problems);
    }

    [Fact]
    public async Task StringOverTheLengthLimit_IsRefusedAtItsPosition()
    {
        var summary = new string('x', RuleLimits.Default.MaxStringLength + 1);
        var text = TeamRules + $"\n    summary: \"{summary}\"\n";

        var problems = await ReloadWithHostileFile("team.yaml", path => File.WriteAllText(path, text));

        Assert.Equal(
            [$"team.yaml:{PositionOf(text, "\"xxx")}: string of {RuleLimits.Count(summary.Length)} characters is longer than the limit of {RuleLimits.Count(RuleLimits.Default.MaxStringLength)} (rules.max_string_length) (keep rule text short; long explanations belong in the runbook)"],
            problems);
    }

    [Fact]
    public async Task FileWithMoreRulesThanThePerFileLimit_IsRefusedAtTheFirstRuleOver()
    {
        var limits = new RuleLimits { MaxRulesPerFile = 2 };
        var text = Rules("team", 3);

        var problems = await ReloadWithHostileFile("team.yaml", path => File.WriteAllText(path, text), limits);

        Assert.Equal(
            [$"team.yaml:{PositionOf(text, "alert: Team3")}: rule file has 3 rules, over the limit of 2 per file (rules.max_rules_per_file) (split it into several files)"],
            problems);
    }

    [Fact]
    public void EmptyGroups_AreRefused_SoGroupsCannotOutnumberTheRules()
    {
        // Each group runs a timer; 400,000 empty groups fit in 10 MiB.
        var text = "groups:\n  - { group: a, rules: [] }\n  - group: b\n    rules:\n";

        var problems = RuleFileLoader.Load("empty.yaml", text).Problems.Select(p => p.ToString());

        Assert.Equal(
        [
            $"empty.yaml:{PositionOf(text, "{ group: a")}: group 'a' has no rules or aggregates (add a rule, or remove the group)",
            $"empty.yaml:{PositionOf(text, "group: b")}: group 'b' has no rules or aggregates (add a rule, or remove the group)",
        ], problems);
    }

    [Fact]
    public async Task RulesOverTheTotalLimit_RefuseTheFileThatGrew_AndKeepItsLastGoodRules()
    {
        var limits = new RuleLimits { MaxRules = 2 };
        var text = Rules("team", 2);

        var problems = await ReloadWithHostileFile("team.yaml", path => File.WriteAllText(path, text), limits);

        Assert.Equal(
            [$"team.yaml:{PositionOf(text, "alert: Team2")}: this file would bring the rules to 3, over the limit of 2 in total (rules.max_rules) (remove rules or raise rules.max_rules)"],
            problems);
    }

    [Fact]
    public async Task RulesOverTheTotalLimit_RefuseTheFileThatGrew_EvenWhenItIsReadFirst()
    {
        // other.yaml is read before team.yaml: the unchanged team.yaml keeps its place, the file that grew does not.
        var limits = new RuleLimits { MaxRules = 2 };
        var text = Rules("other", 2);

        var problems = await ReloadWithHostileFile("other.yaml", path => File.WriteAllText(path, text), limits);

        Assert.Equal(
            [$"other.yaml:{PositionOf(text, "alert: Other2")}: this file would bring the rules to 3, over the limit of 2 in total (rules.max_rules) (remove rules or raise rules.max_rules)"],
            problems);
    }

    [Fact]
    public async Task AlertNameWithANewline_IsRefused_AndTheProblemCannotForgeALogLine()
    {
        var text = File.ReadAllText(TestRules.Fixture("alert_name_with_newline.yaml"));

        var problems = await ReloadWithHostileFile("team.yaml", path => File.WriteAllText(path, text));

        Assert.Equal(
            [$"team.yaml:{PositionOf(text, "\"TeamRequestsHigh")}: alert name 'TeamRequestsHigh\\u000Alevel=info msg=\"all good\"' contains the control character U+000A (names are printable text without '/' and without spaces at either end)"],
            problems);
    }

    [Fact]
    public async Task GroupNameWithATerminalEscape_IsRefused()
    {
        var text = File.ReadAllText(TestRules.Fixture("group_name_with_control_character.yaml"));

        var problems = await ReloadWithHostileFile("team.yaml", path => File.WriteAllText(path, text));

        Assert.Equal(
            [$"team.yaml:{PositionOf(text, "\"team")}: group name 'team\\u001B[2J' contains the control character U+001B (names are printable text without '/' and without spaces at either end)"],
            problems);
    }

    [Theory]
    [InlineData("AuthFailureRateHigh", null)]
    [InlineData("Auth failure rate high", null)]
    [InlineData("Überwachung-fehlgeschlagen.v2", null)]
    [InlineData("auth/failures", "alert name 'auth/failures' contains '/'")]
    [InlineData(" AuthFailures", "alert name ' AuthFailures' starts or ends with a space")]
    [InlineData("AuthFailures\u00A0", "alert name 'AuthFailures\u00A0' contains the space U+00A0; only U+0020 is allowed")]
    [InlineData("Auth\u202EFailures", "alert name 'Auth\\u202EFailures' contains the control character U+202E")]
    [InlineData("", "alert name is empty")]
    public void AlertNames_ArePrintableText(string name, string? expected)
    {
        var quoted = "\"" + name.Replace("\u202E", "\\u202E", StringComparison.Ordinal) + "\"";
        var text = TeamRules.Replace("alert: TeamRequestsHigh", "alert: " + quoted, StringComparison.Ordinal);

        var problems = RuleFileLoader.Load("team.yaml", text).Problems.Select(p => p.ToString()).ToList();

        Assert.Equal(
            expected is null ? [] : [$"team.yaml:{PositionOf(text, quoted)}: {expected} (names are printable text without '/' and without spaces at either end)"],
            problems);
    }

    [Fact]
    public void NamesLongerThanTheLimit_AreRefused()
    {
        var name = new string('A', RuleFileLoader.MaxNameLength + 1);
        var text = TeamRules.Replace("alert: TeamRequestsHigh", "alert: " + name, StringComparison.Ordinal);

        var problem = Assert.Single(RuleFileLoader.Load("team.yaml", text).Problems);

        Assert.Equal(
            $"team.yaml:{PositionOf(text, name)}: alert name is {RuleLimits.Count(name.Length)} characters long, over the limit of {RuleFileLoader.MaxNameLength} (names are printable text without '/' and without spaces at either end)",
            problem.ToString());
    }

    [Fact]
    public async Task RegexThatTimesOut_MarksOnlyItsRuleUnhealthy_AndTheOthersKeepEvaluating()
    {
        // (a+)+b backtracks exponentially on a run of a's without a b: far beyond the 100 ms match timeout.
        _dir.Write("team.yaml", TeamRules + """

              - alert: TeamBacktracking
                severity: P2
                runbook_url: https://runbooks.example.com/team
                rate: auth.requests{user=~"(a+)+b"}
                threshold: "> 100"
            """);
        _dir.Write("other.yaml", OtherRules);
        var reader = new MatchingWindowReader(S(500, 500, ("user", new string('a', 40))));
        using var manager = new RuleManager(new RuleManagerOptions { RulesDirectory = _dir.Path }, reader, _time, _sink);
        Assert.True(manager.Reload().Success);

        var transitions = await manager.EvaluateAsync(T0);

        Assert.Equal(
            [("other", "OtherRequestsHigh", AlertState.Pending), ("team", "TeamRequestsHigh", AlertState.Pending)],
            transitions.Select(t => (t.Group, t.Alert, t.To)).Order());
        var rules = manager.GetRules().Groups.Single(g => g.Name == "team").Rules.Cast<AlertingRuleInfo>().ToDictionary(r => r.Name);
        Assert.Equal(("ok", (string?)null), (rules["TeamRequestsHigh"].Health, rules["TeamRequestsHigh"].LastError));
        var expected = "regex user=~\"(a+)+b\" timed out after 100ms on a value of 40 characters; simplify it (nested quantifiers such as (a+)+ backtrack exponentially)";
        Assert.Equal(("err", expected), (rules["TeamBacktracking"].Health, rules["TeamBacktracking"].LastError));
        var explained = manager.Explain("team", "TeamBacktracking");
        Assert.Equal(("err", expected), (explained.Health, explained.LastError));
    }

    [Fact]
    public async Task AnnotationThatRendersPastTheCap_IsTruncatedWithAMarker()
    {
        var user = new string('u', 10_000);
        _dir.Write("team.yaml", TeamRules.Replace("    for: 1m", """
                by: [user]
                summary: "{{ $labels.user }} {{ $labels.user }} {{ $labels.user }} {{ $labels.user }} {{ $labels.user }} {{ $labels.user }} {{ $labels.user }}"
                description: "{{ $labels.user }}"
            """, StringComparison.Ordinal));
        _reader.Set("auth.requests", S(500, 500, ("user", user)));
        using var manager = Manager();
        Assert.True(manager.Reload().Success);

        var t = Assert.Single(await manager.EvaluateAsync(T0));

        Assert.Equal(AlertTemplate.MaxOutputLength, t.Summary!.Length);
        Assert.StartsWith(user + " " + user, t.Summary, StringComparison.Ordinal);
        Assert.EndsWith(AlertTemplate.TruncationMarker, t.Summary, StringComparison.Ordinal);
        Assert.Equal(user, t.Annotations["description"]);
    }

    private RuleManager Manager(RuleLimits? limits = null) =>
        new(new RuleManagerOptions { RulesDirectory = _dir.Path, Limits = limits ?? RuleLimits.Default }, _reader, _time, _sink);

    /// <summary>
    /// Runs team.yaml and other.yaml, replaces <paramref name="file"/> with hostile content and reloads: the reload
    /// reports problems (returned with the directory stripped), both groups keep running their last good rules and
    /// the next evaluation moves both instances from pending to firing.
    /// </summary>
    private async Task<IReadOnlyList<string>> ReloadWithHostileFile(string file, Action<string> writeHostile, RuleLimits? limits = null)
    {
        _dir.Write("team.yaml", TeamRules);
        _dir.Write("other.yaml", OtherRules);
        _reader.Set("auth.requests", S(500, 500));
        using var manager = Manager(limits);
        Assert.True(manager.Reload().Success);
        Assert.Equal(2, (await manager.EvaluateAsync(T0)).Count(t => t.To == AlertState.Pending));

        writeHostile(Path.Combine(_dir.Path, file));
        var result = manager.Reload();

        Assert.False(result.Success);
        Assert.Equal(["other", "team"], manager.Groups.Select(g => g.Name).Order());
        Assert.Equal(["OtherRequestsHigh", "TeamRequestsHigh"], manager.Groups.SelectMany(g => g.Alerts).Select(a => a.Name).Order());
        var transitions = await manager.EvaluateAsync(T0.AddMinutes(1));
        Assert.Equal(
            [("other", AlertState.Pending, AlertState.Firing), ("team", AlertState.Pending, AlertState.Firing)],
            transitions.Select(t => (t.Group, t.From, t.To)).Order());
        return result.Problems.Select(p => p.ToString().Replace(_dir.Path + Path.DirectorySeparatorChar, string.Empty, StringComparison.Ordinal)).ToList();
    }

    /// <summary>A group of <paramref name="count"/> alert rules named Group1, Group2…</summary>
    private static string Rules(string group, int count)
    {
        var name = char.ToUpperInvariant(group[0]) + group[1..];
        var rules = Enumerable.Range(1, count).Select(i => $"""
              - alert: {name}{i}
                severity: P3
                runbook_url: https://runbooks.example.com/{group}
                rate: auth.requests
                threshold: "> 100"
            """);
        return $"group: {group}\ninterval: 30s\nrules:\n" + string.Join("\n", rules) + "\n";
    }

    /// <summary>The 1-based line:column of the first occurrence of <paramref name="needle"/>.</summary>
    private static string PositionOf(string text, string needle)
    {
        var offset = text.IndexOf(needle, StringComparison.Ordinal);
        Assert.True(offset >= 0, $"'{needle}' is not in the text");
        var line = text.AsSpan(0, offset).Count('\n') + 1;
        var lineStart = text.AsSpan(0, offset).LastIndexOf('\n') + 1;
        return $"{line}:{offset - lineStart + 1}";
    }

    private static string LineOf(string text, int line) => text.Split('\n')[line - 1];

    private static (int Line, int Column, string Message) Split(string problem, string file)
    {
        Assert.StartsWith(file + ":", problem, StringComparison.Ordinal);
        var parts = problem[(file.Length + 1)..].Split(':', 3);
        return (int.Parse(parts[0], CultureInfo.InvariantCulture), int.Parse(parts[1], CultureInfo.InvariantCulture), parts[2].TrimStart());
    }

    /// <summary>Answers every query with the samples whose labels its matchers accept, running the real matchers.</summary>
    private sealed class MatchingWindowReader(params AggregateSample[] samples) : IWindowReader
    {
        public IReadOnlyList<AggregateSample> Aggregate(AggregateQuery query) =>
            samples.Where(s => query.Matchers.All(m => m.Matches(s.Labels.GetValueOrDefault(m.Name)))).ToList();

        public MetricKind? KindOf(string metric) => null;

        public IReadOnlyList<SeriesInfo> ListSeries(string? metric) => [];
    }
}
