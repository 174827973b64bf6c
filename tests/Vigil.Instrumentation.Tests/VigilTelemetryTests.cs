using OpenTelemetry.Metrics;

namespace Vigil.Instrumentation.Tests;

public sealed class VigilTelemetryTests : IDisposable
{
    // A meter name per test: MeterProviders listen by name, and xunit runs test classes in parallel.
    private readonly string _meterName = "test." + Guid.NewGuid().ToString("N");
    private readonly VigilTelemetry _telemetry;
    private readonly MetricCapture _capture;

    public VigilTelemetryTests()
    {
        _capture = new MetricCapture(_meterName);
        _telemetry = new VigilTelemetry(_meterName);
    }

    public void Dispose()
    {
        _capture.Dispose();
        _telemetry.Dispose();
    }

    [Theory]
    [InlineData(AuthOutcome.Success, "success")]
    [InlineData(AuthOutcome.Failure, "failure")]
    [InlineData(AuthOutcome.Unauthorized, "unauthorized")]
    public void AuthAttempt_CountsAuthRequestsWithTenantMethodAndOutcome(AuthOutcome outcome, string wire)
    {
        _telemetry.AuthAttempt("acme", "oidc", outcome);
        _telemetry.AuthAttempt("acme", "oidc", outcome);

        var point = Assert.Single(_capture.Collect());
        Assert.Equal(("auth.requests", "{request}", MetricType.LongSum), (point.Name, point.Unit, point.Type));
        Assert.Equal(2, point.Value);
        AssertAttributes(point, ("tenant.id", "acme"), ("auth.method", "oidc"), ("auth.outcome", wire));
    }

    [Fact]
    public void TenantDecision_Denied_CarriesDenialClassAndRoute()
    {
        _telemetry.TenantDecision("acme", TenantDecisionOutcome.Denied, TenantDenialClasses.CrossTenant, "/api/tenants/{tenant_id}");

        var point = Assert.Single(_capture.Collect());
        Assert.Equal(("tenant.requests", "{request}", MetricType.LongSum), (point.Name, point.Unit, point.Type));
        AssertAttributes(point, ("tenant.id", "acme"), ("tenant.decision", "denied"), ("tenant.denial_class", "cross_tenant"), ("http.route", "/api/tenants/{tenant_id}"));
    }

    [Fact]
    public void TenantDecision_Allowed_HasNoDenialClass()
    {
        _telemetry.TenantDecision("acme", TenantDecisionOutcome.Allowed, null, "/api/members");

        var point = Assert.Single(_capture.Collect());
        AssertAttributes(point, ("tenant.id", "acme"), ("tenant.decision", "allowed"), ("http.route", "/api/members"));
    }

    [Theory]
    [InlineData(TenantDecisionOutcome.Denied, null)]
    [InlineData(TenantDecisionOutcome.Allowed, "membership")]
    public void TenantDecision_DenialClassThatContradictsTheDecision_IsRefused(TenantDecisionOutcome decision, string? denialClass)
    {
        var error = Assert.Throws<ArgumentException>(() => _telemetry.TenantDecision("acme", decision, denialClass, "/api/x"));
        Assert.Equal("denialClass", error.ParamName);
        Assert.Empty(_capture.Collect());
    }

    [Theory]
    [InlineData(true, "true")]
    [InlineData(false, "false")]
    public void WorkspaceTransition_ReportsAnomalyAsTheStringsTrueAndFalse(bool anomaly, string wire)
    {
        _telemetry.WorkspaceTransition("acme", "ws-1", "suspended", anomaly);

        var point = Assert.Single(_capture.Collect());
        Assert.Equal(("workspace.lifecycle.transitions", "{transition}", MetricType.LongSum), (point.Name, point.Unit, point.Type));
        AssertAttributes(point, ("tenant.id", "acme"), ("workspace.id", "ws-1"), ("workspace.transition", "suspended"), ("workspace.anomaly", wire));
    }

    [Theory]
    [InlineData(AiRunStatus.Succeeded, "succeeded")]
    [InlineData(AiRunStatus.Failed, "failed")]
    [InlineData(AiRunStatus.PolicyBlocked, "policy_blocked")]
    [InlineData(AiRunStatus.ValidationError, "validation_error")]
    public void AiRun_CountsTheRunWithItsStatus(AiRunStatus status, string wire)
    {
        _telemetry.AiRun("acme", "ws-1", "gpt-4o", status, 100, 10, 0.01, TimeSpan.FromSeconds(1));

        var runs = Assert.Single(_capture.Collect(), p => p.Name == "ai.runs");
        Assert.Equal(("{run}", MetricType.LongSum, 1.0), (runs.Unit, runs.Type, runs.Value));
        AssertAttributes(runs, ("tenant.id", "acme"), ("workspace.id", "ws-1"), ("gen_ai.request.model", "gpt-4o"), ("ai.run.status", wire));
    }

