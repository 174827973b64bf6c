using Vigil.Alerting;
using Vigil.Collector.Api;
using Vigil.Collector.Configuration;
using Vigil.Query;
using Vigil.Query.Exposition;
using Vigil.Rules.Api;
using Vigil.Storage;
using Vigil.Storage.Query;

namespace Vigil.Collector.Security;

/// <summary>
/// Who may read which tenant through the HTTP API (docs/security.md). The tenant is named by
/// <c>X-Scope-OrgID</c>, as Cortex, Mimir and Loki name it; unlike them Vigil has no gateway in front
/// to vouch for the header, so with <c>auth.read_keys</c> the header is bound to the key:
/// <list type="bullet">
/// <item>a read key for tenant A reads A (the header may be left out, or must say A: else 403);</item>
/// <item>the admin token reads every tenant, or the one its header names;</item>
/// <item>no key or an unknown one: 401.</item>
/// </list>
/// Without read keys the API stays open as before; a header still narrows the answer to its tenant.
/// One tenant per request: no <c>a|b</c> federation.
/// </summary>
public sealed class ReadAccess(VigilOptions options)
{
    public const string TenantHeader = "X-Scope-OrgID";

    private readonly ApiKeys _keys = new(options.Auth.ReadKeys);

    public bool Required => !_keys.IsEmpty;

    /// <summary>The scope a request reads with, or false and the 401/403 answer to give instead.</summary>
    public bool TryAuthorize(HttpRequest request, out ReadScope scope, out IResult? denied)
    {
        var header = request.Headers[TenantHeader].ToString().Trim();
        var asked = header.Length > 0 ? header : null;
        denied = null;
        scope = new ReadScope(asked, options.Storage.TenantAttribute);
        if (!Required)
        {
            return true;
        }

        var presented = ApiKeys.Presented(request.Headers);
        if (AdminAuthorization.IsAdminToken(presented, options))
        {
            return true;
        }

        if (_keys.Find(presented) is not { } key)
        {
            request.HttpContext.Response.Headers.WWWAuthenticate = "Bearer realm=\"vigil-read\"";
            denied = Error(
                StatusCodes.Status401Unauthorized,
                "unauthorized",
                presented is null
                    ? $"this API needs a read key: send 'Authorization: Bearer KEY' or 'api-key: KEY' and optionally '{TenantHeader}: TENANT' (auth.read_keys)"
                    : "the read key is not one of auth.read_keys (revoked, mistyped, or for another Vigil)");
            return false;
        }

        if (asked is not null && !string.Equals(asked, key.Tenant, StringComparison.Ordinal))
        {
            denied = Error(StatusCodes.Status403Forbidden, "forbidden", $"this read key is for tenant \"{key.Tenant}\"; it cannot read {TenantHeader} \"{Shorten(asked)}\"");
            return false;
        }

        scope = new ReadScope(key.Tenant, options.Storage.TenantAttribute);
        return true;
    }

    private static IResult Error(int status, string type, string message) =>
        Results.Json(new { status = "error", errorType = type, error = message }, statusCode: status);

    private static string Shorten(string text) => text.Length <= 64 ? text : text[..64] + "…";
}

/// <summary>
/// What one request may see: one tenant's series and alerts, or everything (<see cref="Tenant"/> null).
/// Every read endpoint passes its answer through one of these filters, so a tenant never sees a
/// series or an alert that does not carry its tenant label.
/// </summary>
public sealed record ReadScope(string? Tenant, string TenantAttribute)
{
    public bool IsEverything => Tenant is null;

    /// <summary>The scope the endpoint filter put on this request (<see cref="ApiAccess.ReadScoped{TBuilder}"/>).</summary>
    public static ReadScope Of(HttpContext context) =>
        context.Items[typeof(ReadScope)] as ReadScope ?? throw new InvalidOperationException($"{context.Request.Path}: a read endpoint without .ReadScoped()");

    public bool Allows(IReadOnlyDictionary<string, string> labels) =>
        Tenant is null || (labels.TryGetValue(TenantAttribute, out var tenant) && string.Equals(tenant, Tenant, StringComparison.Ordinal));

    public PromQueryEngine Engine(PromQueryEngine engine) => Tenant is null ? engine : engine.ForTenant(TenantAttribute, Tenant);

    public IWindowReader Reader(WindowStore store) => Tenant is null ? store : new TenantScopedReader(store, TenantAttribute, Tenant);

    public IEnumerable<MetricFamily> Families(IEnumerable<MetricFamily> families) =>
        Tenant is null ? families : Vigil.Query.Exposition.Families.WithLabel(families, PrometheusNames.LabelName(TenantAttribute), Tenant);

    public AlertDiscovery Alerts(AlertDiscovery alerts) => Tenant is null ? alerts : new AlertDiscovery([.. alerts.Alerts.Where(a => Allows(a.Labels))]);

    /// <summary>Rule definitions are shared; their alert instances and the state they give a rule are the tenant's own.</summary>
    public RuleDiscovery Rules(RuleDiscovery rules) => Tenant is null ? rules : new RuleDiscovery([.. rules.Groups.Select(g => g with
    {
        Rules = [.. g.Rules.Select(r => r is AlertingRuleInfo alerting ? OwnAlerts(alerting) : r)],
    })]);

    public AlertExplanation Explain(AlertExplanation explanation) =>
        Tenant is null ? explanation : explanation with { Instances = [.. explanation.Instances.Where(i => Allows(i.Labels))] };

    public AlertHistoryQuery History(AlertHistoryQuery query) =>
        Tenant is null ? query : query with { Label = new KeyValuePair<string, string>(TenantAttribute, Tenant) };

    private AlertingRuleInfo OwnAlerts(AlertingRuleInfo rule)
    {
        List<AlertInfo> alerts = [.. rule.Alerts.Where(a => Allows(a.Labels))];
        return rule with { Alerts = alerts, State = AlertingRuleInfo.StateOf(alerts) };
    }
}
