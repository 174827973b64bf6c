namespace Vigil.Demo;

/// <summary>What the demo emitter plays. Every scenario runs on top of normal traffic for all tenants.</summary>
public enum Scenario
{
    /// <summary>Normal traffic only: every ratio well under its rule's threshold.</summary>
    Normal,

    /// <summary>A credential-stuffing burst on one tenant: fires AuthFailureRateHigh (P1).</summary>
    AuthFailureBurst,

    /// <summary>Requests from one tenant probing another tenant's data: fires TenantCrossTenantDenied (P1) at once.</summary>
    CrossTenantProbe,

    /// <summary>A model outage in one workspace: fires AiRunFailureRateHigh (P1).</summary>
    AiFailureSpike,

    /// <summary>A runaway agent with huge prompts in one workspace: fires AiAverageCostPerRunHigh (P2).</summary>
    CostSpike,
}

/// <summary>What a scenario is for, how long it runs by default and what it should make fire.</summary>
/// <param name="Scenario">the scenario.</param>
/// <param name="DefaultLength">how long the incident lasts by default: long enough for the rule's window, guard and <c>for</c>.</param>
/// <param name="Alert">the default rule it makes fire (rules/*.yaml), or null for normal traffic.</param>
/// <param name="Description">one line for logs and docs.</param>
public sealed record ScenarioInfo(Scenario Scenario, TimeSpan DefaultLength, string? Alert, string Description)
{
    /// <summary>Every scenario, in the order of the default cycle (the fastest alert first, so a newcomer sees one within a minute).</summary>
    public static IReadOnlyList<ScenarioInfo> All { get; } =
    [
        // TenantCrossTenantDenied has no `for`: it fires at the first evaluation (interval 30s) that sees one denial.
        new(Scenario.CrossTenantProbe, TimeSpan.FromSeconds(60), "TenantCrossTenantDenied",
            "cross-tenant probe: 2 denied cross_tenant requests/s"),
        // AuthFailureRateHigh: ratio > 0.20 over 5m (crossed after ~20 s of the burst), then `for: 2m`.
        new(Scenario.AuthFailureBurst, TimeSpan.FromSeconds(210), "AuthFailureRateHigh",
            "auth failure burst: +40 failed password logins/s on one tenant"),
        // AiRunFailureRateHigh: ratio > 0.20 over 10m per workspace (crossed after ~20 s), then `for: 2m`.
        new(Scenario.AiFailureSpike, TimeSpan.FromSeconds(210), "AiRunFailureRateHigh",
            "AI failure spike: +3.5 failed runs/s in one workspace"),
        // AiAverageCostPerRunHigh: 15m cost per run > 0.50 USD (crossed after ~40 s), one evaluation of
        // recording lag, then `for: 5m`.
        new(Scenario.CostSpike, TimeSpan.FromSeconds(480), "AiAverageCostPerRunHigh",
            "cost spike: +0.5 runs/s at ~12 USD each in one workspace"),
        new(Scenario.Normal, TimeSpan.FromSeconds(60), null, "normal traffic"),
    ];

    public static ScenarioInfo Of(Scenario scenario) =>
        All.FirstOrDefault(info => info.Scenario == scenario) ?? throw new ArgumentOutOfRangeException(nameof(scenario), scenario, "unknown scenario");
}
