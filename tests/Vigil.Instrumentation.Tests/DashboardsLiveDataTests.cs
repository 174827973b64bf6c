using Google.Protobuf;
using Microsoft.Extensions.Time.Testing;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using Vigil.Demo;
using Vigil.Otlp.Proto.Collector;
using Vigil.Otlp.Proto.Common;
using Vigil.Otlp.Proto.Resource;
using Vigil.Query;
using Vigil.Query.Evaluation;
using Vigil.Query.Exposition;
using Vigil.Rules;
using Vigil.Storage;
using OtlpMetrics = Vigil.Otlp.Proto.Metrics;

namespace Vigil.Instrumentation.Tests;

/// <summary>
/// Issue #11 item 7: every panel query of every provisioned dashboard returns data against live demo traffic, not
/// only parses (<see cref="DashboardTests"/>). The demo's traffic (<see cref="DemoTraffic"/> through the real
/// instrumentation and OpenTelemetry SDK, delta temporality) is turned into OTLP requests every 10 s of a fake clock
/// and ingested through <see cref="OtlpIngest"/> (counters and histograms alike); the default rules (rules/) are
/// evaluated on their intervals, so <c>ALERTS</c> is live. After a warm-up covering the longest panel window, each
/// dashboard is queried while the incident that fires its alerts plays, as an SRE would open it.
/// </summary>
public sealed class DashboardsLiveDataTests
{
    private const string Target = "globex";
    private const int Seed = 7;

