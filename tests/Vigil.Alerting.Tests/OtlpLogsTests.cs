using System.Collections.Concurrent;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Vigil.Alerting.Receivers;
using Vigil.Alerting.Tests.Otlp;
using Vigil.Rules;

namespace Vigil.Alerting.Tests;

public sealed class OtlpLogsTests : IDisposable
{
    private readonly HttpClient _http = new();
    private readonly TempDir _dir = new();

    public void Dispose()
    {
        _http.Dispose();
        _dir.Dispose();
    }

    [Fact]
    public async Task HttpProtobuf_SendsOneRecordPerEvent_WithMappedSeverityAndRunbookAttribute()
    {
        await using var server = await LocalHttpServer.StartAsync();
        var time = Transitions.Clock();
        var receiver = new OtlpLogsReceiver(new OtlpLogsOptions { Endpoint = server.BaseAddress.ToString(), Protocol = "http/protobuf" }, _http, time);
        using var outbox = new AlertOutbox(_dir.Path, [new OutboxReceiver(receiver.Name)], time);
        await using var worker = new DeliveryWorker(outbox, receiver, new RetryOptions(), time);
        var firedAt = time.GetUtcNow();
        outbox.OnTransition(Transitions.Firing(firedAt, "AuthDown", Severity.P1));
        outbox.OnTransition(Transitions.Firing(firedAt, "TenantLeak", Severity.P2));
        time.Advance(TimeSpan.FromMinutes(3));
        outbox.OnTransition(Transitions.Resolved(firedAt, time.GetUtcNow(), "AuthDown", Severity.P1));

        var step = await worker.RunOnceAsync(time.GetUtcNow());

        Assert.Equal(3, step.Delivered);
        var request = Assert.Single(server.Requests);
        Assert.Equal("/v1/logs", request.Path);
        Assert.Equal("application/x-protobuf", request.Headers["Content-Type"]);
        var records = Records(ExportLogsServiceRequest.Parser.ParseFrom(request.Body));
        Assert.Equal(3, records.Count);
        Assert.Equal([21, 17, 21], records.Select(r => r.SeverityNumber));
        Assert.Equal(["P1", "P2", "P1"], records.Select(r => r.SeverityText));
        Assert.Equal(["firing", "firing", "resolved"], records.Select(r => Attr(r, "vigil.alert.status")));
        Assert.Equal("https://runbooks.example.com/AuthDown", Attr(records[0], "runbook_url"));
        Assert.Equal("acme", Attr(records[0], "tenant.id"));
        Assert.Equal("AuthDown", Attr(records[0], "alertname"));
        var history = outbox.GetHistory(new AlertHistoryQuery()).Select(h => h.Event).Reverse().ToList();
        Assert.Equal(history.Select(e => e.Fingerprint), records.Select(r => Attr(r, "vigil.alert.fingerprint")));
        Assert.Equal(UnixNanos(firedAt), records[0].TimeUnixNano);
        Assert.Equal(UnixNanos(time.GetUtcNow()), records[2].TimeUnixNano);
        Assert.Equal(0.31, records[0].Attributes.Single(a => a.Key == "vigil.alert.value").Value.DoubleValue);
        Assert.StartsWith("[RESOLVED] AuthDown", records[2].Body.StringValue, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Grpc_ExportsToLogsService_AndAFailingServiceLeavesTheDeliveryPending()
    {
        var service = new CapturingLogsService { FailFirst = 1 };
        await using var server = await LocalHttpServer.StartAsync(http2Only: true, configure: app =>
        {
            app.MapGrpcService<CapturingLogsService>();
        }, services: s => s.AddSingleton(service));
        var time = Transitions.Clock();
        using var receiver = new OtlpLogsReceiver(new OtlpLogsOptions { Endpoint = server.BaseAddress.ToString(), Protocol = "grpc" }, _http, time);
        using var outbox = new AlertOutbox(_dir.Path, [new OutboxReceiver(receiver.Name)], time);
        await using var worker = new DeliveryWorker(outbox, receiver, new RetryOptions(), time);
        outbox.OnTransition(Transitions.Firing(time.GetUtcNow(), "AuthDown", Severity.P3));

        var failed = await worker.RunOnceAsync(time.GetUtcNow());
        time.Advance(TimeSpan.FromMinutes(1));
        var delivered = await worker.RunOnceAsync(time.GetUtcNow());

        Assert.Equal(1, failed.Failed);
        Assert.Contains("Unavailable", failed.LastError, StringComparison.Ordinal);
        Assert.Equal(1, delivered.Delivered);
        var record = Assert.Single(Records(Assert.Single(service.Received)));
        Assert.Equal(13, record.SeverityNumber);
        Assert.Equal("https://runbooks.example.com/AuthDown", Attr(record, "runbook_url"));
    }

    private static List<LogRecord> Records(ExportLogsServiceRequest request) =>
        request.ResourceLogs.SelectMany(r => r.ScopeLogs).SelectMany(s => s.LogRecords).ToList();

    private static string? Attr(LogRecord record, string key) => record.Attributes.FirstOrDefault(a => a.Key == key)?.Value.StringValue;

    private static ulong UnixNanos(DateTimeOffset t) => (ulong)t.ToUnixTimeMilliseconds() * 1_000_000;

    internal sealed class CapturingLogsService : LogsService.LogsServiceBase
    {
        private int _failuresLeft;

        public int FailFirst
        {
            init => _failuresLeft = value;
        }

        public ConcurrentQueue<ExportLogsServiceRequest> Received { get; } = new();

        public override Task<ExportLogsServiceResponse> Export(ExportLogsServiceRequest request, ServerCallContext context)
        {
            if (Interlocked.Decrement(ref _failuresLeft) >= 0)
            {
                throw new RpcException(new Status(StatusCode.Unavailable, "collector restarting"));
            }

            Received.Enqueue(request);
            return Task.FromResult(new ExportLogsServiceResponse());
        }
    }
}
