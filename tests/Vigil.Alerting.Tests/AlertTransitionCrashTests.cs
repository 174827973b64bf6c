using System.Text.Json;
using Microsoft.Extensions.Time.Testing;
using Vigil.Rules;
using Vigil.Storage;
using Vigil.Storage.Query;

namespace Vigil.Alerting.Tests;

/// <summary>
/// The rule engine and the outbox over one data directory, "crashed" at each point between an alert's state change
/// and its event reaching the outbox, then restarted from the same directory: the webhook (a real loopback listener)
/// gets the firing event exactly once, with the same id and fingerprint, and the restored state matches it.
/// </summary>
public sealed class AlertTransitionCrashTests : IDisposable
{
    private const string Rule = """
        group: crash
        interval: 30s
        rules:
          - alert: CrashProbe
            severity: P1
            runbook_url: https://runbooks.example.com/crash
            increase: auth.requests{auth.outcome="failure"}
            by: [tenant.id]
            window: 10m
            threshold: "> 10"
        """;

    private readonly TempDir _dir = new();
    private readonly FakeTimeProvider _time = Transitions.Clock();
    private readonly OneSeriesReader _reader = new();

    public void Dispose() => _dir.Dispose();

    public enum CrashPoint
    {
        /// <summary>The new state and its transition are written but not committed.</summary>
        BeforeStateCommit,

        /// <summary>The new state and its transition are committed; nothing has been handed on.</summary>
        AfterStateCommit,

        /// <summary>The transition is handed on, but the process dies before the outbox writes it.</summary>
        BeforeOutboxCommit,

        /// <summary>The outbox has committed the event; the rule engine has not heard back.</summary>
        AfterOutboxCommit,
    }

    [Theory]
    [InlineData(CrashPoint.BeforeStateCommit)]
    [InlineData(CrashPoint.AfterStateCommit)]
    [InlineData(CrashPoint.BeforeOutboxCommit)]
    [InlineData(CrashPoint.AfterOutboxCommit)]
    public async Task CrashAroundTheFiringTransition_RestartDeliversTheFiringEventExactlyOnce(CrashPoint point)
    {
        await using var webhook = await LocalHttpServer.StartAsync();
        var rulesDir = Path.Combine(_dir.Path, "rules");
        var dataDir = Path.Combine(_dir.Path, "data");
        Directory.CreateDirectory(rulesDir);
        await File.WriteAllTextAsync(Path.Combine(rulesDir, "crash.yaml"), Rule);
        var t0 = _time.GetUtcNow();
        _reader.Value = 60;

        // The process before the crash. Its delivery workers are never started, so whatever the webhook gets comes
        // from what the restarted process finds on disk.
        var crash = new CrashingSink(point);
        await using (var before = Alerting(webhook, dataDir))
        {
            crash.Inner = before;
            using var rules = Rules(rulesDir, dataDir, crash);
            rules.Reload();
            rules.Store!.FaultInjection = stage => crash.AtCommit(stage);
            try
            {
                await rules.EvaluateAsync(t0);
            }
            catch (SimulatedCrash)
            {
                // Where the process died; nothing after this point ran.
            }
        }

        Assert.True(crash.Crashed, $"the test never reached {point}");

        // The restart, from the same data directory, with the failures still counting.
        _time.Advance(TimeSpan.FromSeconds(30));
        await using var after = Alerting(webhook, dataDir);
        using var restarted = Rules(rulesDir, dataDir, after);
        restarted.Reload();
        await restarted.EvaluateAsync(_time.GetUtcNow());
        var worker = Assert.Single(after.Workers);
        await worker.RunOnceAsync(_time.GetUtcNow());
        _time.Advance(TimeSpan.FromSeconds(30));
        await restarted.EvaluateAsync(_time.GetUtcNow());
        await worker.RunOnceAsync(_time.GetUtcNow());

        var delivered = webhook.Requests.Where(r => r.AnsweredStatus == 200)
            .SelectMany(r => JsonDocument.Parse(r.Body).RootElement.GetProperty("alerts").EnumerateArray().Select(a => a.Clone()))
            .ToList();
        var alert = Assert.Single(delivered);
        Assert.Equal("firing", alert.GetProperty("status").GetString());
        Assert.Equal("acme", alert.GetProperty("labels").GetProperty("tenant.id").GetString());

        // The state after the restart is what the delivered event says: firing, with the same labels, since the
        // transition that fired it (t0 when it was committed before the crash, the restart's evaluation when not).
        var committed = point != CrashPoint.BeforeStateCommit;
        var state = Assert.Single(restarted.GetAlerts().Alerts);
        Assert.Equal("firing", state.State);
        Assert.Equal(AlertFingerprint.Compute(state.Labels), alert.GetProperty("fingerprint").GetString());
        Assert.Equal(committed ? t0 : t0.AddSeconds(30), state.ActiveAt);
        var history = Assert.Single(after.GetHistory(new AlertHistoryQuery(Rule: "CrashProbe")));
        Assert.Equal(AlertStatus.Firing, history.Event.Status);
        Assert.Equal(DeliveryState.Delivered, Assert.Single(history.Deliveries).State);
        Assert.Equal(history.Event.Id, alert.GetProperty("vigil").GetProperty("id").GetString());
        if (crash.Seen is { } handedOn)
        {
            // Handed over again after the restart under the id it had before the crash: one event, not two.
            Assert.Equal(handedOn.Id, history.Event.Id);
        }
    }

