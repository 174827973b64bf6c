using Microsoft.Extensions.Time.Testing;
using Vigil.Storage;

namespace Vigil.Rules.Tests;

public sealed class RuleEvaluatorTests
{
    private static readonly DateTimeOffset T0 = TestRules.T0;

    private const string Rules = """
        group: ai
        aggregates:
          - record: ai.run.cost_per_run
            ratio:
              of: ai.run.cost
              to: ai.runs
            by: [workspace.id]
            window: 5m
        rules:
          - alert: AiRunFailures
            severity: P1
            runbook_url: https://runbooks.example.com/ai
            ratio:
              of: ai.runs{ai.run.status="failed"}
              to: ai.runs
            by: [workspace.id]
            window: 5m
            min_samples: 20
            threshold: "> 0.2"
          - alert: AiCostPerRun
            severity: P2
            runbook_url: https://runbooks.example.com/ai-cost
            last: ai.run.cost_per_run{workspace.id="w1"}
            by: [workspace.id]
            threshold: "> 0.5"
        """;

    [Fact]
    public void RealWindowStore_RatioAndRecordedAggregateReadIngestedCounters()
    {
        var time = new FakeTimeProvider(T0);
        var store = new WindowStore(new WindowStoreOptions(), time);
        var group = RuleFileLoader.Load("ai.yaml", Rules).File.Groups[0];
        var aggregates = group.Aggregates.ToDictionary(a => a.Record, StringComparer.Ordinal);
        var evaluator = new RuleEvaluator(store);
        for (var minute = 0; minute <= 5; minute++)
        {
            var at = T0.AddMinutes(minute);
            time.SetUtcNow(at);
            foreach (var (ws, failedPerMinute) in new[] { ("w1", 4), ("w2", 1) })
            {
                store.AddNumber("ai.runs", MetricKind.Counter, true, TestRules.L(("workspace.id", ws), ("ai.run.status", "succeeded")), T0, at, minute * 6.0);
                store.AddNumber("ai.runs", MetricKind.Counter, true, TestRules.L(("workspace.id", ws), ("ai.run.status", "failed")), T0, at, minute * (double)failedPerMinute);
                store.AddNumber("ai.run.cost", MetricKind.Counter, true, TestRules.L(("workspace.id", ws)), T0, at, minute * 7.0);
            }
        }

        var failures = evaluator.Observe(group.Alerts[0], T0.AddMinutes(5), aggregates).OrderBy(o => o.Key, StringComparer.Ordinal).ToList();
        var cost = Assert.Single(evaluator.Observe(group.Alerts[1], T0.AddMinutes(5), aggregates));

        Assert.Equal(2, failures.Count);
        Assert.Equal(TestRules.L(("workspace.id", "w1")), failures[0].Labels);
        Assert.Equal(Observation.Of(20.0 / 50, 50), failures[0].Observation);
        Assert.Equal(Observation.Of(5.0 / 35, 35), failures[1].Observation);
        Assert.Equal(TestRules.L(("workspace.id", "w1")), cost.Labels);
        Assert.Equal(Observation.Of(35.0 / 50, 50), cost.Observation);
    }

    [Fact]
    public void RuleWithoutBy_HasOneNoDataInstanceWhenTheWindowIsEmpty()
    {
        var rule = TestRules.Alert("""
            group: g
            rules:
              - alert: NothingSeen
                severity: P4
                runbook_url: https://runbooks.example.com/x
                increase: never.reported
                threshold: "> 0"
                no_data: alerting
            """);

        var observation = Assert.Single(new RuleEvaluator(new FakeWindowReader()).Observe(rule, T0, new Dictionary<string, AggregateRule>()));

        Assert.Equal("{}", observation.Key);
        Assert.Equal(Observation.NoData(), observation.Observation);
    }

    [Fact]
    public void Watcher_ReloadsOnceAfterTheDebounceOfTheLastChange()
    {
        using var dir = new TempDirectory();
        var time = new FakeTimeProvider(T0);
        var reloads = 0;
        using var watcher = new RuleFileWatcher(dir.Path, TimeSpan.FromMilliseconds(500), time, () => reloads++);

        watcher.Touch();
        time.Advance(TimeSpan.FromMilliseconds(400));
        watcher.Touch();
        time.Advance(TimeSpan.FromMilliseconds(400));
        var beforeQuiet = reloads;
        time.Advance(TimeSpan.FromMilliseconds(100));

        Assert.Equal(0, beforeQuiet);
        Assert.Equal(1, reloads);
    }
}
