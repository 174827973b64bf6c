using System.Net;
using System.Net.Http.Headers;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Vigil.Otlp.Proto.Collector;
using Vigil.Otlp.Proto.Common;
using Vigil.Otlp.Proto.Metrics;
using Vigil.Otlp.Proto.Resource;

namespace Vigil.Collector.Tests;

/// <summary>
/// Ingest keys bound to tenants, over both OTLP transports: no key or an unknown one is 401 /
/// UNAUTHENTICATED with nothing stored or logged; a key for tenant a cannot write tenant b
/// (partial_success tenant_mismatch, no series); points without tenant.id get the key's tenant; an
/// admin key writes any tenant; the key itself never shows in an answer, a log or /metrics.
/// </summary>
public sealed class IngestKeyTests
{
    private static readonly Marshaller<byte[]> Raw = Marshallers.Create(static b => b, static b => b);
    private static readonly Method<byte[], byte[]> Export = new(MethodType.Unary, "opentelemetry.proto.collector.metrics.v1.MetricsService", "Export", Raw, Raw);

    private static async Task<HttpResponseMessage> PostAsync(VigilServer vigil, IMessage request, string? bearer = null, string? apiKey = null)
    {
        using var http = new HttpClient { BaseAddress = vigil.OtlpHttpUri };
        using var message = new HttpRequestMessage(HttpMethod.Post, "/v1/metrics") { Content = new ByteArrayContent(request.ToByteArray()) };
        message.Content.Headers.ContentType = new MediaTypeHeaderValue("application/x-protobuf");
        if (bearer is not null)
        {
            message.Headers.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        }

        if (apiKey is not null)
        {
            message.Headers.Add("api-key", apiKey);
        }

        return await http.SendAsync(message);
    }

    private static async Task<ExportMetricsServiceResponse> GrpcAsync(VigilServer vigil, IMessage request, Metadata? headers = null)
    {
        using var channel = GrpcChannel.ForAddress(vigil.GrpcUri);
        var response = await channel.CreateCallInvoker().AsyncUnaryCall(Export, null, new CallOptions(headers), request.ToByteArray());
        return ExportMetricsServiceResponse.Parser.ParseFrom(response);
    }

    private static ExportMetricsServiceRequest Untenanted(string metric, long value)
    {
        var request = OtlpRequests.DeltaCounter(metric, value);
        var resource = request.ResourceMetrics[0].Resource;
        resource.Attributes.Remove(resource.Attributes.Single(a => a.Key == "tenant.id"));
        return request;
    }

    private static ExportMetricsServiceRequest PointClaiming(string metric, string tenant)
    {
        var request = Untenanted(metric, 1);
        request.ResourceMetrics[0].ScopeMetrics[0].Metrics[0].Sum.DataPoints[0].Attributes.Add(new KeyValue { Key = "tenant.id", Value = new AnyValue { StringValue = tenant } });
        return request;
    }

    private static long WalRecords(VigilServer vigil) => vigil.Services.GetRequiredService<WalService>().Log!.AppendedRecords;

    [Fact]
    public async Task KeyForA_CannotWriteB_OverHttp_PartialSuccessTenantMismatch_AndNoSeriesOfB()
    {
        await using var vigil = await VigilServer.StartAsync(TestKeys.WithIngestKeys);

        using var response = await PostAsync(vigil, OtlpRequests.Merge(OtlpRequests.DeltaCounter("auth.requests", 5, tenant: "b"), PointClaiming("auth.requests", "b"), OtlpRequests.DeltaCounter("auth.requests", 2, tenant: "a")), bearer: TestKeys.IngestA);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var answer = ExportMetricsServiceResponse.Parser.ParseFrom(await response.Content.ReadAsByteArrayAsync());
        Assert.Equal(2, answer.PartialSuccess.RejectedDataPoints);
        Assert.Contains("tenant_mismatch: point claims tenant.id=\"b\" but the key is for \"a\"", answer.PartialSuccess.ErrorMessage);
        Assert.DoesNotContain(TestKeys.IngestA, answer.PartialSuccess.ErrorMessage);
        var series = vigil.Store.ListSeries("auth.requests");
        Assert.Equal(["a"], series.Select(s => s.Labels["tenant.id"]));
        Assert.Equal(0, vigil.Store.TenantSeriesCount("b"));

        using var api = new VigilApi(vigil.HttpUri);
        var metrics = await (await api.GetAsync("/metrics")).Content.ReadAsStringAsync();
        Assert.Contains("vigil_ingest_points_tenant_mismatch_total{tenant_id=\"a\"} 2", metrics);
        Assert.Contains("vigil_ingest_points_refused_total{reason=\"tenant_mismatch\"} 2", metrics);
    }

