namespace Vigil.Instrumentation;

/// <summary>Metric names and units of DESIGN §4; rules and dashboards select on exactly these.</summary>
public static class VigilMetricNames
{
    public const string AuthRequests = "auth.requests";
    public const string TenantRequests = "tenant.requests";
    public const string WorkspaceTransitions = "workspace.lifecycle.transitions";
    public const string AiRuns = "ai.runs";
    public const string AiRunCost = "ai.run.cost";
    public const string AiRunDuration = "ai.run.duration";
    public const string GenAiTokenUsage = "gen_ai.client.token.usage";
}

/// <summary>Attribute keys of DESIGN §4.</summary>
public static class VigilAttributes
{
    public const string TenantId = "tenant.id";
    public const string WorkspaceId = "workspace.id";
    public const string AuthMethod = "auth.method";
    public const string AuthOutcome = "auth.outcome";
    public const string TenantDecision = "tenant.decision";
    public const string TenantDenialClass = "tenant.denial_class";
    public const string HttpRoute = "http.route";
    public const string WorkspaceTransition = "workspace.transition";
    public const string WorkspaceAnomaly = "workspace.anomaly";
    public const string AiRunStatus = "ai.run.status";
    public const string GenAiRequestModel = "gen_ai.request.model";
    public const string GenAiTokenType = "gen_ai.token.type";
}

/// <summary>The outcome of one authentication attempt (<c>auth.outcome</c>).</summary>
public enum AuthOutcome
{
    /// <summary>Credentials accepted.</summary>
    Success,

    /// <summary>Credentials presented and rejected (wrong password, expired token, bad signature).</summary>
    Failure,

    /// <summary>No usable credentials, or a principal without the right to authenticate here.</summary>
    Unauthorized,
}

/// <summary>The tenant-isolation decision on one request (<c>tenant.decision</c>).</summary>
public enum TenantDecisionOutcome
{
    Allowed,
    Denied,
}

/// <summary>The final status of one AI run (<c>ai.run.status</c>).</summary>
public enum AiRunStatus
{
    Succeeded,
    Failed,
    PolicyBlocked,
    ValidationError,
}

/// <summary>
/// Well-known values of <c>tenant.denial_class</c>. The set is open (DESIGN §4 ends it with "…"): a service
/// may report its own lower_snake_case class, but the default rules select on these three.
/// </summary>
public static class TenantDenialClasses
{
    public const string CrossTenant = "cross_tenant";
    public const string Unauthorized = "unauthorized";
    public const string Membership = "membership";
}

/// <summary>The wire values of the enums, spelled as DESIGN §4 spells them.</summary>
public static class VigilAttributeValues
{
    public static string ToAttributeValue(this AuthOutcome outcome) => outcome switch
    {
        AuthOutcome.Success => "success",
        AuthOutcome.Failure => "failure",
        AuthOutcome.Unauthorized => "unauthorized",
        _ => throw new ArgumentOutOfRangeException(nameof(outcome), outcome, "not an AuthOutcome"),
    };

    public static string ToAttributeValue(this TenantDecisionOutcome decision) => decision switch
    {
        TenantDecisionOutcome.Allowed => "allowed",
        TenantDecisionOutcome.Denied => "denied",
        _ => throw new ArgumentOutOfRangeException(nameof(decision), decision, "not a TenantDecisionOutcome"),
    };

    public static string ToAttributeValue(this AiRunStatus status) => status switch
    {
        AiRunStatus.Succeeded => "succeeded",
        AiRunStatus.Failed => "failed",
        AiRunStatus.PolicyBlocked => "policy_blocked",
        AiRunStatus.ValidationError => "validation_error",
        _ => throw new ArgumentOutOfRangeException(nameof(status), status, "not an AiRunStatus"),
    };

    /// <summary><c>workspace.anomaly</c> is a string attribute ("true"/"false") so rules can match it like any label.</summary>
    public static string ToAttributeValue(this bool anomaly) => anomaly ? "true" : "false";
}
