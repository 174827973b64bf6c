using Microsoft.Extensions.Time.Testing;
using Vigil.Collector.Tests;
using Vigil.Rules.Backtest;
using Vigil.Storage;

namespace Vigil.Rules.Tests;

/// <summary>
/// The backtest replays rules through the live group runner: the same OTLP data evaluated live on a fake clock and
/// replayed afterwards give the same transitions, and a replay is bounded by the retention and its budget.
/// </summary>
public sealed class BacktestTests : IDisposable
{
    private const string Group = "checkout-auth";

    // A ratio with for, keep_firing_for, recover, an override for acme and a min_samples guard.
    private const string Rules = """
        group: checkout-auth
        interval: 30s
        rules:
          - alert: AuthFailureRateHigh
            severity: P1
            runbook_url: https://runbooks.example.com/auth/failure-rate
            ratio:
              of: auth.requests{auth.outcome="failure"}
              to: auth.requests
            by: [tenant.id]
            window: 2m
            min_samples: 20
            threshold: "> 0.2"
            recover: "< 0.1"
            for: 1m
            keep_firing_for: 1m
            overrides:
              - match: { tenant.id: acme }
                threshold: "> 0.5"
        """;

    private static readonly DateTimeOffset T0 = TestRules.T0;
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(10);
    private readonly TempDirectory _dir = new();
    private readonly FakeTimeProvider _time = new(T0);
    private readonly WindowStore _store;

    public BacktestTests() => _store = new WindowStore(new WindowStoreOptions(), _time);

    public void Dispose() => _dir.Dispose();

    /// <summary>
    /// Failures out of 10 requests per 10 s step (one bucket each), per tenant:
    /// beta 10 % until 3:00, 40 % until 8:00, 15 % (1 and 2 alternating) until 11:00, then none;
    /// acme 40 % except 70 % from 5:00 to 9:00; gamma 1 request per step, always a failure (12 per 2m window, under min_samples).
    /// </summary>
    private static IEnumerable<(string Tenant, int Failures, int Total)> Traffic(int step)
    {
        yield return ("beta", step < 18 ? 1 : step < 48 ? 4 : step < 66 ? 1 + (step % 2) : 0, 10);
        yield return ("acme", step is >= 30 and < 54 ? 7 : 4, 10);
        yield return ("gamma", 1, 1);
    }

    private void Send(int step)
    {
        var at = T0 + (step * Step);
        var ingest = new OtlpIngest(_store);
        foreach (var (tenant, failures, total) in Traffic(step))
        {
            var request = OtlpRequests.DeltaCounterAt("auth.requests", at, tenant, ("auth.outcome", "failure", failures), ("auth.outcome", "success", total - failures));
            var result = ingest.Ingest(request.Bytes());
            Assert.Equal(0, result.Rejected);
        }
    }

    private static BacktestBounds Bounds(DateTimeOffset now, long max = 100_000) =>
        new(now, TimeSpan.FromHours(1), TimeSpan.FromSeconds(10), max, new RuleManagerOptions().ResolvedRetention);

    private static List<(string Labels, DateTimeOffset At, string From, string To, double? Value, double Samples, string Reason)> Flatten(BacktestResult result) =>
        [.. result.Rules.Single().Instances
            .SelectMany(i => i.Transitions.Select(t => (LabelSet.Key(i.Labels), t.At, t.From, t.To, t.Value, t.Samples, t.Reason)))
            .OrderBy(t => t.Item1, StringComparer.Ordinal).ThenBy(t => t.At)];