    [Fact]
    public async Task KeyForA_CannotWriteB_OverGrpc()
    {
        await using var vigil = await VigilServer.StartAsync(TestKeys.WithIngestKeys);

        var answer = await GrpcAsync(vigil, OtlpRequests.DeltaCounter("auth.requests", 5, tenant: "b"), new Metadata { { "authorization", "Bearer " + TestKeys.IngestA } });

        Assert.Equal(1, answer.PartialSuccess.RejectedDataPoints);
        Assert.Contains("tenant_mismatch: point claims tenant.id=\"b\" but the key is for \"a\"", answer.PartialSuccess.ErrorMessage);
        Assert.Empty(vigil.Store.ListSeries("auth.requests"));
    }

    [Fact]
    public async Task NoKeyOrUnknownKey_Is401OverHttp_WithNothingStoredOrLogged_AndTheKeyNotEchoed()
    {
        await using var vigil = await VigilServer.StartAsync(TestKeys.WithIngestKeys);
        var walBefore = WalRecords(vigil);
        const string guess = "vigil_not-a-configured-key-0000000000000000000";

        foreach (var (bearer, apiKey, expected) in new[] { ((string?)null, (string?)null, "needs an ingest key"), (guess, null, "not one of auth.ingest_keys"), (null, guess, "not one of auth.ingest_keys") })
        {
            using var response = await PostAsync(vigil, OtlpRequests.DeltaCounter("refused.requests", 1, tenant: "a"), bearer, apiKey);

            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            Assert.Equal("Bearer", response.Headers.WwwAuthenticate.Single().Scheme);
            var status = Vigil.Otlp.Proto.Rpc.Status.Parser.ParseFrom(await response.Content.ReadAsByteArrayAsync());
            Assert.Equal((int)StatusCode.Unauthenticated, status.Code);
            Assert.Contains(expected, status.Message);
            Assert.DoesNotContain(guess, status.Message);
        }

        Assert.Empty(vigil.Store.ListSeries("refused.requests"));
        Assert.Equal(walBefore, WalRecords(vigil));
    }

    [Fact]
    public async Task NoKeyOrUnknownKey_IsUnauthenticatedOverGrpc_WithNothingStoredOrLogged()
    {
        await using var vigil = await VigilServer.StartAsync(TestKeys.WithIngestKeys);
        var walBefore = WalRecords(vigil);

        foreach (var headers in new[] { new Metadata(), new Metadata { { "authorization", "Bearer vigil_unknown" } }, new Metadata { { "api-key", "vigil_unknown" } } })
        {
            var error = await Assert.ThrowsAsync<RpcException>(() => GrpcAsync(vigil, OtlpRequests.DeltaCounter("refused.requests", 1, tenant: "a"), headers));
            Assert.Equal(StatusCode.Unauthenticated, error.StatusCode);
            Assert.DoesNotContain("vigil_unknown", error.Status.Detail);
        }

        Assert.Empty(vigil.Store.ListSeries("refused.requests"));
        Assert.Equal(walBefore, WalRecords(vigil));
    }

    [Fact]
    public async Task PointWithoutTenant_GetsTheKeysTenant_ApiKeyHeaderOverHttpAndGrpc()
    {
        await using var vigil = await VigilServer.StartAsync(TestKeys.WithIngestKeys);

        using var response = await PostAsync(vigil, Untenanted("http.requests", 3), apiKey: TestKeys.IngestB);
        var answer = await GrpcAsync(vigil, Untenanted("grpc.requests", 4), new Metadata { { "api-key", TestKeys.IngestA } });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Null(answer.PartialSuccess);
        Assert.Equal("b", Assert.Single(vigil.Store.ListSeries("http.requests")).Labels["tenant.id"]);
        Assert.Equal("a", Assert.Single(vigil.Store.ListSeries("grpc.requests")).Labels["tenant.id"]);
    }

