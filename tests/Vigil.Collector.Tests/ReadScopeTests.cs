using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Google.Protobuf;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Vigil.Collector.Security;
using Vigil.Otlp.Proto.Collector;
using Vigil.Otlp.Proto.Common;
using Vigil.Otlp.Proto.Metrics;

namespace Vigil.Collector.Tests;

/// <summary>
/// Read keys scoped to a tenant (X-Scope-OrgID): a key for a sees only a's series and alerts in every
/// read endpoint, gets 403 for b and 401 without a key; the admin token reads every tenant; every API
/// endpoint declares its access and the admin endpoints refuse without the token.
/// </summary>
public sealed class ReadScopeTests
{
    /// <summary>An API client with a key and a tenant header, as readers send them; used by the other read-endpoint tests too.</summary>
    internal static HttpClient Client(VigilServer vigil, string? key = null, string? tenant = null)
    {
        var http = new HttpClient { BaseAddress = vigil.HttpUri };
        if (key is not null)
        {
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }

        if (tenant is not null)
        {
            http.DefaultRequestHeaders.Add(ReadAccess.TenantHeader, tenant);
        }

        return http;
    }

    internal static async Task<JsonElement> JsonAsync(HttpClient http, string url)
    {
        using var response = await http.GetAsync(url);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"{url}: {(int)response.StatusCode} {body}");
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    internal static ExportMetricsServiceRequest Requests(DateTimeOffset at, params (string Tenant, long Count)[] tenants)
    {
        var requests = tenants.Select(t =>
        {
            var request = OtlpRequests.DeltaCounterAt("tenant.requests", at, t.Tenant, ("tenant.decision", "denied", t.Count));
            request.ResourceMetrics[0].ScopeMetrics[0].Metrics[0].Sum.DataPoints[0].Attributes.Add(new KeyValue { Key = "tenant.denial_class", Value = new AnyValue { StringValue = "cross_tenant" } });
            return request;
        });
        return OtlpRequests.Merge([.. requests]);
    }

