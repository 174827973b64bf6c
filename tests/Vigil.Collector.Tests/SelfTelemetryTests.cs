using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using Google.Protobuf;

namespace Vigil.Collector.Tests;

/// <summary>Vigil's own metrics leave through the OpenTelemetry SDK's OTLP exporter when an endpoint is set.</summary>
public sealed class SelfTelemetryTests
{
    [Fact]
    public Task SelfMetrics_AreExportedOverOtlp_ToAnotherVigil() => WithMonitoredChildAsync(async (monitor, vigil) =>
    {
        using (var http = new HttpClient { BaseAddress = vigil.OtlpHttpUri })
        {
            using var content = new ByteArrayContent(OtlpRequests.DeltaCounter("auth.requests", 2, points: 3).ToByteArray());
            content.Headers.ContentType = new("application/x-protobuf");
            using var response = await http.PostAsync("/v1/metrics", content);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        using var api = new VigilApi(monitor.HttpUri);
        var deadline = DateTime.UtcNow.AddSeconds(20);
        List<VigilApi.Sample> accepted = [];
        while (DateTime.UtcNow < deadline)
        {
            accepted = await api.AggregateAsync("vigil.ingest.points.accepted", "increase", "5m");
            // The monitor may hold one export's counter before it holds the next one's gauge and histogram.
            if (accepted.Count == 1 && accepted[0].Value >= 3 &&
                monitor.Store.ListSeries("vigil.series.active").Count > 0 && monitor.Store.ListSeries("vigil.ingest.request.duration").Count > 0)
            {
                break;
            }

            await Task.Delay(100);
        }

        // The monitored Vigil started after the monitor, so its cumulative counter counts from zero: increase = accepted.
        Assert.Equal(3, Assert.Single(accepted).Value);
        Assert.NotEmpty(monitor.Store.ListSeries("vigil.series.active"));
        Assert.NotEmpty(monitor.Store.ListSeries("vigil.ingest.request.duration"));
    });

    [Fact]
    public Task RuleMetrics_OnMetricsAndInTheOtlpExport_HaveTheSameNamesAndValues() => WithMonitoredChildAsync(async (monitor, vigil) =>
    {
        using var scrape = new HttpClient { BaseAddress = vigil.HttpUri };
        using var api = new VigilApi(monitor.HttpUri);

        // Each pair: what /metrics shows (Prometheus names) and what the monitor stored from the OTLP export (OTel
        // names), as "labels=value" lines. The groups evaluate meanwhile, so compare until one export has caught up.
        var deadline = DateTime.UtcNow.AddSeconds(30);
        (string[] Scraped, string[] Exported)[] pairs = [];
        while (DateTime.UtcNow < deadline)
        {
            var text = await scrape.GetStringAsync("/metrics");
            pairs =
            [
                (Scraped(text, "vigil_rules_instances"), Exported(await api.AggregateAsync("vigil.rules.instances", "last", by: "group,state"))),
                (Scraped(text, "vigil_rules_group_iterations_missed_total"), Exported(await api.AggregateAsync("vigil.rules.group.iterations_missed", "increase", by: "group"))),
                (Scraped(text, "vigil_rules_group_duration_seconds_count"), Exported(await api.AggregateAsync("vigil.rules.group.duration", "increase", by: "group"))),
                (Scraped(text, "vigil_rules_loaded"), Exported(await api.AggregateAsync("vigil.rules.loaded", "last"))),
            ];
            if (pairs.All(p => p.Scraped.Length > 0 && p.Scraped.SequenceEqual(p.Exported)))
            {
                break;
            }

            await Task.Delay(200);
        }

        foreach (var (scraped, exported) in pairs)
        {
            Assert.Equal(scraped, exported);
        }

        // The default packs: three groups, four states each; every group evaluated at least once.
        Assert.Equal(12, pairs[0].Scraped.Length);
        Assert.All(pairs[2].Scraped, line => Assert.True(double.Parse(line[(line.LastIndexOf('=') + 1)..], CultureInfo.InvariantCulture) >= 1, line));
    });

    /// <summary>
    /// Runs <paramref name="test"/> against a child Vigil that exports its self-metrics every second to a monitor Vigil.
    /// The monitored Vigil runs as its own process: the SDK listens to meters by name process-wide, so in this process
    /// it would also see the other test servers' "Vigil" meters.
    /// </summary>
    private static async Task WithMonitoredChildAsync(Func<VigilServer, ChildCollector, Task> test)
    {
        await using var monitor = await VigilServer.StartAsync();
        var dataDir = VigilServer.NewDataDir();
        var config = Path.Combine(Path.GetTempPath(), $"vigil-telemetry-{Guid.NewGuid():N}.yaml");
        await File.WriteAllTextAsync(config, $"telemetry:\n  otlp_endpoint: {monitor.GrpcUri}\n  otlp_protocol: grpc\n  export_interval: 1s\n");
        try
        {
            using var vigil = await ChildCollector.StartAsync(dataDir, "--config", config);
            await test(monitor, vigil);
        }
        finally
        {
            File.Delete(config);
            if (Directory.Exists(dataDir))
            {
                Directory.Delete(dataDir, recursive: true);
            }
        }
    }

    /// <summary>The samples of one series name on /metrics as sorted "label=v,…=value" lines.</summary>
    private static string[] Scraped(string text, string name) =>
        [.. Regex.Matches(text, "^" + Regex.Escape(name) + @"(?:\{(?<labels>[^}]*)\})? (?<value>\S+)$", RegexOptions.Multiline)
            .Select(m => Line(m.Groups["labels"].Value.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Replace("\"", string.Empty, StringComparison.Ordinal)),
                double.Parse(m.Groups["value"].Value, CultureInfo.InvariantCulture)))
            .Order(StringComparer.Ordinal)];

    private static string[] Exported(List<VigilApi.Sample> samples) =>
        [.. samples.Select(s => Line(s.Labels.Select(l => $"{l.Key}={l.Value}"), s.Value)).Order(StringComparer.Ordinal)];

    private static string Line(IEnumerable<string> labels, double value) =>
        string.Join(',', labels.Order(StringComparer.Ordinal)) + "=" + value.ToString(CultureInfo.InvariantCulture);
}
