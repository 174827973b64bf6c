using System.Collections.Concurrent;
using System.Net;
using System.Threading.Channels;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Vigil.Rules;
using Vigil.Rules.Api;
using Vigil.Storage;

namespace Vigil.RemoteWrite.Tests;

/// <summary>The queue against a scripted receiver (an HttpMessageHandler) on a fake clock: what it sends, when it retries, where it resumes.</summary>
public sealed class RemoteWriteQueueTests : IDisposable
{
    // A 10 s bucket boundary near now.
    private static readonly DateTimeOffset T0 = DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds() / 60 * 60);

    private readonly string _dir = Path.Combine(Path.GetTempPath(), "vigil-rw-" + Guid.NewGuid().ToString("N"));
    private readonly FakeTimeProvider _time = new(T0);

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }

    [Fact]
    public async Task SeriesCounters_GoAsRunningTotals_OncePerBucket_AndARestartResumesFromTheCursor()
    {
        var store = new WindowStore(new WindowStoreOptions(), _time);
        var labels = new Dictionary<string, string> { ["tenant.id"] = "acme", ["auth.outcome"] = "failure" };
        store.AddNumber("auth.requests", MetricKind.Counter, false, labels, T0, T0.AddSeconds(1), 3);
        store.AddNumber("auth.requests", MetricKind.Counter, false, labels, T0.AddSeconds(10), T0.AddSeconds(11), 5);
        store.AddNumber("queue.depth", MetricKind.Gauge, false, labels, default, T0.AddSeconds(12), 42);
        _time.SetUtcNow(T0.AddSeconds(20));
        var receiver = new Receiver(_time);
        var options = Series();

        await using (var service = Start(options, store, receiver))
        {
            var first = await receiver.NextAsync();
            var second = await receiver.NextAsync();
            // Bucket [T0, T0+10s) is stamped at its end; the counter's total grows by each bucket's delta.
            Assert.Equal([("auth_requests_total", Ms(T0.AddSeconds(10)), 3.0)], Flat(first));
            Assert.Equal([("auth_requests_total", Ms(T0.AddSeconds(20)), 8.0), ("queue_depth", Ms(T0.AddSeconds(20)), 42.0)], Flat(second).OrderBy(s => s.Name).ToList());
            Assert.Equal("acme", first.Samples[0].Label("tenant_id"));
            Assert.Equal("failure", first.Samples[0].Label("auth_outcome"));
            Assert.Equal("snappy", first.Encoding);
            Assert.Equal("0.1.0", first.Version);
            Assert.Equal("application/x-protobuf", first.ContentType);
            Assert.Equal("Bearer s3cret-token", first.Authorization);
            await WaitAsync(() => service.Status()[0].SamplesSent == 3);
        }

        // While Vigil is stopped, one more bucket fills; the next start sends only it, continuing the total.
        store.AddNumber("auth.requests", MetricKind.Counter, false, labels, T0.AddSeconds(20), T0.AddSeconds(21), 4);
        _time.SetUtcNow(T0.AddSeconds(30));
        await using (Start(options, store, receiver))
        {
            var resumed = await receiver.NextAsync();
            Assert.Equal([("auth_requests_total", Ms(T0.AddSeconds(30)), 12.0)], Flat(resumed));
        }
    }

    [Fact]
    public async Task Status503_IsRetriedAfterRetryAfter_AndDeliveredOnce()
    {
        var store = new WindowStore(new WindowStoreOptions(), _time);
        var receiver = new Receiver(_time);
        receiver.Script(HttpStatusCode.ServiceUnavailable, retryAfterSeconds: 7);
        receiver.Script(HttpStatusCode.TooManyRequests, retryAfterSeconds: 3);
        await using var service = Start(Aggregates(), store, receiver);

        service.OnEvaluated(Evaluation(T0, 0.25));
        var refused = await receiver.NextAsync();
        var throttled = await AdvanceUntilNextAsync(receiver);
        var delivered = await AdvanceUntilNextAsync(receiver);

        Assert.Equal(TimeSpan.FromSeconds(7), throttled.At - refused.At);
        Assert.Equal(TimeSpan.FromSeconds(3), delivered.At - throttled.At);
        Assert.Equal(Flat(refused), Flat(delivered));
        await WaitAsync(() => service.Status()[0].SamplesSent > 0);
        var status = service.Status()[0];
        var samples = delivered.Samples.Count;
        Assert.Equal(samples, status.SamplesSent);
        Assert.Equal(2 * samples, status.SamplesRetried);
        Assert.Equal(0, status.SamplesFailed);
        Assert.Null(status.FailingSince);
    }

    [Fact]
    public async Task Status400_DropsTheRequest_CountsItFailed_AndTheQueueMovesOn()
    {
        var store = new WindowStore(new WindowStoreOptions(), _time);
        var receiver = new Receiver(_time);
        receiver.Script(HttpStatusCode.BadRequest);
        await using var service = Start(Aggregates(), store, receiver);

        service.OnEvaluated(Evaluation(T0, 0.25));
        var refused = await receiver.NextAsync();
        await WaitAsync(() => service.Status()[0].SamplesFailed > 0);
        _time.Advance(TimeSpan.FromSeconds(30));
        service.OnEvaluated(Evaluation(T0.AddSeconds(30), 0.5));
        var next = await receiver.NextAsync();

        Assert.Contains(("vigil_cost_per_run", Ms(T0), 0.25), Flat(refused));
        Assert.Contains(("vigil_cost_per_run", Ms(T0.AddSeconds(30)), 0.5), Flat(next));
        Assert.DoesNotContain(Flat(next), s => s.Timestamp == Ms(T0));
        var status = service.Status()[0];
        Assert.Equal(refused.Samples.Count, status.SamplesFailed);
        Assert.Equal(0, status.SamplesRetried);
        Assert.Contains("HTTP 400", status.LastError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Aggregates_CarryRecordedValues_Alerts_AndAlertsForState()
    {
        var store = new WindowStore(new WindowStoreOptions(), _time);
        var receiver = new Receiver(_time);
        await using var service = Start(Aggregates(), store, receiver);

        service.OnEvaluated(Evaluation(T0, 0.25));
        var request = await receiver.NextAsync();

        var alert = Assert.Single(request.Samples, s => s.Name == "ALERTS");
        Assert.Equal(("firing", "CostHigh", "acme", 1.0), (alert.Label("alertstate"), alert.Label("alertname"), alert.Label("tenant_id"), alert.Value));
        var forState = Assert.Single(request.Samples, s => s.Name == "ALERTS_FOR_STATE");
        Assert.Equal(T0.AddMinutes(-2).ToUnixTimeSeconds(), forState.Value);
        Assert.Null(forState.Label("alertstate"));
        var recorded = Assert.Single(request.Samples, s => s.Name == "vigil_cost_per_run");
        Assert.Equal((0.25, Ms(T0), "acme"), (recorded.Value, recorded.TimestampMs, recorded.Label("tenant_id")));
    }

    private RemoteWriteService Start(RemoteWriteOptions options, WindowStore store, Receiver receiver)
    {
        var service = new RemoteWriteService([options], _dir, store, _time, NullLoggerFactory.Instance, _ => receiver);
        service.StartAsync().GetAwaiter().GetResult();
        return service;
    }

    private static RemoteWriteOptions Series() => new()
    {
        Url = "http://127.0.0.1:1/api/v1/write",
        BearerToken = "s3cret-token",
        Send = [RemoteWriteOptions.Series],
        SeriesDelay = TimeSpan.Zero,
        Queue = new RemoteWriteQueueOptions { MaxAge = TimeSpan.FromSeconds(30) },
    };

    private static RemoteWriteOptions Aggregates() => new()
    {
        Url = "http://127.0.0.1:1/api/v1/write",
        Send = [RemoteWriteOptions.Aggregates],
        Queue = new RemoteWriteQueueOptions { MinBackoff = TimeSpan.FromSeconds(1) },
    };

    private static GroupEvaluation Evaluation(DateTimeOffset at, double value)
    {
        var labels = new Dictionary<string, string> { ["tenant.id"] = "acme" };
        var alertLabels = new Dictionary<string, string> { ["alertname"] = "CostHigh", ["severity"] = "P2", ["tenant.id"] = "acme" };
        ActiveAlert alert = new("ai", "CostHigh", alertLabels, new Dictionary<string, string>(), AlertState.Firing, T0.AddMinutes(-2), null, 0.3, 4, Severity.P2,
            "https://runbooks/x", "> 0.2", TimeSpan.FromMinutes(5));
        return new GroupEvaluation("ai", at, [new RecordedSample("vigil.cost_per_run", labels, value, 4, at)], [alert.ToApi()]) { Active = [alert] };
    }

    private static long Ms(DateTimeOffset time) => time.ToUnixTimeMilliseconds();

    private static List<(string Name, long Timestamp, double Value)> Flat(Request request) =>
        [.. request.Samples.Select(s => (s.Name, s.TimestampMs, s.Value))];

    /// <summary>Moves the fake clock a second at a time until the queue's next request arrives (its retry timer fired).</summary>
    private async Task<Request> AdvanceUntilNextAsync(Receiver receiver)
    {
        for (var i = 0; i < 120; i++)
        {
            var next = receiver.TryNext();
            if (next is not null)
            {
                return next;
            }

            // Give the queue the moment it needs to arm its timer before the clock moves past it.
            if (await receiver.WaitAsync(TimeSpan.FromMilliseconds(100)))
            {
                continue;
            }

            _time.Advance(TimeSpan.FromSeconds(1));
        }

        throw new TimeoutException("the queue sent nothing in 120 fake seconds");
    }

    private static async Task WaitAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not met within 10s");
            await Task.Delay(10);
        }
    }

    public sealed record Request(DateTimeOffset At, List<DecodedSample> Samples, string? Encoding, string? Version, string? ContentType, string? Authorization);

    /// <summary>Answers each request with the next scripted status (204 when the script is empty) and records it with the fake time.</summary>
    private sealed class Receiver(TimeProvider time) : HttpMessageHandler
    {
        private readonly ConcurrentQueue<(HttpStatusCode Status, int? RetryAfter)> _script = new();
        private readonly Channel<Request> _requests = Channel.CreateUnbounded<Request>();

        public void Script(HttpStatusCode status, int? retryAfterSeconds = null) => _script.Enqueue((status, retryAfterSeconds));

        public async Task<Request> NextAsync() => await _requests.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));

        public Request? TryNext() => _requests.Reader.TryRead(out var request) ? request : null;

        public async Task<bool> WaitAsync(TimeSpan timeout)
        {
            using var cts = new CancellationTokenSource(timeout);
            try
            {
                return await _requests.Reader.WaitToReadAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                return false;
            }
        }

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var body = await request.Content!.ReadAsByteArrayAsync(cancellationToken);
            _requests.Writer.TryWrite(new Request(
                time.GetUtcNow(),
                WriteRequestDecoder.Decode(body),
                request.Content.Headers.ContentEncoding.FirstOrDefault(),
                request.Headers.TryGetValues("X-Prometheus-Remote-Write-Version", out var v) ? v.First() : null,
                request.Content.Headers.ContentType?.MediaType,
                request.Headers.Authorization?.ToString()));
            var (status, retryAfter) = _script.TryDequeue(out var next) ? next : (HttpStatusCode.NoContent, null);
            var response = new HttpResponseMessage(status) { Content = new StringContent(status == HttpStatusCode.NoContent ? string.Empty : "scripted " + (int)status) };
            if (retryAfter is { } seconds)
            {
                response.Headers.RetryAfter = new System.Net.Http.Headers.RetryConditionHeaderValue(TimeSpan.FromSeconds(seconds));
            }

            return response;
        }
    }
}
