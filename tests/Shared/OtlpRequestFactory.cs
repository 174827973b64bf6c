using System.Buffers.Binary;
using Google.Protobuf;
using Vigil.Otlp.Proto.Collector;
using Vigil.Otlp.Proto.Common;
using Vigil.Otlp.Proto.Metrics;
using Vigil.Otlp.Proto.Resource;

namespace Vigil.Perf;

/// <summary>
/// Builds realistic OTLP metrics requests with the generated protobuf types, once, and then re-stamps
/// the encoded bytes in place: each point's time_unix_nano and as_int sit at known offsets, so a
/// cumulative counter can advance every round without re-encoding (encoding would cost the sender
/// more CPU than the receiver spends on the same request).
/// </summary>
/// <remarks>
/// Series s belongs to metric s % metrics and attribute combination s / metrics, so a request of
/// consecutive series holds every metric with points / metrics points each.
/// </remarks>
internal sealed class OtlpRequestFactory
{
    // Placeholders written by the encoder and found again in the bytes; unlikely anywhere else.
    private const ulong TimeSentinel = 0x7E57_11ED_7E57_11EDUL;
    private const long ValueSentinel = 0x0BAD_5EED_0BAD_5EED;
    private const byte TimeTag = (3 << 3) | 1;  // NumberDataPoint.time_unix_nano, fixed64
    private const byte ValueTag = (6 << 3) | 1; // NumberDataPoint.as_int, sfixed64

    private static readonly string[] Models = ["gpt-4o", "claude-sonnet", "llama-3-70b"];
    private static readonly string[] Statuses = ["succeeded", "failed", "policy_blocked", "validation_error"];
    private static readonly string[] Routes = ["/api/runs", "/api/workspaces/{id}", "/api/tenants/{id}/members"];

    public OtlpRequestFactory(int metrics, int tenants = 50)
    {
        Metrics = metrics;
        Tenants = tenants;
    }

    public int Metrics { get; }

    public int Tenants { get; }

    public static string MetricName(int metric) => metric switch
    {
        0 => "auth.requests",
        1 => "tenant.requests",
        2 => "workspace.lifecycle.transitions",
        3 => "ai.runs",
        _ => $"app.operations.{metric:D2}",
    };

    /// <summary>One request carrying series [firstSeries, firstSeries + points), cumulative monotonic sums.</summary>
    public EncodedRequest Build(int firstSeries, int points, ulong startUnixNano)
    {
        var resource = new Resource();
        resource.Attributes.Add(Str("service.name", "vigil-perf"));
        resource.Attributes.Add(Str("service.namespace", "platform"));
        resource.Attributes.Add(Str("deployment.environment.name", "perf"));
        resource.Attributes.Add(Str("service.instance.id", "7f3c2a8e-4d1b-4c8a-9e2f-0a1b2c3d4e5f"));
        resource.Attributes.Add(Str("host.name", "perf-host-01"));
        resource.Attributes.Add(Str("telemetry.sdk.name", "opentelemetry"));
        resource.Attributes.Add(Str("telemetry.sdk.language", "dotnet"));
        resource.Attributes.Add(Str("telemetry.sdk.version", "1.20.1"));

        var scope = new ScopeMetrics { Scope = new InstrumentationScope { Name = "Vigil.Perf", Version = "1.0.0" } };
        var byMetric = new Sum?[Metrics];
        var series = new int[points];
        var order = new List<int>(points);
        for (var i = 0; i < points; i++)
        {
            var s = firstSeries + i;
            var m = s % Metrics;
            if (byMetric[m] is null)
            {
                byMetric[m] = new Sum { AggregationTemporality = AggregationTemporality.Cumulative, IsMonotonic = true };
                scope.Metrics.Add(new Metric { Name = MetricName(m), Unit = "{request}", Description = "perf series", Sum = byMetric[m] });
            }

            byMetric[m]!.DataPoints.Add(Point(s / Metrics, startUnixNano));
        }

        // The encoder writes metrics in scope order and points in metric order: recover the series of each slot.
        foreach (var metric in scope.Metrics)
        {
            var m = Array.IndexOf(byMetric, metric.Sum);
            for (var i = 0; i < points; i++)
            {
                if ((firstSeries + i) % Metrics == m)
                {
                    order.Add(firstSeries + i);
                }
            }
        }

        var request = new ExportMetricsServiceRequest();
        var resourceMetrics = new ResourceMetrics { Resource = resource, SchemaUrl = "https://opentelemetry.io/schemas/1.26.0" };
        resourceMetrics.ScopeMetrics.Add(scope);
        request.ResourceMetrics.Add(resourceMetrics);
        var bytes = request.ToByteArray();

        var times = Find(bytes, TimeTag, TimeSentinel);
        var values = Find(bytes, ValueTag, (ulong)ValueSentinel);
        if (times.Count != points || values.Count != points)
        {
            throw new InvalidOperationException($"found {times.Count} time and {values.Count} value slots for {points} points");
        }

        for (var i = 0; i < points; i++)
        {
            series[i] = order[i];
        }

        return new EncodedRequest(bytes, [.. times], [.. values], series);
    }

