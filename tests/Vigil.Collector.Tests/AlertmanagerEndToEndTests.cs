using System.Net;
using System.Text.Json;
using Google.Protobuf;
using Microsoft.Extensions.Time.Testing;
using Vigil.Alerting;
using Vigil.Alerting.Tests;

namespace Vigil.Collector.Tests;

/// <summary>A rule fires in the collector and the alert appears in a real Alertmanager, then resolves there.</summary>
public sealed class AlertmanagerEndToEndTests : IAsyncLifetime
{
    private readonly AlertmanagerProcess _alertmanager = new();

    public Task InitializeAsync() => _alertmanager.InitializeAsync();

    public Task DisposeAsync() => _alertmanager.DisposeAsync();

    private static JsonElement? Find(JsonElement alerts, string alertname) =>
        alerts.EnumerateArray().Cast<JsonElement?>().FirstOrDefault(a => a!.Value.GetProperty("labels").GetProperty("alertname").GetString() == alertname);

    [Fact]
    public async Task AuthFailureRule_FiresIntoAlertmanager_AndResolvesThere()
    {
        _alertmanager.Require();

        // Alertmanager judges endsAt by its own (real) clock. Starting the fake clock 5m30s behind it puts the
        // firing alert's endsAt (fire time + 4m) in Alertmanager's future and the resolve time in its past.
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow - TimeSpan.FromSeconds(330));
        await using var vigil = await VigilServer.StartAsync(
            o => o with { Alerting = AlertingOptions.FromAlertmanagerUrls([_alertmanager.BaseAddress.ToString()]) },
            time);
        using var otlp = new HttpClient { BaseAddress = vigil.OtlpHttpUri };

        await PostAsync(otlp, OtlpRequests.DeltaCounterAt("auth.requests", time.GetUtcNow(), "acme", ("auth.outcome", "failure", 60), ("auth.outcome", "success", 40)));
        await StepAsync(time, TimeSpan.FromMinutes(2.5));
        var firing = Find(await _alertmanager.WaitForAlertsAsync(a => Find(a, "AuthFailureRateHigh") is not null), "AuthFailureRateHigh");
        Assert.True(firing.HasValue, $"not in Alertmanager: {await _alertmanager.GetAlertsAsync()}");
        var alert = firing.Value;
        Assert.Equal("P1", alert.GetProperty("labels").GetProperty("severity").GetString());
        Assert.Equal("acme", alert.GetProperty("labels").GetProperty("tenant_id").GetString());
        Assert.Equal("https://runbooks.vigil.example/auth/failure-rate", alert.GetProperty("annotations").GetProperty("runbook_url").GetString());
        Assert.Equal("active", alert.GetProperty("status").GetProperty("state").GetString());

        // The fingerprint Vigil recorded (history, events) is the one Alertmanager computed over the labels it received.
        using var api = new VigilApi(vigil.HttpUri);
        var recorded = (await api.GetJsonAsync("/api/v1/alerts/history?rule=AuthFailureRateHigh")).GetProperty("data").EnumerateArray()
            .Select(h => h.GetProperty("event")).First(e => e.GetProperty("status").GetString() == "firing");
        Assert.Equal(alert.GetProperty("fingerprint").GetString(), recorded.GetProperty("fingerprint").GetString());

        // Failures stop: the ratio drops under `recover`, and after keep_firing_for the resolution reaches Alertmanager.
        await PostAsync(otlp, OtlpRequests.DeltaCounterAt("auth.requests", time.GetUtcNow(), "acme", ("auth.outcome", "success", 600)));
        await StepAsync(time, TimeSpan.FromMinutes(2.5));
        var after = await _alertmanager.WaitForAlertsAsync(a => Find(a, "AuthFailureRateHigh") is null);
        Assert.Null(Find(after, "AuthFailureRateHigh"));
    }

    private static async Task PostAsync(HttpClient http, IMessage request)
    {
        using var content = new ByteArrayContent(request.ToByteArray());
        content.Headers.ContentType = new("application/x-protobuf");
        using var response = await http.PostAsync("/v1/metrics", content);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    private static async Task StepAsync(FakeTimeProvider time, TimeSpan by)
    {
        for (var stepped = TimeSpan.Zero; stepped < by; stepped += TimeSpan.FromSeconds(30))
        {
            time.Advance(TimeSpan.FromSeconds(30));
            await Task.Delay(50); // let the evaluation and delivery the timers started finish in real time
        }
    }
}
