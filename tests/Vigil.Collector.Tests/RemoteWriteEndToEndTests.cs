using System.Globalization;
using System.Net;
using System.Text.Json;
using Google.Protobuf;
using Vigil.Otlp.Proto.Collector;
using Vigil.Otlp.Proto.Common;
using Vigil.Otlp.Proto.Metrics;

namespace Vigil.Collector.Tests;

/// <summary>
/// Vigil remote-writing to real stores (the Debian packages' VictoriaMetrics and Prometheus 2.42 with its remote-write
/// receiver) from a real vigil process: what the test sent is what the stores hold, an outage of the store loses
/// nothing, and a restarted Vigil resumes its queue from the cursor. Buckets are 1 s so each test takes seconds.
/// </summary>
public sealed class RemoteWriteEndToEndTests : IDisposable
{
    private const string Counter = "auth_requests_total{tenant_id=\"acme\",auth_outcome=\"failure\"}";
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "vigil-rw-e2e-" + Guid.NewGuid().ToString("N"));

    public RemoteWriteEndToEndTests()
    {
        Directory.CreateDirectory(Path.Combine(_dir, "rules"));
        File.WriteAllText(Path.Combine(_dir, "rules", "rw.yaml"), """
            group: rw
            interval: 1s
            aggregates:
              - record: auth.failures
                increase: auth.requests{auth.outcome="failure"}
                by: [tenant.id]
                window: 1m
            rules:
              - alert: AuthFailuresSeen
                severity: P2
                runbook_url: https://runbooks.vigil.example/auth/failures
                increase: auth.requests{auth.outcome="failure"}
                by: [tenant.id]
                window: 1m
                threshold: "> 0"
            """);
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
            // A child process may still be closing a file; the OS cleans the temp directory.
        }
    }

    [Fact]
    public async Task AggregatesAndSeries_AreInVictoriaMetricsAndPrometheus_WithTheValuesSent()
    {
        await using var victoria = await RemoteWriteReceiver.StartVictoriaMetricsAsync();
        await using var prometheus = await RemoteWriteReceiver.StartPrometheusAsync();
        using var vigil = await StartVigilAsync(victoria.WriteUrl, prometheus.WriteUrl);

        // Three 1 s buckets just ahead of now: none is closed (sent) before its points are in.
        var t = NextSecond();
        await PostAsync(vigil, Counters(t, 3, 5, 2), GaugeAt("queue.depth", t.AddMilliseconds(500), 7), HistogramAt("ai.run.duration", t.AddMilliseconds(500), [1, 2], [1, 2, 3], 10));

        // Counters go as running totals stamped at each bucket's end: 3, 3+5, 3+5+2.
        List<StoredSample> expected = [new(Ms(t.AddSeconds(1)), 3), new(Ms(t.AddSeconds(2)), 8), new(Ms(t.AddSeconds(3)), 10)];
        foreach (var store in new[] { victoria, prometheus })
        {
            Assert.Equal(expected, await store.WaitForAsync(Counter, 3));
            Assert.Equal([new(Ms(t.AddSeconds(1)), 7)], await store.WaitForAsync("queue_depth{tenant_id=\"acme\"}", 1));
            // Explicit buckets [1, 2] with counts 1, 2, 3 are cumulative in Prometheus: le=1 → 1, le=2 → 3, +Inf → 6.
            Assert.Equal([new(Ms(t.AddSeconds(1)), 1)], await store.WaitForAsync("ai_run_duration_seconds_bucket{le=\"1\"}", 1));
            Assert.Equal([new(Ms(t.AddSeconds(1)), 3)], await store.WaitForAsync("ai_run_duration_seconds_bucket{le=\"2\"}", 1));
            Assert.Equal([new(Ms(t.AddSeconds(1)), 6)], await store.WaitForAsync("ai_run_duration_seconds_bucket{le=\"+Inf\"}", 1));
            Assert.Equal([new(Ms(t.AddSeconds(1)), 10)], await store.WaitForAsync("ai_run_duration_seconds_sum", 1));
            Assert.Equal([new(Ms(t.AddSeconds(1)), 6)], await store.WaitForAsync("ai_run_duration_seconds_count", 1));
        }

        // The recorded aggregate reaches the 10 failures sent; the alert fires, active from a time within the buckets.
        var recordedVictoria = await WaitForLastAsync(victoria, "auth_failures{tenant_id=\"acme\"}", 10);
        var recordedPrometheus = await WaitForLastAsync(prometheus, "auth_failures{tenant_id=\"acme\"}", 10);
        Assert.All(recordedVictoria, s => Assert.Contains(s.Value, new[] { 3.0, 8.0, 10.0 }));
        var common = Math.Min(recordedVictoria[^1].TimestampMs, recordedPrometheus[^1].TimestampMs);
        Assert.Equal(recordedVictoria.Where(s => s.TimestampMs <= common), recordedPrometheus.Where(s => s.TimestampMs <= common));
        foreach (var store in new[] { victoria, prometheus })
        {
            var alerts = await store.WaitForAsync("ALERTS{alertname=\"AuthFailuresSeen\",alertstate=\"firing\",tenant_id=\"acme\",severity=\"P2\"}", 1);
            Assert.All(alerts, s => Assert.Equal(1, s.Value));
            var activeAt = (await store.WaitForAsync("ALERTS_FOR_STATE{alertname=\"AuthFailuresSeen\",tenant_id=\"acme\"}", 1))[^1].Value;
            Assert.InRange(activeAt, t.ToUnixTimeSeconds(), t.ToUnixTimeSeconds() + 5);
        }

        var metrics = await vigil.MetricsAsync();
        Assert.True(metrics.Value("vigil_remote_write_samples_sent_total", "remote_name", "victoria") >= 10);
        Assert.Equal(0, metrics.Value("vigil_remote_write_samples_failed_total", "remote_name", "victoria"));
    }

    [Fact]
    public async Task StoreDownThenUp_NothingIsLost_NothingIsDuplicated_AndReadyzNamesTheQueue()
    {
        var port = RemoteWriteReceiver.FreePort();
        using var vigil = await StartVigilAsync($"http://127.0.0.1:{port}/api/v1/write", null);
        var t = NextSecond();
        await PostAsync(vigil, Counters(t, 3, 5, 2));

        // Nothing listens: the queue retries and /readyz says so, while Vigil stays ready.
        using var http = new HttpClient { BaseAddress = vigil.HttpUri };
        var deadline = DateTime.UtcNow.AddSeconds(30);
        JsonElement readyz;
        HttpStatusCode status;
        do
        {
            using var response = await http.GetAsync("/readyz");
            status = response.StatusCode;
            readyz = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
            if (readyz.TryGetProperty("detail", out _))
            {
                break;
            }

            await Task.Delay(100);
        }
        while (DateTime.UtcNow < deadline);
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.StartsWith("failing since", readyz.GetProperty("detail").GetProperty("remote_write:victoria").GetString(), StringComparison.Ordinal);
        await WaitAsync(async () => (await vigil.MetricsAsync()).Value("vigil_remote_write_samples_retried_total", "remote_name", "victoria") > 0);

        // The store comes up on the configured port: everything sent before arrives, each sample once.
        await using var victoria = await RemoteWriteReceiver.StartVictoriaMetricsAsync(port);
        var samples = await victoria.WaitForAsync(Counter, 3);
        Assert.Equal([new(Ms(t.AddSeconds(1)), 3), new(Ms(t.AddSeconds(2)), 8), new(Ms(t.AddSeconds(3)), 10)], samples);
        await WaitAsync(async () =>
        {
            using var response = await http.GetAsync("/readyz");
            return !JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.TryGetProperty("detail", out _);
        });
    }

    [Fact]
    public async Task VigilKilledAndRestarted_TheQueueResumesFromItsCursor_AndTheTotalsContinue()
    {
        await using var victoria = await RemoteWriteReceiver.StartVictoriaMetricsAsync();
        var dataDir = Path.Combine(_dir, "data");
        var vigil = await StartVigilAsync(victoria.WriteUrl, null, dataDir);
        var t = NextSecond();
        try
        {
            await PostAsync(vigil, Counters(t, 3, 5, 2));
            Assert.Equal(3, (await victoria.WaitForAsync(Counter, 3)).Count);
            await WaitAsync(async () => (await vigil.MetricsAsync()).Value("vigil_remote_write_samples_pending", "remote_name", "victoria") == 0);
            await vigil.KillAsync();
        }
        finally
        {
            vigil.Dispose();
        }

        // The restarted Vigil replays its WAL (the same buckets are back in its store) but must not send them again;
        // a new bucket continues the total from the cursor's 10.
        using var restarted = await StartVigilAsync(victoria.WriteUrl, null, dataDir);
        var later = NextSecond();
        await PostAsync(restarted, Counters(later, 4));
        var samples = await victoria.WaitForAsync(Counter, 4);
        Assert.Equal([new(Ms(t.AddSeconds(1)), 3), new(Ms(t.AddSeconds(2)), 8), new(Ms(t.AddSeconds(3)), 10), new(Ms(later.AddSeconds(1)), 14)], samples);
    }

    private async Task<ChildCollector> StartVigilAsync(string victoriaUrl, string? prometheusUrl, string? dataDir = null)
    {
        var config = Path.Combine(_dir, $"vigil-{Guid.NewGuid():N}.yaml");
        var queue = "    series_delay: 1s\n    queue: { batch_send_deadline: 200ms, min_backoff: 50ms, max_backoff: 500ms, max_age: 1m }\n";
        var text = "storage:\n  resolution: 1s\n  retention: 10m\nremote_write:\n" +
            $"  - url: {victoriaUrl}\n    name: victoria\n    send: [aggregates, series]\n" + queue;
        if (prometheusUrl is not null)
        {
            text += $"  - url: {prometheusUrl}\n    name: prometheus\n    send: [aggregates, series]\n" + queue;
        }

        await File.WriteAllTextAsync(config, text);
        return await ChildCollector.StartAsync(dataDir ?? Path.Combine(_dir, "data-" + Guid.NewGuid().ToString("N")), "--config", config, "--rules", Path.Combine(_dir, "rules"));
    }

    /// <summary>The start of the next whole second: points stamped from it on land in buckets that are not closed yet.</summary>
    private static DateTimeOffset NextSecond() => DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 1);

    private static long Ms(DateTimeOffset time) => time.ToUnixTimeMilliseconds();

    /// <summary>Delta failures of tenant acme, one point per 1 s bucket from <paramref name="t"/>.</summary>
    private static ExportMetricsServiceRequest Counters(DateTimeOffset t, params long[] values) =>
        OtlpRequests.Merge([.. values.Select((v, i) => OtlpRequests.DeltaCounterAt("auth.requests", t.AddMilliseconds(200 + (1000 * i)), "acme", ("auth.outcome", "failure", v)))]);

    private static ExportMetricsServiceRequest GaugeAt(string name, DateTimeOffset time, double value)
    {
        var gauge = new Gauge();
        gauge.DataPoints.Add(new NumberDataPoint { TimeUnixNano = (ulong)Ms(time) * 1_000_000UL, AsDouble = value });
        return OtlpRequests.Wrap(new Metric { Name = name, Gauge = gauge }, "acme");
    }

    private static ExportMetricsServiceRequest HistogramAt(string name, DateTimeOffset time, double[] bounds, ulong[] counts, double sum)
    {
        var nanos = (ulong)Ms(time) * 1_000_000UL;
        var point = new HistogramDataPoint { StartTimeUnixNano = nanos - 1_000_000_000UL, TimeUnixNano = nanos, Count = (ulong)counts.Sum(c => (long)c), Sum = sum };
        point.ExplicitBounds.AddRange(bounds);
        point.BucketCounts.AddRange(counts);
        var histogram = new Histogram { AggregationTemporality = AggregationTemporality.Delta };
        histogram.DataPoints.Add(point);
        return OtlpRequests.Wrap(new Metric { Name = name, Unit = "s", Histogram = histogram }, "acme");
    }

    private static async Task PostAsync(ChildCollector vigil, params ExportMetricsServiceRequest[] requests)
    {
        using var otlp = new HttpClient { BaseAddress = vigil.OtlpHttpUri };
        using var content = new ByteArrayContent(OtlpRequests.Merge(requests).ToByteArray());
        content.Headers.ContentType = new("application/x-protobuf");
        using var response = await otlp.PostAsync("/v1/metrics", content);
        var body = await response.Content.ReadAsByteArrayAsync();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(0, ExportMetricsServiceResponse.Parser.ParseFrom(body).PartialSuccess?.RejectedDataPoints ?? 0);
    }

    private static async Task<List<StoredSample>> WaitForLastAsync(RemoteWriteReceiver store, string selector, double last)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        var samples = await store.RawAsync(selector);
        while ((samples.Count == 0 || samples[^1].Value != last) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(200);
            samples = await store.RawAsync(selector);
        }

        Assert.True(samples.Count > 0 && samples[^1].Value == last, $"{selector}: last sample is not {last}: [{string.Join(", ", samples)}]");
        return samples;
    }

    private static async Task WaitAsync(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not met within 30s");
            await Task.Delay(100);
        }
    }
}

/// <summary>Vigil's /metrics in the text format, read by name and one label.</summary>
public sealed class ScrapedMetrics(string text)
{
    public double Value(string name, string label, string value)
    {
        foreach (var line in text.Split('\n'))
        {
            if (line.StartsWith(name + "{", StringComparison.Ordinal) && line.Contains($"{label}=\"{value}\"", StringComparison.Ordinal))
            {
                return double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture);
            }
        }

        return double.NaN;
    }
}

public static class ChildCollectorMetrics
{
    public static async Task<ScrapedMetrics> MetricsAsync(this ChildCollector vigil)
    {
        using var http = new HttpClient { BaseAddress = vigil.HttpUri };
        return new ScrapedMetrics(await http.GetStringAsync("/metrics"));
    }
}
