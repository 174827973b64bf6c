using System.Diagnostics.Metrics;
using System.Net;
using System.Text.Json;
using Microsoft.Extensions.Time.Testing;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;

namespace Vigil.Collector.Tests;

/// <summary>
/// The OpenTelemetry SDK feeds a real collector running the default rule packs on a fake clock:
/// the auth failure rule goes pending, fires, shows in /api/v1/alerts, and resolves once failures stop.
/// </summary>
public sealed class RulesEndToEndTests
{
    private static async Task<JsonElement?> AlertAsync(VigilApi api, string alertname, string tenant)
    {
        var body = await api.GetJsonAsync("/api/v1/alerts");
        foreach (var alert in body.GetProperty("data").GetProperty("alerts").EnumerateArray())
        {
            var labels = alert.GetProperty("labels");
            if (labels.GetProperty("alertname").GetString() == alertname && labels.GetProperty("tenant.id").GetString() == tenant)
            {
                return alert;
            }
        }

        return null;
    }

    private static async Task<string?> StateAsync(VigilApi api, string alertname, string tenant) =>
        (await AlertAsync(api, alertname, tenant))?.GetProperty("state").GetString();

    /// <summary>Moves the fake clock in evaluation-interval steps and waits for the evaluations to land.</summary>
    private static async Task AdvanceAsync(FakeTimeProvider time, TimeSpan by, VigilApi api, Func<Task<bool>>? until = null)
    {
        for (var elapsed = TimeSpan.Zero; elapsed < by; elapsed += TimeSpan.FromSeconds(30))
        {
            time.Advance(TimeSpan.FromSeconds(30));
            await Task.Yield();
        }

        if (until is null)
        {
            return;
        }

        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!await until() && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }
    }

    [Fact]
    public async Task AuthFailureBurst_FiresThenResolves_VisibleInAlertsApi()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var vigil = await VigilServer.StartAsync(time: time);
        using var api = new VigilApi(vigil.HttpUri);
        using var meter = new Meter("vigil.e2e.rules." + Guid.NewGuid().ToString("N"));
        var requests = meter.CreateCounter<long>("auth.requests", "{request}");
        using var provider = Sdk.CreateMeterProviderBuilder()
            .AddMeter(meter.Name)
            .ConfigureResource(r => r.AddService("login").AddAttributes([new("tenant.id", "acme")]))
            .AddOtlpExporter((exporter, reader) =>
            {
                exporter.Protocol = OtlpExportProtocol.Grpc;
                exporter.Endpoint = vigil.GrpcUri;
                reader.TemporalityPreference = MetricReaderTemporalityPreference.Cumulative;
                reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = 3_600_000;
            })
            .Build();

        requests.Add(60, new("auth.outcome", "failure"), new("auth.method", "password"));
        requests.Add(40, new("auth.outcome", "success"), new("auth.method", "password"));
        Assert.True(provider.ForceFlush());

        // 60% failures over 100 requests (guard: 50): pending first, firing once `for: 2m` has passed.
        await AdvanceAsync(time, TimeSpan.FromSeconds(30), api, async () => await StateAsync(api, "AuthFailureRateHigh", "acme") == "pending");
        Assert.Equal("pending", await StateAsync(api, "AuthFailureRateHigh", "acme"));
        await AdvanceAsync(time, TimeSpan.FromMinutes(2), api, async () => await StateAsync(api, "AuthFailureRateHigh", "acme") == "firing");
        var firing = (await AlertAsync(api, "AuthFailureRateHigh", "acme"))!.Value;
        Assert.Equal("firing", firing.GetProperty("state").GetString());
        Assert.Equal("P1", firing.GetProperty("labels").GetProperty("severity").GetString());
        Assert.Equal("https://runbooks.vigil.example/auth/failure-rate", firing.GetProperty("annotations").GetProperty("runbook_url").GetString());
        Assert.Contains("60", firing.GetProperty("annotations").GetProperty("summary").GetString());

        var explain = await api.GetJsonAsync("/api/v1/rules/auth/AuthFailureRateHigh/explain");
        var instance = explain.GetProperty("data").GetProperty("instances").EnumerateArray().Single();
        Assert.Equal(0.6, instance.GetProperty("value").GetDouble(), 9);
        Assert.Equal(100, instance.GetProperty("samples").GetDouble());

        // Failures stop: 600 more successes take the ratio to 60/700 < recover 0.10; keep_firing_for 2m then resolves.
        requests.Add(600, new("auth.outcome", "success"), new("auth.method", "password"));
        Assert.True(provider.ForceFlush());
        await AdvanceAsync(time, TimeSpan.FromMinutes(3), api, async () => await StateAsync(api, "AuthFailureRateHigh", "acme") is not ("firing" or "pending"));
        Assert.NotEqual("firing", await StateAsync(api, "AuthFailureRateHigh", "acme"));
        var rules = await api.GetJsonAsync("/api/v1/rules");
        Assert.True(rules.GetProperty("data").GetProperty("lastReload").GetProperty("success").GetBoolean());
    }

    [Fact]
    public async Task BadRuleFile_ReloadIs400_LastGoodRulesKeepRunning()
    {
        var rulesDir = Path.Combine(VigilServer.NewDataDir(), "rules");
        Directory.CreateDirectory(rulesDir);
        var file = Path.Combine(rulesDir, "auth.yaml");
        File.Copy(Path.Combine(AppContext.BaseDirectory, "rules", "auth.yaml"), file);
        try
        {
            await using var vigil = await VigilServer.StartAsync(o => o with { RulesDir = rulesDir });
            using var api = new VigilApi(vigil.HttpUri);
            using var http = new HttpClient { BaseAddress = vigil.HttpUri };
            using (var ok = await http.PostAsync("/-/reload", null))
            {
                Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
            }

            await File.WriteAllTextAsync(file, "group: auth\nrules:\n  - alert: Broken\n    severity: P1\n    treshold: \"> 1\"\n");
            using var bad = await http.PostAsync("/-/reload", null);
            Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
            var body = JsonDocument.Parse(await bad.Content.ReadAsStringAsync()).RootElement;
            Assert.Contains(body.GetProperty("problems").EnumerateArray(), p => p.GetString()!.Contains("auth.yaml:5:5: unknown field 'treshold'", StringComparison.Ordinal));

            var rules = await api.GetJsonAsync("/api/v1/rules");
            var data = rules.GetProperty("data");
            Assert.False(data.GetProperty("lastReload").GetProperty("success").GetBoolean());
            var running = data.GetProperty("groups").EnumerateArray().Single().GetProperty("rules").EnumerateArray().Select(r => r.GetProperty("name").GetString()).ToList();
            Assert.Contains("AuthFailureRateHigh", running);
            Assert.DoesNotContain("Broken", running);
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(rulesDir)!, recursive: true);
        }
    }

    [Fact]
    public void RulesCommand_CheckAndTest_ExitCodes()
    {
        var output = new StringWriter();
        var rules = Path.Combine(AppContext.BaseDirectory, "rules");
        Assert.Equal(0, Vigil.Collector.Rules.RulesCommand.Run(["check", rules], output, TextWriter.Null));
        Assert.StartsWith("OK: 3 files", output.ToString());

        var bad = Path.Combine(Path.GetTempPath(), $"vigil-bad-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(bad, "group: g\nrules:\n  - alert: X\n    severity: P9\n");
        try
        {
            output = new StringWriter();
            Assert.Equal(1, Vigil.Collector.Rules.RulesCommand.Run(["check", bad], output, TextWriter.Null));
            Assert.Contains($"{bad}:4:15: severity 'P9' is not one of P1, P2, P3, P4", output.ToString());
        }
        finally
        {
            File.Delete(bad);
        }

        Assert.Equal(2, Vigil.Collector.Rules.RulesCommand.Run(["lint"], TextWriter.Null, TextWriter.Null));
    }
}
