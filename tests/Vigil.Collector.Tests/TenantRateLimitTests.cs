using System.Diagnostics.Metrics;
using System.Net;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Vigil.Otlp.Proto.Collector;
using Vigil.Otlp.Proto.Rpc;
using Vigil.Storage;
using Vigil.Storage.Query;

namespace Vigil.Collector.Tests;

/// <summary>
/// <c>ingest.tenant_rate_limit</c> end to end on a fake clock (decision 016): a tenant over its rate
/// gets 429 / RESOURCE_EXHAUSTED with the seconds its bucket needs, nothing of the refused request is
/// logged or stored, other tenants keep writing, and the self-metrics count it.
/// </summary>
public sealed class TenantRateLimitTests
{
    private static readonly Marshaller<byte[]> Raw = Marshallers.Create(static b => b, static b => b);
    private static readonly Method<byte[], byte[]> Export = new(MethodType.Unary, "opentelemetry.proto.collector.metrics.v1.MetricsService", "Export", Raw, Raw);

    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2025, 6, 1, 12, 0, 0, TimeSpan.Zero));

    /// <summary><paramref name="count"/> points of <paramref name="tenant"/>, each its own series (route from, from+1, …), at the fake clock's now.</summary>
    private ExportMetricsServiceRequest Points(string tenant, int from, int count) =>
        OtlpRequests.DeltaCounterAt("tenant.requests", _clock.GetUtcNow(), tenant, [.. Enumerable.Range(from, count).Select(i => ("http.route", $"/{i}", 1L))]);

    private static async Task<HttpResponseMessage> PostAsync(VigilServer vigil, IMessage request)
    {
        using var http = new HttpClient { BaseAddress = vigil.OtlpHttpUri };
        using var content = new ByteArrayContent(request.ToByteArray());
        content.Headers.ContentType = new("application/x-protobuf");
        return await http.PostAsync("/v1/metrics", content);
    }

    private double Stored(VigilServer vigil, string tenant) =>
        vigil.Store.Aggregate(new AggregateQuery("tenant.requests", AggregateFunction.Increase, TimeSpan.FromMinutes(10), [], [new LabelMatcher("tenant.id", MatchOp.Equal, tenant)], _clock.GetUtcNow()))
            .Sum(s => s.Value);

    private static long WalRecords(VigilServer vigil) => vigil.Services.GetRequiredService<WalService>().Log!.AppendedRecords;

    [Fact]
    public async Task AFloodingTenant_Gets429WithTheBucketsRetryAfter_OthersAreAccepted_AndItIsAcceptedAfterTheWait()
    {
        await using var vigil = await VigilServer.StartAsync(o => o with { Ingest = o.Ingest with { TenantRateLimit = 100, TenantRateBurst = 200 } }, _clock);
        using var metrics = new SelfMetrics(vigil);

        using (var burst = await PostAsync(vigil, Points("a", 0, 200)))
        {
            Assert.Equal(HttpStatusCode.OK, burst.StatusCode);
        }

        var logged = WalRecords(vigil);

        // a's bucket is empty: 150 points need 1.5 s at 100/s, said as 2 s.
        using (var refused = await PostAsync(vigil, Points("a", 200, 150)))
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
            Assert.Equal(TimeSpan.FromSeconds(2), refused.Headers.RetryAfter?.Delta);
            var status = Vigil.Otlp.Proto.Rpc.Status.Parser.ParseFrom(await refused.Content.ReadAsByteArrayAsync());
            Assert.Equal(8, status.Code); // RESOURCE_EXHAUSTED
            Assert.Equal("tenant \"a\" is over its data-point rate (ingest.tenant_rate_limit = 100/s, burst 200); retry after 2 s", status.Message);
        }

        // A request mixing b with the over-budget a is refused whole, and costs b nothing.
        using (var mixed = await PostAsync(vigil, OtlpRequests.Merge(Points("b", 0, 10), Points("a", 200, 1))))
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, mixed.StatusCode);
        }

        Assert.Equal(logged, WalRecords(vigil));
        Assert.Equal(200, Stored(vigil, "a"));
        Assert.Equal(0, Stored(vigil, "b"));

        // b, in the same second, has its whole burst.
        using (var other = await PostAsync(vigil, Points("b", 0, 200)))
        {
            Assert.Equal(HttpStatusCode.OK, other.StatusCode);
        }

        _clock.Advance(TimeSpan.FromSeconds(2));
        using (var retried = await PostAsync(vigil, Points("a", 200, 150)))
        {
            Assert.Equal(HttpStatusCode.OK, retried.StatusCode);
        }

        Assert.Equal(350, Stored(vigil, "a"));
        Assert.Equal(200, Stored(vigil, "b"));
        Assert.Equal(2, metrics.Read("vigil.ingest.requests.refused", ("reason", "tenant_rate")));
        Assert.Equal(151, metrics.Read("vigil.ingest.points.rate_limited", ("tenant.id", "a")));
        Assert.Equal(0, metrics.Read("vigil.ingest.points.rate_limited", ("tenant.id", "b")));
    }

    [Fact]
    public async Task OverGrpc_UnderAnIngestKey_TheKeysTenantIsLimited_WithResourceExhaustedAndRetryInfo()
    {
        await using var vigil = await VigilServer.StartAsync(o => TestKeys.WithIngestKeys(o) with { Ingest = o.Ingest with { TenantRateLimit = 50 } }, _clock);
        using var channel = GrpcChannel.ForAddress(vigil.GrpcUri);
        var invoker = channel.CreateCallInvoker();
        Task<byte[]> Call(string key, IMessage request) =>
            invoker.AsyncUnaryCall(Export, null, new CallOptions(new Metadata { { "authorization", "Bearer " + key } }), request.ToByteArray()).ResponseAsync;

        // Key a's points without tenant.id are a's: 100 of them empty its bucket (burst 2 × 50).
        var untenanted = Points("a", 0, 100);
        untenanted.ResourceMetrics[0].Resource.Attributes.Remove(untenanted.ResourceMetrics[0].Resource.Attributes.Single(kv => kv.Key == "tenant.id"));
        Assert.Null(ExportMetricsServiceResponse.Parser.ParseFrom(await Call(TestKeys.IngestA, untenanted)).PartialSuccess);

        var logged = WalRecords(vigil);
        var error = await Assert.ThrowsAsync<RpcException>(() => Call(TestKeys.IngestA, Points("a", 100, 60)));
        Assert.Equal(StatusCode.ResourceExhausted, error.StatusCode);
        Assert.Equal("tenant \"a\" is over its data-point rate (ingest.tenant_rate_limit = 50/s, burst 100); retry after 2 s", error.Status.Detail);
        var status = Vigil.Otlp.Proto.Rpc.Status.Parser.ParseFrom(error.Trailers.GetValueBytes("grpc-status-details-bin"));
        var retry = RetryInfo.Parser.ParseFrom(Assert.Single(status.Details, d => d.TypeUrl == "type.googleapis.com/google.rpc.RetryInfo").Value);
        Assert.Equal(2, retry.RetryDelay.Seconds); // 60 points at 50/s: 1.2 s, rounded up
        Assert.Equal(logged, WalRecords(vigil));

        // Key b writes on.
        Assert.Null(ExportMetricsServiceResponse.Parser.ParseFrom(await Call(TestKeys.IngestB, Points("b", 0, 100))).PartialSuccess);
        Assert.Equal(100, Stored(vigil, "a"));
        Assert.Equal(100, Stored(vigil, "b"));
    }

    [Fact]
    public async Task RequestsInFlightPastTheLimit_Get429_NamingTheSetting()
    {
        await using var vigil = await VigilServer.StartAsync(o => o with { Ingest = o.Ingest with { MaxRequestsInFlight = 1, RetryAfter = TimeSpan.FromSeconds(3) } }, _clock);
        var gate = vigil.Services.GetRequiredService<Vigil.Collector.Otlp.IngestGate>();
        Assert.Null(gate.TryEnter(10)); // admits a request that stays in flight until Exit
        try
        {
            using var refused = await PostAsync(vigil, Points("a", 0, 1));
            Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
            Assert.Equal(TimeSpan.FromSeconds(3), refused.Headers.RetryAfter?.Delta);
            var status = Vigil.Otlp.Proto.Rpc.Status.Parser.ParseFrom(await refused.Content.ReadAsByteArrayAsync());
            Assert.Equal("Vigil is handling 1 requests already (ingest.max_requests_in_flight); retry later", status.Message);
        }
        finally
        {
            gate.Exit(10);
        }

        using var accepted = await PostAsync(vigil, Points("a", 0, 1));
        Assert.Equal(HttpStatusCode.OK, accepted.StatusCode);
        Assert.Equal(1, Assert.Single(gate.RefusedRequests, r => r.Reason == "inflight_requests").Count);
        Assert.Equal(1, Stored(vigil, "a"));
    }

    /// <summary>Reads one Vigil's observable counters (its own meter factory's "Vigil" meter, not other test servers').</summary>
    private sealed class SelfMetrics : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly Dictionary<(string, string, string), long> _values = [];
        private readonly Lock _lock = new();

        public SelfMetrics(VigilServer vigil)
        {
            var factory = vigil.Services.GetRequiredService<IMeterFactory>();
            _ = vigil.Services.GetRequiredService<VigilMetrics>();
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == VigilMetrics.MeterName && ReferenceEquals(instrument.Meter.Scope, factory))
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
            {
                lock (_lock)
                {
                    foreach (var tag in tags)
                    {
                        _values[(instrument.Name, tag.Key, tag.Value?.ToString() ?? string.Empty)] = value;
                    }
                }
            });
            _listener.Start();
        }

        public long Read(string instrument, (string Key, string Value) tag)
        {
            lock (_lock)
            {
                _values.Clear();
            }

            _listener.RecordObservableInstruments();
            lock (_lock)
            {
                return _values.GetValueOrDefault((instrument, tag.Key, tag.Value));
            }
        }

        public void Dispose() => _listener.Dispose();
    }
}
