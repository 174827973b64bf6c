using System.Globalization;
using Microsoft.Extensions.Time.Testing;
using OpenTelemetry.Metrics;
using Vigil.Demo;
using Vigil.Rules;
using Vigil.Rules.Api;
using Vigil.Storage;

namespace Vigil.Instrumentation.Tests;

/// <summary>
/// Plays demo traffic on a fake clock through the OpenTelemetry SDK (delta temporality, collected every 10 s like
/// the demo's exports land in Vigil's 10 s buckets), ingests every collected counter point into Vigil's real
/// <see cref="WindowStore"/> and evaluates the real <see cref="RuleManager"/> loaded from the repository's rules/
/// directory on each group's interval. Unlike <see cref="DemoScenarioTests"/> (which checks the demo against a
/// test-side oracle of the rule semantics), nothing here re-implements the engine: if a scenario does not fire
/// here, the demo does not fire in Vigil.
/// </summary>
public sealed class DemoFiresRealRulesTests
{
    private const string Target = "globex";
    private const int Seed = 7;

    // DemoEmitter exports with service.name=vigil-demo; the store makes that resource attribute part of each series.
    private const string DemoServiceName = "vigil-demo";

    private static readonly string[] Tenants = ["acme", Target, "initech"];

    // A bucket boundary and an evaluation boundary, so incidents start right after an evaluation (the worst case).
    private static readonly DateTimeOffset T0 = new(2026, 1, 5, 9, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Tick = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan Flush = TimeSpan.FromSeconds(10);

    // Long enough for every default window (15m max) to be full of normal traffic before an incident starts.
    private static readonly TimeSpan Warmup = TimeSpan.FromMinutes(15);

    // What the real pipeline adds on top of this simulation: one demo export interval (5 s) and one 10 s bucket.
    // An incident must fire its rule at least this long before it ends (as in DemoScenarioTests).
    private static readonly TimeSpan Margin = TimeSpan.FromSeconds(15);

    public static TheoryData<Scenario> Incidents()
    {
        var data = new TheoryData<Scenario>();
        foreach (var info in ScenarioInfo.All.Where(i => i.Alert is not null))
        {
            data.Add(info.Scenario);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Incidents))]
    public async Task Incident_FiresItsDefaultRuleInTheRealEngineBeforeItEnds_AndTheAlertResolvesAfterwards(Scenario scenario)
    {
        var info = ScenarioInfo.Of(scenario);
        using var pipeline = new RealPipeline();
        var (group, rule) = pipeline.Alert(info.Alert!);
        var expected = ExpectedInstance(rule, scenario);
        var incidentEnd = Warmup + info.DefaultLength;
        var recovery = pipeline.ResolutionBound(group, rule);
        pipeline.Trace(group.Name, rule.Name, expected);

        await pipeline.PlayAsync(incidentEnd + recovery, at => at > Warmup && at <= incidentEnd ? scenario : Scenario.Normal);

        pipeline.AssertRulesReadOnlyIngestedCounters();
        var firing = pipeline.Transitions.Where(t => t.To == AlertState.Firing).ToList();
        var unexpected = firing.Where(t => t.Alert != rule.Name || !SameLabels(t.InstanceLabels, expected)).Select(Describe).ToList();
        Assert.True(unexpected.Count == 0, $"{scenario} made other alerts fire: {string.Join("; ", unexpected)}");
        Assert.True(
            firing.Count == 1,
            $"{scenario}: expected {rule.Name}{{{Format(expected)}}} to fire exactly once in the real engine, it fired {firing.Count} times. " +
            $"Incident {Warmup}..{incidentEnd} after start. Evaluations:{Environment.NewLine}{pipeline.TraceText(Warmup - group.Interval, incidentEnd + recovery)}");

        var fired = firing[0].At - T0;
        Assert.True(fired > Warmup, $"{rule.Name} fired at {fired}, before the incident started at {Warmup}");
        Assert.True(
            fired <= incidentEnd - Margin,
            $"{rule.Name} fired at {fired}, later than {incidentEnd - Margin} (incident {Warmup}..{incidentEnd}, margin {Margin}). " +
            $"Evaluations:{Environment.NewLine}{pipeline.TraceText(Warmup - group.Interval, fired)}");

        var resolved = pipeline.Transitions
            .Where(t => t.Alert == rule.Name && SameLabels(t.InstanceLabels, expected) && t.From == AlertState.Firing && t.To == AlertState.Resolved)
            .ToList();
        Assert.True(
            resolved.Count == 1,
            $"{rule.Name}{{{Format(expected)}}} resolved {resolved.Count} times within {recovery} after the incident (expected once). " +
            $"Evaluations after the incident:{Environment.NewLine}{pipeline.TraceText(incidentEnd, incidentEnd + recovery)}");
        Assert.True(resolved[0].At - T0 > incidentEnd, $"{rule.Name} resolved at {resolved[0].At - T0}, before the incident ended at {incidentEnd}");
        var (_, final) = Assert.Single(pipeline.Manager.GetInstances(group.Name, rule.Name), i => SameLabels(i.Labels, expected));
        Assert.False(final.IsActive, $"{rule.Name}{{{Format(expected)}}} is {final.State} at the end of the run");
    }

