using Google.Protobuf;
using Vigil.Otlp.Proto.Common;
using Vigil.Otlp.Proto.Metrics;
using static Vigil.Storage.Tests.StoreHarness;

namespace Vigil.Storage.Tests;

/// <summary>
/// The check pass counts a request's points under the tenant each will be stored under (the rate
/// limit's input, decision 016): the precedence of <c>TenantResolver</c>, and only points that will be stored.
/// </summary>
public sealed class TenantPointCountsTests
{
    private const AggregationTemporality Delta = AggregationTemporality.Delta;

    private static Dictionary<string, long> Count(TenantBinding? binding, params ResourceMetrics[] resources)
    {
        var request = new Vigil.Otlp.Proto.Collector.ExportMetricsServiceRequest();
        request.ResourceMetrics.AddRange(resources);
        var counts = new TenantPointCounts("tenant.id");
        counts.Reset(binding);
        new StoreHarness().Ingest.Check(request.ToByteArray(), counts);
        var byTenant = new Dictionary<string, long>();
        for (var i = 0; i < counts.Count; i++)
        {
            byTenant.Add(counts.IsUntenanted(i) ? "(none)" : counts.Name(i).ToString(), counts.Points(i));
        }

        return byTenant;
    }

    private static ResourceMetrics Resource(KeyValue[] attributes, params NumberDataPoint[] points) =>
        Request(attributes, Counter("auth.requests", Delta, points)).ResourceMetrics[0];

    private static NumberDataPoint P(params KeyValue[] attributes) => Point(At(0), At(5), 1, attributes);

    [Fact]
    public void WithoutKeys_PointTenantThenResourceTenant_AndUntenantedPointsShareOneCount()
    {
        var counts = Count(
            null,
            Resource([Attr("tenant.id", "acme")], P(), P(), P(Attr("tenant.id", "acme"))),
            Resource([Attr("service.name", "gateway")], P(Attr("tenant.id", "globex")), P(Attr("tenant.id", "initech")), P(Attr("tenant.id", "globex"))),
            Resource([], P(), P()));

        Assert.Equal(new Dictionary<string, long> { ["acme"] = 3, ["globex"] = 2, ["initech"] = 1, ["(none)"] = 2 }, counts);
    }

    [Fact]
    public void PointsThatWillBeRefused_AreNotCounted()
    {
        var nan = Point(At(0), At(5), double.NaN);
        var counts = Count(
            null,
            Resource([Attr("tenant.id", "acme")], P(), P(Attr("tenant.id", "globex"))), // tenant_mismatch
            Request([Attr("tenant.id", "acme")], Gauge("g", nan, Point(0, At(5), 2))).ResourceMetrics[0]); // NaN refused

        Assert.Equal(new Dictionary<string, long> { ["acme"] = 2 }, counts);
    }

    [Fact]
    public void UnderAKey_EveryStoredPointIsTheKeysTenant_AndOtherClaimsAreNotCounted()
    {
        var key = new TenantBinding("acme", anyTenant: false);
        var counts = Count(
            key,
            Resource([], P(), P(Attr("tenant.id", "acme"))),
            Resource([Attr("tenant.id", "globex")], P(), P()));

        Assert.Equal(new Dictionary<string, long> { ["acme"] = 2 }, counts);
    }

    [Fact]
    public void UnderAnAdminKey_ClaimsCount_AndUnclaimedPointsAreTheKeysTenant()
    {
        var admin = new TenantBinding("gateway", anyTenant: true);
        var counts = Count(
            admin,
            Resource([Attr("tenant.id", "acme")], P(), P()),
            Resource([], P(Attr("tenant.id", "globex")), P()));

        Assert.Equal(new Dictionary<string, long> { ["acme"] = 2, ["globex"] = 1, ["gateway"] = 1 }, counts);
    }

    [Fact]
    public void ANonStringTenant_IsNamedAsItsLabelShowsIt()
    {
        var counts = Count(null, Resource([new KeyValue { Key = "tenant.id", Value = new AnyValue { IntValue = 42 } }], P()));

        Assert.Equal(new Dictionary<string, long> { ["42"] = 1 }, counts);
    }

    [Fact]
    public void CountingAKnownTenantsRequest_AllocatesNothing()
    {
        var h = new StoreHarness();
        var request = Request([Attr("tenant.id", "acme")], Counter("c", Delta, P(Attr("k", "a")), P(Attr("k", "b")))).ToByteArray();
        var counts = new TenantPointCounts("tenant.id");
        for (var i = 0; i < 8; i++)
        {
            counts.Reset(null);
            h.Ingest.Check(request, counts);
            _ = counts.Name(0);
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 64; i++)
        {
            counts.Reset(null);
            h.Ingest.Check(request, counts);
            _ = counts.Name(0);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(2, counts.Points(0));
    }
}
