using Google.Protobuf;
using Microsoft.Extensions.Time.Testing;
using Vigil.Otlp.Proto.Collector;
using Vigil.Otlp.Proto.Common;
using Vigil.Otlp.Proto.Metrics;
using Vigil.Otlp.Proto.Resource;
using Vigil.Query.Api;
using Vigil.Query.Evaluation;
using Vigil.Storage;

namespace Vigil.Query.Tests;

/// <summary>Prometheus 3's OTLP conventions (decision 028): job, instance and target_info derived from the resource.</summary>
public sealed class OtlpConventionsTests
{
    private static readonly DateTimeOffset T0 = QueryHarness.T0;

    private static readonly double[] Bounds = [0.1, 1];

    private readonly FakeTimeProvider _clock = new(T0.AddSeconds(60));

    /// <summary>
    /// Two resources: acme's auth service (namespace, instance id, tenant t1) and a billing service with no namespace
    /// and no instance id (tenant t2); a third resource names only its service, so it has no target_info.
    /// </summary>
    private PromQueryEngine Engine(bool storeInstance = true)
    {
        var defaults = new WindowStoreOptions();
        var options = storeInstance ? defaults with { ResourceAttributes = [.. defaults.ResourceAttributes, "service.instance.id"] } : defaults;
        var store = new WindowStore(options, _clock);
        var request = new ExportMetricsServiceRequest();
        request.ResourceMetrics.Add(Resource([("service.namespace", "acme"), ("service.name", "auth"), ("service.instance.id", "i-1"), ("tenant.id", "t1"), ("host.name", "h1")], depth: 5, fast: 3));
        request.ResourceMetrics.Add(Resource([("service.name", "billing"), ("tenant.id", "t2")], depth: 7, fast: 0));
        request.ResourceMetrics.Add(Resource([("service.name", "bare")], depth: 11, fast: 1));
        var result = new OtlpIngest(store).Ingest(request.ToByteArray());
        Assert.True(result.Rejected == 0, result.ErrorMessage);
        return new PromQueryEngine(store, PromQueryOptions.From(store.Options), _clock);
    }

    [Fact]
    public void Job_IsNamespaceSlashName_OrTheNameAlone_AndInstanceIsTheInstanceId()
    {
        var engine = Engine();

        var acme = Assert.Single(Vector(engine, "queue_depth{job=\"acme/auth\"}"));
        Assert.Equal(5, acme.Value);
        Assert.Equal("i-1", acme.Labels.Get("instance"));
        Assert.Equal("t1", acme.Labels.Get("tenant_id"));

        var billing = Assert.Single(Vector(engine, "queue_depth{job=\"billing\"}"));
        Assert.Equal(7, billing.Value);
        Assert.Null(billing.Labels.Get("instance"));

        Assert.Equal(5, Assert.Single(Vector(engine, "queue_depth{instance=\"i-1\"}")).Value);
        // A missing instance matches as empty, as any label does.
        Assert.Equal([7, 11], Vector(engine, "queue_depth{instance=\"\"}").Select(s => s.Value).Order());
        Assert.Empty(Vector(engine, "queue_depth{job=\"auth\"}"));
    }

    [Fact]
    public void GroupingByJob_KeepsOneGroupPerService()
    {
        var sums = Vector(engine: Engine(), "sum by (job) (queue_depth)").ToDictionary(s => s.Labels.ToString(), s => s.Value);

        Assert.Equal(new Dictionary<string, double> { ["{job=\"acme/auth\"}"] = 5, ["{job=\"billing\"}"] = 7, ["{job=\"bare\"}"] = 11 }, sums);
    }

    [Fact]
    public void InstanceIsAbsent_WhenTheStoreDoesNotKeepTheInstanceId()
    {
        var acme = Assert.Single(Vector(Engine(storeInstance: false), "queue_depth{job=\"acme/auth\"}"));

        Assert.Null(acme.Labels.Get("instance"));
        Assert.Equal(5, acme.Value);
    }

