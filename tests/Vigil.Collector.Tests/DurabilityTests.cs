using System.Net;
using Google.Protobuf;

namespace Vigil.Collector.Tests;

/// <summary>The write-ahead log: acknowledged data survives restarts and kill -9 (damage and torn tails: Vigil.Storage.Tests.Wal).</summary>
public sealed class DurabilityTests
{
    private static async Task PostAsync(HttpClient http, IMessage request)
    {
        using var content = new ByteArrayContent(request.ToByteArray());
        content.Headers.ContentType = new("application/x-protobuf");
        using var response = await http.PostAsync("/v1/metrics", content);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task AcknowledgedPoints_SurviveARestart_AndCumulativeRunsContinue()
    {
        var dataDir = VigilServer.NewDataDir();
        try
        {
            await using (var first = await VigilServer.StartAsync(dataDir: dataDir))
            {
                using var http = new HttpClient { BaseAddress = first.OtlpHttpUri };
                await PostAsync(http, OtlpRequests.DeltaCounter("auth.requests", 5));
                await PostAsync(http, OtlpRequests.DeltaCounter("auth.requests", 6, points: 2));
            }

            await using var second = await VigilServer.StartAsync(dataDir: dataDir);
            using var api = new VigilApi(second.HttpUri);
            Assert.Equal(17, await api.ValueAsync("auth.requests", "increase"));
        }
        finally
        {
            Directory.Delete(dataDir, recursive: true);
        }
    }

    [Fact]
    public async Task Kill9UnderLoad_LosesNoAcknowledgedPoint()
    {
        var dataDir = VigilServer.NewDataDir();
        var acknowledged = new System.Collections.Concurrent.ConcurrentBag<int>();
        try
        {
            using (var child = await ChildCollector.StartAsync(dataDir))
            {
                using var http = new HttpClient { BaseAddress = child.OtlpHttpUri, Timeout = TimeSpan.FromSeconds(10) };

                // Four writers send one uniquely labelled delta point per request until the child dies.
                var next = 0;
                using var stop = new CancellationTokenSource();
                var writers = Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
                {
                    while (!stop.IsCancellationRequested)
                    {
                        var id = Interlocked.Increment(ref next);
                        if (id > 2000)
                        {
                            return;
                        }

                        try
                        {
                            using var content = new ByteArrayContent(OtlpRequests.DeltaCounter("crash.points", id, tenant: "t" + id).ToByteArray());
                            content.Headers.ContentType = new("application/x-protobuf");
                            using var response = await http.PostAsync("/v1/metrics", content);
                            if (response.StatusCode == HttpStatusCode.OK)
                            {
                                acknowledged.Add(id);
                            }
                        }
                        catch (HttpRequestException)
                        {
                            return; // the child is gone: this request was never acknowledged
                        }
                        catch (TaskCanceledException)
                        {
                            return;
                        }
                    }
                })).ToArray();

                var deadline = DateTime.UtcNow.AddSeconds(30);
                while (acknowledged.Count < 300 && DateTime.UtcNow < deadline)
                {
                    await Task.Delay(5);
                }

                await child.KillAsync();
                await Task.WhenAll(writers);
            }

            Assert.True(acknowledged.Count >= 300, $"only {acknowledged.Count} requests were acknowledged before the kill");
            await using var restarted = await VigilServer.StartAsync(dataDir: dataDir);
            using var api = new VigilApi(restarted.HttpUri);
            var stored = (await api.AggregateAsync("crash.points", "increase", "10m", by: "tenant.id"))
                .ToDictionary(s => s.Labels["tenant.id"], s => s.Value);
            var missing = acknowledged.Where(id => !stored.TryGetValue("t" + id, out var value) || value != id).ToList();
            Assert.True(missing.Count == 0, $"{missing.Count} acknowledged requests missing after kill -9, e.g. {string.Join(',', missing.Take(5))}");
        }
        finally
        {
            Directory.Delete(dataDir, recursive: true);
        }
    }
}