    [Fact]
    public void AiRun_EmitsCostTokensAndDurationWithTheDesignNamesUnitsAndAttributes()
    {
        _telemetry.AiRun("acme", "ws-1", "gpt-4o", AiRunStatus.Succeeded, 1200, 300, 0.25, TimeSpan.FromMilliseconds(1500));
        _telemetry.AiRun("acme", "ws-1", "gpt-4o", AiRunStatus.Succeeded, 800, 100, 0.5, TimeSpan.FromMilliseconds(500));

        var points = _capture.Collect();
        Assert.Equal(["ai.run.cost", "ai.run.duration", "ai.runs", "gen_ai.client.token.usage", "gen_ai.client.token.usage"], points.Select(p => p.Name).Order(StringComparer.Ordinal));

        var cost = Assert.Single(points, p => p.Name == "ai.run.cost");
        Assert.Equal(("USD", MetricType.DoubleSum), (cost.Unit, cost.Type));
        Assert.Equal(0.75, cost.Value, 9);
        AssertAttributes(cost, ("tenant.id", "acme"), ("workspace.id", "ws-1"), ("gen_ai.request.model", "gpt-4o"));

        var duration = Assert.Single(points, p => p.Name == "ai.run.duration");
        Assert.Equal(("s", MetricType.Histogram, 2L), (duration.Unit, duration.Type, duration.HistogramCount));
        Assert.Equal(2.0, duration.Value, 9);
        Assert.Equal(VigilTelemetry.DurationBuckets, duration.Bounds);
        AssertAttributes(duration, ("tenant.id", "acme"), ("workspace.id", "ws-1"), ("gen_ai.request.model", "gpt-4o"), ("ai.run.status", "succeeded"));

        var input = Assert.Single(points, p => p.Name == "gen_ai.client.token.usage" && p.Attributes["gen_ai.token.type"] == "input");
        var output = Assert.Single(points, p => p.Name == "gen_ai.client.token.usage" && p.Attributes["gen_ai.token.type"] == "output");
        Assert.Equal(("{token}", MetricType.Histogram, 2L, 2000.0), (input.Unit, input.Type, input.HistogramCount, input.Value));
        Assert.Equal((2L, 400.0), (output.HistogramCount, output.Value));
        Assert.Equal(VigilTelemetry.TokenBuckets.Select(b => (double)b), input.Bounds);
        AssertAttributes(input, ("gen_ai.token.type", "input"), ("gen_ai.request.model", "gpt-4o"), ("workspace.id", "ws-1"));
    }

    [Fact]
    public void AiRun_WithoutOutputTokens_RecordsOnlyTheInputObservation()
    {
        _telemetry.AiRun("acme", "ws-1", "gpt-4o", AiRunStatus.PolicyBlocked, 900, 0, 0.002, TimeSpan.FromMilliseconds(80));

        var tokens = Assert.Single(_capture.Collect(), p => p.Name == "gen_ai.client.token.usage");
        Assert.Equal("input", tokens.Attributes["gen_ai.token.type"]);
    }

    [Theory]
    [InlineData(-0.01)]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    public void AiRun_CostThatIsNotAFiniteNonNegativeAmount_IsRefusedAndNothingIsCounted(double cost)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => _telemetry.AiRun("acme", "ws-1", "gpt-4o", AiRunStatus.Succeeded, 1, 1, cost, TimeSpan.Zero));
        Assert.Empty(_capture.Collect());
    }

    [Fact]
    public void EmptyTenant_IsRefusedWithTheParameterName()
    {
        var error = Assert.Throws<ArgumentException>(() => _telemetry.AuthAttempt(" ", "oidc", AuthOutcome.Success));
        Assert.Equal("tenantId", error.ParamName);
    }

    private static void AssertAttributes(CapturedPoint point, params (string Key, string Value)[] expected)
    {
        Assert.Equal(
            expected.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToArray(),
            point.Attributes.Select(kv => (kv.Key, kv.Value)).OrderBy(kv => kv.Key, StringComparer.Ordinal).ToArray());
    }
}
