using Vigil.Otlp.Proto.Metrics;
using static Vigil.Storage.Tests.StoreHarness;

namespace Vigil.Storage.Tests;

/// <summary>
/// Which tenant a point belongs to without ingest keys (docs/security.md, "Which tenant a point belongs
/// to"): the resource's tenant.id is authoritative; a point attribute that says otherwise is refused
/// as tenant_mismatch instead of moving the point into the other tenant's series.
/// </summary>
public sealed class TenantPrecedenceTests
{
    private const AggregationTemporality Delta = AggregationTemporality.Delta;

    [Fact]
    public void PointClaimingAnotherTenantThanItsResource_IsRefusedAsTenantMismatch_AndStoresNothingForEitherTenant()
    {
        var h = new StoreHarness();

        var result = h.Send(
            [Attr("service.name", "api"), Attr("tenant.id", "acme")],
            Counter("auth.requests", Delta, Point(At(0), At(5), 3, Attr("tenant.id", "globex")), Point(At(0), At(5), 4, Attr("auth.method", "sso"))));

        Assert.Equal(1, result.Accepted);
        Assert.Equal(1, result.Rejected);
        Assert.Contains("1 point(s) refused: tenant_mismatch: point claims tenant.id=\"globex\" but its resource says \"acme\"", result.ErrorMessage);
        var series = Assert.Single(h.Store.ListSeries("auth.requests"));
        Assert.Equal("acme", series.Labels["tenant.id"]);
        Assert.Equal("sso", series.Labels["auth.method"]);
        Assert.Equal(0, h.Store.TenantSeriesCount("globex"));
        Assert.Equal(1, h.Store.Stats.RefusedByReason[RefusalReasons.TenantMismatch]);
        Assert.Equal(1, h.Store.Stats.TenantMismatchByTenant["acme"]);
    }

    [Fact]
    public void PointRepeatingItsResourcesTenant_IsAccepted()
    {
        var h = new StoreHarness();

        var result = h.Send([Attr("tenant.id", "acme")], Counter("auth.requests", Delta, Point(At(0), At(5), 3, Attr("tenant.id", "acme"))));

        Assert.Equal(new IngestResult(1, 0, null), result);
        Assert.Equal("acme", Assert.Single(h.Store.ListSeries("auth.requests")).Labels["tenant.id"]);
    }

    [Fact]
    public void PointTenantUnderAResourceWithoutOne_IsThePointsTenant()
    {
        // A gateway may batch several tenants' points under one resource that names none.
        var h = new StoreHarness();

        var result = h.Send([Attr("service.name", "gateway")], Counter("auth.requests", Delta, Point(At(0), At(5), 1, Attr("tenant.id", "acme")), Point(At(0), At(5), 1, Attr("tenant.id", "globex"))));

        Assert.Equal(new IngestResult(2, 0, null), result);
        Assert.Equal(["acme", "globex"], h.Store.ListSeries("auth.requests").Select(s => s.Labels["tenant.id"]).Order());
    }

    [Fact]
    public void ResourceTenantIsAuthoritative_EvenWhenTenantIdIsNotAnIdentityAttribute()
    {
        // The check reads the resource itself, not only the attributes kept for series identity.
        var h = new StoreHarness(new WindowStoreOptions { ResourceAttributes = ["service.name"] });

        var result = h.Send([Attr("tenant.id", "acme")], Counter("auth.requests", Delta, Point(At(0), At(5), 3, Attr("tenant.id", "globex"))));

        Assert.Equal(1, result.Rejected);
        Assert.Empty(h.Store.ListSeries("auth.requests"));
    }
}