    private AlertingService Alerting(LocalHttpServer webhook, string dataDir) =>
        new(new AlertingOptions
        {
            Webhooks = [new WebhookOptions { Name = "pager", Url = new Uri(webhook.BaseAddress, "/hook").ToString(), Secret = "a-secret-of-sixteen-or-more" }],
        }, dataDir, _time);

    private RuleManager Rules(string rulesDir, string dataDir, IAlertTransitionSink sink) =>
        new(new RuleManagerOptions { RulesDirectory = rulesDir, DataDirectory = dataDir }, _reader, _time, sink);

    private sealed class SimulatedCrash() : Exception("simulated crash");

    /// <summary>
    /// Stands between the rule engine and the outbox and "crashes" at its point on the first firing transition:
    /// inside the state store's commit, or around the outbox's.
    /// </summary>
    private sealed class CrashingSink(CrashPoint point) : IAlertTransitionSink
    {
        public IAlertTransitionSink? Inner { get; set; }

        public bool Crashed { get; private set; }

        /// <summary>The firing transition as it was handed on before the crash (null when it never was).</summary>
        public AlertTransition? Seen { get; private set; }

        public void AtCommit(CommitStage stage)
        {
            if (Crashed)
            {
                throw new SimulatedCrash();
            }

            if ((point, stage) is (CrashPoint.BeforeStateCommit, CommitStage.BeforeCommit) or (CrashPoint.AfterStateCommit, CommitStage.AfterCommit))
            {
                Crashed = true;
                throw new SimulatedCrash();
            }
        }

        public void OnTransition(AlertTransition transition)
        {
            if (Crashed)
            {
                throw new SimulatedCrash();
            }

            if (transition.To != AlertState.Firing || point is not (CrashPoint.BeforeOutboxCommit or CrashPoint.AfterOutboxCommit))
            {
                Inner!.OnTransition(transition);
                return;
            }

            Seen = transition;
            Crashed = true;
            if (point == CrashPoint.AfterOutboxCommit)
            {
                Inner!.OnTransition(transition);
            }

            throw new SimulatedCrash();
        }
    }

    /// <summary>One counter series for tenant acme whose windowed increase the test sets.</summary>
    private sealed class OneSeriesReader : IWindowReader
    {
        public double Value { get; set; }

        public IReadOnlyList<AggregateSample> Aggregate(AggregateQuery query) =>
            [new AggregateSample(new Dictionary<string, string>(StringComparer.Ordinal) { ["tenant.id"] = "acme" }, Value, 50)];

        public MetricKind? KindOf(string metric) => MetricKind.Counter;

        public IReadOnlyList<SeriesInfo> ListSeries(string? metric) => [];
    }
}
