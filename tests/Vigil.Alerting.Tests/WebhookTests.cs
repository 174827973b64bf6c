using System.Text;
using System.Text.Json;
using Vigil.Alerting.Receivers;
using Vigil.Rules;

namespace Vigil.Alerting.Tests;

public sealed class WebhookTests : IDisposable
{
    private const string Secret = "webhook-secret-for-tests";
    private static readonly RetryOptions Retry = new()
    {
        InitialBackoff = TimeSpan.FromSeconds(1),
        MaxBackoff = TimeSpan.FromSeconds(30),
        MaxAge = TimeSpan.FromHours(1),
    };

    private readonly HttpClient _http = new();
    private readonly TempDir _dir = new();

    public void Dispose()
    {
        _http.Dispose();
        _dir.Dispose();
    }

    [Fact]
    public async Task Delivery_IsSignedWithHmac_AndCarriesAlertmanagerWebhookBody()
    {
        await using var server = await LocalHttpServer.StartAsync();
        var time = Transitions.Clock();
        var receiver = Webhook(server, "oncall", time);
        using var outbox = new AlertOutbox(_dir.Path, [new OutboxReceiver(receiver.Name)], time, factory: new AlertEventFactory("https://vigil.example.com", time));
        await using var worker = new DeliveryWorker(outbox, receiver, Retry, time);

        outbox.OnTransition(Transitions.Firing(time.GetUtcNow()));
        await worker.RunOnceAsync(time.GetUtcNow());

        var request = Assert.Single(server.Requests);
        var timestamp = request.Headers[WebhookSignature.TimestampHeader];
        var signature = request.Headers[WebhookSignature.SignatureHeader];
        Assert.Equal(time.GetUtcNow().ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture), timestamp);
        Assert.StartsWith("sha256=", signature, StringComparison.Ordinal);
        Assert.True(WebhookSignature.Verify(Secret, timestamp, request.Body, signature, time.GetUtcNow()));
        Assert.False(WebhookSignature.Verify("another-secret-entirely", timestamp, request.Body, signature, time.GetUtcNow()));
        var tampered = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(request.Body).Replace("acme", "acmf", StringComparison.Ordinal));
        Assert.False(WebhookSignature.Verify(Secret, timestamp, tampered, signature, time.GetUtcNow()));

        using var body = JsonDocument.Parse(request.Body);
        var root = body.RootElement;
        Assert.Equal("4", root.GetProperty("version").GetString());
        Assert.Equal("firing", root.GetProperty("status").GetString());
        Assert.Equal("oncall", root.GetProperty("receiver").GetString());
        Assert.Equal("https://vigil.example.com", root.GetProperty("externalURL").GetString());
        Assert.Equal("AuthFailureRateHigh", root.GetProperty("groupLabels").GetProperty("alertname").GetString());
        Assert.Equal(0, root.GetProperty("truncatedAlerts").GetInt32());
        var alert = Assert.Single(root.GetProperty("alerts").EnumerateArray().ToList());
        Assert.Equal("acme", alert.GetProperty("labels").GetProperty("tenant.id").GetString());
        Assert.Equal("https://runbooks.example.com/AuthFailureRateHigh", alert.GetProperty("annotations").GetProperty("runbook_url").GetString());
        Assert.Equal("0001-01-01T00:00:00Z", alert.GetProperty("endsAt").GetString());
        var recorded = outbox.GetHistory(new AlertHistoryQuery()).Single().Event;
        Assert.Equal(recorded.Fingerprint, alert.GetProperty("fingerprint").GetString());
        Assert.Equal(recorded.Id, alert.GetProperty("vigil").GetProperty("id").GetString());
    }

    [Fact]
    public void Signature_IsRejected_WhenTimestampIsOutsideTolerance()
    {
        var sentAt = Transitions.Start;
        var ts = sentAt.ToUnixTimeSeconds();
        var body = "{\"status\":\"firing\"}"u8.ToArray();
        var signature = WebhookSignature.Compute(Secret, ts, body);
        var tsText = ts.ToString(System.Globalization.CultureInfo.InvariantCulture);

        Assert.True(WebhookSignature.Verify(Secret, tsText, body, signature, sentAt.AddMinutes(4)));
        Assert.False(WebhookSignature.Verify(Secret, tsText, body, signature, sentAt.AddMinutes(6)));
        Assert.False(WebhookSignature.Verify(Secret, tsText, body, signature, sentAt.AddMinutes(-6)));
        Assert.True(WebhookSignature.Verify(Secret, tsText, body, signature, sentAt.AddMinutes(20), TimeSpan.FromMinutes(30)));
        // The timestamp is signed: moving it forward to dodge the replay window breaks the signature.
        var replayed = (ts + 600).ToString(System.Globalization.CultureInfo.InvariantCulture);
        Assert.False(WebhookSignature.Verify(Secret, replayed, body, signature, sentAt.AddMinutes(10)));
    }

    [Fact]
    public async Task ReceiverFailingThreeTimes_GetsTheEventExactlyOnceAfterwards_AcrossARestart()
    {
        await using var server = await LocalHttpServer.StartAsync(failFirst: 3);
        var time = Transitions.Clock();
        var receiver = Webhook(server, "flaky", time);
        var receivers = new[] { new OutboxReceiver(receiver.Name) };

        var outbox = new AlertOutbox(_dir.Path, receivers, time);
        var worker = new DeliveryWorker(outbox, receiver, Retry, time, random: new Random(7));
        outbox.OnTransition(Transitions.Firing(time.GetUtcNow()));
        var step1 = await worker.RunOnceAsync(time.GetUtcNow());
        time.Advance(TimeSpan.FromMinutes(1));
        var step2 = await worker.RunOnceAsync(time.GetUtcNow());
        await worker.DisposeAsync();
        outbox.Dispose();

        // Restart: a new outbox and worker on the same data directory pick the pending delivery up.
        using var outbox2 = new AlertOutbox(_dir.Path, receivers, time);
        await using var worker2 = new DeliveryWorker(outbox2, receiver, Retry, time, random: new Random(8));
        var restartedAt = time.GetUtcNow();
        var notYetDue = await worker2.RunOnceAsync(restartedAt);
        time.Advance(TimeSpan.FromMinutes(1));
        var step3 = await worker2.RunOnceAsync(time.GetUtcNow());
        time.Advance(TimeSpan.FromMinutes(1));
        var step4 = await worker2.RunOnceAsync(time.GetUtcNow());
        time.Advance(TimeSpan.FromMinutes(1));
        var afterwards = await worker2.RunOnceAsync(time.GetUtcNow());

        Assert.Equal([1, 1, 0, 1, 0], new[] { step1.Failed, step2.Failed, notYetDue.Failed + notYetDue.Delivered, step3.Failed, step4.Failed });
        Assert.True(notYetDue.NextDueAt > restartedAt, "the backoff survives the restart");
        Assert.Equal(1, step4.Delivered);
        Assert.Equal(0, afterwards.Delivered + afterwards.Failed);
        var requests = server.Requests.ToList();
        Assert.Equal([500, 500, 500, 200], requests.Select(r => r.AnsweredStatus));
        var ids = requests.Select(r => JsonDocument.Parse(r.Body).RootElement.GetProperty("alerts")[0].GetProperty("vigil").GetProperty("id").GetString()).ToList();
        Assert.Single(ids.Distinct());
        var delivery = outbox2.GetHistory(new AlertHistoryQuery()).Single().Deliveries.Single();
        Assert.Equal(DeliveryState.Delivered, delivery.State);
        Assert.Equal(4, delivery.Attempts);
        Assert.Contains("500", delivery.LastError, StringComparison.Ordinal);
        Assert.Equal(time.GetUtcNow() - TimeSpan.FromMinutes(1), delivery.DeliveredAt);
    }

    [Fact]
    public async Task SeverityFilter_P2EventIsNotSentToP1OnlyWebhook()
    {
        await using var pagerServer = await LocalHttpServer.StartAsync();
        await using var chatServer = await LocalHttpServer.StartAsync();
        var time = Transitions.Clock();
        var options = new AlertingOptions
        {
            Webhooks =
            [
                new WebhookOptions { Name = "pager", Url = pagerServer.BaseAddress.ToString(), Secret = Secret, Severities = ["P1"] },
                new WebhookOptions { Name = "chat", Url = chatServer.BaseAddress.ToString(), Secret = Secret },
            ],
        };
        await using var service = new AlertingService(options, _dir.Path, time, httpClient: _http);

        service.OnTransition(Transitions.Firing(time.GetUtcNow(), "TenantLeak", Severity.P2));
        service.OnTransition(Transitions.Firing(time.GetUtcNow(), "AuthDown", Severity.P1));
        foreach (var worker in service.Workers)
        {
            await worker.RunOnceAsync(time.GetUtcNow());
        }

        var paged = AlertNames(pagerServer);
        var chatted = AlertNames(chatServer);
        Assert.Equal(["AuthDown"], paged);
        Assert.Equal(["TenantLeak", "AuthDown"], chatted);
        var p2 = service.GetHistory(new AlertHistoryQuery(Severity: Severity.P2)).Single();
        Assert.Equal(["webhook:chat"], p2.Deliveries.Select(d => d.Receiver));
    }

    [Fact]
    public async Task ReceiverThatNeverSucceeds_IsExpiredAfterMaxAge_CountedAndVisibleInHistory()
    {
        await using var server = await LocalHttpServer.StartAsync(failFirst: int.MaxValue);
        var time = Transitions.Clock();
        var receiver = Webhook(server, "dead", time);
        using var outbox = new AlertOutbox(_dir.Path, [new OutboxReceiver(receiver.Name)], time);
        await using var worker = new DeliveryWorker(outbox, receiver, Retry, time, random: new Random(3));
        outbox.OnTransition(Transitions.Firing(time.GetUtcNow()));
        var recordedAt = time.GetUtcNow();

        var expiredSteps = new List<DeliveryStep>();
        while (time.GetUtcNow() < recordedAt + Retry.MaxAge + TimeSpan.FromMinutes(5))
        {
            var step = await worker.RunOnceAsync(time.GetUtcNow());
            if (step.Expired > 0)
            {
                expiredSteps.Add(step);
                Assert.True(time.GetUtcNow() >= recordedAt + Retry.MaxAge, $"expired early at {time.GetUtcNow():o}");
            }

            time.Advance(TimeSpan.FromSeconds(45));
        }

        Assert.Single(expiredSteps);
        var failedRequests = server.Requests.Count;
        Assert.InRange(failedRequests, 5, 200);
        var delivery = outbox.GetHistory(new AlertHistoryQuery()).Single().Deliveries.Single();
        Assert.Equal(DeliveryState.Expired, delivery.State);
        Assert.Equal(failedRequests, delivery.Attempts);
        Assert.NotNull(delivery.ExpiredAt);
        Assert.Null(delivery.DeliveredAt);
        var metrics = outbox.GetMetrics().Receivers.Single();
        Assert.Equal((receiver.Name, 0L, (long)failedRequests, 1L, 0L), (metrics.Receiver, metrics.Delivered, metrics.FailedAttempts, metrics.Expired, metrics.Pending));
    }

    private WebhookReceiver Webhook(LocalHttpServer server, string name, TimeProvider time) =>
        new(new WebhookOptions { Name = name, Url = server.BaseAddress.ToString(), Secret = Secret }, _http, time, "https://vigil.example.com");

    private static List<string> AlertNames(LocalHttpServer server) =>
        server.Requests.SelectMany(r => JsonDocument.Parse(r.Body).RootElement.GetProperty("alerts").EnumerateArray()
            .Select(a => a.GetProperty("labels").GetProperty("alertname").GetString()!)).ToList();
}