    [Fact]
    public async Task AdminKey_WritesAnyTenant()
    {
        await using var vigil = await VigilServer.StartAsync(TestKeys.WithIngestKeys);

        var answer = await GrpcAsync(
            vigil,
            OtlpRequests.Merge(OtlpRequests.DeltaCounter("auth.requests", 1, tenant: "a"), OtlpRequests.DeltaCounter("auth.requests", 1, tenant: "b"), PointClaiming("auth.requests", "c")),
            new Metadata { { "authorization", "Bearer " + TestKeys.IngestAdmin } });

        Assert.Null(answer.PartialSuccess);
        Assert.Equal(["a", "b", "c"], vigil.Store.ListSeries("auth.requests").Select(s => s.Labels["tenant.id"]).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Keys_NeverAppearInLogsOrMetrics()
    {
        var logs = new CapturingLoggerProvider();
        await using (var vigil = await VigilServer.StartAsync(TestKeys.WithIngestKeys, host: b => b.Logging.AddProvider(logs).SetMinimumLevel(LogLevel.Trace)))
        {
            using (await PostAsync(vigil, OtlpRequests.DeltaCounter("auth.requests", 1, tenant: "a"), bearer: TestKeys.IngestA))
            using (await PostAsync(vigil, OtlpRequests.DeltaCounter("auth.requests", 1, tenant: "b"), bearer: TestKeys.IngestA))
            using (await PostAsync(vigil, OtlpRequests.DeltaCounter("auth.requests", 1, tenant: "a"), bearer: TestKeys.IngestA + "x"))
            {
            }

            using var api = new VigilApi(vigil.HttpUri);
            var metrics = await (await api.GetAsync("/metrics")).Content.ReadAsStringAsync();
            Assert.Contains("vigil_ingest_points_accepted_total", metrics);
            Assert.DoesNotContain("vigil_test", metrics);
        }

        Assert.NotEmpty(logs.Messages);
        Assert.DoesNotContain(logs.Messages, m => m.Contains("vigil_test", StringComparison.Ordinal));
    }

    [Fact]
    public async Task WithoutKeys_IngestStaysOpen()
    {
        await using var vigil = await VigilServer.StartAsync();

        using var response = await PostAsync(vigil, OtlpRequests.DeltaCounter("open.requests", 1, tenant: "anyone"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("anyone", Assert.Single(vigil.Store.ListSeries("open.requests")).Labels["tenant.id"]);
    }

    [Fact]
    public async Task KeyBinding_IsReplayedFromTheWalAfterKill9()
    {
        // Stamped and refused points must come back exactly so: the binding is logged with the request.
        var dataDir = VigilServer.NewDataDir();
        var config = Path.Combine(dataDir + "-config", "vigil.yaml");
        Directory.CreateDirectory(Path.GetDirectoryName(config)!);
        await File.WriteAllTextAsync(config, $$"""
            auth:
              ingest_keys:
                - {tenant: a, key_sha256: {{TestKeys.Key("a", TestKeys.IngestA).KeySha256}}}
            """);
        try
        {
            using (var child = await ChildCollector.StartAsync(dataDir, "--config", config))
            {
                using var http = new HttpClient { BaseAddress = child.OtlpHttpUri };
                http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", TestKeys.IngestA);
                using var content = new ByteArrayContent(OtlpRequests.Merge(Untenanted("crash.points", 3), OtlpRequests.DeltaCounter("crash.points", 5, tenant: "b")).ToByteArray());
                content.Headers.ContentType = new MediaTypeHeaderValue("application/x-protobuf");
                using var response = await http.PostAsync("/v1/metrics", content);
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                await child.KillAsync();
            }

            await using var restarted = await VigilServer.StartAsync(TestKeys.WithIngestKeys, dataDir: dataDir);
            var series = Assert.Single(restarted.Store.ListSeries("crash.points"));
            Assert.Equal("a", series.Labels["tenant.id"]);
            using var api = new VigilApi(restarted.HttpUri);
            Assert.Equal(3, await api.ValueAsync("crash.points", "increase", "10m"));
        }
        finally
        {
            Directory.Delete(dataDir, recursive: true);
            Directory.Delete(Path.GetDirectoryName(config)!, recursive: true);
        }
    }
}
