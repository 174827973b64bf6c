using Google.Protobuf;
using Vigil.Otlp.Proto.Collector;
using Vigil.Otlp.Proto.Common;
using Vigil.Otlp.Proto.Metrics;
using Vigil.Otlp.Proto.Resource;

namespace Vigil.Perf;

/// <summary>
/// Requests shaped like the fleet of issue 14: 625 tenants x 5 workspaces, 3 resources per request
/// (one service instance of one tenant each, reporting for that tenant's 5 workspaces), every
/// convention metric of DESIGN §4 including two histograms, and advancing data: every round stamps a
/// new time and grows each counter and histogram by a seeded-random amount. Unlike
/// <see cref="OtlpRequestFactory"/> it re-encodes each request (its cost is the sender's, not measured).
/// </summary>
internal sealed class FleetRequestFactory
{
    public const int Tenants = 625;
    public const int WorkspacesPerTenant = 5;
    public const int ResourcesPerRequest = 3;

    private static readonly string[] Models = ["gpt-4o", "claude-sonnet", "llama-3-70b"];
    private static readonly string[] Statuses = ["succeeded", "failed", "policy_blocked", "validation_error"];
    private static readonly string[] Methods = ["password", "oidc", "api_key"];
    private static readonly string[] Outcomes = ["success", "failure", "unauthorized"];
    private static readonly string[] Decisions = ["allowed", "denied"];
    private static readonly string[] Routes = ["/api/runs", "/api/workspaces/{id}", "/api/tenants/{id}/members"];
    private static readonly string[] Transitions = ["created", "activated", "suspended", "deleted"];
    private static readonly string[] TokenTypes = ["input", "output"];
    private static readonly double[] TokenBounds = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864];
    private static readonly double[] DurationBounds = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

    private readonly Random _random;
    private readonly ulong _startUnixNano;

    // Cumulative state per (tenant, series slot), so each round's values grow from the last.
    private readonly Dictionary<(int Tenant, int Slot), double> _sums = [];
    private readonly Dictionary<(int Tenant, int Slot), ulong[]> _buckets = [];
    private int _nextTenant;

    public FleetRequestFactory(ulong startUnixNano, int seed = 14)
    {
        _startUnixNano = startUnixNano;
        _random = new Random(seed);
    }

    /// <summary>The next request: the next <see cref="ResourcesPerRequest"/> tenants in turn, stamped <paramref name="timeUnixNano"/>.</summary>
    public (byte[] Bytes, int Points) Next(ulong timeUnixNano)
    {
        var request = new ExportMetricsServiceRequest();
        var points = 0;
        for (var r = 0; r < ResourcesPerRequest; r++)
        {
            var tenant = _nextTenant;
            _nextTenant = (_nextTenant + 1) % Tenants;
            request.ResourceMetrics.Add(Resource(tenant, timeUnixNano, ref points));
        }

        return (request.ToByteArray(), points);
    }

    private ResourceMetrics Resource(int tenant, ulong time, ref int points)
    {
        var tenantId = $"tenant-{tenant:D4}";
        var resource = new Resource();
        resource.Attributes.Add(Str("service.name", "ai-gateway"));
        resource.Attributes.Add(Str("service.namespace", "platform"));
        resource.Attributes.Add(Str("deployment.environment.name", "production"));
        resource.Attributes.Add(Str("tenant.id", tenantId));
        resource.Attributes.Add(Str("service.instance.id", $"{(uint)tenant * 2654435761u:x8}-4d1b-4c8a-9e2f-{tenant:x12}"));
        resource.Attributes.Add(Str("host.name", $"gw-{tenant % 40:D2}.eu-west-1.internal"));
        resource.Attributes.Add(Str("telemetry.sdk.name", "opentelemetry"));
        resource.Attributes.Add(Str("telemetry.sdk.language", "nodejs"));
        resource.Attributes.Add(Str("telemetry.sdk.version", "1.30.1"));

        var scope = new ScopeMetrics { Scope = new InstrumentationScope { Name = "@vigil/instrumentation", Version = "0.4.0" } };
        var slot = 0;

        var auth = Counter(scope, "auth.requests", "{request}");
        foreach (var method in Methods)
        {
            foreach (var outcome in Outcomes)
            {
                auth.DataPoints.Add(IntPoint(tenant, slot++, time, 40, [("tenant.id", tenantId), ("auth.method", method), ("auth.outcome", outcome)]));
            }
        }

        var requests = Counter(scope, "tenant.requests", "{request}");
        foreach (var decision in Decisions)
        {
            foreach (var route in Routes)
            {
                requests.DataPoints.Add(IntPoint(tenant, slot++, time, 200, [("tenant.id", tenantId), ("tenant.decision", decision), ("tenant.denial_class", decision == "denied" ? "cross_tenant" : "none"), ("http.route", route)]));
            }
        }

        var lifecycle = Counter(scope, "workspace.lifecycle.transitions", "{transition}");
        var runs = Counter(scope, "ai.runs", "{run}");
        var cost = Counter(scope, "ai.run.cost", "USD");
        var tokens = new Histogram { AggregationTemporality = AggregationTemporality.Cumulative };
        scope.Metrics.Add(new Metric { Name = "gen_ai.client.token.usage", Unit = "{token}", Description = "tokens per model call", Histogram = tokens });
        var durations = new Histogram { AggregationTemporality = AggregationTemporality.Cumulative };
        scope.Metrics.Add(new Metric { Name = "gen_ai.client.operation.duration", Unit = "s", Description = "model call duration", Histogram = durations });
        for (var w = 0; w < WorkspacesPerTenant; w++)
        {
            var workspace = $"ws-{tenant:D4}-{w}";
            foreach (var transition in Transitions)
            {
                lifecycle.DataPoints.Add(IntPoint(tenant, slot++, time, 2, [("tenant.id", tenantId), ("workspace.id", workspace), ("workspace.transition", transition), ("workspace.anomaly", "false")]));
            }

            foreach (var model in Models)
            {
                foreach (var status in Statuses)
                {
                    runs.DataPoints.Add(IntPoint(tenant, slot++, time, 30, [("tenant.id", tenantId), ("workspace.id", workspace), ("gen_ai.request.model", model), ("ai.run.status", status)]));
                }

                cost.DataPoints.Add(DoublePoint(tenant, slot++, time, [("tenant.id", tenantId), ("workspace.id", workspace), ("gen_ai.request.model", model)]));
                foreach (var type in TokenTypes)
                {
                    tokens.DataPoints.Add(HistogramPoint(tenant, slot++, time, TokenBounds, [("gen_ai.token.type", type), ("gen_ai.request.model", model), ("tenant.id", tenantId), ("workspace.id", workspace)]));
                }

                durations.DataPoints.Add(HistogramPoint(tenant, slot++, time, DurationBounds, [("gen_ai.request.model", model), ("tenant.id", tenantId), ("workspace.id", workspace)]));
            }
        }

        foreach (var metric in scope.Metrics)
        {
            points += metric.Sum?.DataPoints.Count ?? metric.Histogram.DataPoints.Count;
        }

        var resourceMetrics = new ResourceMetrics { Resource = resource, SchemaUrl = "https://opentelemetry.io/schemas/1.26.0" };
        resourceMetrics.ScopeMetrics.Add(scope);
        return resourceMetrics;
    }

    private static Sum Counter(ScopeMetrics scope, string name, string unit)
    {
        var sum = new Sum { AggregationTemporality = AggregationTemporality.Cumulative, IsMonotonic = true };
        scope.Metrics.Add(new Metric { Name = name, Unit = unit, Sum = sum });
        return sum;
    }

    private NumberDataPoint IntPoint(int tenant, int slot, ulong time, int maxStep, (string Key, string Value)[] attributes)
    {
        var key = (tenant, slot);
        var value = _sums.GetValueOrDefault(key) + _random.Next(0, maxStep);
        _sums[key] = value;
        return WithAttributes(new NumberDataPoint { StartTimeUnixNano = _startUnixNano, TimeUnixNano = time, AsInt = (long)value }, attributes);
    }

    private NumberDataPoint DoublePoint(int tenant, int slot, ulong time, (string Key, string Value)[] attributes)
    {
        var key = (tenant, slot);
        var value = _sums.GetValueOrDefault(key) + (_random.NextDouble() * 0.8);
        _sums[key] = value;
        return WithAttributes(new NumberDataPoint { StartTimeUnixNano = _startUnixNano, TimeUnixNano = time, AsDouble = value }, attributes);
    }

    private HistogramDataPoint HistogramPoint(int tenant, int slot, ulong time, double[] bounds, (string Key, string Value)[] attributes)
    {
        var key = (tenant, slot);
        if (!_buckets.TryGetValue(key, out var buckets))
        {
            buckets = new ulong[bounds.Length + 1];
            _buckets[key] = buckets;
        }

        // A few observations a round, around a per-series typical bucket.
        var typical = (slot * 7) % bounds.Length;
        var observations = _random.Next(0, 12);
        var sum = _sums.GetValueOrDefault(key);
        for (var i = 0; i < observations; i++)
        {
            var bucket = Math.Clamp(typical + _random.Next(-2, 3), 0, bounds.Length);
            buckets[bucket]++;
            sum += bucket < bounds.Length ? bounds[bucket] * (0.5 + (_random.NextDouble() / 2)) : bounds[^1] * 1.5;
        }

        _sums[key] = sum;
        var point = new HistogramDataPoint { StartTimeUnixNano = _startUnixNano, TimeUnixNano = time, Sum = sum };
        ulong count = 0;
        foreach (var b in buckets)
        {
            count += b;
        }

        point.Count = count;
        point.BucketCounts.AddRange(buckets);
        point.ExplicitBounds.AddRange(bounds);
        foreach (var (k, v) in attributes)
        {
            point.Attributes.Add(Str(k, v));
        }

        return point;
    }

    private static NumberDataPoint WithAttributes(NumberDataPoint point, (string Key, string Value)[] attributes)
    {
        foreach (var (k, v) in attributes)
        {
            point.Attributes.Add(Str(k, v));
        }

        return point;
    }

    private static KeyValue Str(string key, string value) => new() { Key = key, Value = new AnyValue { StringValue = value } };
}
