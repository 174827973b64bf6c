using Microsoft.Extensions.Logging;
using Vigil.Rules;

namespace Vigil.Alerting.Tests;

public sealed class AlertOutboxTests : IDisposable
{
    private static readonly RetryOptions Retry = new() { InitialBackoff = TimeSpan.FromSeconds(1), MaxBackoff = TimeSpan.FromSeconds(30) };
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void OnlyTransitionsIntoFiringAndFromFiringToResolved_BecomeEvents()
    {
        var time = Transitions.Clock();
        using var outbox = new AlertOutbox(_dir.Path, [new OutboxReceiver("r")], time);
        var t0 = time.GetUtcNow();

        outbox.OnTransition(Transitions.Make("A", "g", Severity.P2, "acme", AlertState.Inactive, AlertState.Pending, t0, null, null));
        outbox.OnTransition(Transitions.Make("A", "g", Severity.P2, "acme", AlertState.Pending, AlertState.Inactive, t0, null, null));
        outbox.OnTransition(Transitions.Firing(t0.AddMinutes(1), "A", Severity.P2, from: AlertState.Pending));
        outbox.OnTransition(Transitions.Resolved(t0.AddMinutes(1), t0.AddMinutes(5), "A", Severity.P2));
        outbox.OnTransition(Transitions.Firing(t0.AddMinutes(6), "B", Severity.P3, from: AlertState.Inactive));

        var history = outbox.GetHistory(new AlertHistoryQuery());
        Assert.Equal([("B", AlertStatus.Firing), ("A", AlertStatus.Resolved), ("A", AlertStatus.Firing)], history.Select(h => (h.Event.Rule, h.Event.Status)));
        var resolved = history[1].Event;
        Assert.Equal(t0.AddMinutes(5), resolved.EndsAt);
        Assert.Equal(t0.AddMinutes(1), resolved.StartsAt);
        Assert.Null(history[2].Event.EndsAt);
        Assert.Equal(history[1].Event.Fingerprint, history[2].Event.Fingerprint);
        Assert.NotEqual(history[1].Event.Id, history[2].Event.Id);
    }

    [Fact]
    public async Task TransitionHandedOverAgain_WithItsId_IsRecordedAndDeliveredOnce()
    {
        var time = Transitions.Clock();
        var receiver = new RecordingReceiver("r");
        var firing = Transitions.Firing(time.GetUtcNow(), "A") with { Id = AlertTransition.NewId(time.GetUtcNow()) };
        var recorded = 0;
        using (var outbox = new AlertOutbox(_dir.Path, [new OutboxReceiver("r")], time))
        {
            outbox.OnTransition(firing);
        }

        // The rule engine offers it again after a crash, to the outbox the restart opened on the same file.
        using var reopened = new AlertOutbox(_dir.Path, [new OutboxReceiver("r")], time);
        reopened.Recorded += _ => recorded++;
        await using var worker = new DeliveryWorker(reopened, receiver, Retry, time);
        reopened.OnTransition(firing);
        Assert.Empty(reopened.Enqueue(new AlertEventFactory(null, time).Create(firing)!));
        await worker.RunOnceAsync(time.GetUtcNow());

        var e = Assert.Single(reopened.GetHistory(new AlertHistoryQuery())).Event;
        Assert.Equal(firing.Id, e.Id);
        Assert.Equal(firing.Id, Assert.Single(receiver.Delivered).Id);
        Assert.Equal(0, recorded);
        Assert.Equal(0, reopened.GetMetrics().EventsRecorded);
    }

