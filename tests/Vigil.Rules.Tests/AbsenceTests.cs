using Microsoft.Extensions.Time.Testing;
using Vigil.Storage;

namespace Vigil.Rules.Tests;

/// <summary><c>absent:</c> rules over a real window store, and <c>on_missing</c> for instances whose series vanish.</summary>
public sealed class AbsenceTests : IDisposable
{
    private const string AbsenceRules = """
        group: absence
        interval: 1m
        rules:
          - alert: TenantStoppedReportingAuth
            severity: P2
            runbook_url: https://runbooks.example.com/absent
            summary: "{{ $labels.tenant.id }} sent no auth.requests for {{ $window }}"
            absent: auth.requests
            by: [tenant.id]
            window: 5m
            lookback: 30m
            for: 2m
        """;

    private static readonly DateTimeOffset T0 = TestRules.T0;
    private readonly TempDirectory _dir = new();
    private readonly FakeTimeProvider _time = new(T0);
    private readonly WindowStore _store;
    private readonly RecordingTransitionSink _sink = new();
    private readonly Dictionary<string, double> _totals = new(StringComparer.Ordinal);

    public AbsenceTests() => _store = new WindowStore(new WindowStoreOptions(), _time);

    public void Dispose() => _dir.Dispose();

    private void Report(DateTimeOffset at, params string[] tenants)
    {
        foreach (var tenant in tenants)
        {
            _totals[tenant] = _totals.GetValueOrDefault(tenant) + 5;
            _store.AddNumber("auth.requests", MetricKind.Counter, true, TestRules.L(("tenant.id", tenant)), T0, at, _totals[tenant]);
        }
    }

    /// <summary>Runs minute by minute from T0: every tenant reports each minute until its stop minute (exclusive).</summary>
    private async Task<RuleManager> RunAsync(string rules, int minutes, Dictionary<string, int> stopAt)
    {
        _dir.Write("rules.yaml", rules);
        var manager = new RuleManager(new RuleManagerOptions { RulesDirectory = _dir.Path }, _store, _time, _sink);
        manager.Reload();
        for (var minute = 0; minute <= minutes; minute++)
        {
            var at = T0.AddMinutes(minute);
            _time.SetUtcNow(at);
            Report(at, [.. stopAt.Where(s => minute < s.Value).Select(s => s.Key)]);
            await manager.EvaluateAsync(at);
        }

        return manager;
    }

    [Fact]
    public async Task Absence_FiresForTheTenantThatStopped_AndOnlyForIt()
    {
        // acme stops after minute 9 (its last point at 9); beta reports throughout.
        using var manager = await RunAsync(AbsenceRules, 20, new() { ["acme"] = 10, ["beta"] = 100 });

        // A window W read at minute m holds the buckets after m - W, so a point at minute p is missed from the first
        // minute m with m - W >= p: acme's last point is at minute 9, the window 5 m.
        var firstMissed = Enumerable.Range(0, 21).First(m => m - 5 >= 9);
        Assert.All(_sink.Transitions, t => Assert.Equal("acme", t.InstanceLabels["tenant.id"]));
        Assert.Equal(
            [(AlertState.Inactive, AlertState.Pending, T0.AddMinutes(firstMissed)), (AlertState.Pending, AlertState.Firing, T0.AddMinutes(firstMissed + 2))],
            _sink.Transitions.Select(t => (t.From, t.To, t.At)));
        var alert = Assert.Single(manager.GetAlerts().Alerts);
        Assert.Equal("acme sent no auth.requests for 5m", alert.Annotations["summary"]);
    }

    [Fact]
    public async Task Absence_ResolvesWhenTheTenantReportsAgain()
    {
        using var manager = await RunAsync(AbsenceRules, 20, new() { ["acme"] = 10, ["beta"] = 100 });

        _time.SetUtcNow(T0.AddMinutes(21));
        Report(T0.AddMinutes(21), "acme", "beta");
        await manager.EvaluateAsync(T0.AddMinutes(21));

        var last = _sink.Transitions[^1];
        Assert.Equal((AlertState.Firing, AlertState.Resolved), (last.From, last.To));
        Assert.Empty(manager.GetAlerts().Alerts);
    }

    [Fact]
    public async Task Absence_ForgetsATenantOnceItLeavesTheLookback()
    {
        // acme's last point is at minute 0; the 30 m lookback no longer holds it from the first minute m with
        // m - 30 >= 0 (the same bucket arithmetic), so the alert resolves as gone instead of firing forever.
        using var manager = await RunAsync(AbsenceRules, 40, new() { ["acme"] = 1, ["beta"] = 100 });

        var resolved = _sink.Transitions.Single(t => t.To == AlertState.Resolved);
        Assert.Equal(T0.AddMinutes(Enumerable.Range(0, 41).First(m => m - 30 >= 0)), resolved.At);
    }

