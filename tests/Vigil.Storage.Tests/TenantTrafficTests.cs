using Microsoft.Extensions.Time.Testing;

namespace Vigil.Storage.Tests;

/// <summary>The accepted-points rate per tenant: measured over a minute from snapshots of a counter, however often it is read.</summary>
public sealed class TenantTrafficTests
{
    private static readonly DateTimeOffset T0 = new(2025, 6, 1, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Rate_ReadEverySecond_IsTheLastMinutesPoints_AndFallsToZeroAMinuteAfterTrafficStops()
    {
        var clock = new FakeTimeProvider(T0);
        var traffic = new TenantTraffic(clock);
        var counter = traffic.For("a");

        // 2 points/s for 3 minutes, the status read (and so a snapshot taken) every second: far more reads than snapshots.
        for (var second = 1; second <= 180; second++)
        {
            clock.Advance(TimeSpan.FromSeconds(1));
            counter.AddAccepted(2);
            traffic.Sample(_ => 1);
        }

        Assert.Equal(2.0, Line(traffic).AcceptedPerSecond, 6);

        // Then 10 points/s for 30 s: the last minute holds 30 s at 2/s and 30 s at 10/s, give or take one 5 s snapshot step.
        for (var second = 1; second <= 30; second++)
        {
            clock.Advance(TimeSpan.FromSeconds(1));
            counter.AddAccepted(10);
            traffic.Sample(_ => 1);
        }

        var mixed = Line(traffic).AcceptedPerSecond;
        Assert.InRange(mixed, (30 * 2 + 300) / 65.0, (30 * 2 + 300) / 60.0);

        // Silence: a minute later nothing was accepted in the last minute.
        for (var second = 1; second <= 60; second++)
        {
            clock.Advance(TimeSpan.FromSeconds(1));
            traffic.Sample(_ => 1);
        }

        var quiet = Line(traffic);
        Assert.Equal(0, quiet.AcceptedPerSecond);
        Assert.Equal(180 * 2 + 30 * 10, quiet.Accepted);
    }

    [Fact]
    public void Status_ForgetsATenantWithNoSeriesAndNoTrafficForAMinute_KeepsOneThatHoldsSeries()
    {
        var clock = new FakeTimeProvider(T0);
        var traffic = new TenantTraffic(clock);
        traffic.For("gone").AddAccepted(1);
        traffic.For("held").AddAccepted(1);
        var series = new Dictionary<string, int> { ["gone"] = 0, ["held"] = 4 };

        clock.Advance(TimeSpan.FromSeconds(30));
        Assert.Equal(["held", "gone"], traffic.Status(t => series[t], []).Select(s => s.Tenant));

        clock.Advance(TimeSpan.FromSeconds(61));
        var left = Assert.Single(traffic.Status(t => series[t], []));
        Assert.Equal(("held", 4), (left.Tenant, left.Series));
    }

    [Fact]
    public void RefusedPoints_OfTenantsPastTheCap_AreNotCounted_KnownTenantsStillAre()
    {
        var traffic = new TenantTraffic(new FakeTimeProvider(T0));
        traffic.For("known").AddAccepted(1);
        for (var i = 1; i < TenantTraffic.MaxRefusedOnlyTenants; i++)
        {
            traffic.ForRefused("flood-" + i).AddRefused(1);
        }

        Assert.Same(TenantTraffic.Counter.None, traffic.ForRefused("one-too-many"));
        traffic.ForRefused("known").AddRefused(3);
        var listed = traffic.Status(_ => 0, []);
        Assert.Equal(TenantTraffic.MaxRefusedOnlyTenants, listed.Count);
        Assert.Equal(3, Assert.Single(listed, t => t.Tenant == "known").Refused);
    }

    private static TenantStatus Line(TenantTraffic traffic) => Assert.Single(traffic.Status(_ => 1, []));
}
