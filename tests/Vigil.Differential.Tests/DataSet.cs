using System.Globalization;
using System.Text;
using Vigil.Otlp.Proto.Collector;
using Vigil.Otlp.Proto.Common;
using Vigil.Otlp.Proto.Metrics;
using Vigil.Otlp.Proto.Resource;

namespace Vigil.Differential.Tests;

/// <summary>
/// One hour of deterministic data at Vigil's bucket resolution (10 s), written twice: as OpenMetrics text for
/// promtool's backfill and as one OTLP request per step for Vigil. Every sample sits on a bucket start, so a
/// sample's Prometheus timestamp and its Vigil bucket are the same instant.
/// </summary>
/// <remarks>
/// Counters and histograms are cumulative and start at 0 at <see cref="Start"/> (with a start time of
/// <see cref="Start"/>), so Vigil's "sum since the oldest bucket" and Prometheus' raw value agree. Two
/// <c>jobs.processed</c> series reset (a new run, start time moved), one <c>queue.depth</c> series stops early.
/// </remarks>
internal sealed class DataSet
{
    /// <summary>2026-01-01T00:00:00Z: aligned to Prometheus' 2 h blocks, so the backfill writes one block.</summary>
    public static readonly DateTimeOffset Start = DateTimeOffset.FromUnixTimeSeconds(1_767_225_600);

    public const int StepSeconds = 10;

    public const int Steps = 360;

    public static readonly string[] Tenants = ["acme", "globex", "initech"];

    /// <summary>
    /// The resource attributes Vigil keeps for this data set: its defaults plus <c>service.instance.id</c>, so every
    /// series has an <c>instance</c> as in Prometheus (decision 028).
    /// </summary>
    public static readonly string[] ResourceAttributes = [.. new Vigil.Storage.WindowStoreOptions().ResourceAttributes, "service.instance.id"];

    public static readonly string[] Routes = ["/api/a", "/api/b"];

    public static readonly string[] Queues = ["fast", "slow"];

    public static readonly double[] Bounds = [0.05, 0.1, 0.25, 0.5, 1, 2.5];

    // One observation value per bucket (the last one above 2.5): powers of two, so every sum is exact.
    private static readonly double[] Observed = [0.03125, 0.0625, 0.125, 0.375, 0.75, 1.5, 4];

    /// <summary>The last sample's time; queries are asked here and before.</summary>
    public static DateTimeOffset End => At(Steps - 1);

    public List<CounterSeries> Counters { get; } = [];

    public List<GaugeSeries> Gauges { get; } = [];

    public List<HistogramSeries> Histograms { get; } = [];

    public static DateTimeOffset At(int step) => Start.AddSeconds(step * StepSeconds);

    public static DataSet Generate()
    {
        var data = new DataSet();
        var s = 0;
        foreach (var tenant in Tenants)
        {
            foreach (var route in Routes)
            {
                foreach (var code in new[] { "200", "500" })
                {
                    var n = s++;
                    data.Counters.Add(CounterSeries.Build("http.requests", "http_requests_total", "{request}", tenant, [("route", route), ("code", code)], resetAt: -1,
                        step => code == "200" ? 5 + ((step * (n + 3)) + (7 * n)) % 11 : ((step * 3) + n) % 5 < 2 ? 1 : 0));
                }
            }
        }

        s = 0;
        foreach (var tenant in Tenants)
        {
            foreach (var queue in Queues)
            {
                var n = s++;
                var resetAt = (tenant, queue) switch
                {
                    ("acme", "slow") => 250,
                    ("globex", "fast") => 330,
                    _ => -1,
                };
                data.Counters.Add(CounterSeries.Build("jobs.processed", "jobs_processed_total", "{job}", tenant, [("queue", queue)], resetAt, step => 1 + ((step * (n + 2)) + n) % 6));
                var stopAfter = tenant == "initech" && queue == "slow" ? 300 : Steps - 1;
                data.Gauges.Add(GaugeSeries.Build("queue.depth", "queue_depth", "{item}", tenant, [("queue", queue)], stopAfter, step => (((step * 7) + (n * 13)) % 50 * 0.5) - 3 + n));
            }
        }

        for (var t = 0; t < Tenants.Length; t++)
        {
            var ti = t;
            data.Gauges.Add(GaugeSeries.Build("cpu.utilization", "cpu_utilization_ratio", "1", Tenants[t], [], Steps - 1, step => ((step * 37) + (ti * 11)) % 101 / 100.0));
        }

        s = 0;
        foreach (var tenant in Tenants)
        {
            foreach (var route in Routes)
            {
                var n = s++;
                data.Histograms.Add(HistogramSeries.Build("request.duration", "request_duration_seconds", "s", tenant, [("route", route)], (step, bucket) => (step + (n * 3) + (bucket * 5)) % (bucket + 2)));
            }
        }

        return data;
    }

