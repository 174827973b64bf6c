using Vigil.Otlp.Proto.Metrics;
using Vigil.Storage.Query;
using static Vigil.Storage.Tests.StoreHarness;

namespace Vigil.Storage.Tests;

/// <summary>One tenant cannot take every series: past its limit its new series are refused, others are not.</summary>
public sealed class TenantLimitTests
{
    private const AggregationTemporality Delta = AggregationTemporality.Delta;

    private static NumberDataPoint P(string tenant, string route, double value = 1) =>
        Point(At(0), At(5), value, Attr("tenant.id", tenant), Attr("http.route", route));

    [Fact]
    public void NewSeriesPastTheTenantLimit_AreRefusedWithReason_OtherTenantsUnaffected()
    {
        var h = new StoreHarness(new WindowStoreOptions { MaxSeriesPerTenant = 2 });

        var result = h.Send(Counter("tenant.requests", Delta, P("acme", "/a"), P("acme", "/b"), P("acme", "/c"), P("globex", "/a")));

        Assert.Equal(3, result.Accepted);
        Assert.Equal(1, result.Rejected);
        Assert.Contains("1 point(s) refused: series limit per tenant reached", result.ErrorMessage);
        Assert.Contains("limit 2 series per tenant.id", result.ErrorMessage);
        Assert.Equal(2, h.Store.TenantSeriesCount("acme"));
        Assert.Equal(1, h.Store.TenantSeriesCount("globex"));

        // Existing series of the full tenant still take points; the refused one left no trace.
        Assert.Equal(new IngestResult(1, 0, null), h.Send(Counter("tenant.requests", Delta, Point(At(1), At(6), 4, Attr("tenant.id", "acme"), Attr("http.route", "/a")))));
        var byRoute = h.Query("tenant.requests", AggregateFunction.Increase, TimeSpan.FromMinutes(1), T0.AddSeconds(6), by: ["tenant.id", "http.route"]);
        Assert.Equal(3, byRoute.Count);
        Assert.DoesNotContain(byRoute, s => s.Labels["http.route"] == "/c");
        Assert.Equal(5, byRoute.Single(s => s.Labels["tenant.id"] == "acme" && s.Labels["http.route"] == "/a").Value);

        // Both the tenant limit and the metric budget were given back: another tenant still fits.
        Assert.Equal(new IngestResult(1, 0, null), h.Send(Counter("tenant.requests", Delta, P("initech", "/z"))));
    }

    [Fact]
    public void ExpiredSeries_FreeTheirTenantPlace()
    {
        var h = new StoreHarness(new WindowStoreOptions { MaxSeriesPerTenant = 1, Retention = TimeSpan.FromMinutes(10) });
        Assert.Equal(0, h.Send(Counter("c", Delta, P("acme", "/a"))).Rejected);
        Assert.Equal(1, h.Send(Counter("c", Delta, Point(At(0), At(6), 1, Attr("tenant.id", "acme"), Attr("http.route", "/b")))).Rejected);

        h.Clock.Advance(TimeSpan.FromMinutes(11));
        h.Store.Sweep();
        Assert.Equal(0, h.Store.TenantSeriesCount("acme"));

        Assert.Equal(0, h.Send(Counter("c", Delta, Point(At(650), At(655), 1, Attr("tenant.id", "acme"), Attr("http.route", "/b")))).Rejected);
    }

    [Fact]
    public void ZeroLimit_MeansNoLimit_AndSeriesWithoutTenantAreNotCounted()
    {
        var unlimited = new StoreHarness(new WindowStoreOptions { MaxSeriesPerTenant = 0 });
        Assert.Equal(0, unlimited.Send(Counter("c", Delta, P("acme", "/a"), P("acme", "/b"), P("acme", "/c"))).Rejected);

        var limited = new StoreHarness(new WindowStoreOptions { MaxSeriesPerTenant = 1 });
        Assert.Equal(0, limited.Send(Counter("c", Delta, Point(At(0), At(5), 1, Attr("http.route", "/a")), Point(At(0), At(5), 1, Attr("http.route", "/b")))).Rejected);
    }
}