    [Fact]
    public void TargetInfo_IsOneSeriesPerResource_WithItsStoredResourceAttributes()
    {
        var info = Vector(Engine(), "target_info").ToDictionary(s => s.Labels.ToString(), s => s.Value);

        // host.name is not a storage.resource_attributes entry, so it was never stored; "bare" holds only identifying attributes.
        Assert.Equal(
            new Dictionary<string, double>
            {
                ["target_info{instance=\"i-1\", job=\"acme/auth\", tenant_id=\"t1\"}"] = 1,
                ["target_info{job=\"billing\", tenant_id=\"t2\"}"] = 1,
            },
            info);
        Assert.Equal("t2", Assert.Single(Vector(Engine(), "target_info{job=\"billing\"}")).Labels.Get("tenant_id"));
    }

    [Fact]
    public void TargetInfo_IsNotInvented_ForPointsThatNameNoService()
    {
        var h = new QueryHarness();
        h.Gauge("queue.depth", 5, 3, ("tenant.id", "acme"));

        Assert.Empty(Assert.IsType<VectorValue>(h.Engine.Query("target_info", QueryHarness.At(10)).Value).Samples);
        // No service.name: no job either.
        Assert.Equal(["queue_depth{tenant_id=\"acme\"}"], h.Vector("queue_depth", 10).Keys);
    }

    [Fact]
    public void TargetInfo_JoinsOntoSeriesByJobAndInstance()
    {
        var joined = Vector(Engine(), "queue_depth * on (job, instance) group_left (tenant_id) target_info");

        Assert.Equal([5, 7], joined.Select(s => s.Value).Order());
    }

    [Fact]
    public void SeriesLabelsAndValues_ShowJobInstanceAndTargetInfo()
    {
        var engine = Engine();

        var names = new[] { "latency_seconds_bucket", "latency_seconds_count", "latency_seconds_sum", "queue_depth", "queue_fast_total", "target_info" };
        var series = PromApi.Series(engine, ["{job=\"acme/auth\"}"]);
        Assert.Equal(names, series.Select(l => l.Get(Labels.MetricName)).Distinct().Order(StringComparer.Ordinal));
        Assert.All(series, l => Assert.Equal("acme/auth", l.Get("job")));
        Assert.Equal(["acme/auth", "bare", "billing"], PromApi.LabelValues(engine, "job", []));
        Assert.Equal(["i-1"], PromApi.LabelValues(engine, "instance", []));
        Assert.Contains("job", PromApi.LabelNames(engine, ["target_info"]));
        Assert.Equal(names, PromApi.LabelValues(engine, Labels.MetricName, ["{job=~\"acme/.*|billing\"}"]));
        Assert.Equal(["latency_seconds_bucket", "latency_seconds_count", "latency_seconds_sum", "queue_depth", "queue_fast_total"], PromApi.LabelValues(engine, Labels.MetricName, ["{job=\"bare\"}"]));
    }

    [Fact]
    public void HistogramQuantile_WithAJobMatcher_ReadsOnlyThatService()
    {
        var engine = Engine();

        var byJob = Scalarish(engine, "histogram_quantile(0.5, sum by (le) (rate(latency_seconds_bucket{job=\"acme/auth\"}[5m])))");
        var byTenant = Scalarish(engine, "histogram_quantile(0.5, sum by (le) (rate(latency_seconds_bucket{tenant_id=\"t1\"}[5m])))");
        var other = Scalarish(engine, "histogram_quantile(0.5, sum by (le) (rate(latency_seconds_bucket{tenant_id=\"t2\"}[5m])))");
        Assert.Equal(byTenant, byJob);
        Assert.NotEqual(other, byJob);

        var grouped = Vector(engine, "histogram_quantile(0.5, sum by (le, job) (rate(latency_seconds_bucket[5m])))");
        Assert.Equal(byJob, Assert.Single(grouped, s => s.Labels.Get("job") == "acme/auth").Value);
        Assert.Equal(other, Assert.Single(grouped, s => s.Labels.Get("job") == "billing").Value);
        Assert.All(grouped, s => Assert.Equal(["job"], s.Labels.Pairs.Select(p => p.Key)));
    }

