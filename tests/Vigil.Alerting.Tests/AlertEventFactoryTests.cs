using Vigil.Rules;

namespace Vigil.Alerting.Tests;

public sealed class AlertEventFactoryTests
{
    [Fact]
    public void FiringFrom_SeedsOnlyFiringInstances_WithTheSameFingerprintAsTheirEvents()
    {
        var time = Transitions.Clock();
        var factory = new AlertEventFactory("https://vigil.example.com", time);
        var original = factory.Create(Transitions.Firing(time.GetUtcNow(), "AuthDown"))!;
        var activeAt = time.GetUtcNow().AddMinutes(-2);
        ActiveAlert Alert(AlertState state, string tenant) => new(
            "auth", "AuthDown", new Dictionary<string, string>(original.Labels) { ["tenant.id"] = tenant }, original.Annotations, state, activeAt, null,
            0.31, 120, Severity.P1, "https://runbooks.example.com/AuthDown", "> 0.2", TimeSpan.FromMinutes(10));

        var seeded = Assert.Single(factory.FiringFrom([Alert(AlertState.Firing, "acme"), Alert(AlertState.Pending, "globex")]));

        Assert.Equal(original.Fingerprint, seeded.Fingerprint);
        Assert.Equal((AlertStatus.Firing, "auth", "AuthDown", 0.31, activeAt, Severity.P1, "10m"),
            (seeded.Status, seeded.Group, seeded.Rule, seeded.Value, seeded.StartsAt, seeded.Severity, seeded.Window));
        Assert.Equal(original.GeneratorUrl, seeded.GeneratorUrl);
    }
}
