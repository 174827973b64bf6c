using Vigil.Rules;
using Vigil.Rules.Api;
using Vigil.Storage.Query;

namespace Vigil.Alerting.Tests;

/// <summary>The release gate's decision on its own: severity floor, matchers, pending, and the quiet_for boundary.</summary>
public sealed class ReleaseGateTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 3, 12, 0, 0, TimeSpan.Zero);

    private static Dictionary<string, string> Labels(string alert, Severity severity, string tenant) =>
        new(StringComparer.Ordinal) { ["alertname"] = alert, ["severity"] = severity.ToString(), ["tenant.id"] = tenant };

    private static AlertInfo Active(string alert, Severity severity, string tenant, string state) =>
        new(Labels(alert, severity, tenant), new Dictionary<string, string>(), state, Now.AddMinutes(-3), null, "1", severity.ToString(), "https://runbooks.example.com/x", "> 0.5", 30);

    private static AlertEvent Resolved(string alert, Severity severity, string tenant, DateTimeOffset at) => new()
    {
        Id = Guid.NewGuid().ToString("N"),
        Rule = alert,
        Group = "g",
        Fingerprint = "0000000000000000",
        Severity = severity,
        Status = AlertStatus.Resolved,
        Labels = Labels(alert, severity, tenant),
        Annotations = new Dictionary<string, string>(),
        Threshold = "> 0.5",
        Window = "5m",
        StartsAt = at.AddMinutes(-5),
        EndsAt = at,
        Timestamp = at,
        GeneratorUrl = "http://localhost:9190",
    };

    private static GateQuery Query(Severity severity, TimeSpan quietFor, params LabelMatcher[] matchers) => new(severity, matchers, quietFor);

    [Fact]
    public void SeverityIsAFloor_AndPendingNeverBlocks()
    {
        AlertInfo[] active = [Active("A", Severity.P1, "acme", "pending"), Active("B", Severity.P2, "acme", "firing")];

        var p1 = ReleaseGate.Decide(Query(Severity.P1, TimeSpan.Zero), active, [], Now);
        var p2 = ReleaseGate.Decide(Query(Severity.P2, TimeSpan.Zero), active, [], Now);

        Assert.True(p1.Pass, p1.Reason);
        Assert.False(p2.Pass);
        Assert.Equal("B", Assert.Single(p2.Blocking).Labels["alertname"]);
        Assert.Equal("blocked: 1 P2 or more severe alert(s) firing: B", p2.Reason);
    }

    [Fact]
    public void ResolvedWithinQuietFor_Blocks_UntilExactlyQuietForHasPassed()
    {
        var quiet = TimeSpan.FromMinutes(10);
        var matcher = new LabelMatcher("tenant.id", MatchOp.Equal, "acme");
        AlertEvent[] history = [Resolved("A", Severity.P1, "acme", Now.AddMinutes(-10).AddSeconds(1)), Resolved("C", Severity.P1, "beta", Now.AddMinutes(-1))];

        var inside = ReleaseGate.Decide(Query(Severity.P1, quiet, matcher), [], history, Now);
        var boundary = ReleaseGate.Decide(Query(Severity.P1, quiet, matcher), [], history, Now.AddSeconds(1));

        var blocker = Assert.Single(inside.Blocking);
        Assert.Equal(("A", "resolved", Now.AddMinutes(-10).AddSeconds(1)), (blocker.Labels["alertname"], blocker.State, blocker.ResolvedAt));
        Assert.True(boundary.Pass, boundary.Reason);
    }
}