    [Fact]
    public void HistogramQuantile_ByJob_FoldsEveryInstanceOfTheJobTogether()
    {
        var defaults = new WindowStoreOptions();
        var store = new WindowStore(defaults with { ResourceAttributes = [.. defaults.ResourceAttributes, "service.instance.id"] }, _clock);
        var request = new ExportMetricsServiceRequest();
        request.ResourceMetrics.Add(Resource([("service.name", "auth"), ("service.instance.id", "i-1")], depth: 5, fast: 1));
        request.ResourceMetrics.Add(Resource([("service.name", "auth"), ("service.instance.id", "i-2")], depth: 7, fast: 1));
        Assert.Equal(0, new OtlpIngest(store).Ingest(request.ToByteArray()).Rejected);
        var engine = new PromQueryEngine(store, PromQueryOptions.From(store.Options), _clock);

        // One job: by (le, job) is the quantile over both instances, i.e. by (le) alone; per instance they differ.
        var all = Scalarish(engine, "histogram_quantile(0.5, sum by (le) (rate(latency_seconds_bucket[5m])))");
        var byJob = Assert.Single(Vector(engine, "histogram_quantile(0.5, sum by (le, job) (rate(latency_seconds_bucket[5m])))"));
        Assert.Equal("auth", byJob.Labels.Get("job"));
        Assert.Equal(all, byJob.Value);
        var byInstance = Vector(engine, "histogram_quantile(0.5, sum by (le, instance) (rate(latency_seconds_bucket{job=\"auth\"}[5m])))");
        Assert.Equal(["i-1", "i-2"], byInstance.Select(s => s.Labels.Get("instance")).Order(StringComparer.Ordinal));
        Assert.Equal(2, byInstance.Select(s => s.Value).Distinct().Count());
    }

    [Fact]
    public void HistogramQuantile_OverSeveralJobsWithoutJobInBy_IsRefusedNotMixed()
    {
        var e = Assert.Throws<PromQLException>(() => Engine().Query("histogram_quantile(0.5, sum by (le) (rate(latency_seconds_bucket{job=~\"acme/auth|billing\"}[5m])))", _clock.GetUtcNow()));

        Assert.Contains("add job and instance to the by list", e.Message, StringComparison.Ordinal);
    }

    private IReadOnlyList<Sample> Vector(PromQueryEngine engine, string query) =>
        Assert.IsType<VectorValue>(engine.Query(query, _clock.GetUtcNow()).Value).Samples;

    private double Scalarish(PromQueryEngine engine, string query) => Assert.Single(Vector(engine, query)).Value;

    private static ResourceMetrics Resource((string Key, string Value)[] attributes, double depth, double fast)
    {
        var resource = new Resource();
        foreach (var (key, value) in attributes)
        {
            resource.Attributes.Add(new KeyValue { Key = key, Value = new AnyValue { StringValue = value } });
        }

        var scope = new ScopeMetrics { Scope = new InstrumentationScope { Name = "tests" } };
        scope.Metrics.Add(new Metric { Name = "queue.depth", Gauge = new Gauge { DataPoints = { new NumberDataPoint { TimeUnixNano = Nanos(50), AsDouble = depth } } } });
        scope.Metrics.Add(QueryHarness.DeltaSum("queue.fast", "{item}", 50, fast));
        // Observations below 0.1 for the slow path's counterpart, above 0.1 otherwise: the services' medians differ.
        var counts = depth < 6 ? new ulong[] { 4, 0, 0 } : [0, 4, 0];
        var point = new HistogramDataPoint { StartTimeUnixNano = Nanos(40), TimeUnixNano = Nanos(50), Count = 4, Sum = 1 };
        point.ExplicitBounds.AddRange(Bounds);
        point.BucketCounts.AddRange(counts);
        scope.Metrics.Add(QueryHarness.Histogram("latency", "s", point));
        return new ResourceMetrics { Resource = resource, ScopeMetrics = { scope } };
    }

    private static ulong Nanos(double seconds) => WindowStore.ToUnixNano(T0.AddSeconds(seconds));
}
