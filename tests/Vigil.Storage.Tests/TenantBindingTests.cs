using Google.Protobuf;
using Vigil.Otlp.Proto.Metrics;
using Vigil.Otlp.Wire;
using static Vigil.Storage.Tests.StoreHarness;

namespace Vigil.Storage.Tests;

/// <summary>
/// Ingest under a key bound to a tenant: the key's tenant wins, other claims are refused as
/// tenant_mismatch (never re-labelled), points naming no tenant get the key's, and a WAL record
/// replays with the same binding.
/// </summary>
public sealed class TenantBindingTests
{
    private const AggregationTemporality Delta = AggregationTemporality.Delta;
    private static readonly TenantBinding KeyForA = new("a", anyTenant: false);
    private static readonly TenantBinding AdminKey = new("gateway", anyTenant: true);

    private static byte[] Request(params (string? ResourceTenant, string? PointTenant)[] points)
    {
        var request = new Vigil.Otlp.Proto.Collector.ExportMetricsServiceRequest();
        foreach (var (resourceTenant, pointTenant) in points)
        {
            var attributes = pointTenant is null ? [] : new[] { Attr("tenant.id", pointTenant) };
            var resource = resourceTenant is null ? new[] { Attr("service.name", "api") } : [Attr("service.name", "api"), Attr("tenant.id", resourceTenant)];
            request.ResourceMetrics.Add(StoreHarness.Request(resource, Counter("auth.requests", Delta, Point(At(0), At(5), 1, attributes))).ResourceMetrics);
        }

        return request.ToByteArray();
    }

    private static string[] Tenants(StoreHarness h) =>
        [.. h.Store.ListSeries("auth.requests").Select(s => s.Labels.GetValueOrDefault("tenant.id") ?? "(none)").Order(StringComparer.Ordinal)];

    [Fact]
    public void KeyForA_CannotWriteB_ByResourceOrByPoint_AndNothingOfBIsStored()
    {
        var h = new StoreHarness();

        var result = h.Ingest.Ingest(Request(("b", null), (null, "b"), ("a", null)), KeyForA);

        Assert.Equal(1, result.Accepted);
        Assert.Equal(2, result.Rejected);
        Assert.Contains("2 point(s) refused: tenant_mismatch: point claims tenant.id=\"b\" but the key is for \"a\" (e.g. metric \"auth.requests\")", result.ErrorMessage);
        Assert.Equal(["a"], Tenants(h));
        Assert.Equal(0, h.Store.TenantSeriesCount("b"));
        Assert.Equal(2, h.Store.Stats.TenantMismatchByTenant["a"]);
        Assert.False(h.Store.Stats.TenantMismatchByTenant.ContainsKey("b"));
    }

    [Fact]
    public void KeyForA_PointWithoutTenant_GetsTheKeysTenant()
    {
        var h = new StoreHarness();

        Assert.Equal(new IngestResult(1, 0, null), h.Ingest.Ingest(Request((null, null)), KeyForA));

        Assert.Equal(["a"], Tenants(h));
        Assert.Equal(1, h.Store.TenantSeriesCount("a"));
    }

    [Fact]
    public void KeyForA_SeriesCarryTheTenant_EvenWhenTenantIdIsNotAnIdentityAttribute()
    {
        var h = new StoreHarness(new WindowStoreOptions { ResourceAttributes = ["service.name"] });

        Assert.Equal(new IngestResult(2, 0, null), h.Ingest.Ingest(Request(("a", null), (null, null)), KeyForA));

        Assert.Equal(["a"], Tenants(h));
    }

    [Fact]
    public void AdminKey_WritesAnyTenant_AndStampsItsOwnOnPointsWithoutOne()
    {
        var h = new StoreHarness();

        var result = h.Ingest.Ingest(Request(("a", null), (null, "b"), (null, null)), AdminKey);

        Assert.Equal(new IngestResult(3, 0, null), result);
        Assert.Equal(["a", "b", "gateway"], Tenants(h));
    }

