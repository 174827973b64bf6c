using System.Text.Json;
using System.Text.RegularExpressions;
using OpenTelemetry.Metrics;
using Vigil.Query;
using Vigil.Query.Parsing;
using Vigil.Storage;

namespace Vigil.Instrumentation.Tests;

/// <summary>
/// The provisioned Grafana dashboards: valid JSON, every panel queries the Vigil data source with a non-empty
/// expression, and every expression stays inside the PromQL subset Vigil answers and names only series Vigil
/// exposes — the Prometheus translation (Vigil.Query's <see cref="PrometheusNames"/>) of what
/// Vigil.Instrumentation emits (DESIGN §9) — and Vigil's own PromQL parser accepts it.
/// </summary>
public sealed class DashboardTests
{
    private static readonly string[] Dashboards = ["auth", "tenant", "ai"];
    private static readonly HashSet<string> Functions = new(["sum", "avg", "min", "max", "count", "rate", "increase", "histogram_quantile"], StringComparer.Ordinal);
    private static readonly Lazy<(HashSet<string> Metrics, HashSet<string> Labels)> Known = new(KnownSeries);

    public static TheoryData<string> DashboardNames() => new(Dashboards);

    public static TheoryData<string, string, string> Expressions()
    {
        var data = new TheoryData<string, string, string>();
        foreach (var dashboard in Dashboards)
        {
            foreach (var (panel, expr) in Targets(dashboard))
            {
                data.Add(dashboard, panel, expr);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(DashboardNames))]
    public void Dashboard_IsValidJsonWithPanelsThatQueryVigil(string dashboard)
    {
        using var json = JsonDocument.Parse(File.ReadAllText(RepoPaths.Of($"otel-config/grafana/dashboards/{dashboard}.json")));
        var root = json.RootElement;

        Assert.Equal($"vigil-{dashboard}", root.GetProperty("uid").GetString());
        var panels = root.GetProperty("panels").EnumerateArray().ToList();
        Assert.True(panels.Count >= 5, $"{dashboard}: only {panels.Count} panels");
        Assert.Equal(panels.Count, panels.Select(p => p.GetProperty("id").GetInt32()).Distinct().Count());
        foreach (var panel in panels)
        {
            var title = panel.GetProperty("title").GetString();
            var targets = panel.GetProperty("targets").EnumerateArray().ToList();
            Assert.True(targets.Count > 0, $"{dashboard}/{title}: no targets");
            foreach (var target in targets)
            {
                Assert.False(string.IsNullOrWhiteSpace(target.GetProperty("expr").GetString()), $"{dashboard}/{title}: empty expr");
                Assert.Equal("vigil", target.GetProperty("datasource").GetProperty("uid").GetString());
            }
        }

        Assert.Contains(Targets(dashboard), t => t.Expr.Contains("ALERTS{alertstate=\"firing\"", StringComparison.Ordinal));
    }

    [Theory]
    [MemberData(nameof(Expressions))]
    public void Expression_UsesOnlyTheSubsetAndSeriesVigilServes(string dashboard, string panel, string expr)
    {
        var where = $"{dashboard}/{panel}: {expr}";
        var (metrics, labels) = Known.Value;

        var functions = Regex.Matches(expr, @"([A-Za-z_]+)\s*\(").Select(m => m.Groups[1].Value).Where(f => f != "by").ToList();
        Assert.All(functions, f => Assert.True(Functions.Contains(f), $"{where}: function {f} is outside the subset"));

        var selectors = Regex.Matches(expr, @"([A-Za-z_:][A-Za-z0-9_:]*)\s*(?=[\{\[])").Select(m => m.Groups[1].Value).ToList();
        Assert.NotEmpty(selectors);
        Assert.All(selectors, s => Assert.True(metrics.Contains(s), $"{where}: {s} is not a series Vigil exposes ({string.Join(", ", metrics.Order(StringComparer.Ordinal))})"));

        var used = Regex.Matches(expr, @"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)\s*""").Select(m => m.Groups[1].Value)
            .Concat(Regex.Matches(expr, @"\bby\s*\(([^)]*)\)").SelectMany(m => m.Groups[1].Value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)));
        Assert.All(used, l => Assert.True(labels.Contains(l), $"{where}: label {l} is not one Vigil exposes"));

        Assert.Equal(expr.Count(c => c == '('), expr.Count(c => c == ')'));
        Assert.All(Regex.Matches(expr, @"\[([^\]]*)\]").Select(m => m.Groups[1].Value), range => Assert.Matches(@"^\d+[smh]$", range));
    }

    [Theory]
    [MemberData(nameof(Expressions))]
    public void Expression_IsAcceptedByVigilsPromQLParser(string dashboard, string panel, string expr)
    {
        var parsed = Record.Exception(() => Parser.Parse(expr));

        Assert.True(parsed is null, $"{dashboard}/{panel}: {expr}\n{parsed?.Message}");
    }

    internal static IEnumerable<(string Panel, string Expr)> Targets(string dashboard)
    {
        using var json = JsonDocument.Parse(File.ReadAllText(RepoPaths.Of($"otel-config/grafana/dashboards/{dashboard}.json")));
        var result = new List<(string, string)>();
        foreach (var panel in json.RootElement.GetProperty("panels").EnumerateArray())
        {
            foreach (var target in panel.GetProperty("targets").EnumerateArray())
            {
                result.Add((panel.GetProperty("title").GetString()!, target.GetProperty("expr").GetString() ?? ""));
            }
        }

        return result;
    }

    // Emits one of each convention through the library and names what the SDK exports the way Vigil's /metrics
    // and query API do (PrometheusNames: dots to underscores, unit suffix, _total; _bucket/_sum/_count).
    private static (HashSet<string> Metrics, HashSet<string> Labels) KnownSeries()
    {
        var meterName = "test." + Guid.NewGuid().ToString("N");
        using var capture = new MetricCapture(meterName);
        using var telemetry = new VigilTelemetry(meterName);
        telemetry.AuthAttempt("t", "m", AuthOutcome.Success);
        telemetry.TenantDecision("t", TenantDecisionOutcome.Denied, TenantDenialClasses.Membership, "/r");
        telemetry.WorkspaceTransition("t", "w", "created", anomaly: false);
        telemetry.AiRun("t", "w", "m", AiRunStatus.Succeeded, 1, 1, 0.1, TimeSpan.FromSeconds(1));

        var metrics = new HashSet<string>(["ALERTS", "ALERTS_FOR_STATE", PrometheusNames.MetricName("ai.run.cost_per_run", "", MetricKind.Gauge)], StringComparer.Ordinal);
        var labels = new HashSet<string>(["alertname", "alertstate", "severity", "le", "service_name"], StringComparer.Ordinal);
        foreach (var point in capture.Collect())
        {
            if (point.Type == MetricType.Histogram)
            {
                var name = PrometheusNames.MetricName(point.Name, point.Unit, MetricKind.Histogram);
                metrics.UnionWith([name + "_bucket", name + "_sum", name + "_count"]);
            }
            else
            {
                metrics.Add(PrometheusNames.MetricName(point.Name, point.Unit, MetricKind.Counter));
            }

            labels.UnionWith(point.Attributes.Keys.Select(PrometheusNames.LabelName));
        }

        Assert.Contains("auth_requests_total", metrics);
        Assert.Contains("ai_run_duration_seconds_bucket", metrics);
        return (metrics, labels);
    }
}