    private static readonly string[] Tenants = ["acme", Target, "initech"];
    private static readonly DateTimeOffset T0 = new(2026, 1, 5, 9, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Tick = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan Flush = TimeSpan.FromSeconds(10);

    // The longest panel window is 15m (cost per run, workspace anomalies).
    private static readonly TimeSpan Warmup = TimeSpan.FromMinutes(15);

    /// <summary>
    /// Grafana's built-in variables as it fills them for a 1 h panel about 1,000 px wide on a 15 s scrape interval:
    /// $__interval = range / width rounded, $__rate_interval = max($__interval + scrape, 4 × scrape).
    /// </summary>
    private static readonly Dictionary<string, string> Variables = new(StringComparer.Ordinal)
    {
        ["$__rate_interval"] = "1m",
        ["${__rate_interval}"] = "1m",
        ["$__interval"] = "5s",
        ["${__interval}"] = "5s",
        ["$__range"] = "1h",
        ["${__range}"] = "1h",
        ["$tenant"] = Target,
        ["${tenant}"] = Target,
    };

    [Fact]
    public async Task EveryPanelQuery_OfEveryDashboard_ReturnsDataDuringItsIncident()
    {
        using var pipeline = new Pipeline();
        await pipeline.PlayAsync(Warmup, Scenario.Normal);

        var empty = new List<string>();
        var checkedQueries = 0;
        foreach (var (dashboard, scenario) in new[] { ("tenant", Scenario.CrossTenantProbe), ("auth", Scenario.AuthFailureBurst), ("ai", Scenario.AiFailureSpike) })
        {
            await pipeline.PlayAsync(ScenarioInfo.Of(scenario).DefaultLength, scenario);
            foreach (var (panel, expr) in DashboardTests.Targets(dashboard))
            {
                var query = Substitute(expr);
                Assert.DoesNotContain("$", query, StringComparison.Ordinal);
                var now = pipeline.Now;
                var instant = Assert.IsType<VectorValue>(pipeline.Engine.Query(query, now).Value);
                var range = pipeline.Engine.QueryRange(query, now.AddMinutes(-10), now, TimeSpan.FromSeconds(15));
                checkedQueries++;
                if (instant.Samples.Count == 0 || range.Series.Count == 0)
                {
                    empty.Add($"{dashboard}/{panel} during {scenario}: {query} (instant: {instant.Samples.Count} series, range: {range.Series.Count})");
                }
            }
        }

        Assert.True(empty.Count == 0, $"panels without data:{Environment.NewLine}{string.Join(Environment.NewLine, empty)}");
        Assert.Equal(DashboardTests.Expressions().Count, checkedQueries);
    }

    [Fact]
    public void Substitution_FillsGrafanasVariables_AsGrafanaWould()
    {
        Assert.Equal("sum(rate(x{tenant_id=\"globex\"}[1m])) / 1h", Substitute("sum(rate(x{tenant_id=\"$tenant\"}[$__rate_interval])) / ${__range}"));
    }

    private static string Substitute(string expr)
    {
        // Longest first: $__interval is a prefix of nothing else here, but ${…} forms must go before $… ones.
        foreach (var (name, value) in Variables.OrderByDescending(v => v.Key.Length))
        {
            expr = expr.Replace(name, value, StringComparison.Ordinal);
        }

        return expr;
    }

    /// <summary>Demo traffic → SDK → OTLP bytes → store; rule groups on their intervals; one query engine over both.</summary>
    private sealed class Pipeline : IDisposable
    {
        private readonly FakeTimeProvider _time = new(T0);
        private readonly WindowStore _store;
        private readonly OtlpIngest _ingest;
        private readonly OtlpExporter _exporter = new();
        private readonly MeterProvider _provider;
        private readonly VigilTelemetry _telemetry;
        private readonly DemoTraffic _traffic;
        private readonly RuleManager _rules;
        private TimeSpan _elapsed;

        public Pipeline()
        {
            var meterName = "test." + Guid.NewGuid().ToString("N");
            _provider = Sdk.CreateMeterProviderBuilder()
                .AddVigilInstrumentation(meterName)
                .AddReader(new BaseExportingMetricReader(_exporter) { TemporalityPreference = MetricReaderTemporalityPreference.Delta })
                .Build();
            _telemetry = new VigilTelemetry(meterName);
            _traffic = new DemoTraffic(_telemetry, Tenants, new Random(Seed));
            _store = new WindowStore(new WindowStoreOptions(), _time);
            _ingest = new OtlpIngest(_store);
            _rules = new RuleManager(new RuleManagerOptions { RulesDirectory = RepoPaths.Of("rules"), DataDirectory = null }, _store, _time, new RecordingTransitionSink());
            var reload = _rules.Reload();
            Assert.True(reload.Success, "the default rules do not load: " + reload.Error);
            Engine = new PromQueryEngine(_store, PromQueryOptions.From(_store.Options), _time, [RulesExpositionSource.For(() => _rules)]);
        }

        public PromQueryEngine Engine { get; }

        public DateTimeOffset Now => _time.GetUtcNow();

        /// <summary>Second by second as the demo emitter plays; every 10 s one OTLP export, then the groups due.</summary>
        public async Task PlayAsync(TimeSpan length, Scenario scenario)
        {
            for (var played = TimeSpan.Zero; played < length; played += Tick)
            {
                _traffic.Emit(scenario, Target, Tick);
                _time.Advance(Tick);
                _elapsed += Tick;
                if (_elapsed.Ticks % Flush.Ticks != 0)
                {
                    continue;
                }

                var now = _time.GetUtcNow();
                _exporter.Begin(now - Flush, now);
                Assert.True(_provider.ForceFlush(), "the MeterProvider did not flush");
                var result = _ingest.Ingest(_exporter.Request.ToByteArray());
                Assert.True(result.Rejected == 0, $"at {_elapsed}: {result.ErrorMessage}");
                foreach (var group in _rules.Groups.Where(g => _elapsed.Ticks % g.Interval.Ticks == 0))
                {
                    await _rules.EvaluateGroupAsync(group.Name, now);
                }
            }
        }

        public void Dispose()
        {
            _provider.Dispose();
            _telemetry.Dispose();
        }
    }

    /// <summary>
    /// What the SDK's OTLP exporter sends, built from the SDK's own metric points: delta sums, gauges and explicit-bucket
    /// histograms under the demo's resource (service.name=vigil-demo), stamped with the fake clock's export window.
    /// </summary>
    private sealed class OtlpExporter : BaseExporter<Metric>
    {
        private ulong _start;
        private ulong _time;

        public ExportMetricsServiceRequest Request { get; private set; } = new();

        public void Begin(DateTimeOffset start, DateTimeOffset time)
        {
            _start = WindowStore.ToUnixNano(start);
            _time = WindowStore.ToUnixNano(time);
            Request = new ExportMetricsServiceRequest();
        }

        public override ExportResult Export(in Batch<Metric> batch)
        {
            var scope = new OtlpMetrics.ScopeMetrics { Scope = new InstrumentationScope { Name = "vigil.demo" } };
            foreach (var metric in batch)
            {
                var otlp = new OtlpMetrics.Metric { Name = metric.Name, Unit = metric.Unit ?? string.Empty };
                switch (metric.MetricType)
                {
                    case MetricType.LongSum or MetricType.DoubleSum:
                        otlp.Sum = new OtlpMetrics.Sum { AggregationTemporality = OtlpMetrics.AggregationTemporality.Delta, IsMonotonic = true };
                        foreach (ref readonly var point in metric.GetMetricPoints())
                        {
                            var number = new OtlpMetrics.NumberDataPoint { StartTimeUnixNano = _start, TimeUnixNano = _time };
                            if (metric.MetricType == MetricType.LongSum)
                            {
                                number.AsInt = point.GetSumLong();
                            }
                            else
                            {
                                number.AsDouble = point.GetSumDouble();
                            }

                            Attributes(number.Attributes, point.Tags);
                            otlp.Sum.DataPoints.Add(number);
                        }

                        break;
                    case MetricType.Histogram:
                        otlp.Histogram = new OtlpMetrics.Histogram { AggregationTemporality = OtlpMetrics.AggregationTemporality.Delta };
                        foreach (ref readonly var point in metric.GetMetricPoints())
                        {
                            var histogram = new OtlpMetrics.HistogramDataPoint
                            {
                                StartTimeUnixNano = _start,
                                TimeUnixNano = _time,
                                Count = (ulong)point.GetHistogramCount(),
                                Sum = point.GetHistogramSum(),
                            };
                            foreach (var bucket in point.GetHistogramBuckets())
                            {
                                if (!double.IsPositiveInfinity(bucket.ExplicitBound))
                                {
                                    histogram.ExplicitBounds.Add(bucket.ExplicitBound);
                                }

                                histogram.BucketCounts.Add((ulong)bucket.BucketCount);
                            }

                            Attributes(histogram.Attributes, point.Tags);
                            otlp.Histogram.DataPoints.Add(histogram);
                        }

                        break;
                    default:
                        throw new InvalidOperationException($"the demo emitted {metric.Name} as {metric.MetricType}, which this exporter does not write");
                }

                scope.Metrics.Add(otlp);
            }

            var resource = new Resource { Attributes = { new KeyValue { Key = "service.name", Value = new AnyValue { StringValue = "vigil-demo" } } } };
            Request.ResourceMetrics.Add(new OtlpMetrics.ResourceMetrics { Resource = resource, ScopeMetrics = { scope } });
            return ExportResult.Success;
        }

        private static void Attributes(Google.Protobuf.Collections.RepeatedField<KeyValue> target, ReadOnlyTagCollection tags)
        {
            // Typed as the SDK's exporter types them: a bool attribute arrives as "true", not .NET's "True".
            foreach (var tag in tags)
            {
                var value = tag.Value switch
                {
                    bool b => new AnyValue { BoolValue = b },
                    long or int or short or byte => new AnyValue { IntValue = Convert.ToInt64(tag.Value, System.Globalization.CultureInfo.InvariantCulture) },
                    double or float => new AnyValue { DoubleValue = Convert.ToDouble(tag.Value, System.Globalization.CultureInfo.InvariantCulture) },
                    _ => new AnyValue { StringValue = Convert.ToString(tag.Value, System.Globalization.CultureInfo.InvariantCulture) ?? string.Empty },
                };
                target.Add(new KeyValue { Key = tag.Key, Value = value });
            }
        }
    }
}
