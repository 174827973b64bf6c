using System.Net;
using System.Text.Json;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Vigil.Collector.Configuration;
using Vigil.Otlp.Proto.Rpc;
using Vigil.Storage.Tests.Wal;
using Vigil.Storage.Wal;

namespace Vigil.Collector.Tests;

/// <summary>
/// The WAL failing under a running Vigil: a full disk is answered retryably on both transports and shown
/// on /readyz until space returns; replay skips what it cannot apply instead of refusing to start.
/// </summary>
public sealed class WalFailureTests
{
    private static readonly TimeSpan Answer = TimeSpan.FromSeconds(10);
    private static readonly Marshaller<byte[]> Raw = Marshallers.Create(static b => b, static b => b);
    private static readonly Method<byte[], byte[]> Export = new(MethodType.Unary, "opentelemetry.proto.collector.metrics.v1.MetricsService", "Export", Raw, Raw);

    private static Task<VigilServer> StartAsync(FlakyWalFiles disk, FakeTimeProvider time, string? dataDir = null) =>
        VigilServer.StartAsync(time: time, dataDir: dataDir, host: b => b.Services.AddSingleton<IWalFiles>(disk));

    private static async Task<HttpResponseMessage> PostAsync(HttpClient http, byte[] body)
    {
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new("application/x-protobuf");
        return await http.PostAsync("/v1/metrics", content);
    }

    private static async Task<(HttpStatusCode Status, JsonElement Body)> ReadyzAsync(HttpClient api)
    {
        using var response = await api.GetAsync("/readyz");
        return (response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone());
    }

    [Fact]
    public async Task DiskFull_OtlpIsRefusedRetryably_ReadyzSaysWhy_AndIngestResumesWhenSpaceReturns()
    {
        var dataDir = VigilServer.NewDataDir();
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var disk = new FlakyWalFiles();
        var retryAfter = new IngestOptions().RetryAfter;
        double acknowledged = 0;
        try
        {
            await using (var vigil = await StartAsync(disk, time, dataDir))
            {
                using var http = new HttpClient { BaseAddress = vigil.OtlpHttpUri, Timeout = Answer };
                using var api = new HttpClient { BaseAddress = vigil.HttpUri, Timeout = Answer };
                using var channel = GrpcChannel.ForAddress(vigil.GrpcUri);
                var wal = vigil.Services.GetRequiredService<WalService>();

                using (var ok = await PostAsync(http, OtlpRequests.DeltaCounterAt("disk.points", time.GetUtcNow(), "acme", ("n", "1", 3)).ToByteArray()))
                {
                    Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
                    acknowledged += 3;
                }

                disk.Fill();

                // The defect: the third request on never answered, even an empty body. Now every one is a 503 with Retry-After.
                for (var i = 0; i < 6; i++)
                {
                    byte[] body = i == 3 ? [] : OtlpRequests.DeltaCounterAt("disk.points", time.GetUtcNow(), "acme", ("n", "r" + i, 5)).ToByteArray();
                    using var refused = await PostAsync(http, body);
                    Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
                    Assert.Equal(retryAfter, refused.Headers.RetryAfter?.Delta);
                    var status = Vigil.Otlp.Proto.Rpc.Status.Parser.ParseFrom(await refused.Content.ReadAsByteArrayAsync());
                    Assert.Equal((int)StatusCode.Unavailable, status.Code);
                    Assert.Contains("No space left on device", status.Message);
                }

                var error = await Assert.ThrowsAsync<RpcException>(() => channel.CreateCallInvoker()
                    .AsyncUnaryCall(Export, null, new CallOptions(deadline: DateTime.UtcNow + Answer), OtlpRequests.DeltaCounterAt("disk.points", time.GetUtcNow(), "acme", ("n", "grpc", 7)).ToByteArray()).ResponseAsync);
                Assert.Equal(StatusCode.Unavailable, error.StatusCode);
                var details = Vigil.Otlp.Proto.Rpc.Status.Parser.ParseFrom(error.Trailers.GetValueBytes("grpc-status-details-bin"));
                var retry = RetryInfo.Parser.ParseFrom(Assert.Single(details.Details, d => d.TypeUrl == "type.googleapis.com/google.rpc.RetryInfo").Value);
                Assert.Equal((long)retryAfter.TotalSeconds, retry.RetryDelay.Seconds);

                var (notReady, why) = await ReadyzAsync(api);
                Assert.Equal(HttpStatusCode.ServiceUnavailable, notReady);
                Assert.Equal("unavailable", why.GetProperty("status").GetString());
                Assert.False(why.GetProperty("parts").GetProperty(WalService.ReadinessPart).GetBoolean());
                Assert.Contains("No space left on device", why.GetProperty("reasons").GetProperty(WalService.ReadinessPart).GetString());

                // Space returns: the next probe finds it, /readyz turns ready and requests are accepted, without a restart.
                var available = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                wal.Log!.AvailabilityChanged += () =>
                {
                    if (wal.Log.Unavailable is null)
                    {
                        available.TrySetResult();
                    }
                };
                disk.Heal();
                time.Advance(new WalOptions().RetryInterval);
                await available.Task.WaitAsync(Answer);

                var (ready, body2) = await ReadyzAsync(api);
                Assert.Equal(HttpStatusCode.OK, ready);
                Assert.Equal("ready", body2.GetProperty("status").GetString());
                Assert.Empty(body2.GetProperty("reasons").EnumerateObject());
                using (var ok = await PostAsync(http, OtlpRequests.DeltaCounterAt("disk.points", time.GetUtcNow(), "acme", ("n", "2", 4)).ToByteArray()))
                {
                    Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
                    acknowledged += 4;
                }

                using var query = new VigilApi(vigil.HttpUri);
                Assert.Equal(acknowledged, await query.ValueAsync("disk.points", "increase"));
            }

            // Everything acknowledged, and nothing refused, comes back after a restart.
            await using var restarted = await VigilServer.StartAsync(time: time, dataDir: dataDir);
            Assert.Equal(0, restarted.Services.GetRequiredService<WalService>().Recovery!.Replay.SkippedRecords);
            using var restartedApi = new VigilApi(restarted.HttpUri);
            Assert.Equal(acknowledged, await restartedApi.ValueAsync("disk.points", "increase"));
        }
        finally
        {
            Directory.Delete(dataDir, recursive: true);
        }
    }