    internal static async Task SendAsync(VigilServer vigil, IMessage request)
    {
        using var http = new HttpClient { BaseAddress = vigil.OtlpHttpUri };
        using var content = new ByteArrayContent(request.ToByteArray());
        content.Headers.ContentType = new MediaTypeHeaderValue("application/x-protobuf");
        using var response = await http.PostAsync("/v1/metrics", content);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    private static string[] Tenants(JsonElement array, Func<JsonElement, JsonElement> labels, string label = "tenant.id") =>
        [.. array.EnumerateArray().Select(e => labels(e).TryGetProperty(label, out var t) ? t.GetString()! : "(none)").Distinct().Order(StringComparer.Ordinal)];

    [Fact]
    public async Task ReadKeyForA_SeesOnlyAsSeries_InEveryListingAndQuery_TheAdminTokenSeesBoth()
    {
        await using var vigil = await VigilServer.StartAsync(TestKeys.WithReadKeys);
        await SendAsync(vigil, Requests(DateTimeOffset.UtcNow, ("a", 2), ("b", 5)));
        using var a = Client(vigil, TestKeys.ReadA);
        using var aNamed = Client(vigil, TestKeys.ReadA, "a");
        using var admin = Client(vigil, TestKeys.AdminToken);
        using var adminAsB = Client(vigil, TestKeys.AdminToken, "b");

        var series = "/api/v1/series?match[]=" + Uri.EscapeDataString("tenant_requests_total");
        Assert.Equal(["a"], Tenants((await JsonAsync(a, series)).GetProperty("data"), e => e, "tenant_id"));
        Assert.Equal(["a"], Tenants((await JsonAsync(aNamed, series)).GetProperty("data"), e => e, "tenant_id"));
        Assert.Equal(["a", "b"], Tenants((await JsonAsync(admin, series)).GetProperty("data"), e => e, "tenant_id"));
        Assert.Equal(["b"], Tenants((await JsonAsync(adminAsB, series)).GetProperty("data"), e => e, "tenant_id"));

        // No tenant matcher in the query, and no tenant in `by`: the sum is still a's alone.
        var query = "/api/v1/query?query=" + Uri.EscapeDataString("sum(tenant_requests_total)");
        Assert.Equal("2", (await JsonAsync(a, query)).GetProperty("data").GetProperty("result")[0].GetProperty("value")[1].GetString());
        Assert.Equal("7", (await JsonAsync(admin, query)).GetProperty("data").GetProperty("result")[0].GetProperty("value")[1].GetString());
        var byTenant = "/api/v1/query?query=" + Uri.EscapeDataString("tenant_requests_total{tenant_id=\"b\"}");
        Assert.Empty((await JsonAsync(a, byTenant)).GetProperty("data").GetProperty("result").EnumerateArray());

        Assert.Equal(["a"], (await JsonAsync(a, "/api/v1/label/tenant_id/values")).GetProperty("data").EnumerateArray().Select(v => v.GetString()));
        Assert.Equal(["a"], Tenants((await JsonAsync(a, "/api/v1/series")).GetProperty("data"), e => e.GetProperty("labels")));
        var aggregate = await JsonAsync(a, "/api/v1/aggregate?metric=tenant.requests&fn=increase&window=5m");
        Assert.Equal(2, Assert.Single(aggregate.GetProperty("data").EnumerateArray()).GetProperty("value").GetDouble());

        // Self-metrics carry no tenant: a tenant's /metrics shows none of them.
        var metrics = await a.GetStringAsync("/metrics");
        Assert.DoesNotContain("vigil_ingest_points_accepted_total", metrics);
        Assert.Contains("vigil_ingest_points_accepted_total", await admin.GetStringAsync("/metrics"));
    }

    [Fact]
    public async Task ReadKeyForA_AskingForB_Is403_NoOrUnknownKeyIs401()
    {
        await using var vigil = await VigilServer.StartAsync(TestKeys.WithReadKeys);
        using var asB = Client(vigil, TestKeys.ReadA, "b");
        using var none = Client(vigil);
        using var unknown = Client(vigil, "vigil_not-a-read-key");
        using var ingestKeyIsNoReadKey = Client(vigil, TestKeys.IngestA);

        using var forbidden = await asB.GetAsync("/api/v1/query?query=up");
        Assert.Equal(HttpStatusCode.Forbidden, forbidden.StatusCode);
        var refusal = JsonDocument.Parse(await forbidden.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("forbidden", refusal.GetProperty("errorType").GetString());
        Assert.Contains("this read key is for tenant \"a\"", refusal.GetProperty("error").GetString());
        foreach (var client in new[] { none, unknown, ingestKeyIsNoReadKey })
        {
            using var response = await client.GetAsync("/api/v1/series?match[]=up");
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            Assert.DoesNotContain("vigil_", await response.Content.ReadAsStringAsync());
        }

        using var health = await none.GetAsync("/healthz");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
    }

    [Fact]
    public async Task ReadKeyForA_SeesOnlyAsAlerts_InAlertsRulesExplainHistoryAndMetrics()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var vigil = await VigilServer.StartAsync(TestKeys.WithReadKeys, time: time);
        await SendAsync(vigil, Requests(time.GetUtcNow(), ("a", 2), ("b", 5)));
        using var a = Client(vigil, TestKeys.ReadA);
        using var admin = Client(vigil, TestKeys.AdminToken);

        // TenantCrossTenantDenied (rules/tenant.yaml) has no `for`: one evaluation of its group fires it for
        // both tenants. Advance the fake clock past the group's interval and wait for that evaluation itself.
        using var evaluated = new SemaphoreSlim(0);
        vigil.Services.GetRequiredService<Vigil.Collector.Rules.RulesHost>().Manager.Evaluated += e =>
        {
            if (e.Group == "tenant")
            {
                evaluated.Release();
            }
        };
        var deadline = DateTime.UtcNow.AddSeconds(20);
        string[] firing = [];
        while (firing.Length < 2 && DateTime.UtcNow < deadline)
        {
            time.Advance(TimeSpan.FromSeconds(30));
            await evaluated.WaitAsync(TimeSpan.FromSeconds(5));
            firing = Tenants((await JsonAsync(admin, "/api/v1/alerts")).GetProperty("data").GetProperty("alerts"), e => e.GetProperty("labels"));
        }

        Assert.Equal(["a", "b"], firing);
        Assert.Equal(["a"], Tenants((await JsonAsync(a, "/api/v1/alerts")).GetProperty("data").GetProperty("alerts"), e => e.GetProperty("labels")));

        var rule = (await JsonAsync(a, "/api/v1/rules")).GetProperty("data").GetProperty("groups").EnumerateArray()
            .SelectMany(g => g.GetProperty("rules").EnumerateArray()).Single(r => r.GetProperty("name").GetString() == "TenantCrossTenantDenied");
        Assert.Equal(["a"], Tenants(rule.GetProperty("alerts"), e => e.GetProperty("labels")));

        var explain = await JsonAsync(a, "/api/v1/rules/tenant/TenantCrossTenantDenied/explain");
        Assert.Equal(["a"], Tenants(explain.GetProperty("data").GetProperty("instances"), e => e.GetProperty("labels")));

        string[] recorded = [];
        while (recorded.Length < 2 && DateTime.UtcNow < deadline)
        {
            recorded = Tenants((await JsonAsync(admin, "/api/v1/alerts/history")).GetProperty("data"), e => e.GetProperty("event").GetProperty("labels"));
        }

        Assert.Equal(["a", "b"], recorded);
        var history = await JsonAsync(a, "/api/v1/alerts/history?limit=1");
        Assert.Equal(["a"], Tenants(history.GetProperty("data"), e => e.GetProperty("event").GetProperty("labels")));

        var metrics = await a.GetStringAsync("/metrics");
        Assert.Contains("tenant_id=\"a\"", metrics);
        Assert.DoesNotContain("tenant_id=\"b\"", metrics);
    }

    [Fact]
    public async Task WithoutReadKeys_TheApiStaysOpen_AndTheHeaderNarrowsTheAnswer()
    {
        await using var vigil = await VigilServer.StartAsync();
        await SendAsync(vigil, Requests(DateTimeOffset.UtcNow, ("a", 2), ("b", 5)));
        using var open = Client(vigil);
        using var asB = Client(vigil, tenant: "b");

        Assert.Equal(["a", "b"], Tenants((await JsonAsync(open, "/api/v1/series")).GetProperty("data"), e => e.GetProperty("labels")));
        Assert.Equal(["b"], Tenants((await JsonAsync(asB, "/api/v1/series")).GetProperty("data"), e => e.GetProperty("labels")));
    }

    private static IEnumerable<(RouteEndpoint Endpoint, AccessKind? Access, string Method, string Url)> ApiEndpoints(VigilServer vigil) =>
        vigil.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .Where(e => e.Metadata.GetMetadata<ListenerAttribute>()?.Name == Listeners.Http)
            .Select(e => (
                e,
                e.Metadata.GetMetadata<ApiAccessAttribute>()?.Kind,
                e.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods[0] ?? "GET",
                "/" + string.Join('/', e.RoutePattern.PathSegments.Select(s => string.Concat(s.Parts.Select(p => p is Microsoft.AspNetCore.Routing.Patterns.RoutePatternLiteralPart literal ? literal.Content : "tenant"))))));

    [Fact]
    public async Task EveryApiEndpoint_DeclaresItsAccess_AndEveryReadEndpointRefusesWithoutAKeyOrForAnotherTenant()
    {
        await using var vigil = await VigilServer.StartAsync(TestKeys.WithReadKeys);
        using var none = Client(vigil);
        using var asB = Client(vigil, TestKeys.ReadA, "b");
        using var asA = Client(vigil, TestKeys.ReadA);
        var endpoints = ApiEndpoints(vigil).ToList();

        Assert.Empty(endpoints.Where(e => e.Access is null).Select(e => e.Endpoint.DisplayName));
        var reads = endpoints.Where(e => e.Access == AccessKind.Read).ToList();
        Assert.Contains(reads, e => e.Url == "/api/v1/query");
        Assert.Contains(reads, e => e.Url == "/api/v1/alerts/history");
        Assert.Contains(reads, e => e.Url == "/metrics");
        foreach (var (_, _, method, url) in reads)
        {
            using var unauthenticated = await none.SendAsync(new HttpRequestMessage(new HttpMethod(method), url));
            Assert.True(unauthenticated.StatusCode == HttpStatusCode.Unauthorized, $"{method} {url} without a key: {unauthenticated.StatusCode}");
            using var forbidden = await asB.SendAsync(new HttpRequestMessage(new HttpMethod(method), url));
            Assert.True(forbidden.StatusCode == HttpStatusCode.Forbidden, $"{method} {url} with a's key for b: {forbidden.StatusCode}");
            if (url != "/api/v1/alerts/stream")
            {
                using var allowed = await asA.SendAsync(new HttpRequestMessage(new HttpMethod(method), url));
                Assert.True(allowed.StatusCode is not (HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden), $"{method} {url} with a's key: {allowed.StatusCode}");
            }
        }
    }

    [Fact]
    public async Task EveryAdminEndpoint_RefusesWithoutTheToken_AndRunsWithIt()
    {
        await using var vigil = await VigilServer.StartAsync(o => o with { AdminToken = TestKeys.AdminToken });
        using var none = Client(vigil);
        using var wrong = Client(vigil, TestKeys.AdminToken + "x");
        using var readKeyIsNoAdmin = Client(vigil, TestKeys.ReadA);
        using var admin = Client(vigil, TestKeys.AdminToken);
        var writes = ApiEndpoints(vigil).Where(e => e.Access == AccessKind.Admin).ToList();

        Assert.Contains(writes, e => e.Url == "/-/reload");
        // Everything that is not a GET/HEAD read is an admin endpoint: reads by POST are Prometheus' form posts.
        var formReads = new[] { "/api/v1/query", "/api/v1/query_range", "/api/v1/series", "/api/v1/labels" };
        Assert.Empty(ApiEndpoints(vigil).Where(e => e.Access != AccessKind.Admin && e.Method != "GET" && !formReads.Contains(e.Url)).Select(e => e.Url));
        foreach (var (_, _, method, url) in writes)
        {
            foreach (var client in new[] { none, wrong, readKeyIsNoAdmin })
            {
                using var refused = await client.SendAsync(new HttpRequestMessage(new HttpMethod(method), url));
                Assert.True(refused.StatusCode == HttpStatusCode.Unauthorized, $"{method} {url}: {refused.StatusCode}");
            }

            using var allowed = await admin.SendAsync(new HttpRequestMessage(new HttpMethod(method), url));
            Assert.True(allowed.IsSuccessStatusCode, $"{method} {url} with the admin token: {allowed.StatusCode}");
        }
    }
}
