using System.Net;
using System.Net.Http.Headers;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Vigil.Otlp.Proto.Collector;
using Vigil.Storage.Wal;

namespace Vigil.Collector.Tests;

/// <summary>
/// A point the store cannot take is refused before the WAL and answered as OTLP says; nothing that is
/// logged can fail on replay, so one request can never keep Vigil from starting.
/// </summary>
public sealed class PoisonRequestTests
{
    private static readonly Marshaller<byte[]> Raw = Marshallers.Create(static b => b, static b => b);
    private static readonly Method<byte[], byte[]> Export = new(MethodType.Unary, "opentelemetry.proto.collector.metrics.v1.MetricsService", "Export", Raw, Raw);

    private static async Task<HttpResponseMessage> PostAsync(Uri otlpHttp, IMessage request)
    {
        using var http = new HttpClient { BaseAddress = otlpHttp };
        using var content = new ByteArrayContent(request.ToByteArray());
        content.Headers.ContentType = new MediaTypeHeaderValue("application/x-protobuf");
        return await http.PostAsync("/v1/metrics", content);
    }

    private static WalService WalOf(VigilServer server) => server.Services.GetRequiredService<WalService>();

    [Fact]
    public async Task PoisonPoint_OverHttp_IsRefusedInPartialSuccess_TheRestIsStored_AndACrashCopyStarts()
    {
        var dataDir = VigilServer.NewDataDir();
        string? crashDir = null;
        try
        {
            await using (var first = await VigilServer.StartAsync(dataDir: dataDir))
            {
                using var response = await PostAsync(first.OtlpHttpUri, OtlpRequests.Merge(OtlpRequests.DeltaCounter("auth.requests", 5), OtlpRequests.PoisonExponential()));

                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                var body = ExportMetricsServiceResponse.Parser.ParseFrom(await response.Content.ReadAsByteArrayAsync());
                Assert.Equal(1, body.PartialSuccess.RejectedDataPoints);
                Assert.Contains("positive.offset", body.PartialSuccess.ErrorMessage, StringComparison.Ordinal);
                Assert.Contains("ai.run.duration", body.PartialSuccess.ErrorMessage, StringComparison.Ordinal);
                using var api = new VigilApi(first.HttpUri);
                Assert.Equal(5, await api.ValueAsync("auth.requests", "increase"));
                Assert.Empty(first.Store.ListSeries("ai.run.duration"));

                // What kill -9 right now leaves behind: the request is in the WAL, no checkpoint covers it.
                crashDir = VigilServer.CrashCopy(dataDir);
            }

            await using var restarted = await VigilServer.StartAsync(dataDir: crashDir);
            var recovery = WalOf(restarted).Recovery;
            Assert.NotNull(recovery);
            Assert.Equal(1, recovery.RecordsReplayed);
            Assert.Equal(1, recovery.PointsReplayed);
            using var restartedApi = new VigilApi(restarted.HttpUri);
            Assert.Equal(5, await restartedApi.ValueAsync("auth.requests", "increase"));
        }
        finally
        {
            Directory.Delete(dataDir, recursive: true);
            if (crashDir is not null)
            {
                Directory.Delete(crashDir, recursive: true);
            }
        }
    }

    [Fact]
    public async Task PoisonPoint_OverGrpc_IsRefusedInPartialSuccess_AndTheRestIsStored()
    {
        await using var vigil = await VigilServer.StartAsync();
        using var channel = GrpcChannel.ForAddress(vigil.GrpcUri);
        var request = OtlpRequests.Merge(OtlpRequests.DeltaCounter("auth.requests", 3), OtlpRequests.PoisonExponential()).ToByteArray();

        var response = ExportMetricsServiceResponse.Parser.ParseFrom(await channel.CreateCallInvoker().AsyncUnaryCall(Export, null, default, request));

        Assert.Equal(1, response.PartialSuccess.RejectedDataPoints);
        Assert.Contains("positive.offset", response.PartialSuccess.ErrorMessage, StringComparison.Ordinal);
        using var api = new VigilApi(vigil.HttpUri);
        Assert.Equal(3, await api.ValueAsync("auth.requests", "increase"));
    }

    [Fact]
    public async Task RequestOfOnlyPoison_IsInvalidArgumentNamingTheField_AndNeverLogged()
    {
        await using var vigil = await VigilServer.StartAsync();
        var expected = "resource_metrics[0].scope_metrics[0].metrics[0].exponential_histogram.data_points[0]: positive.offset";

        using var response = await PostAsync(vigil.OtlpHttpUri, OtlpRequests.PoisonExponential());
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var status = Vigil.Otlp.Proto.Rpc.Status.Parser.ParseFrom(await response.Content.ReadAsByteArrayAsync());
        Assert.Equal((int)StatusCode.InvalidArgument, status.Code);
        Assert.Contains(expected, status.Message, StringComparison.Ordinal);

        using var channel = GrpcChannel.ForAddress(vigil.GrpcUri);
        var error = await Assert.ThrowsAsync<RpcException>(() => channel.CreateCallInvoker().AsyncUnaryCall(Export, null, default, OtlpRequests.PoisonExponential().ToByteArray()).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains(expected, error.Status.Detail, StringComparison.Ordinal);

        Assert.Equal(0, WalOf(vigil).Log!.AppendedRecords);
        Assert.Equal(0, vigil.Store.MetricCount);
    }

    [Fact]
    public async Task PoisonRecordLoggedBeforeTheCheck_IsReplayedAtStart_WithoutStoppingVigil()
    {
        // A data directory that an earlier Vigil left behind: the request went into the WAL unchecked.
        var dataDir = VigilServer.NewDataDir();
        try
        {
            var log = new WriteAheadLog(Path.Combine(dataDir, "wal"), new WalOptions(), TimeSpan.FromHours(1), TimeProvider.System, NullLogger.Instance);
            log.Replay(_ => { });
            log.Start();
            await log.AppendAsync(OtlpRequests.Merge(OtlpRequests.DeltaCounter("auth.requests", 4), OtlpRequests.PoisonExponential()).ToByteArray());
            await log.DisposeAsync();

            await using var vigil = await VigilServer.StartAsync(dataDir: dataDir);

            Assert.Equal(1, WalOf(vigil).Recovery!.PointsReplayed);
            using var api = new VigilApi(vigil.HttpUri);
            Assert.Equal(4, await api.ValueAsync("auth.requests", "increase"));
            Assert.Empty(vigil.Store.ListSeries("ai.run.duration"));
        }
        finally
        {
            Directory.Delete(dataDir, recursive: true);
        }
    }
}
