using OpenTelemetry.Exporter;

namespace Vigil.Demo;

/// <summary>How the demo emitter plays its scenarios.</summary>
public sealed record DemoOptions
{
    /// <summary>
    /// The incidents played in turn, each followed by <see cref="CalmLength"/> of normal traffic; the cycle
    /// repeats and each repetition targets the next tenant, so an incident never lands on a tenant whose
    /// alert from the previous cycle is still resolving.
    /// </summary>
    public IReadOnlyList<Scenario> Cycle { get; init; } =
        [Scenario.CrossTenantProbe, Scenario.AuthFailureBurst, Scenario.AiFailureSpike, Scenario.CostSpike];

    /// <summary>
    /// Length of every incident; null = each scenario's <see cref="ScenarioInfo.DefaultLength"/>, which is what the
    /// default rules need to fire. Shorter incidents show the traffic but may end before a rule's <c>for</c> elapses.
    /// </summary>
    public TimeSpan? ScenarioLength { get; init; }

    /// <summary>Normal traffic between two incidents.</summary>
    public TimeSpan CalmLength { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>How often traffic is generated (each tick emits rate × tick events).</summary>
    public TimeSpan Tick { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Tenants with normal traffic; incidents rotate over them cycle by cycle.</summary>
    public IReadOnlyList<string> Tenants { get; init; } = ["acme", "globex", "initech"];

    /// <summary>Seed of the jitter on traffic rates (±20 %), so two runs with the same seed emit the same counts.</summary>
    public int Seed { get; init; } = 42;

    /// <summary>The clock the schedule and the tick timer run on.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>Meter the demo emits on (distinct from Vigil's own self-telemetry meter).</summary>
    public string MeterName { get; init; } = "Vigil.Demo";

    /// <summary>For <see cref="DemoEmitter.StartInProcess"/>: null = http/protobuf when the port is 4318, else grpc.</summary>
    public OtlpExportProtocol? Protocol { get; init; }

    /// <summary>For <see cref="DemoEmitter.StartInProcess"/>: how often points are exported (short, so alerts come quickly).</summary>
    public TimeSpan ExportInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Every problem, each naming its option; empty when the options are usable.</summary>
    public IReadOnlyList<string> Validate()
    {
        var problems = new List<string>();
        if (Cycle.Count == 0)
        {
            problems.Add("Cycle: needs at least one scenario");
        }

        if (ScenarioLength is { } length && length < Tick)
        {
            problems.Add($"ScenarioLength: {length} is shorter than one tick ({Tick})");
        }

        if (CalmLength < TimeSpan.Zero)
        {
            problems.Add($"CalmLength: {CalmLength} is negative");
        }

        if (Tick <= TimeSpan.Zero)
        {
            problems.Add($"Tick: {Tick} must be positive");
        }

        if (Tenants.Count == 0 || Tenants.Any(string.IsNullOrWhiteSpace))
        {
            problems.Add("Tenants: needs at least one non-empty tenant id");
        }

        if (ExportInterval <= TimeSpan.Zero)
        {
            problems.Add($"ExportInterval: {ExportInterval} must be positive");
        }

        return problems;
    }
}