    [Fact]
    public async Task NormalTraffic_FiresNoDefaultRuleInTheRealEngineOverHalfAnHour()
    {
        using var pipeline = new RealPipeline();

        await pipeline.PlayAsync(TimeSpan.FromMinutes(30), _ => Scenario.Normal);

        pipeline.AssertRulesReadOnlyIngestedCounters();
        Assert.Empty(pipeline.Transitions.Where(t => t.To == AlertState.Firing).Select(Describe));
        Assert.Empty(pipeline.Manager.GetAlerts().Alerts.Select(a => $"{a.Labels["alertname"]} {a.State}"));

        // Quiet because the ratios are low, not because the rules saw nothing: every ratio rule (and the recorded
        // cost per run) has a value for every tenant, past its min_samples guard.
        foreach (var group in pipeline.Manager.Groups)
        {
            foreach (var rule in group.Alerts.Where(r => r.Selection.Kind is SelectionKind.Ratio or SelectionKind.Last))
            {
                var explanation = pipeline.Manager.Explain(group.Name, rule.Name);
                Assert.Equal("ok", explanation.Health);
                Assert.Equal(Tenants.Order(StringComparer.Ordinal), explanation.Instances.Select(i => i.Labels["tenant.id"]).Distinct().Order(StringComparer.Ordinal));
                Assert.All(explanation.Instances, i => Assert.True(
                    i.Value is not null && i.Samples >= i.MinSamples,
                    $"{rule.Name}{{{Format(i.Labels)}}}: value {i.Value}, {i.Samples} samples, min_samples {i.MinSamples} ({i.Guard})"));
            }
        }
    }

    private static Dictionary<string, string> ExpectedInstance(AlertRule rule, Scenario scenario) => rule.By.ToDictionary(
        label => label,
        label => label switch
        {
            "tenant.id" => Target,
            "workspace.id" => scenario == Scenario.CostSpike ? DemoTraffic.ResearchWorkspace(Target) : DemoTraffic.SupportWorkspace(Target),
            _ => throw new InvalidOperationException($"{rule.Name}: unexpected by label {label}"),
        },
        StringComparer.Ordinal);

    private static bool SameLabels(IReadOnlyDictionary<string, string> actual, IReadOnlyDictionary<string, string> expected) =>
        actual.Count == expected.Count && expected.All(kv => actual.TryGetValue(kv.Key, out var v) && v == kv.Value);

    private static string Format(IReadOnlyDictionary<string, string> labels) =>
        string.Join(",", labels.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key}={kv.Value}"));

    private static string Describe(AlertTransition t) =>
        $"{t.Alert}{{{Format(t.InstanceLabels)}}} {t.From}->{t.To} at {t.At - T0} (value {t.Value}, {t.Samples} samples)";

    /// <summary>Demo traffic → OpenTelemetry SDK (delta) → real WindowStore → real RuleManager over rules/, on one fake clock.</summary>
    private sealed class RealPipeline : IDisposable
    {
        private readonly FakeTimeProvider _time = new(T0);
        private readonly WindowStore _store;
        private readonly RecordingTransitionSink _sink = new();
        private readonly MetricCapture _capture;
        private readonly VigilTelemetry _telemetry;
        private readonly DemoTraffic _traffic;
        private readonly HashSet<string> _counters = new(StringComparer.Ordinal);
        private readonly HashSet<string> _notIngested = new(StringComparer.Ordinal);
        private readonly List<string> _trace = [];
        private readonly List<TimeSpan> _traceAt = [];
        private (string Group, string Alert, Dictionary<string, string> Labels)? _traced;

        public RealPipeline()
        {
            var meterName = "test." + Guid.NewGuid().ToString("N");
            _capture = new MetricCapture(meterName);
            _telemetry = new VigilTelemetry(meterName);
            _traffic = new DemoTraffic(_telemetry, Tenants, new Random(Seed));
            _store = new WindowStore(new WindowStoreOptions(), _time);
            Manager = new RuleManager(new RuleManagerOptions { RulesDirectory = RepoPaths.Of("rules"), DataDirectory = null }, _store, _time, _sink);
            var reload = Manager.Reload();
            Assert.True(reload.Success, "the default rules do not load: " + reload.Error);
            Assert.NotEmpty(Manager.Groups);
        }

        public RuleManager Manager { get; }

        public IReadOnlyList<AlertTransition> Transitions => _sink.Transitions;

        public (RuleGroup Group, AlertRule Rule) Alert(string name)
        {
            var matches = Manager.Groups.SelectMany(g => g.Alerts.Where(a => a.Name == name).Select(a => (g, a))).ToList();
            Assert.True(matches.Count == 1, $"alert {name} is defined {matches.Count} times in rules/ (expected once)");
            return matches[0];
        }