    /// <summary>The data set as an OpenMetrics text file for <c>promtool tsdb create-blocks-from openmetrics</c>.</summary>
    public string ToOpenMetrics()
    {
        var text = new StringBuilder();
        foreach (var family in Counters.GroupBy(c => c.PromName))
        {
            text.Append("# TYPE ").Append(family.Key[..^"_total".Length]).Append(" counter\n");
            foreach (var series in family)
            {
                for (var step = 0; step < Steps; step++)
                {
                    Sample(text, family.Key, series.Labels, series.Values[step], step);
                }
            }
        }

        foreach (var family in Gauges.GroupBy(g => g.PromName))
        {
            text.Append("# TYPE ").Append(family.Key).Append(" gauge\n");
            foreach (var series in family)
            {
                for (var step = 0; step <= series.StopAfter; step++)
                {
                    Sample(text, family.Key, series.Labels, series.Values[step], step);
                }
            }
        }

        foreach (var family in Histograms.GroupBy(h => h.PromName))
        {
            text.Append("# TYPE ").Append(family.Key).Append(" histogram\n");
            foreach (var series in family)
            {
                for (var step = 0; step < Steps; step++)
                {
                    long cumulative = 0;
                    for (var b = 0; b <= Bounds.Length; b++)
                    {
                        cumulative += series.BucketCounts[step][b];
                        var le = b < Bounds.Length ? Number(Bounds[b]) : "+Inf";
                        Sample(text, family.Key + "_bucket", [.. series.Labels, ("le", le)], cumulative, step);
                    }

                    Sample(text, family.Key + "_count", series.Labels, cumulative, step);
                    Sample(text, family.Key + "_sum", series.Labels, series.Sums[step], step);
                }
            }
        }

        // Prometheus' OTLP receiver writes one target_info per resource with a point; its attributes but the identifying ones.
        text.Append("# TYPE target_info gauge\n");
        foreach (var tenant in Tenants)
        {
            var (job, instance) = JobAndInstance(tenant);
            for (var step = 0; step < Steps; step++)
            {
                Sample(text, "target_info", [("instance", instance), ("job", job), ("tenant_id", tenant)], 1, step);
            }
        }

        text.Append("# EOF\n");
        return text.ToString();
    }

    /// <summary>Everything stamped at <paramref name="step"/>, one resource per tenant, as an SDK exports it.</summary>
    public ExportMetricsServiceRequest Request(int step)
    {
        var request = new ExportMetricsServiceRequest();
        var time = Nanos(At(step));
        foreach (var tenant in Tenants)
        {
            var scope = new ScopeMetrics { Scope = new InstrumentationScope { Name = "vigil.differential" } };
            foreach (var family in Counters.Where(c => c.Tenant == tenant).GroupBy(c => c.OtelName))
            {
                var sum = new Sum { AggregationTemporality = AggregationTemporality.Cumulative, IsMonotonic = true };
                foreach (var series in family)
                {
                    var point = new NumberDataPoint { StartTimeUnixNano = Nanos(series.RunStart(step)), TimeUnixNano = time, AsInt = (long)series.Values[step] };
                    Attributes(point.Attributes, series.Attributes);
                    sum.DataPoints.Add(point);
                }

                scope.Metrics.Add(new Metric { Name = family.Key, Unit = family.First().Unit, Sum = sum });
            }

            foreach (var family in Gauges.Where(g => g.Tenant == tenant && step <= g.StopAfter).GroupBy(g => g.OtelName))
            {
                var gauge = new Gauge();
                foreach (var series in family)
                {
                    var point = new NumberDataPoint { TimeUnixNano = time, AsDouble = series.Values[step] };
                    Attributes(point.Attributes, series.Attributes);
                    gauge.DataPoints.Add(point);
                }

                scope.Metrics.Add(new Metric { Name = family.Key, Unit = family.First().Unit, Gauge = gauge });
            }

            foreach (var family in Histograms.Where(h => h.Tenant == tenant).GroupBy(h => h.OtelName))
            {
                var histogram = new Histogram { AggregationTemporality = AggregationTemporality.Cumulative };
                foreach (var series in family)
                {
                    var point = new HistogramDataPoint
                    {
                        StartTimeUnixNano = Nanos(Start),
                        TimeUnixNano = time,
                        Count = (ulong)series.BucketCounts[step].Sum(),
                        Sum = series.Sums[step],
                    };
                    point.ExplicitBounds.AddRange(Bounds);
                    point.BucketCounts.AddRange(series.BucketCounts[step].Select(c => (ulong)c));
                    Attributes(point.Attributes, series.Attributes);
                    histogram.DataPoints.Add(point);
                }

                scope.Metrics.Add(new Metric { Name = family.Key, Unit = family.First().Unit, Histogram = histogram });
            }

            var resource = new Resource();
            Attributes(resource.Attributes, Resource(tenant));
            // Not a storage.resource_attributes entry: neither a label nor in target_info, as it is not stored.
            resource.Attributes.Add(new KeyValue { Key = "host.name", Value = new AnyValue { StringValue = "node-" + tenant } });
            var resourceMetrics = new ResourceMetrics { Resource = resource };
            resourceMetrics.ScopeMetrics.Add(scope);
            request.ResourceMetrics.Add(resourceMetrics);
        }

        return request;
    }

