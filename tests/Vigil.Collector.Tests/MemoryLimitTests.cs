using System.Net;
using Google.Protobuf;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Vigil.Otlp.Proto.Collector;
using Vigil.Storage;
using Vigil.Storage.Query;

namespace Vigil.Collector.Tests;

/// <summary>
/// The memory limit through OTLP/HTTP on a fake clock, with the memory reading derived from the
/// store's series: one tenant's flood must not take the other tenants down, and the limit lets go
/// once the flood's series have expired.
/// </summary>
public sealed class MemoryLimitTests
{
    private const long MiB = 1024 * 1024;

    // Limit 100 "MiB", one MiB per series: the default 20% spike puts the soft limit at 80 series.
    private const long Limit = 100 * MiB;
    private static readonly TimeSpan Retention = TimeSpan.FromMinutes(1);

    [Fact]
    public async Task OneTenantsFlood_RefusesItsNewSeries_KeepsOthersIngesting_AndLetsGoAfterExpiry()
    {
        var clock = new FakeTimeProvider(new DateTimeOffset(2025, 6, 1, 12, 0, 0, TimeSpan.Zero));
        var gauge = new FakeMemoryGauge();
        long garbage = 0;
        await using var vigil = await VigilServer.StartAsync(
            o => o with
            {
                Storage = o.Storage with { Retention = Retention },
                Ingest = o.Ingest with { MemoryLimitBytes = Limit, RetryAfter = TimeSpan.FromSeconds(3) },
            },
            clock,
            services: s => s.AddSingleton<IMemoryGauge>(gauge));
        gauge.Reading = () => (vigil.Store.SeriesCount * MiB) + Interlocked.Read(ref garbage);
        using var http = new HttpClient { BaseAddress = vigil.OtlpHttpUri };

        // Tenant b: 10 series. Then tenant a floods 75 new ones: 85 series, over the soft limit of 80.
        var b = Routes("b", 0, 10);
        Assert.Null((await PostAsync(http, "b", clock, b)).PartialSuccess);
        Assert.Null((await PostAsync(http, "a", clock, Routes("a", 0, 75))).PartialSuccess);
        clock.Advance(TimeSpan.FromSeconds(1));

        // a holds more than an equal share: its new series are refused, with the reason and the tenant named.
        var refused = await PostAsync(http, "a", clock, Routes("a", 75, 5));
        Assert.NotNull(refused.PartialSuccess);
        Assert.Equal(5, refused.PartialSuccess.RejectedDataPoints);
        Assert.Contains(RefusalReasons.MemoryLimit, refused.PartialSuccess.ErrorMessage);
        Assert.Contains("tenant.id \"a\"", refused.PartialSuccess.ErrorMessage);
        Assert.Equal(75, vigil.Store.TenantSeriesCount("a"));

        // b's existing series keep being accepted and counted, and b (below an equal share) may still add one.
        clock.Advance(TimeSpan.FromSeconds(10));
        Assert.Null((await PostAsync(http, "b", clock, b)).PartialSuccess);
        Assert.Null((await PostAsync(http, "b", clock, Routes("b", 10, 1))).PartialSuccess);
        Assert.Equal((2 * b.Length) + 1, Increase(vigil.Store, clock, "b", Retention));

        // Above the hard limit every request is refused retryably, and a collection is forced.
        Interlocked.Exchange(ref garbage, 20 * MiB);
        clock.Advance(TimeSpan.FromSeconds(1));
        foreach (var tenant in new[] { "a", "b" })
        {
            using var response = await SendAsync(http, tenant, clock, b);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.Equal(TimeSpan.FromSeconds(3), response.Headers.RetryAfter?.Delta);
        }

        Assert.Equal(1, gauge.Collections); // one check above the hard limit, one forced collection

        // The garbage is gone at the next check: back to refusing only a's new series.
        Interlocked.Exchange(ref garbage, 0);
        clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Null((await PostAsync(http, "b", clock, b)).PartialSuccess);
        Assert.Equal(5, (await PostAsync(http, "a", clock, Routes("a", 75, 5))).PartialSuccess.RejectedDataPoints);

        // The flood stops; b keeps reporting. Once a's series are past the retention the sweeper
        // evicts them, the reading falls below the soft limit and a may create series again.
        // A sweep lowers the series count last, once every stripe is done.
        bool Evicted() => vigil.Store.TenantSeriesCount("a") == 0 && vigil.Store.SeriesCount == b.Length + 1;
        var deadline = clock.GetUtcNow() + Retention + TimeSpan.FromSeconds(30);
        while (!Evicted() && clock.GetUtcNow() < deadline)
        {
            clock.Advance(TimeSpan.FromSeconds(10));
            Assert.Null((await PostAsync(http, "b", clock, b)).PartialSuccess);
            await WaitAsync(Evicted, TimeSpan.FromMilliseconds(200));
        }

        Assert.True(Evicted(), $"a still holds {vigil.Store.TenantSeriesCount("a")} series after the retention");
        clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Null((await PostAsync(http, "a", clock, Routes("a", 100, 5))).PartialSuccess);
        Assert.Equal(5, vigil.Store.TenantSeriesCount("a"));
    }

    private static (string Key, string Value, long Count)[] Routes(string tenant, int from, int count) =>
        [.. Enumerable.Range(from, count).Select(i => ("http.route", $"/{tenant}/{i}", 1L))];

    private static async Task<HttpResponseMessage> SendAsync(HttpClient http, string tenant, FakeTimeProvider clock, (string, string, long)[] points)
    {
        var content = new ByteArrayContent(OtlpRequests.DeltaCounterAt("tenant.requests", clock.GetUtcNow(), tenant, points).ToByteArray());
        content.Headers.ContentType = new("application/x-protobuf");
        return await http.PostAsync("/v1/metrics", content);
    }

    private static async Task<ExportMetricsServiceResponse> PostAsync(HttpClient http, string tenant, FakeTimeProvider clock, (string, string, long)[] points)
    {
        using var response = await SendAsync(http, tenant, clock, points);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return ExportMetricsServiceResponse.Parser.ParseFrom(await response.Content.ReadAsByteArrayAsync());
    }

    private static double Increase(WindowStore store, FakeTimeProvider clock, string tenant, TimeSpan window) =>
        Assert.Single(store.Aggregate(new AggregateQuery("tenant.requests", AggregateFunction.Increase, window, [], [new LabelMatcher("tenant.id", MatchOp.Equal, tenant)], clock.GetUtcNow()))).Value;

    // The sweeper runs on the fake clock's timer, but its loop continues on the thread pool.
    private static async Task WaitAsync(Func<bool> done, TimeSpan timeout)
    {
        var until = DateTime.UtcNow + timeout;
        while (!done() && DateTime.UtcNow < until)
        {
            await Task.Delay(10);
        }
    }
}
