using System.Diagnostics.Metrics;
using Vigil.Query.Exposition;

namespace Vigil.Query.Tests;

/// <summary>/metrics reads the instruments of the "Vigil" meter itself: counters, gauges and histograms, translated as Prometheus does.</summary>
public sealed class MeterExpositionSourceTests
{
    private static string Scrape(MeterExpositionSource source) => ExpositionWriter.Write(source.Collect(), ExpositionFormat.PrometheusText);

    [Fact]
    public void CountersGaugesAndHistograms_AppearUnderTranslatedNames_WithTheirRecordedValues()
    {
        using var meter = new Meter("Vigil");
        using var source = new MeterExpositionSource(m => ReferenceEquals(m, meter));
        var reloads = meter.CreateCounter<long>("vigil.rules.reloads", "{reload}", "Rule reloads");
        var level = 7L;
        meter.CreateObservableGauge("vigil.rules.instances", () => new Measurement<long>(level, new KeyValuePair<string, object?>("group", "auth"), new("state", "firing")), "{instance}", "Instances");
        var duration = meter.CreateHistogram("vigil.rules.group.duration", "s", "Group duration", tags: null,
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.01, 0.1, 1] });

        reloads.Add(2, new KeyValuePair<string, object?>("outcome", "success"));
        reloads.Add(3, new KeyValuePair<string, object?>("outcome", "success"));
        reloads.Add(1, new KeyValuePair<string, object?>("outcome", "failure"));
        foreach (var seconds in new[] { 0.005, 0.01, 0.05, 0.5, 2.0 })
        {
            duration.Record(seconds, new KeyValuePair<string, object?>("group", "auth"));
        }

        var text = Scrape(source);

        Assert.Contains("# TYPE vigil_rules_reloads_total counter\n", text, StringComparison.Ordinal);
        Assert.Contains("\nvigil_rules_reloads_total{outcome=\"success\"} 5\n", text, StringComparison.Ordinal);
        Assert.Contains("\nvigil_rules_reloads_total{outcome=\"failure\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("# TYPE vigil_rules_instances gauge\n", text, StringComparison.Ordinal);
        Assert.Contains("\nvigil_rules_instances{group=\"auth\",state=\"firing\"} 7\n", text, StringComparison.Ordinal);

        // Buckets are (previous bound, bound]: 0.005 and 0.01 ≤ 0.01; 0.05 ≤ 0.1; 0.5 ≤ 1; 2 only in +Inf.
        Assert.Contains("# TYPE vigil_rules_group_duration_seconds histogram\n", text, StringComparison.Ordinal);
        Assert.Contains("\nvigil_rules_group_duration_seconds_bucket{group=\"auth\",le=\"0.01\"} 2\n", text, StringComparison.Ordinal);
        Assert.Contains("\nvigil_rules_group_duration_seconds_bucket{group=\"auth\",le=\"0.1\"} 3\n", text, StringComparison.Ordinal);
        Assert.Contains("\nvigil_rules_group_duration_seconds_bucket{group=\"auth\",le=\"1\"} 4\n", text, StringComparison.Ordinal);
        Assert.Contains("\nvigil_rules_group_duration_seconds_bucket{group=\"auth\",le=\"+Inf\"} 5\n", text, StringComparison.Ordinal);
        Assert.Contains("\nvigil_rules_group_duration_seconds_sum{group=\"auth\"} 2.565\n", text, StringComparison.Ordinal);
        Assert.Contains("\nvigil_rules_group_duration_seconds_count{group=\"auth\"} 5\n", text, StringComparison.Ordinal);

        // Observable instruments are asked again at each scrape; counters keep adding.
        level = 3;
        reloads.Add(4, new KeyValuePair<string, object?>("outcome", "success"));
        var again = Scrape(source);
        Assert.Contains("\nvigil_rules_instances{group=\"auth\",state=\"firing\"} 3\n", again, StringComparison.Ordinal);
        Assert.Contains("\nvigil_rules_reloads_total{outcome=\"success\"} 9\n", again, StringComparison.Ordinal);
    }

    [Fact]
    public void MetersItDoesNotInclude_AreNotRead()
    {
        using var mine = new Meter("Vigil");
        using var other = new Meter("Vigil");
        using var source = new MeterExpositionSource(m => ReferenceEquals(m, mine));
        mine.CreateObservableGauge("vigil.series.active", () => 4, "{series}");
        other.CreateObservableGauge("vigil.series.active", () => 99, "{series}");

        var text = Scrape(source);

        Assert.Contains("\nvigil_series_active 4\n", text, StringComparison.Ordinal);
        Assert.DoesNotContain("99", text, StringComparison.Ordinal);
    }

    [Fact]
    public void AHistogramWithoutAdvice_UsesTheOpenTelemetryDefaultBounds()
    {
        using var meter = new Meter("Vigil");
        using var source = new MeterExpositionSource(m => ReferenceEquals(m, meter));
        meter.CreateHistogram<double>("vigil.ingest.request.duration", "s").Record(7);

        var text = Scrape(source);

        // OpenTelemetry's defaults: 0, 5, 10, 25, … 10000; 7 falls in (5, 10].
        Assert.Contains("\nvigil_ingest_request_duration_seconds_bucket{le=\"5\"} 0\n", text, StringComparison.Ordinal);
        Assert.Contains("\nvigil_ingest_request_duration_seconds_bucket{le=\"10\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("\nvigil_ingest_request_duration_seconds_bucket{le=\"10000\"} 1\n", text, StringComparison.Ordinal);
    }
}
