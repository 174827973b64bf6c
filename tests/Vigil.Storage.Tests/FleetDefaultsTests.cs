using Vigil.Otlp.Proto.Metrics;
using static Vigil.Storage.Tests.StoreHarness;

namespace Vigil.Storage.Tests;

/// <summary>The default limits take a real fleet's busiest metric whole (issue 14's 625-tenant model).</summary>
public sealed class FleetDefaultsTests
{
    private const int Tenants = 625;
    private const int Workspaces = 5;
    private const int RunKinds = 8; // model × status combinations per workspace

    [Fact]
    public void DefaultLimits_AcceptEveryAiRunsSeriesOfA625TenantFleet()
    {
        var h = new StoreHarness();
        var points = new List<NumberDataPoint>(Tenants * Workspaces * RunKinds);
        for (var tenant = 0; tenant < Tenants; tenant++)
        {
            for (var workspace = 0; workspace < Workspaces; workspace++)
            {
                for (var kind = 0; kind < RunKinds; kind++)
                {
                    points.Add(Point(At(0), At(5), 1,
                        Attr("tenant.id", $"tenant-{tenant:D3}"), Attr("workspace.id", $"ws-{workspace}"), Attr("run.kind", $"k{kind}")));
                }
            }
        }

        var result = h.Send(Counter("ai.runs", AggregationTemporality.Delta, [.. points]));

        Assert.Equal(0, result.Rejected);
        Assert.Equal(Tenants * Workspaces * RunKinds, result.Accepted);
        Assert.Equal(Tenants * Workspaces * RunKinds, h.Store.SeriesCount);
    }

    [Fact]
    public void DefaultPerMetricCap_IsBelowTheStoreCap_SoOneMetricCannotFillTheStore()
    {
        var options = new WindowStoreOptions();
        Assert.True(options.MaxSeriesPerMetric < options.MaxSeries);
        Assert.True(options.MaxSeriesPerTenant < options.MaxSeriesPerMetric);
    }
}