    [Fact]
    public void AdminKey_StillRefusesAPointContradictingItsResource()
    {
        var h = new StoreHarness();

        var result = h.Ingest.Ingest(Request(("a", "b")), AdminKey);

        Assert.Equal(1, result.Rejected);
        Assert.Contains("point claims tenant.id=\"b\" but its resource says \"a\"", result.ErrorMessage);
        Assert.Empty(Tenants(h));
    }

    [Fact]
    public void NonStringTenantClaim_UnderAKey_IsAMismatch()
    {
        var h = new StoreHarness();
        var point = Point(At(0), At(5), 1, new Vigil.Otlp.Proto.Common.KeyValue { Key = "tenant.id", Value = new Vigil.Otlp.Proto.Common.AnyValue { IntValue = 7 } });

        var result = h.Ingest.Ingest(StoreHarness.Request([], Counter("auth.requests", Delta, point)).ToByteArray(), KeyForA);

        Assert.Equal(1, result.Rejected);
        Assert.Contains("point claims tenant.id=\"7\" but the key is for \"a\"", result.ErrorMessage);
    }

    [Fact]
    public void LoggedRecord_ReplaysWithItsBinding()
    {
        var request = Request(("b", null), (null, null));
        var live = new StoreHarness();
        var liveResult = live.Ingest.Ingest(request, KeyForA);

        var replayed = new StoreHarness();
        var replayResult = replayed.Ingest.ApplyLogged([.. KeyForA.WalPrefix.Span, .. request]);

        Assert.Equal(liveResult, replayResult);
        Assert.Equal(Tenants(live), Tenants(replayed));
        Assert.Equal(["a"], Tenants(replayed));
    }

    [Fact]
    public void LoggedPrefix_RoundTripsTenantAndAdmin_AndAnUnboundRecordStaysUnbound()
    {
        var request = Request((null, null));
        foreach (var binding in new[] { KeyForA, AdminKey, new TenantBinding("tenant with a long name " + new string('x', 300), false) })
        {
            var decoded = TenantBinding.FromWalRecord([.. binding.WalPrefix.Span, .. request], out var rest);
            Assert.NotNull(decoded);
            Assert.Equal(binding.Tenant, decoded.Tenant);
            Assert.Equal(binding.AnyTenant, decoded.AnyTenant);
            Assert.Equal(request, rest.ToArray());
        }

        Assert.Null(TenantBinding.FromWalRecord(request, out var unbound));
        Assert.Equal(request, unbound.ToArray());
    }

    [Fact]
    public void LoggedPrefix_IsSkippedAsAnUnknownField_ByAPlainOtlpReader()
    {
        // An older Vigil replaying a newer WAL reads the points and ignores the binding.
        var request = Request((null, null));
        var h = new StoreHarness();

        var result = h.Ingest.Ingest([.. KeyForA.WalPrefix.Span, .. request]);

        Assert.Equal(new IngestResult(1, 0, null), result);
        Assert.Equal(["(none)"], Tenants(h));
    }

    [Fact]
    public void DamagedPrefix_IsAFormatError()
    {
        byte[] damaged = [.. KeyForA.WalPrefix.Span[..6]];
        Assert.Throws<OtlpFormatException>(() => new StoreHarness().Ingest.ApplyLogged(damaged));
    }

    [Fact]
    public void StampingTheKeysTenant_OnKnownSeries_AllocatesNothing()
    {
        var h = new StoreHarness();
        var requests = Enumerable.Range(0, 72)
            .Select(i => StoreHarness.Request([Attr("service.name", "api")], Gauge("g", Point(0, At(1) + ((ulong)i * 1000), i, Attr("k", "v")))).ToByteArray())
            .ToArray();
        for (var i = 0; i < 8; i++)
        {
            h.Ingest.Ingest(requests[i], KeyForA);
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 8; i < requests.Length; i++)
        {
            h.Ingest.Ingest(requests[i], KeyForA);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(["a"], h.Store.ListSeries("g").Select(s => s.Labels["tenant.id"]));
    }
}