    [Fact]
    public void Event_CarriesLabelsAnnotationsAndRuleFields()
    {
        var time = Transitions.Clock();
        using var outbox = new AlertOutbox(_dir.Path, [], time, factory: new AlertEventFactory("https://vigil.example.com/", time));

        outbox.OnTransition(Transitions.Firing(time.GetUtcNow(), "AiRunFailureRateHigh", Severity.P1, group: "ai runtime"));

        var e = outbox.GetHistory(new AlertHistoryQuery()).Single().Event;
        Assert.Equal(["alertname", "severity", "team", "tenant.id"], e.Labels.Keys);
        Assert.Equal(("AiRunFailureRateHigh", "P1", "acme"), (e.Labels["alertname"], e.Labels["severity"], e.Labels["tenant.id"]));
        Assert.Equal("https://runbooks.example.com/AiRunFailureRateHigh", e.RunbookUrl);
        Assert.Equal("AiRunFailureRateHigh in acme", e.Summary);
        Assert.Equal("failure ratio above threshold", e.Description);
        Assert.Equal((0.31, "> 0.2", "10m"), (e.Value, e.Threshold, e.Window));
        Assert.Equal("https://vigil.example.com/api/v1/rules/ai%20runtime/AiRunFailureRateHigh/explain", e.GeneratorUrl);
        Assert.Equal(AlertFingerprint.Compute(e.Labels), e.Fingerprint);
        Assert.Matches("^[0-9a-f]{16}$", e.Fingerprint);
    }

    [Fact]
    public void Fingerprint_IsStableAndIndependentOfLabelOrder()
    {
        var a = AlertFingerprint.Compute([new("b", "2"), new("a", "1")]);
        var b = AlertFingerprint.Compute([new("a", "1"), new("b", "2")]);
        var c = AlertFingerprint.Compute([new("a", "1"), new("b", "3")]);

        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
        // FNV-1a 64 of the empty input is its offset basis: the same constant Prometheus' model package uses.
        Assert.Equal("cbf29ce484222325", AlertFingerprint.Compute([]));
    }

    [Fact]
    public void History_FiltersByRuleSeverityStatusAndTime_NewestFirst()
    {
        var time = Transitions.Clock();
        using var outbox = new AlertOutbox(_dir.Path, [new OutboxReceiver("r")], time);
        var t0 = time.GetUtcNow();
        outbox.OnTransition(Transitions.Firing(t0, "A", Severity.P1));
        outbox.OnTransition(Transitions.Firing(t0.AddMinutes(1), "B", Severity.P2));
        outbox.OnTransition(Transitions.Resolved(t0, t0.AddMinutes(2), "A", Severity.P1));
        outbox.OnTransition(Transitions.Firing(t0.AddMinutes(3), "A", Severity.P1, tenant: "globex"));

        Assert.Equal(3, outbox.GetHistory(new AlertHistoryQuery(Rule: "A")).Count);
        Assert.Equal(["B"], outbox.GetHistory(new AlertHistoryQuery(Severity: Severity.P2)).Select(h => h.Event.Rule));
        Assert.Equal([t0.AddMinutes(2)], outbox.GetHistory(new AlertHistoryQuery(Status: AlertStatus.Resolved)).Select(h => h.Event.Timestamp));
        Assert.Equal([t0.AddMinutes(2), t0.AddMinutes(1)],
            outbox.GetHistory(new AlertHistoryQuery(From: t0.AddMinutes(1), To: t0.AddMinutes(2))).Select(h => h.Event.Timestamp));
        Assert.Equal([t0.AddMinutes(3), t0.AddMinutes(2)], outbox.GetHistory(new AlertHistoryQuery(Limit: 2)).Select(h => h.Event.Timestamp));
        var pending = outbox.GetHistory(new AlertHistoryQuery(Limit: 1)).Single().Deliveries.Single();
        Assert.Equal((DeliveryState.Pending, 0), (pending.State, pending.Attempts));
    }