        /// <summary>
        /// The breach has left the window (a recorded aggregate's own window for <c>last</c>), keep_firing_for has
        /// run out and two evaluations have passed, plus one bucket.
        /// </summary>
        public TimeSpan ResolutionBound(RuleGroup group, AlertRule rule)
        {
            var window = rule.Selection.Kind == SelectionKind.Last
                && Manager.Groups.SelectMany(g => g.Aggregates).FirstOrDefault(a => a.Record == rule.Selection.Of.Metric) is { } aggregate
                ? aggregate.Window
                : rule.Window;
            return window + rule.KeepFiringFor + (2 * group.Interval) + Flush;
        }

        /// <summary>Records what every evaluation of one alert instance saw, for failure messages.</summary>
        public void Trace(string group, string alert, Dictionary<string, string> labels) => _traced = (group, alert, labels);

        public string TraceText(TimeSpan from, TimeSpan to) => string.Join(
            Environment.NewLine,
            _trace.Where((_, i) => _traceAt[i] >= from && _traceAt[i] <= to));

        /// <summary>
        /// Second t emits the traffic of (t-1 s, t] for the scenario playing then; every 10 s the SDK's deltas go into
        /// the store stamped at that instant, then every group due at that instant is evaluated.
        /// </summary>
        public async Task PlayAsync(TimeSpan length, Func<TimeSpan, Scenario> scenarioAt)
        {
            var lastFlush = _time.GetUtcNow();
            for (var at = Tick; at <= length; at += Tick)
            {
                _traffic.Emit(scenarioAt(at), Target, Tick);
                _time.Advance(Tick);
                if (at.Ticks % Flush.Ticks != 0)
                {
                    continue;
                }

                var now = _time.GetUtcNow();
                Ingest(_capture.Collect(), lastFlush, now);
                lastFlush = now;
                foreach (var group in Manager.Groups.Where(g => at.Ticks % g.Interval.Ticks == 0))
                {
                    await Manager.EvaluateGroupAsync(group.Name, now);
                    if (_traced is { } traced && traced.Group == group.Name)
                    {
                        Record(at, traced.Group, traced.Alert, traced.Labels);
                    }
                }
            }
        }

        /// <summary>Every metric a loaded rule or aggregate selects is a counter this pipeline ingested (histograms are not fed).</summary>
        public void AssertRulesReadOnlyIngestedCounters()
        {
            var records = Manager.Groups.SelectMany(g => g.Aggregates).Select(a => a.Record).ToHashSet(StringComparer.Ordinal);
            var selections = Manager.Groups.SelectMany(g => g.Alerts.Select(a => (a.Name, a.Selection)).Concat(g.Aggregates.Select(a => (Name: a.Record, a.Selection))));
            foreach (var (name, selection) in selections)
            {
                foreach (var selector in new[] { selection.Of, selection.To }.OfType<Selector>().Where(s => !records.Contains(s.Metric)))
                {
                    Assert.True(
                        _counters.Contains(selector.Metric),
                        $"{name} selects {selector.Metric}, which this test did not ingest as a counter (not ingested: {string.Join(", ", _notIngested)}); feed it through OtlpIngest");
                }
            }
        }

        private void Ingest(IReadOnlyList<CapturedPoint> points, DateTimeOffset start, DateTimeOffset time)
        {
            foreach (var point in points)
            {
                if (point.Type is not (MetricType.LongSum or MetricType.DoubleSum))
                {
                    _notIngested.Add(point.Name);
                    continue;
                }

                var labels = new Dictionary<string, string>(point.Attributes, StringComparer.Ordinal) { ["service.name"] = DemoServiceName };
                var outcome = _store.AddNumber(point.Name, MetricKind.Counter, cumulative: false, labels, start, time, point.Value);
                Assert.True(outcome.IsAccepted, $"{point.Name}{{{Format(labels)}}} = {point.Value} at {time - T0} refused: {outcome.RefusalReason}");
                _counters.Add(point.Name);
            }
        }

        private void Record(TimeSpan at, string group, string alert, Dictionary<string, string> labels)
        {
            var instance = Manager.GetInstances(group, alert).Where(i => SameLabels(i.Labels, labels)).Select(i => i.State).FirstOrDefault();
            var observed = Manager.Explain(group, alert).Instances.FirstOrDefault(i => SameLabels(i.Labels, labels));
            _traceAt.Add(at);
            _trace.Add(observed is null
                ? $"  {at}: no series for {alert}{{{Format(labels)}}}; state {instance?.State}"
                : string.Create(
                    CultureInfo.InvariantCulture,
                    $"  {at}: value {observed.Value:0.####}, samples {observed.Samples} (min_samples {observed.MinSamples}, {observed.Guard}), threshold {observed.Threshold}, state {instance?.State}"));
        }

        public void Dispose()
        {
            Manager.Dispose();
            _telemetry.Dispose();
            _capture.Dispose();
        }
    }
}
