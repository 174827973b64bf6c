using Vigil.Rules.Api;

namespace Vigil.Alerting.Tests;

public sealed class AlertEventFactoryTests
{
    [Fact]
    public void FiringFromRules_SeedsOnlyFiringInstances_WithTheSameFingerprintAsTheirEvents()
    {
        var time = Transitions.Clock();
        var factory = new AlertEventFactory("https://vigil.example.com", time);
        var original = factory.Create(Transitions.Firing(time.GetUtcNow(), "AuthDown"))!;
        var activeAt = time.GetUtcNow().AddMinutes(-2);
        AlertInfo Info(string state, string tenant) => new(
            new Dictionary<string, string>(original.Labels) { ["tenant.id"] = tenant }, original.Annotations, state, activeAt, null, "0.31", "P1",
            "https://runbooks.example.com/AuthDown", "> 0.2", 120);
        var rules = new RuleDiscovery(
        [
            new RuleGroupInfo("auth", "auth.yaml",
            [
                new AlertingRuleInfo("AuthDown", "q", "firing", 120, 0, original.Labels, original.Annotations,
                    [Info("firing", "acme"), Info("pending", "globex")], "ok", null, 0, time.GetUtcNow(), "P1", "https://runbooks.example.com/AuthDown",
                    "> 0.2", "10m"),
            ], 30, 0, 0, time.GetUtcNow()),
        ]);

        var seeded = Assert.Single(factory.FiringFromRules(rules));

        Assert.Equal(original.Fingerprint, seeded.Fingerprint);
        Assert.Equal((AlertStatus.Firing, "auth", "AuthDown", 0.31, activeAt), (seeded.Status, seeded.Group, seeded.Rule, seeded.Value, seeded.StartsAt));
        Assert.Equal(original.GeneratorUrl, seeded.GeneratorUrl);
    }
}