    [Fact]
    public async Task OneFailingReceiver_DoesNotHoldUpAnother()
    {
        var time = Transitions.Clock();
        var down = new RecordingReceiver("down", alwaysFail: true);
        var up = new RecordingReceiver("up");
        using var outbox = new AlertOutbox(_dir.Path, [new OutboxReceiver("down"), new OutboxReceiver("up")], time);
        await using var downWorker = new DeliveryWorker(outbox, down, Retry, time);
        await using var upWorker = new DeliveryWorker(outbox, up, Retry, time);

        outbox.OnTransition(Transitions.Firing(time.GetUtcNow(), "A"));
        var downStep = await downWorker.RunOnceAsync(time.GetUtcNow());
        var upStep = await upWorker.RunOnceAsync(time.GetUtcNow());

        Assert.Equal((0, 1), (downStep.Delivered, downStep.Failed));
        Assert.Equal(1, upStep.Delivered);
        Assert.Single(up.Delivered);
        var outcomes = outbox.GetHistory(new AlertHistoryQuery()).Single().Deliveries.ToDictionary(d => d.Receiver);
        Assert.Equal(DeliveryState.Pending, outcomes["down"].State);
        Assert.Contains("refused", outcomes["down"].LastError, StringComparison.Ordinal);
        Assert.Equal(DeliveryState.Delivered, outcomes["up"].State);
    }

    [Fact]
    public async Task AfterAFailure_ResolvedIsNeverDeliveredBeforeItsFiring()
    {
        var time = Transitions.Clock();
        var receiver = new RecordingReceiver("r", failFirst: 1);
        using var outbox = new AlertOutbox(_dir.Path, [new OutboxReceiver("r")], time);
        await using var worker = new DeliveryWorker(outbox, receiver, Retry, time, random: new Random(2));
        var firedAt = time.GetUtcNow();

        outbox.OnTransition(Transitions.Firing(firedAt, "A"));
        var failed = await worker.RunOnceAsync(time.GetUtcNow());
        time.Advance(TimeSpan.FromMilliseconds(300));
        outbox.OnTransition(Transitions.Resolved(firedAt, time.GetUtcNow(), "A"));
        var waiting = await worker.RunOnceAsync(time.GetUtcNow());
        time.Advance(TimeSpan.FromSeconds(5));
        var delivered = await worker.RunOnceAsync(time.GetUtcNow());

        Assert.Equal(1, failed.Failed);
        Assert.Equal(0, waiting.Delivered);
        Assert.Equal(2, delivered.Delivered);
        Assert.Equal([AlertStatus.Firing, AlertStatus.Resolved], receiver.Delivered.Select(e => e.Status));
    }

    [Fact]
    public void Backoff_DoublesFromInitial_WithJitter_AndIsCapped()
    {
        var time = Transitions.Clock();
        using var outbox = new AlertOutbox(_dir.Path, [], time);
        var retry = new RetryOptions { InitialBackoff = TimeSpan.FromSeconds(1), MaxBackoff = TimeSpan.FromMinutes(5), Jitter = 0.2 };
        var worker = new DeliveryWorker(outbox, new RecordingReceiver("r"), retry, time, random: new Random(11));

        for (var attempt = 1; attempt <= 8; attempt++)
        {
            var expected = TimeSpan.FromSeconds(Math.Pow(2, attempt - 1));
            Assert.InRange(worker.Backoff(attempt), expected * 0.8, expected * 1.2);
        }

        var samples = Enumerable.Range(0, 50).Select(_ => worker.Backoff(3)).Distinct().Count();
        Assert.True(samples > 10, "jitter spreads retries");
        Assert.All(Enumerable.Range(0, 50), _ => Assert.InRange(worker.Backoff(40), TimeSpan.FromMinutes(4), TimeSpan.FromMinutes(5)));
    }

