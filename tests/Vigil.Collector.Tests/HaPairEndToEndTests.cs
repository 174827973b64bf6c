using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using Google.Protobuf;
using Vigil.Otlp.Proto.Collector;
using Vigil.Otlp.Proto.Metrics;

namespace Vigil.Collector.Tests;

/// <summary>
/// An HA pair for real: two vigil processes with the same rules and the same data, both posting to both members of a
/// two-Alertmanager cluster (--cluster.listen-address / --cluster.peer on 127.0.0.1), a webhook receiver behind the
/// cluster, and each Vigil's own signed webhook to a second receiver. 1 s evaluations and resends keep it to seconds.
/// </summary>
public sealed class HaPairEndToEndTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "vigil-ha-" + Guid.NewGuid().ToString("N"));

    public HaPairEndToEndTests()
    {
        Directory.CreateDirectory(Path.Combine(_dir, "rules"));
        File.WriteAllText(Path.Combine(_dir, "rules", "ha.yaml"), """
            group: ha
            interval: 1s
            rules:
              - alert: QueueDeep
                severity: P1
                runbook_url: https://runbooks.vigil.example/queue/deep
                last: queue.depth
                by: [tenant.id]
                window: 10s
                threshold: "> 10"
            """);
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
            // A child process may still be closing a file; the OS cleans the temp directory.
        }
    }

    [Fact]
    public async Task OneAlertOnBothVigils_IsOneNotification_SurvivesOneVigilDying_AndResolvesOnce()
    {
        using var amHook = new HookReceiver();
        using var vigilHook = new HookReceiver();
        await using var cluster = await AlertmanagerCluster.StartAsync(amHook.Url);
        var a = await StartVigilAsync("a", cluster, vigilHook.Url);
        using var b = await StartVigilAsync("b", cluster, vigilHook.Url);
        try
        {
            // The same data to both, stamped in a bucket no evaluation has reached yet, so both see it at one instant.
            // Both must be past their start-up first: a just-started process can stall past a 1 s grid instant and
            // evaluate at the next one, a second later than its twin.
            await WarmAsync(a);
            await WarmAsync(b);
            await PostBothAsync(a, b, Gauge(NextSecond(), 50));
            var firing = await amHook.WaitForAsync(n => n.Status == "firing");
            Assert.Equal("QueueDeep", firing.Alerts.Single().GetProperty("labels").GetProperty("alertname").GetString());

            // Both Vigils sent the alert to both Alertmanagers with the same labels and startsAt.
            var twins = await vigilHook.WaitForCountAsync(n => n.Status == "firing", 2);
            var (first, second) = (twins[0].Alerts.Single(), twins[1].Alerts.Single());
            Assert.NotEqual(twins[0].Receiver, twins[1].Receiver);
            Assert.Equal(first.GetProperty("labels").GetRawText(), second.GetProperty("labels").GetRawText());
            Assert.Equal(first.GetProperty("startsAt").GetString(), second.GetProperty("startsAt").GetString());
            Assert.Equal(first.GetProperty("vigil").GetProperty("dedupKey").GetString(), second.GetProperty("vigil").GetProperty("dedupKey").GetString());
            Assert.NotEqual(first.GetProperty("vigil").GetProperty("id").GetString(), second.GetProperty("vigil").GetProperty("id").GetString());

            // Vigil a dies. Its last send ends the alert 4 s later (4 × the 1 s resend); b's resends keep extending it.
            await a.KillAsync();
            var killedAt = DateTimeOffset.UtcNow;
            foreach (var member in cluster.Members)
            {
                await member.WaitForAlertAsync("QueueDeep", alert => alert.GetProperty("status").GetProperty("state").GetString() == "active"
                    && DateTimeOffset.Parse(alert.GetProperty("endsAt").GetString()!, System.Globalization.CultureInfo.InvariantCulture) > killedAt.AddSeconds(6));
            }

            // a comes back from its data directory (alert state restored, re-sent), then the queue drains on both.
            a.Dispose();
            a = await StartVigilAsync("a", cluster, vigilHook.Url);
            await WarmAsync(a);
            await PostBothAsync(a, b, Gauge(NextSecond(), 0));
            var resolved = await amHook.WaitForAsync(n => n.Status == "resolved");
            Assert.Equal("QueueDeep", resolved.Alerts.Single().GetProperty("labels").GetProperty("alertname").GetString());
            var resolvedTwins = await vigilHook.WaitForCountAsync(n => n.Status == "resolved", 2);
            Assert.Equal(
                resolvedTwins[0].Alerts.Single().GetProperty("vigil").GetProperty("dedupKey").GetString(),
                resolvedTwins[1].Alerts.Single().GetProperty("vigil").GetProperty("dedupKey").GetString());
            Assert.NotEqual(first.GetProperty("vigil").GetProperty("dedupKey").GetString(), resolvedTwins[0].Alerts.Single().GetProperty("vigil").GetProperty("dedupKey").GetString());

            // Exactly one firing and one resolved notification came through the cluster. The second member would send a
            // duplicate within its peer timeout (1 s) after the first; watching for three seconds shows none came.
            await amHook.ExpectNoMoreAsync(TimeSpan.FromSeconds(3));
            Assert.Equal(["firing", "resolved"], amHook.Notifications.Select(n => n.Status));
        }
        finally
        {
            a.Dispose();
        }
    }

    private async Task<ChildCollector> StartVigilAsync(string name, AlertmanagerCluster cluster, string hook)
    {
        var config = Path.Combine(_dir, $"vigil-{name}.yaml");
        var alertmanagers = string.Join("", cluster.Members.Select(m => $"    - url: {m.BaseAddress}\n"));
        await File.WriteAllTextAsync(config, $"""
            storage:
              resolution: 1s
              retention: 10m
            alerting:
              external_url: http://vigil.example
              resend_interval: 1s
              evaluation_interval: 1s
              retry: {"{"} initial_backoff: 100ms, max_backoff: 1s {"}"}
              alertmanagers:
            {alertmanagers}  webhooks:
                - {"{"} name: vigil-{name}, url: "{hook}", secret: a-secret-of-sixteen-chars {"}"}
            """);
        return await ChildCollector.StartAsync(Path.Combine(_dir, "data-" + name), "--config", config, "--rules", Path.Combine(_dir, "rules"));
    }

    /// <summary>Waits until the Vigil's rule group has evaluated at three successive grid instants (its timers run).</summary>
    private static async Task WarmAsync(ChildCollector vigil)
    {
        using var http = new HttpClient { BaseAddress = vigil.HttpUri };
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (seen.Count < 3)
        {
            Assert.True(DateTime.UtcNow < deadline, $"the rule group of {vigil.HttpUri} did not evaluate three times within 30 s");
            using var rules = System.Text.Json.JsonDocument.Parse(await http.GetStringAsync("/api/v1/rules"));
            seen.Add(rules.RootElement.GetProperty("data").GetProperty("groups")[0].GetProperty("lastEvaluation").GetRawText());
            await Task.Delay(100);
        }
    }

    /// <summary>A bucket at least a second ahead: both posts are in before any evaluation reaches it.</summary>
    private static DateTimeOffset NextSecond() => DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 2).AddMilliseconds(200);

    private static ExportMetricsServiceRequest Gauge(DateTimeOffset at, double value)
    {
        var gauge = new Gauge();
        gauge.DataPoints.Add(new NumberDataPoint { TimeUnixNano = (ulong)at.ToUnixTimeMilliseconds() * 1_000_000UL, AsDouble = value });
        return OtlpRequests.Wrap(new Metric { Name = "queue.depth", Gauge = gauge }, "acme");
    }

    private static async Task PostBothAsync(ChildCollector a, ChildCollector b, ExportMetricsServiceRequest request)
    {
        foreach (var vigil in new[] { a, b })
        {
            using var otlp = new HttpClient { BaseAddress = vigil.OtlpHttpUri };
            using var content = new ByteArrayContent(request.ToByteArray());
            content.Headers.ContentType = new("application/x-protobuf");
            using var response = await otlp.PostAsync("/v1/metrics", content);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
    }

    /// <summary>One webhook POST: Alertmanager's (and Vigil's compatible) body.</summary>
    public sealed record Notification(string Status, string Receiver, IReadOnlyList<JsonElement> Alerts);

    /// <summary>A loopback HTTP listener that records webhook bodies.</summary>
    private sealed class HookReceiver : IDisposable
    {
        private readonly HttpListener _listener = new();
        private readonly List<Notification> _notifications = [];
        private readonly Task _loop;
        private TaskCompletionSource _arrived = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public HookReceiver()
        {
            var port = RemoteWriteReceiver.FreePort();
            Url = $"http://127.0.0.1:{port}/hook/";
            _listener.Prefixes.Add(Url);
            _listener.Start();
            _loop = Task.Run(LoopAsync);
        }

        public string Url { get; }

        public IReadOnlyList<Notification> Notifications
        {
            get
            {
                lock (_notifications)
                {
                    return [.. _notifications];
                }
            }
        }

        public async Task<Notification> WaitForAsync(Func<Notification, bool> match) => (await WaitForCountAsync(match, 1))[0];

        public async Task<List<Notification>> WaitForCountAsync(Func<Notification, bool> match, int count)
        {
            var deadline = Stopwatch.StartNew();
            while (true)
            {
                Task arrived;
                lock (_notifications)
                {
                    var found = _notifications.Where(match).ToList();
                    if (found.Count >= count)
                    {
                        return found;
                    }

                    arrived = _arrived.Task;
                }

                var left = TimeSpan.FromSeconds(60) - deadline.Elapsed;
                Assert.True(left > TimeSpan.Zero, $"fewer than {count} matching notifications within 60s: {string.Join(", ", Notifications.Select(n => n.Status + "@" + n.Receiver))}");
                await Task.WhenAny(arrived, Task.Delay(left));
            }
        }

        /// <summary>Completes after <paramref name="window"/>, failing if a notification arrives meanwhile.</summary>
        public async Task ExpectNoMoreAsync(TimeSpan window)
        {
            Task arrived;
            int count;
            lock (_notifications)
            {
                arrived = _arrived.Task;
                count = _notifications.Count;
            }

            await Task.WhenAny(arrived, Task.Delay(window));
            Assert.True(count == Notifications.Count, $"a notification arrived after the last expected one: {string.Join(", ", Notifications.Select(n => n.Status + "@" + n.Receiver + " " + string.Join("/", n.Alerts.Select(a => a.GetProperty("status").GetString() + " " + a.GetProperty("startsAt").GetString()))))}");
        }

        public void Dispose()
        {
            _listener.Close();
            try
            {
                _loop.Wait(TimeSpan.FromSeconds(5));
            }
            catch (AggregateException)
            {
                // The listener was closed under a pending accept.
            }
        }

        private async Task LoopAsync()
        {
            while (_listener.IsListening)
            {
                HttpListenerContext context;
                try
                {
                    context = await _listener.GetContextAsync();
                }
                catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
                {
                    return;
                }

                using (var reader = new StreamReader(context.Request.InputStream, Encoding.UTF8))
                {
                    using var body = JsonDocument.Parse(await reader.ReadToEndAsync());
                    var root = body.RootElement.Clone();
                    var notification = new Notification(root.GetProperty("status").GetString()!, root.GetProperty("receiver").GetString()!, [.. root.GetProperty("alerts").EnumerateArray()]);
                    lock (_notifications)
                    {
                        _notifications.Add(notification);
                        Interlocked.Exchange(ref _arrived, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
                    }
                }

                context.Response.StatusCode = 200;
                context.Response.Close();
            }
        }
    }
}