    /// <summary>
    /// One resource per tenant: the "shop" service, in the "retail" namespace but for initech's, one instance each.
    /// Both job forms (namespace/name and name alone) are then on every query's path.
    /// </summary>
    private static (string Name, string Value)[] Resource(string tenant) => tenant == "initech"
        ? [("service.name", "shop"), ("service.instance.id", "shop-" + tenant), ("tenant.id", tenant)]
        : [("service.namespace", "retail"), ("service.name", "shop"), ("service.instance.id", "shop-" + tenant), ("tenant.id", tenant)];

    /// <summary>job and instance as Prometheus' OTLP receiver derives them from <see cref="Resource"/>.</summary>
    private static (string Job, string Instance) JobAndInstance(string tenant) => (tenant == "initech" ? "shop" : "retail/shop", "shop-" + tenant);

    /// <summary>
    /// Labels as Prometheus sees them: the resource's stored attributes (Vigil keeps them as labels, as
    /// promote_resource_attributes would), job and instance, then the point's attributes.
    /// </summary>
    private static (string Name, string Value)[] PromLabels(string tenant, (string Name, string Value)[] attributes)
    {
        var (job, instance) = JobAndInstance(tenant);
        return [.. Resource(tenant).Select(a => (a.Name.Replace('.', '_'), a.Value)), ("job", job), ("instance", instance), .. attributes];
    }

    private static void Attributes(Google.Protobuf.Collections.RepeatedField<KeyValue> target, (string Name, string Value)[] attributes)
    {
        foreach (var (name, value) in attributes)
        {
            target.Add(new KeyValue { Key = name, Value = new AnyValue { StringValue = value } });
        }
    }

    private static void Sample(StringBuilder text, string name, (string Name, string Value)[] labels, double value, int step)
    {
        text.Append(name).Append('{');
        for (var i = 0; i < labels.Length; i++)
        {
            text.Append(i == 0 ? "" : ",").Append(labels[i].Name).Append("=\"").Append(labels[i].Value).Append('"');
        }

        text.Append("} ").Append(Number(value)).Append(' ').Append(At(step).ToUnixTimeSeconds()).Append('\n');
    }

    private static string Number(double value) => value.ToString("R", CultureInfo.InvariantCulture);

    private static ulong Nanos(DateTimeOffset time) => (ulong)time.ToUnixTimeMilliseconds() * 1_000_000UL;

    internal sealed record CounterSeries(string OtelName, string PromName, string Unit, string Tenant, (string Name, string Value)[] Attributes, int ResetAt, double[] Values)
    {
        public (string Name, string Value)[] Labels => PromLabels(Tenant, Attributes);

        /// <summary>The run's start time: the data set's start, or just before the reset once it has happened.</summary>
        public DateTimeOffset RunStart(int step) => ResetAt >= 0 && step >= ResetAt ? At(ResetAt).AddSeconds(-5) : Start;

        public static CounterSeries Build(string otelName, string promName, string unit, string tenant, (string, string)[] attributes, int resetAt, Func<int, int> increment)
        {
            var values = new double[Steps];
            for (var step = 1; step < Steps; step++)
            {
                values[step] = (step == resetAt ? 0 : values[step - 1]) + increment(step);
            }

            return new CounterSeries(otelName, promName, unit, tenant, attributes, resetAt, values);
        }
    }

    internal sealed record GaugeSeries(string OtelName, string PromName, string Unit, string Tenant, (string Name, string Value)[] Attributes, int StopAfter, double[] Values)
    {
        public (string Name, string Value)[] Labels => PromLabels(Tenant, Attributes);

        public static GaugeSeries Build(string otelName, string promName, string unit, string tenant, (string, string)[] attributes, int stopAfter, Func<int, double> value) =>
            new(otelName, promName, unit, tenant, attributes, stopAfter, [.. Enumerable.Range(0, Steps).Select(value)]);
    }

    internal sealed record HistogramSeries(string OtelName, string PromName, string Unit, string Tenant, (string Name, string Value)[] Attributes, long[][] BucketCounts, double[] Sums)
    {
        public (string Name, string Value)[] Labels => PromLabels(Tenant, Attributes);

        /// <summary>Cumulative per-bucket counts (OTLP's non-cumulative-across-buckets layout) and sums, 0 at step 0.</summary>
        public static HistogramSeries Build(string otelName, string promName, string unit, string tenant, (string, string)[] attributes, Func<int, int, int> increment)
        {
            var counts = new long[Steps][];
            var sums = new double[Steps];
            counts[0] = new long[Bounds.Length + 1];
            for (var step = 1; step < Steps; step++)
            {
                counts[step] = new long[Bounds.Length + 1];
                sums[step] = sums[step - 1];
                for (var b = 0; b <= Bounds.Length; b++)
                {
                    var added = increment(step, b);
                    counts[step][b] = counts[step - 1][b] + added;
                    sums[step] += added * Observed[b];
                }
            }

            return new HistogramSeries(otelName, promName, unit, tenant, attributes, counts, sums);
        }
    }
}
