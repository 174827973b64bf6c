using Google.Protobuf;
using Microsoft.Extensions.Time.Testing;
using Vigil.Collector.Configuration;
using Vigil.Collector.Otlp;
using Vigil.Otlp.Proto.Collector;
using Vigil.Storage;

namespace Vigil.Collector.Tests;

/// <summary>
/// The token bucket behind <c>ingest.tenant_rate_limit</c> on a fake clock: Retry-After is the time the
/// bucket needs to hold the request, buckets refill only up to the burst, a refused request takes no
/// tenant's tokens, and a request bigger than the burst is admitted by a full bucket.
/// </summary>
public sealed class TenantRateLimiterTests
{
    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2025, 6, 1, 12, 0, 0, TimeSpan.Zero));
    private readonly OtlpIngest _ingest;

    public TenantRateLimiterTests() => _ingest = new OtlpIngest(new WindowStore(new WindowStoreOptions(), _clock));

    private TenantRateLimiter Limiter(int rate, int burst = 0, Dictionary<string, int>? overrides = null) =>
        new(new IngestOptions { TenantRateLimit = rate, TenantRateBurst = burst, TenantRateLimits = overrides ?? [] }, _clock);

    /// <summary>The counts of a request of <paramref name="points"/> points per tenant, as the check pass makes them.</summary>
    private TenantPointCounts Counts(params (string Tenant, int Points)[] tenants)
    {
        var request = new ExportMetricsServiceRequest();
        foreach (var (tenant, points) in tenants)
        {
            request.ResourceMetrics.Add(OtlpRequests.DeltaCounterAt("m", _clock.GetUtcNow(), tenant, [.. Enumerable.Range(0, points).Select(i => ("series", $"{i}", 1L))]).ResourceMetrics);
        }

        var counts = new TenantPointCounts("tenant.id");
        counts.Reset(null);
        _ingest.Check(request.ToByteArray(), counts);
        return counts;
    }

    [Fact]
    public void AfterTheBurst_RetryAfterIsTheSecondsUntilTheBucketHoldsTheRequest_RoundedUp()
    {
        var limiter = Limiter(rate: 1000); // burst 2 × 1000
        Assert.Null(limiter.TryTake(Counts(("acme", 2000))));

        // Empty: 1500 points need 1.5 s of refill, said as 2 s.
        var refused = limiter.TryTake(Counts(("acme", 1500)));
        Assert.Equal(TimeSpan.FromSeconds(2), refused?.RetryAfter);
        Assert.Equal("tenant \"acme\" is over its data-point rate (ingest.tenant_rate_limit = 1000/s, burst 2000); retry after 2 s", refused?.Message);

        // 1 s later the bucket holds 1000 (the refusal took nothing): 0.5 s more, said as 1 s.
        _clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(TimeSpan.FromSeconds(1), limiter.TryTake(Counts(("acme", 1500)))?.RetryAfter);

        _clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Null(limiter.TryTake(Counts(("acme", 1500))));

        // 500 left: 500 more pass, the next point waits 1 ms, said as 1 s.
        Assert.Null(limiter.TryTake(Counts(("acme", 500))));
        Assert.Equal(TimeSpan.FromSeconds(1), limiter.TryTake(Counts(("acme", 1)))?.RetryAfter);
        var refusedPoints = Assert.Single(limiter.RefusedPointsByTenant);
        Assert.Equal(("acme", 1500L + 1500 + 1), (refusedPoints.Key, refusedPoints.Value));
        Assert.Equal(3, limiter.RefusedRequests);
    }

    [Fact]
    public void AQuietHour_RefillsOnlyUpToTheBurst()
    {
        var limiter = Limiter(rate: 10, burst: 50);
        Assert.Null(limiter.TryTake(Counts(("acme", 1))));
        _clock.Advance(TimeSpan.FromHours(1));

        Assert.Null(limiter.TryTake(Counts(("acme", 50))));
        Assert.Equal(TimeSpan.FromSeconds(1), limiter.TryTake(Counts(("acme", 10)))?.RetryAfter);
    }

    [Fact]
    public void ARequestOverATenantsBudget_TakesNothingFromTheOtherTenantsInIt()
    {
        var limiter = Limiter(rate: 100); // burst 200
        Assert.Null(limiter.TryTake(Counts(("noisy", 200))));

        var refused = limiter.TryTake(Counts(("quiet", 150), ("noisy", 50)));
        Assert.Equal(TimeSpan.FromSeconds(1), refused?.RetryAfter); // 50 points at 100/s
        Assert.StartsWith("tenant \"noisy\" is over", refused?.Message, StringComparison.Ordinal);

        // quiet's whole burst is still there, and its points were not counted as rate limited: it was not over.
        Assert.Null(limiter.TryTake(Counts(("quiet", 200))));
        Assert.Equal(50, Assert.Single(limiter.RefusedPointsByTenant).Value);
    }

    [Fact]
    public void RetryAfter_IsTheLongestWaitOfTheTenantsOverBudget()
    {
        var limiter = Limiter(rate: 100); // burst 200
        Assert.Null(limiter.TryTake(Counts(("a", 200), ("b", 200))));

        var refused = limiter.TryTake(Counts(("a", 100), ("b", 150)));
        Assert.Equal(TimeSpan.FromSeconds(2), refused?.RetryAfter); // b: 150 points at 100/s
        Assert.StartsWith("tenant \"b\" is over", refused?.Message, StringComparison.Ordinal);
        Assert.Equal(100, limiter.RefusedPointsByTenant["a"]);
        Assert.Equal(150, limiter.RefusedPointsByTenant["b"]);
    }

    [Fact]
    public void ARequestBiggerThanTheBurst_PassesAFullBucket_AndLeavesItOwing()
    {
        var limiter = Limiter(rate: 100); // burst 200
        Assert.Null(limiter.TryTake(Counts(("big", 500))));

        // -300 tokens: one more point needs 301 tokens, 3.01 s of refill.
        Assert.Equal(TimeSpan.FromSeconds(4), limiter.TryTake(Counts(("big", 1)))?.RetryAfter);

        // Another 500 needs the bucket full again: 500 tokens of refill, 5 s.
        Assert.Equal(TimeSpan.FromSeconds(5), limiter.TryTake(Counts(("big", 500)))?.RetryAfter);
        _clock.Advance(TimeSpan.FromSeconds(5));
        Assert.Null(limiter.TryTake(Counts(("big", 500))));
    }

    [Fact]
    public void PastTenThousandTenants_RefilledBucketsAreDropped_AndABucketInDebtIsKept()
    {
        var limiter = Limiter(rate: 1000); // burst 2000
        Assert.Null(limiter.TryTake(Counts(("noisy", 2000))));
        var one = Counts(("t", 1));
        for (var i = 1; i < 10_000; i++)
        {
            Assert.Null(limiter.TryTake(Counts(($"t{i}", 1))));
        }

        Assert.Equal(10_000, limiter.Buckets);

        // A second later every one-point tenant is full again; noisy holds 1000 of its 2000.
        _clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Null(limiter.TryTake(one));
        Assert.Equal(2, limiter.Buckets); // noisy, and t, created after the sweep
        Assert.Equal(TimeSpan.FromSeconds(1), limiter.TryTake(Counts(("noisy", 2000)))?.RetryAfter);
    }

    [Fact]
    public void PerTenantOverrides_SetTheirOwnRate_AndZeroMeansUnlimited()
    {
        var limiter = Limiter(rate: 1000, overrides: new() { ["slow"] = 10, ["vip"] = 0 });

        Assert.Null(limiter.TryTake(Counts(("vip", 5000))));
        Assert.Null(limiter.TryTake(Counts(("vip", 5000))));
        Assert.Null(limiter.TryTake(Counts(("slow", 20))));
        var refused = limiter.TryTake(Counts(("slow", 5), ("vip", 5000)));
        Assert.Equal("tenant \"slow\" is over its data-point rate (ingest.tenant_rate_limits.slow = 10/s, burst 20); retry after 1 s", refused?.Message);
        Assert.Null(limiter.TryTake(Counts(("other", 2000))));
    }
}
