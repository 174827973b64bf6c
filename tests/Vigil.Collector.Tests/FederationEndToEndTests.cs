using Vigil.Instrumentation.Tests;
using Vigil.Tests.Shared;

namespace Vigil.Collector.Tests;

/// <summary>
/// Tenant shards and one global view (docs/deployment.md): two Vigils, each holding other tenants, and the real
/// Prometheus of the Debian package scraping both through <c>/federate</c> with otel-config/prometheus/global.yml.
/// </summary>
public sealed class FederationEndToEndTests
{
    [Fact]
    public async Task GlobalPrometheus_FederatingTwoShards_AnswersWithBothShardsSeriesAndValues()
    {
        await using var shardA = await VigilServer.StartAsync();
        await using var shardB = await VigilServer.StartAsync();
        var now = DateTimeOffset.UtcNow;
        // acme lives on shard a, globex on shard b (the gateway's routing); each shard sums its tenant's deltas.
        await ReadScopeTests.SendAsync(shardA, OtlpRequests.DeltaCounterAt("tenant.requests", now.AddSeconds(-20), "acme", ("tenant.decision", "allowed", 5), ("tenant.decision", "denied", 2)));
        await ReadScopeTests.SendAsync(shardA, OtlpRequests.DeltaCounterAt("tenant.requests", now, "acme", ("tenant.decision", "allowed", 4)));
        await ReadScopeTests.SendAsync(shardB, OtlpRequests.DeltaCounterAt("tenant.requests", now, "globex", ("tenant.decision", "allowed", 11)));

        // The shipped global config, pointed at the two loopback shards and scraping every second.
        var config = (await File.ReadAllTextAsync(RepoPaths.Of("otel-config/prometheus/global.yml")))
            .Replace("\"vigil-a:9190\", \"vigil-b:9190\"", $"\"127.0.0.1:{shardA.Http.Port}\", \"127.0.0.1:{shardB.Http.Port}\"", StringComparison.Ordinal)
            .Replace("scrape_interval: 15s", "scrape_interval: 1s", StringComparison.Ordinal);
        Assert.Contains($"127.0.0.1:{shardB.Http.Port}", config);
        await using var global = await RealPrometheus.StartAsync(config);

        Assert.Equal(9, await global.ValueAsync("tenant_requests_total{tenant_id=\"acme\",tenant_decision=\"allowed\"}"));
        Assert.Equal(2, await global.ValueAsync("tenant_requests_total{tenant_id=\"acme\",tenant_decision=\"denied\"}"));
        Assert.Equal(11, await global.ValueAsync("tenant_requests_total{tenant_id=\"globex\"}"));
        // One query across both shards: three series, 22 requests; each series came from its own shard's target.
        Assert.Equal(3, await global.ValueAsync("count(tenant_requests_total)"));
        Assert.Equal(22, await global.ValueAsync("sum(tenant_requests_total)"));
        Assert.Equal(2, await global.ValueAsync("count(count by (instance) (tenant_requests_total))"));
        Assert.Equal(2, await global.ValueAsync("sum(up{job=\"vigil-federate\"})"));
    }
}
