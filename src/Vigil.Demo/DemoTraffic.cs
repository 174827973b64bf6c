using Vigil.Instrumentation;

namespace Vigil.Demo;

/// <summary>
/// Generates the demo's events for a stretch of time: normal traffic for every tenant, plus the incident of the
/// active scenario on the target tenant. Rates are events per second; fractional events carry over to the next
/// call, so the counts over a window are exact to one event whatever the tick length.
/// </summary>
public sealed class DemoTraffic
{
    // Normal traffic per tenant (per workspace for AI runs), in events/s. Each ratio sits far under its rule:
    // auth failure 3 % (rule 20 %), unauthorized 1 % (25 %), tenant unauthorized 1 % (10 %), membership 1 % (20 %),
    // workspace anomalies 1 % (5 %), AI failed 2 % (20 %), policy-blocked 2 % (10 %), validation 1 % (5 %),
    // cost per run ~0.005 USD (0.50).
    internal const double AuthSuccess = 9.6, AuthFailure = 0.3, AuthUnauthorized = 0.1;
    internal const double TenantAllowed = 19.6, TenantDeniedUnauthorized = 0.2, TenantDeniedMembership = 0.2;
    internal const double WorkspaceTransitions = 0.198, WorkspaceAnomalies = 0.002;
    internal const double AiSucceeded = 0.47, AiFailed = 0.01, AiPolicyBlocked = 0.01, AiValidationError = 0.005;

    // Incidents on the target tenant, in events/s on top of normal traffic.
    internal const double BurstAuthFailures = 40;
    internal const double ProbeCrossTenantDenials = 2;
    internal const double SpikeAiFailures = 3.5;
    internal const double SpikeExpensiveRuns = 0.5;

    internal const string NormalModel = "gpt-4o-mini";
    internal const string FailingModel = "gpt-4o";
    internal const string ExpensiveModel = "gpt-4.1";

    private static readonly string[] AuthMethods = ["password", "oidc", "api_key"];
    private static readonly string[] Transitions = ["created", "started", "suspended", "resumed", "deleted"];
    private static readonly string[] AllowedRoutes = ["/api/workspaces/{workspace_id}", "/api/workspaces/{workspace_id}/runs", "/api/members"];

    private readonly VigilTelemetry _telemetry;
    private readonly IReadOnlyList<string> _tenants;
    private readonly Random _random;
    private readonly Dictionary<(string Tenant, string Stream), double> _carry = [];
    private long _sequence;

    public DemoTraffic(VigilTelemetry telemetry, IReadOnlyList<string> tenants, Random random)
    {
        ArgumentNullException.ThrowIfNull(telemetry);
        ArgumentNullException.ThrowIfNull(tenants);
        ArgumentNullException.ThrowIfNull(random);
        _telemetry = telemetry;
        _tenants = tenants;
        _random = random;
    }

    /// <summary>The workspace an <see cref="Scenario.AiFailureSpike"/> hits.</summary>
    public static string SupportWorkspace(string tenant) => tenant + "-support";

    /// <summary>The workspace a <see cref="Scenario.CostSpike"/> hits.</summary>
    public static string ResearchWorkspace(string tenant) => tenant + "-research";

    /// <summary>Emits <paramref name="elapsed"/> worth of traffic while <paramref name="scenario"/> plays on <paramref name="targetTenant"/>.</summary>
    public void Emit(Scenario scenario, string targetTenant, TimeSpan elapsed)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(targetTenant);
        if (elapsed <= TimeSpan.Zero)
        {
            return;
        }

        var seconds = elapsed.TotalSeconds;
        foreach (var tenant in _tenants)
        {
            // ±20 % jitter per tenant and tick, so the dashboards look alive; ratios stay far from the thresholds.
            var load = 0.8 + (0.4 * _random.NextDouble());
            EmitNormal(tenant, seconds * load);
        }

