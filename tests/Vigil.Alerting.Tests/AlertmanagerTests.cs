using System.Text.Json;
using Vigil.Alerting.Receivers;
using Vigil.Rules;

namespace Vigil.Alerting.Tests;

public sealed class AlertmanagerTests(AlertmanagerProcess alertmanager) : IClassFixture<AlertmanagerProcess>
{
    private static readonly RetryOptions Retry = new() { InitialBackoff = TimeSpan.FromSeconds(1), MaxBackoff = TimeSpan.FromSeconds(10) };

    [Fact]
    public async Task FiringEvent_ThroughOutbox_IsActiveInAlertmanager_AndResolvedEventResolvesIt()
    {
        alertmanager.Require();
        using var dir = new TempDir();
        // Alertmanager judges endsAt against its own clock: the fake clock starts a minute behind the real one, so the
        // resolve (a second after firing) is in Alertmanager's past and the firing endsAt (+4m) in its future.
        var time = Transitions.Clock(DateTimeOffset.UtcNow.AddMinutes(-1));
        var options = new AlertmanagerOptions { Url = alertmanager.BaseAddress.ToString() };
        var receiver = new AlertmanagerReceiver(options, alertmanager.Http, time, TimeSpan.FromMinutes(4));
        using var outbox = new AlertOutbox(dir.Path, [new OutboxReceiver(receiver.Name)], time, factory: new AlertEventFactory("http://vigil.test:9190", time));
        await using var worker = new DeliveryWorker(outbox, receiver, Retry, time, random: new Random(1));
        const string alert = "AmFiringThenResolved";
        var firedAt = time.GetUtcNow();

        outbox.OnTransition(Transitions.Firing(firedAt, alert, Severity.P1, tenant: "acme"));
        var step = await worker.RunOnceAsync(time.GetUtcNow());

        Assert.Equal(1, step.Delivered);
        var active = Find(await alertmanager.WaitForAlertsAsync(a => Find(a, alert) is not null), alert);
        Assert.NotNull(active);
        var am = active.Value;
        Assert.Equal("P1", am.GetProperty("labels").GetProperty("severity").GetString());
        Assert.Equal("acme", am.GetProperty("labels").GetProperty("tenant_id").GetString());
        Assert.Equal($"https://runbooks.example.com/{alert}", am.GetProperty("annotations").GetProperty("runbook_url").GetString());
        Assert.Equal("active", am.GetProperty("status").GetProperty("state").GetString());
        Assert.Equal($"http://vigil.test:9190/api/v1/rules/auth/{alert}/explain", am.GetProperty("generatorURL").GetString());
        Assert.True(am.GetProperty("endsAt").GetDateTimeOffset() > DateTimeOffset.UtcNow.AddMinutes(2), "a firing alert must end in the future");
        var sent = outbox.GetHistory(new AlertHistoryQuery(Rule: alert)).Single().Event;
        var amLabels = am.GetProperty("labels").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!);
        Assert.Equal(AlertFingerprint.Compute(amLabels), am.GetProperty("fingerprint").GetString());

        // The event Vigil recorded carries Alertmanager's fingerprint, though its labels are named tenant.id, not tenant_id.
        Assert.Contains("tenant.id", sent.Labels.Keys);
        Assert.Equal(am.GetProperty("fingerprint").GetString(), sent.Fingerprint);
        Assert.Equal(sent.Labels.Count, amLabels.Count);

        time.Advance(TimeSpan.FromSeconds(1));
        outbox.OnTransition(Transitions.Resolved(firedAt, time.GetUtcNow(), alert, Severity.P1, tenant: "acme"));
        step = await worker.RunOnceAsync(time.GetUtcNow());

        Assert.Equal(1, step.Delivered);
        var after = await alertmanager.WaitForAlertsAsync(a => Find(a, alert) is not { } x || x.GetProperty("endsAt").GetDateTimeOffset() <= DateTimeOffset.UtcNow);
        if (Find(after, alert) is { } still)
        {
            Assert.True(still.GetProperty("endsAt").GetDateTimeOffset() <= DateTimeOffset.UtcNow, $"still active in Alertmanager: {still}");
        }