    [Fact]
    public async Task DiskFull_ShutdownCompletes()
    {
        var disk = new FlakyWalFiles();
        var vigil = await StartAsync(disk, new FakeTimeProvider(DateTimeOffset.UtcNow));
        using (var http = new HttpClient { BaseAddress = vigil.OtlpHttpUri, Timeout = Answer })
        {
            disk.Fill();
            for (var i = 0; i < 3; i++)
            {
                using var refused = await PostAsync(http, OtlpRequests.DeltaCounter("disk.points", 1).ToByteArray());
                Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
            }
        }

        // The defect: SIGTERM did not stop the process (the shutdown checkpoint waited on a dead writer).
        await vigil.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task ReplayedRecordThatCannotBeApplied_IsSkipped_AndStartUpCompletes()
    {
        var dataDir = VigilServer.NewDataDir();
        try
        {
            // A WAL as a damaged disk could leave it: intact checksums around a request that is not OTLP.
            var log = new WriteAheadLog(Path.Combine(dataDir, "wal"), new WalOptions(), TimeSpan.FromHours(1), TimeProvider.System, NullLogger.Instance);
            log.Replay(_ => { });
            log.Start();
            await log.AppendAsync(OtlpRequests.DeltaCounter("replayed", 5).ToByteArray());
            await log.AppendAsync(new byte[] { 0x0A, 0xFF, 0xFF, 0x01, 0x02 });
            await log.AppendAsync(OtlpRequests.DeltaCounter("replayed", 6, tenant: "other").ToByteArray());
            await log.DisposeAsync();

            await using var vigil = await VigilServer.StartAsync(dataDir: dataDir);
            var recovery = vigil.Services.GetRequiredService<WalService>().Recovery!;
            Assert.Equal(3, recovery.RecordsReplayed + recovery.Replay.UnappliedRecords);
            using var api = new VigilApi(vigil.HttpUri);
            Assert.Equal(11, await api.ValueAsync("replayed", "increase"));
        }
        finally
        {
            Directory.Delete(dataDir, recursive: true);
        }
    }

    [Fact]
    public void RetryInterval_IsConfigurable_AndMustBePositive()
    {
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, "wal:\n  retry_interval: 5s\n");
            Assert.Equal(TimeSpan.FromSeconds(5), ConfigLoader.Load(file, []).Wal.RetryInterval);
            Assert.Equal(new WalOptions().RetryInterval, ConfigLoader.Load(null, []).Wal.RetryInterval);

            File.WriteAllText(file, "wal:\n  retry_interval: 0s\n");
            var error = Assert.Throws<ConfigException>(() => ConfigLoader.Load(file, []));
            Assert.Contains("wal.retry_interval", error.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }
}