        EmitIncident(scenario, targetTenant, seconds);
    }

    private void EmitNormal(string tenant, double seconds)
    {
        Repeat(tenant, "auth.success", AuthSuccess * seconds, () => _telemetry.AuthAttempt(tenant, NextOf(AuthMethods), AuthOutcome.Success));
        Repeat(tenant, "auth.failure", AuthFailure * seconds, () => _telemetry.AuthAttempt(tenant, NextOf(AuthMethods), AuthOutcome.Failure));
        Repeat(tenant, "auth.unauthorized", AuthUnauthorized * seconds, () => _telemetry.AuthAttempt(tenant, NextOf(AuthMethods), AuthOutcome.Unauthorized));

        Repeat(tenant, "tenant.allowed", TenantAllowed * seconds, () => _telemetry.TenantDecision(tenant, TenantDecisionOutcome.Allowed, null, NextOf(AllowedRoutes)));
        Repeat(tenant, "tenant.unauthorized", TenantDeniedUnauthorized * seconds,
            () => _telemetry.TenantDecision(tenant, TenantDecisionOutcome.Denied, TenantDenialClasses.Unauthorized, "/api/workspaces/{workspace_id}/runs"));
        Repeat(tenant, "tenant.membership", TenantDeniedMembership * seconds,
            () => _telemetry.TenantDecision(tenant, TenantDecisionOutcome.Denied, TenantDenialClasses.Membership, "/api/workspaces/{workspace_id}"));

        var workspaces = new[] { SupportWorkspace(tenant), ResearchWorkspace(tenant) };
        Repeat(tenant, "workspace.normal", WorkspaceTransitions * seconds,
            () => _telemetry.WorkspaceTransition(tenant, NextOf(workspaces), NextOf(Transitions), anomaly: false));
        Repeat(tenant, "workspace.anomaly", WorkspaceAnomalies * seconds,
            () => _telemetry.WorkspaceTransition(tenant, NextOf(workspaces), NextOf(Transitions), anomaly: true));

        foreach (var workspace in workspaces)
        {
            Repeat(workspace, "ai.succeeded", AiSucceeded * seconds, () => NormalRun(tenant, workspace, AiRunStatus.Succeeded));
            Repeat(workspace, "ai.failed", AiFailed * seconds, () => NormalRun(tenant, workspace, AiRunStatus.Failed));
            Repeat(workspace, "ai.policy_blocked", AiPolicyBlocked * seconds, () => NormalRun(tenant, workspace, AiRunStatus.PolicyBlocked));
            Repeat(workspace, "ai.validation_error", AiValidationError * seconds, () => NormalRun(tenant, workspace, AiRunStatus.ValidationError));
        }
    }

    private void EmitIncident(Scenario scenario, string tenant, double seconds)
    {
        switch (scenario)
        {
            case Scenario.Normal:
                break;
            case Scenario.AuthFailureBurst:
                Repeat(tenant, "burst.auth.failure", BurstAuthFailures * seconds, () => _telemetry.AuthAttempt(tenant, "password", AuthOutcome.Failure));
                break;
            case Scenario.CrossTenantProbe:
                Repeat(tenant, "probe.cross_tenant", ProbeCrossTenantDenials * seconds,
                    () => _telemetry.TenantDecision(tenant, TenantDecisionOutcome.Denied, TenantDenialClasses.CrossTenant, "/api/tenants/{tenant_id}/workspaces"));
                break;
            case Scenario.AiFailureSpike:
                var support = SupportWorkspace(tenant);
                Repeat(support, "spike.ai.failed", SpikeAiFailures * seconds,
                    () => _telemetry.AiRun(tenant, support, FailingModel, AiRunStatus.Failed, Between(500, 1500), 0, 0.002, Seconds(20, 30)));
                break;
            case Scenario.CostSpike:
                var research = ResearchWorkspace(tenant);
                Repeat(research, "spike.ai.expensive", SpikeExpensiveRuns * seconds, () =>
                {
                    var input = Between(3_200_000, 3_600_000);
                    var output = Between(300_000, 400_000);
                    _telemetry.AiRun(tenant, research, ExpensiveModel, AiRunStatus.Succeeded, input, output, Cost(input, output), Seconds(40, 80));
                });
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(scenario), scenario, "unknown scenario");
        }
    }

    private void NormalRun(string tenant, string workspace, AiRunStatus status)
    {
        var input = Between(600, 1400);
        var output = status == AiRunStatus.Succeeded || status == AiRunStatus.ValidationError ? Between(100, 500) : 0;
        var duration = status == AiRunStatus.PolicyBlocked ? Seconds(0.05, 0.2) : Seconds(0.8, 3);
        _telemetry.AiRun(tenant, workspace, NormalModel, status, input, output, Cost(input, output), duration);
    }

    // A list price of 2.50 USD per million input tokens and 10 USD per million output tokens.
    internal static double Cost(long inputTokens, long outputTokens) => (inputTokens * 2.5e-6) + (outputTokens * 1e-5);

    private void Repeat(string owner, string stream, double expected, Action emit)
    {
        var key = (owner, stream);
        var due = _carry.GetValueOrDefault(key) + expected;
        var count = (long)Math.Floor(due);
        _carry[key] = due - count;
        for (var i = 0; i < count; i++)
        {
            emit();
        }
    }

    private T NextOf<T>(T[] values) => values[(int)(_sequence++ % values.Length)];

    private long Between(long min, long max) => _random.NextInt64(min, max + 1);

    private TimeSpan Seconds(double min, double max) => TimeSpan.FromSeconds(min + ((max - min) * _random.NextDouble()));
}