    [Fact]
    public async Task CorruptedOutbox_IsMovedAside_WithAWarning_AndAFreshOutboxWorks()
    {
        var time = Transitions.Clock();
        var path = Path.Combine(_dir.Path, AlertOutbox.FileName);
        await File.WriteAllBytesAsync(path, Enumerable.Range(0, 8192).Select(i => (byte)(i * 37 % 251)).ToArray());
        var logger = new ListLogger();
        var receiver = new RecordingReceiver("r");

        using var outbox = new AlertOutbox(_dir.Path, [new OutboxReceiver("r")], time, logger);
        await using var worker = new DeliveryWorker(outbox, receiver, Retry, time);
        outbox.OnTransition(Transitions.Firing(time.GetUtcNow()));
        await worker.RunOnceAsync(time.GetUtcNow());

        var aside = Path.Combine(_dir.Path, "alerts-outbox.db.corrupt-20260301T120000Z");
        Assert.Equal(aside, outbox.RecoveredCorruptFile);
        Assert.True(File.Exists(aside), "the corrupt file is kept for inspection");
        var warning = Assert.Single(logger.Entries, e => e.Level == LogLevel.Warning);
        Assert.Contains("unreadable", warning.Message, StringComparison.Ordinal);
        Assert.Contains(aside, warning.Message, StringComparison.Ordinal);
        Assert.Single(receiver.Delivered);
        Assert.Equal(DeliveryState.Delivered, outbox.GetHistory(new AlertHistoryQuery()).Single().Deliveries.Single().State);
    }

    [Fact]
    public void PendingDeliveries_OfARemovedReceiver_AreExpiredAtStart()
    {
        var time = Transitions.Clock();
        using (var outbox = new AlertOutbox(_dir.Path, [new OutboxReceiver("old"), new OutboxReceiver("kept")], time))
        {
            outbox.OnTransition(Transitions.Firing(time.GetUtcNow()));
        }

        using var reopened = new AlertOutbox(_dir.Path, [new OutboxReceiver("kept")], time);

        var outcomes = reopened.GetHistory(new AlertHistoryQuery()).Single().Deliveries.ToDictionary(d => d.Receiver);
        Assert.Equal(DeliveryState.Expired, outcomes["old"].State);
        Assert.Equal("receiver no longer configured", outcomes["old"].LastError);
        Assert.Equal(DeliveryState.Pending, outcomes["kept"].State);
    }

    [Fact]
    public void Prune_RemovesOnlyFinishedEventsOlderThanTheCutoff()
    {
        var time = Transitions.Clock();
        using var outbox = new AlertOutbox(_dir.Path, [new OutboxReceiver("r")], time);
        outbox.OnTransition(Transitions.Firing(time.GetUtcNow(), "StillPending"));
        var noReceivers = new AlertOutbox(_dir.Path + "-2", [], time);
        noReceivers.OnTransition(Transitions.Firing(time.GetUtcNow(), "Finished"));
        time.Advance(TimeSpan.FromDays(8));

        Assert.Equal(0, outbox.Prune(time.GetUtcNow() - TimeSpan.FromDays(7)));
        Assert.Equal(1, noReceivers.Prune(time.GetUtcNow() - TimeSpan.FromDays(7)));
        Assert.Empty(noReceivers.GetHistory(new AlertHistoryQuery()));
        noReceivers.Dispose();
        Directory.Delete(_dir.Path + "-2", recursive: true);
    }

    [Fact]
    public async Task HistoryQueries_WhileTransitionsAreRecorded_NeverFail()
    {
        // The API reads history on request threads while the rule engine records events on its own.
        var time = Transitions.Clock();
        using var outbox = new AlertOutbox(_dir.Path, [new OutboxReceiver("r")], time);
        using var readersRunning = new CountdownEvent(3);
        var writing = true;
        var readers = Enumerable.Range(0, 3).Select(_ => Task.Run(() =>
        {
            readersRunning.Signal();
            do
            {
                Assert.True(outbox.GetHistory(new AlertHistoryQuery(Rule: "A3", Limit: 50)).Count <= 50);
            }
            while (Volatile.Read(ref writing));
        })).ToArray();

        await Task.Run(() =>
        {
            // Write only once every reader is reading, so reads and writes overlap.
            readersRunning.Wait();
            for (var i = 0; i < 300; i++)
            {
                outbox.OnTransition(Transitions.Firing(Transitions.Start.AddSeconds(i), "A" + (i % 7), Severity.P1, tenant: "t" + i));
            }
        });
        Volatile.Write(ref writing, false);
        await Task.WhenAll(readers);

        Assert.Equal(300, outbox.GetHistory(new AlertHistoryQuery(Limit: 1000)).Count);
    }
}
