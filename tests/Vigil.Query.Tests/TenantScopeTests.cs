using Vigil.Query.Api;
using Vigil.Query.Evaluation;
using Vigil.Query.Exposition;

namespace Vigil.Query.Tests;

/// <summary>An engine scoped to one tenant: every selector is narrowed in the store, listings and live families keep only that tenant.</summary>
public sealed class TenantScopeTests
{
    private static QueryHarness Harness()
    {
        var alerts = new DelegateExpositionSource(() =>
        [
            Families.Gauge("ALERTS", string.Empty, "alerts",
            [
                new ExpositionSample(string.Empty, [new("alertname", "X"), new("tenant_id", "acme")], 1),
                new ExpositionSample(string.Empty, [new("alertname", "X"), new("tenant_id", "globex")], 1),
            ]),
            Families.Gauge("vigil.series.active", "{series}", "self", [new ExpositionSample(string.Empty, [], 3)]),
        ]);
        var h = new QueryHarness([alerts]);
        h.Delta("auth.requests", 5, 3, ("tenant.id", "acme"), ("auth.outcome", "failure"));
        h.Delta("auth.requests", 5, 4, ("tenant.id", "globex"), ("auth.outcome", "failure"));
        h.Delta("other.requests", 5, 1, ("tenant.id", "globex"));
        h.Delta("untenanted.requests", 5, 1);
        return h;
    }

    private static double Single(PromQueryEngine engine, string query) =>
        Assert.Single(Assert.IsType<VectorValue>(engine.Query(query, QueryHarness.At(10)).Value).Samples).Value;

    [Fact]
    public void Aggregations_WithoutATenantMatcher_SeeOnlyTheTenant()
    {
        var engine = Harness().Engine.ForTenant("tenant.id", "acme");

        Assert.Equal(3, Single(engine, "sum(auth_requests_total)"));
        Assert.Equal(3, Single(engine, "sum(increase(auth_requests_total[1m]))"));
        Assert.Empty(Assert.IsType<VectorValue>(engine.Query("auth_requests_total{tenant_id=\"globex\"}", QueryHarness.At(10)).Value).Samples);
        Assert.Empty(Assert.IsType<VectorValue>(engine.Query("untenanted_requests_total", QueryHarness.At(10)).Value).Samples);
    }

    [Fact]
    public void Listings_AndLiveFamilies_KeepOnlyTheTenant()
    {
        var h = Harness();
        var engine = h.Engine.ForTenant("tenant.id", "acme");

        Assert.Equal(["acme"], PromApi.LabelValues(engine, "tenant_id", []));
        Assert.DoesNotContain("other_requests_total", PromApi.LabelValues(engine, "__name__", []));
        Assert.Equal(1, Single(engine, "ALERTS"));
        Assert.Empty(Assert.IsType<VectorValue>(engine.Query("vigil_series_active", QueryHarness.At(10)).Value).Samples);

        // The unscoped engine still sees everything.
        Assert.Equal(["acme", "globex"], PromApi.LabelValues(h.Engine, "tenant_id", []));
        Assert.Equal(7, Single(h.Engine, "sum(auth_requests_total)"));
    }
}