    private NumberDataPoint Point(int combination, ulong startUnixNano)
    {
        var point = new NumberDataPoint { StartTimeUnixNano = startUnixNano, TimeUnixNano = TimeSentinel, AsInt = ValueSentinel };
        point.Attributes.Add(Str("tenant.id", $"tenant-{combination % Tenants:D4}"));
        point.Attributes.Add(Str("workspace.id", $"ws-{combination:D6}"));
        point.Attributes.Add(Str("gen_ai.request.model", Models[combination % Models.Length]));
        point.Attributes.Add(Str("ai.run.status", Statuses[(combination / Models.Length) % Statuses.Length]));
        if (combination % 2 == 0)
        {
            point.Attributes.Add(Str("http.route", Routes[combination % Routes.Length]));
        }

        if (combination % 3 == 0)
        {
            point.Attributes.Add(new KeyValue { Key = "retry", Value = new AnyValue { BoolValue = false } });
        }

        return point;
    }

    private static KeyValue Str(string key, string value) => new() { Key = key, Value = new AnyValue { StringValue = value } };

    private static List<int> Find(byte[] bytes, byte tag, ulong sentinel)
    {
        Span<byte> pattern = stackalloc byte[9];
        pattern[0] = tag;
        BinaryPrimitives.WriteUInt64LittleEndian(pattern[1..], sentinel);
        var found = new List<int>();
        var position = 0;
        while (true)
        {
            var index = bytes.AsSpan(position).IndexOf(pattern);
            if (index < 0)
            {
                return found;
            }

            found.Add(position + index + 1);
            position += index + 9;
        }
    }
}

/// <summary>An encoded request and where each point's time and value live in it.</summary>
internal sealed class EncodedRequest(byte[] bytes, int[] timeOffsets, int[] valueOffsets, int[] series)
{
    public byte[] Bytes { get; } = bytes;

    public int Points => Series.Length;

    /// <summary>The series index of each point, in wire order.</summary>
    public int[] Series { get; } = series;

    /// <summary>
    /// Writes round <paramref name="round"/>: every point stamped <paramref name="timeUnixNano"/>, each
    /// cumulative value (round + 1) times its series' own step, so every counter grows each round.
    /// </summary>
    public void Stamp(ulong timeUnixNano, long round)
    {
        var span = Bytes.AsSpan();
        for (var i = 0; i < timeOffsets.Length; i++)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(span[timeOffsets[i]..], timeUnixNano);
            BinaryPrimitives.WriteInt64LittleEndian(span[valueOffsets[i]..], (round + 1) * (1 + (Series[i] % 5)));
        }
    }
}