        Assert.All(outbox.GetHistory(new AlertHistoryQuery(Rule: alert)), h => Assert.Equal(DeliveryState.Delivered, h.Deliveries.Single().State));
    }

    [Fact]
    public async Task Resender_PushesEndsAtForward_ForAlertsStillFiring()
    {
        alertmanager.Require();
        var time = Transitions.Clock(DateTimeOffset.UtcNow);
        var receiver = new AlertmanagerReceiver(new AlertmanagerOptions { Url = alertmanager.BaseAddress.ToString() }, alertmanager.Http, time,
            TimeSpan.FromMinutes(4));
        var factory = new AlertEventFactory("http://vigil.test:9190", time);
        await using var resender = new AlertmanagerResender([receiver], TimeSpan.FromMinutes(1), time);
        const string alert = "AmResentWhileFiring";
        resender.Seed([factory.Create(Transitions.Firing(time.GetUtcNow(), alert))!]);

        Assert.Equal(0, await resender.RunOnceAsync());
        var first = (await alertmanager.WaitForAlertsAsync(a => Find(a, alert) is not null)).EnumerateArray()
            .Single(a => a.GetProperty("labels").GetProperty("alertname").GetString() == alert).GetProperty("endsAt").GetDateTimeOffset();
        time.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(0, await resender.RunOnceAsync());
        var second = Find(await alertmanager.WaitForAlertsAsync(a => Find(a, alert)?.GetProperty("endsAt").GetDateTimeOffset() > first), alert)!.Value
            .GetProperty("endsAt").GetDateTimeOffset();

        Assert.Equal(TimeSpan.FromMinutes(1), second - first);
    }

    [Fact]
    public async Task Resender_StopsResending_OnceTheResolvedEventIsObserved()
    {
        var time = Transitions.Clock();
        var factory = new AlertEventFactory("http://vigil.test:9190", time);
        var receiver = new RecordingReceiver("alertmanager:test");
        await using var resender = new AlertmanagerResender([receiver], TimeSpan.FromMinutes(1), time);
        var firedAt = time.GetUtcNow();
        resender.Observe(factory.Create(Transitions.Firing(firedAt, "A", tenant: "t1"))!);
        resender.Observe(factory.Create(Transitions.Firing(firedAt, "A", tenant: "t2"))!);
        resender.Observe(factory.Create(Transitions.Resolved(firedAt, firedAt.AddMinutes(1), "A", tenant: "t1"))!);

        await resender.RunOnceAsync();

        Assert.Equal(["t2"], receiver.Delivered.Select(e => e.Labels["tenant.id"]));
    }

    [Fact]
    public async Task Resender_AfterAnEvaluation_SendsOnlyWhatThatEvaluationFoundFiring()
    {
        var time = Transitions.Clock();
        var factory = new AlertEventFactory("http://vigil.test:9190", time);
        var receiver = new RecordingReceiver("alertmanager:test");
        await using var resender = new AlertmanagerResender([receiver], TimeSpan.FromMinutes(1), time);
        var firedAt = time.GetUtcNow();
        var t1 = factory.Create(Transitions.Firing(firedAt, "A", tenant: "t1"))!;
        var t2 = factory.Create(Transitions.Firing(firedAt, "A", tenant: "t2"))!;
        var other = factory.Create(Transitions.Firing(firedAt, "B", tenant: "t1", group: "other"))!;
        foreach (var e in new[] { t1, t2, other })
        {
            resender.Observe(e);
        }

        // Within the interval of the outbox's own send: nothing is due.
        time.Advance(TimeSpan.FromSeconds(30));
        Assert.Empty(resender.TakeDue("auth", new HashSet<string> { t1.Fingerprint, t2.Fingerprint }));

        // An interval on, the evaluation of "auth" found only t2 firing (t1 resolved there; its event is not yet
        // recorded): t1 is not re-sent as firing, and the other group's alert waits for its own evaluation.
        time.Advance(TimeSpan.FromSeconds(30));
        var due = resender.TakeDue("auth", new HashSet<string> { t2.Fingerprint });
        Assert.Equal([t2.Fingerprint], due.Select(e => e.Fingerprint));
        Assert.Equal(0, await resender.SendAsync(due));
        Assert.Equal(["t2"], receiver.Delivered.Select(e => e.Labels["tenant.id"]));

        // Sent at this evaluation: not again at one half an interval later.
        time.Advance(TimeSpan.FromSeconds(30));
        Assert.Empty(resender.TakeDue("auth", new HashSet<string> { t2.Fingerprint }));
    }

    [Fact]
    public async Task Resender_Fallback_LeavesAnAlertItsGroupDidNotConfirm_AndSendsAStalledGroupsAlert()
    {
        var time = Transitions.Clock();
        var factory = new AlertEventFactory("http://vigil.test:9190", time);
        var receiver = new RecordingReceiver("alertmanager:test");
        var interval = TimeSpan.FromMinutes(1);
        await using var resender = new AlertmanagerResender([receiver], interval, time);
        var firedAt = time.GetUtcNow();
        var evaluated = factory.Create(Transitions.Firing(firedAt, "A", tenant: "t1"))!;
        var stalled = factory.Create(Transitions.Firing(firedAt, "B", tenant: "t1", group: "stalled"))!;
        resender.Observe(evaluated);
        resender.Observe(stalled);

        // "auth" evaluates every interval and no longer finds A firing (it resolved there; the resolved event is not
        // recorded yet, as on an HA twin whose outbox lags). "stalled" never evaluates.
        for (var i = 0; i < 3; i++)
        {
            time.Advance(interval);
            Assert.Empty(resender.TakeDue("auth", new HashSet<string>()));
        }

        // Two intervals and more since either was sent: only the stalled group's alert goes out as firing.
        Assert.Equal([stalled.Fingerprint], resender.TakeStale().Select(e => e.Fingerprint));
    }

    [Fact]
    public async Task Resender_KeepsReSendingAResolvedAlert_ForTheRetention_ThenForgetsIt()
    {
        var time = Transitions.Clock();
        var factory = new AlertEventFactory("http://vigil.test:9190", time);
        var receiver = new RecordingReceiver("alertmanager:test");
        await using var resender = new AlertmanagerResender([receiver], TimeSpan.FromMinutes(1), time);
        var firedAt = time.GetUtcNow();
        resender.Observe(factory.Create(Transitions.Firing(firedAt, "A"))!);
        time.Advance(TimeSpan.FromMinutes(1));
        var resolved = factory.Create(Transitions.Resolved(firedAt, time.GetUtcNow(), "A"))!;
        resender.Observe(resolved);

        var sends = 0;
        var retention = AlertmanagerResender.ResolvedRetention;
        for (var elapsed = TimeSpan.FromMinutes(1); elapsed <= retention + TimeSpan.FromMinutes(3); elapsed += TimeSpan.FromMinutes(1))
        {
            time.Advance(TimeSpan.FromMinutes(1));
            var due = resender.TakeDue("auth", new HashSet<string>());
            Assert.All(due, e => Assert.Equal(AlertStatus.Resolved, e.Status));
            sends += due.Count;
            await resender.SendAsync(due);
        }

        // Once per interval within the retention, then never again.
        Assert.Equal((int)(retention / TimeSpan.FromMinutes(1)), sends);
        Assert.All(receiver.Delivered, e => Assert.Equal(resolved.Id, e.Id));
    }

    [Fact]
    public async Task Resender_DoesNotSendAnAlertThatANewerEventOvertookWhileQueued()
    {
        var time = Transitions.Clock();
        var factory = new AlertEventFactory("http://vigil.test:9190", time);
        var receiver = new RecordingReceiver("alertmanager:test");
        await using var resender = new AlertmanagerResender([receiver], TimeSpan.FromMinutes(1), time);
        var firedAt = time.GetUtcNow();
        var firing = factory.Create(Transitions.Firing(firedAt, "A"))!;
        resender.Observe(firing);
        time.Advance(TimeSpan.FromMinutes(1));
        var due = resender.TakeDue("auth", new HashSet<string> { firing.Fingerprint });
        Assert.Single(due);

        resender.Observe(factory.Create(Transitions.Resolved(firedAt, time.GetUtcNow(), "A"))!);
        await resender.SendAsync(due);

        Assert.Empty(receiver.Delivered);
    }

    [Fact]
    public void Resender_Seed_NeverOverridesAnEventObservedBeforeIt()
    {
        var time = Transitions.Clock();
        var factory = new AlertEventFactory("http://vigil.test:9190", time);
        var resender = new AlertmanagerResender([new RecordingReceiver("alertmanager:test")], TimeSpan.FromMinutes(1), time);
        var firedAt = time.GetUtcNow();
        var stale = factory.Create(Transitions.Firing(firedAt, "A", tenant: "t1"))!;
        var fresh = factory.Create(Transitions.Firing(firedAt, "A", tenant: "t2"))!;

        // The seed's snapshot was taken before t1 resolved, and that resolve was observed before the seed landed.
        resender.Observe(factory.Create(Transitions.Resolved(firedAt, firedAt.AddMinutes(1), "A", tenant: "t1"))!);
        resender.Seed([stale, fresh]);

        Assert.Equal(["t2"], resender.Firing.Select(e => e.Labels["tenant.id"]));
    }

    private static JsonElement? Find(JsonElement alerts, string alertname)
    {
        foreach (var a in alerts.EnumerateArray())
        {
            if (a.GetProperty("labels").TryGetProperty("alertname", out var name) && name.GetString() == alertname)
            {
                return a;
            }
        }

        return null;
    }
}