    [Theory]
    [InlineData("threshold: \"> 0\"", "absent: takes no 'threshold'")]
    [InlineData("min_samples: 5", "absent: takes no 'min_samples'")]
    [InlineData("lookback: 5m", "lookback 5m must be longer than the window 5m")]
    public void Absence_RefusesWhatDoesNotApply_AtItsPlace(string line, string message)
    {
        var problems = RuleFileLoader.Load("a.yaml", AbsenceRules.Replace("lookback: 30m", line, StringComparison.Ordinal)).Problems;

        var problem = Assert.Single(problems);
        Assert.Equal(11, problem.Line);
        Assert.StartsWith(message, problem.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Lookback_OnAnotherSelection_IsRefused()
    {
        var problems = RuleFileLoader.Load("a.yaml", AbsenceRules.Replace("absent: auth.requests", "increase: auth.requests\n    threshold: \"> 1\"", StringComparison.Ordinal)).Problems;

        Assert.Contains(problems, p => p.Message.StartsWith("lookback applies to absent: rules only", StringComparison.Ordinal));
    }

    [Fact]
    public void Absence_InAnAggregate_IsRefused()
    {
        var problems = RuleFileLoader.Load("a.yaml", """
            group: g
            aggregates:
              - record: auth.missing
                absent: auth.requests
            """).Problems;

        Assert.Equal("absent: applies to alert rules only", Assert.Single(problems).Message);
    }

    private const string OnMissingRules = """
        group: vanish
        interval: 1m
        rules:
          - alert: AuthFailures
            severity: P1
            runbook_url: https://runbooks.example.com/auth
            increase: auth.requests
            by: [tenant.id]
            window: 2m
            threshold: "> 1"
            POLICY
        """;

    [Fact]
    public async Task OnMissingResolve_IsTheDefault_TheFiringInstanceResolvesWhenItsSeriesVanish()
    {
        await RunAsync(OnMissingRules.Replace("POLICY", "for: 0s", StringComparison.Ordinal), 8, new() { ["acme"] = 3 });

        var resolved = _sink.Transitions.Single(t => t.To == AlertState.Resolved);
        Assert.Equal("resolved: the series stopped reporting", resolved.Reason);
    }

    [Fact]
    public async Task OnMissingKeepLast_KeepsTheFiringInstance_WhileItsSeriesAreGone()
    {
        using var manager = await RunAsync(OnMissingRules.Replace("POLICY", "on_missing: keep_last", StringComparison.Ordinal), 8, new() { ["acme"] = 3 });

        Assert.DoesNotContain(_sink.Transitions, t => t.To == AlertState.Resolved);
        Assert.Equal(AlertState.Firing.ToString().ToLowerInvariant(), Assert.Single(manager.GetAlerts().Alerts).State);
    }

    [Fact]
    public async Task OnMissingAlert_AfterMissingFor_AQuietInstanceWhoseSeriesVanishGoesPendingThenFiring()
    {
        // A threshold of "> 100" keeps beta quiet while it reports 5 requests a minute.
        var rules = OnMissingRules.Replace("threshold: \"> 1\"", "threshold: \"> 100\"", StringComparison.Ordinal)
            .Replace("POLICY", "on_missing: alert\n    missing_for: 3m\n    for: 1m", StringComparison.Ordinal);

        await RunAsync(rules, 15, new() { ["beta"] = 4 });

        // beta's last point is at minute 3; the 2 m window misses it from the first minute m with m - 2 >= 3.
        var gone = Enumerable.Range(0, 16).First(m => m - 2 >= 3);
        Assert.Equal(
            [(AlertState.Inactive, AlertState.Pending, T0.AddMinutes(gone + 3)), (AlertState.Pending, AlertState.Firing, T0.AddMinutes(gone + 4))],
            _sink.Transitions.Select(t => (t.From, t.To, t.At)));
    }

    [Fact]
    public void OnMissing_UnknownPolicy_IsAProblemWithAHint()
    {
        var problems = RuleFileLoader.Load("v.yaml", OnMissingRules.Replace("POLICY", "on_missing: keeplast", StringComparison.Ordinal)).Problems;

        var problem = Assert.Single(problems);
        Assert.Equal((11, 17), (problem.Line, problem.Column));
        Assert.Equal("did you mean 'keep_last'?", problem.Hint);
    }
}