    [Fact]
    public void Backtest_GivesTheTransitionsTheLiveEngineGave()
    {
        // Points are stamped at their bucket's start; an evaluation instant on a bucket boundary would see them live
        // only when it runs after the send (decision 022), so the group's phase must not be one.
        var phase = RuleManager.EvaluationSlot(Group, TimeSpan.FromSeconds(30), T0) - (T0 - TimeSpan.FromSeconds(30));
        Assert.True(phase.Ticks % Step.Ticks != 0, $"group phase {phase} falls on a bucket boundary; pick another group name");

        _dir.Write("auth.yaml", Rules);
        var sink = new RecordingTransitionSink();
        var evaluations = new List<DateTimeOffset>();
        using (var engine = new RuleManager(new RuleManagerOptions { RulesDirectory = _dir.Path }, _store, _time, sink))
        {
            engine.Evaluated += e => evaluations.Add(e.At);
            engine.Start();
            for (var step = 0; step < 90; step++)
            {
                Send(step);
                _time.Advance(Step);
            }

            engine.Stop();
        }

        var replay = new RuleBacktester(_store).Run(RuleFileLoader.Load("auth.yaml", Rules).File.Groups, new Dictionary<string, AggregateRule>(), evaluations[0], evaluations[^1], null, Bounds(_time.GetUtcNow()));

        Assert.Null(replay.Refusal);
        var result = replay.Result!;
        var rule = Assert.Single(result.Rules);
        Assert.Equal(evaluations.Count, rule.Evaluations);
        var live = sink.Transitions
            .Select(t => (Labels: LabelSet.Key(t.InstanceLabels), t.At, From: AlertStateMachine.Name(t.From), To: AlertStateMachine.Name(t.To), t.Value, t.Samples, t.Reason))
            .OrderBy(t => t.Labels, StringComparer.Ordinal).ThenBy(t => t.At)
            .ToList();
        Assert.Equal(live, Flatten(result));

        // What the data was built to do, from the traffic above (windows of 12 buckets, slots every 30 s, for and keep_firing_for 1m):
        // beta breaches once 5 of its 12 buckets are at 40 % (27/120 > 0.2; 4 give 24/120): first slot at or after 3:40.
        var beta = live.Where(t => t.Labels == "{tenant.id=\"beta\"}").ToList();
        Assert.Equal(["pending", "firing", "resolved"], beta.Select(t => t.To));
        Assert.InRange(beta[0].At, T0.AddSeconds(220), T0.AddSeconds(249));
        Assert.Equal(beta[0].At.AddMinutes(1), beta[1].At);

        // The 15 % phase (8:00–11:00) is under the threshold but not under recover: it keeps firing. The ratio first
        // drops under 0.1 with 5 empty buckets (11/120), at 11:40 or the slot after; keep_firing_for adds 1m.
        Assert.InRange(beta[2].At, T0.AddSeconds(760), T0.AddSeconds(789));

        // acme's override (> 0.5) ignores its 40 %; from 5:00 the 70 % buckets breach once there are 5 of them
        // (63/120 > 0.5; 4 give 60/120): first slot at or after 5:40.
        var acme = live.Where(t => t.Labels == "{tenant.id=\"acme\"}").ToList();
        Assert.Equal(["pending", "firing", "resolved"], acme.Select(t => t.To));
        Assert.InRange(acme[0].At, T0.AddSeconds(340), T0.AddSeconds(369));

        // gamma fails every request but has 12 samples per window: min_samples 20 guards it.
        Assert.DoesNotContain(live, t => t.Labels == "{tenant.id=\"gamma\"}");
    }

    [Fact]
    public void Backtest_BeyondRetentionOrBudget_IsRefusedWithHowToNarrowIt()
    {
        _time.Advance(TimeSpan.FromHours(2));
        var now = _time.GetUtcNow();
        var groups = RuleFileLoader.Load("auth.yaml", Rules).File.Groups;
        var backtester = new RuleBacktester(_store);

        var early = backtester.Run(groups, new Dictionary<string, AggregateRule>(), now.AddMinutes(-59), null, null, Bounds(now));
        var budget = backtester.Run(groups, new Dictionary<string, AggregateRule>(), null, null, null, Bounds(now, max: 10));
        var whole = backtester.Run(groups, new Dictionary<string, AggregateRule>(), null, null, null, Bounds(now));

        // 1h retention and a 2m window: the earliest instant whose window is still held is 58m ago.
        Assert.Contains($"pass from at or after {now.AddMinutes(-58):O}", early.Refusal, StringComparison.Ordinal);
        Assert.Null(early.Result);
        Assert.Contains("over rules.backtest_max_evaluations (10)", budget.Refusal, StringComparison.Ordinal);
        Assert.Contains("?group=G&alert=A", budget.Refusal, StringComparison.Ordinal);

        // A group that reads 1m in the past needs its window 1m further from the retention's edge.
        var offset = RuleFileLoader.Load("auth.yaml", Rules.Replace("interval: 30s", "interval: 30s\nquery_offset: 1m", StringComparison.Ordinal)).File.Groups;
        Assert.Equal(TimeSpan.FromMinutes(1), offset[0].QueryOffset);
        var offsetEarly = backtester.Run(offset, new Dictionary<string, AggregateRule>(), now.AddMinutes(-58), null, null, Bounds(now));
        Assert.Contains($"pass from at or after {now.AddMinutes(-57):O}", offsetEarly.Refusal, StringComparison.Ordinal);

        // By default the whole retention: from 58m ago to now, one evaluation per 30 s slot (116 in 58m, as the
        // group's phase is off the minute's 30 s grid).
        Assert.Equal((now.AddMinutes(-58), now), (whole.Result!.From, whole.Result.To));
        Assert.Equal(116, whole.Result.Rules.Single().Evaluations);
    }
}
