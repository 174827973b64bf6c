using System.Text.Json;
using Microsoft.Extensions.Time.Testing;
using Vigil.Rules.Api;
using static Vigil.Rules.Tests.FakeWindowReader;

namespace Vigil.Rules.Tests;

/// <summary>Group-level labels (Prometheus 3's group <c>labels</c>) and the template variables $activeAt, $for, $window.</summary>
public sealed class GroupLabelsAndTemplateTests : IDisposable
{
    private const string Rules = """
        group: ai
        interval: 30s
        labels: { team: ai, page: sre }
        rules:
          - alert: AiRunFailures
            severity: P1
            runbook_url: https://runbooks.example.com/ai
            summary: "since {{ $activeAt }} for {{ $for }} over {{ $window }}"
            ratio:
              of: ai.runs{ai.run.status="failed"}
              to: ai.runs
            by: [tenant.id]
            window: 10m
            threshold: "> 0.05"
            for: 90s
            labels: { page: ai-oncall }
            overrides:
              - match: { tenant.id: beta }
                for: 5m
        aggregates:
          - record: ai.failure_ratio
            ratio:
              of: ai.runs{ai.run.status="failed"}
              to: ai.runs
            by: [tenant.id]
        """;

    private readonly TempDirectory _dir = new();
    private readonly FakeTimeProvider _time = new(TestRules.T0);
    private readonly FakeWindowReader _reader = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void GroupLabels_ApplyToEveryRule_AndARulesOwnLabelWins()
    {
        var group = Assert.Single(RuleFileLoader.Load("ai.yaml", Rules).File.Groups);

        Assert.Equal(TestRules.L(("page", "ai-oncall"), ("team", "ai")), group.Alerts[0].Labels);
        Assert.Equal(TestRules.L(("page", "sre"), ("team", "ai")), group.Aggregates[0].Labels);
    }

    [Fact]
    public void GroupLabels_ChangeTheRulesDefinition_SoKeptStateDoesNotCarryOver()
    {
        var with = Assert.Single(RuleFileLoader.Load("ai.yaml", Rules).File.Groups).Alerts[0];
        var without = Assert.Single(RuleFileLoader.Load("ai.yaml", Rules.Replace("labels: { team: ai, page: sre }\n", "", StringComparison.Ordinal)).File.Groups).Alerts[0];

        Assert.NotEqual(with.DefinitionKey, without.DefinitionKey);
    }

    [Fact]
    public void BadGroupLabels_AreAProblemAtTheirPlace()
    {
        var problems = RuleFileLoader.Load("ai.yaml", Rules.Replace("labels: { team: ai, page: sre }", "labels: [team]", StringComparison.Ordinal)).Problems;

        var problem = Assert.Single(problems);
        Assert.Equal((3, 9), (problem.Line, problem.Column));
    }

    [Fact]
    public async Task ActiveAtForAndWindow_RenderInAnnotations_WithTheOverridesFor()
    {
        _dir.Write("ai.yaml", Rules);
        _reader.Set("ai.runs{ai.run.status=\"failed\"}", S(3, 3, ("tenant.id", "acme")), S(4, 4, ("tenant.id", "beta")));
        _reader.Set("ai.runs", S(30, 30, ("tenant.id", "acme")), S(40, 40, ("tenant.id", "beta")));
        using var manager = new RuleManager(new RuleManagerOptions { RulesDirectory = _dir.Path }, _reader, _time, new RecordingTransitionSink());
        manager.Reload();
        await manager.EvaluateAsync(TestRules.T0);

        using var doc = JsonDocument.Parse(JsonSerializer.Serialize(ApiResponse.Success(manager.GetAlerts())));
        var summaries = doc.RootElement.GetProperty("data").GetProperty("alerts").EnumerateArray()
            .ToDictionary(a => a.GetProperty("labels").GetProperty("tenant.id").GetString()!, a => a.GetProperty("annotations").GetProperty("summary").GetString());

        var since = TestRules.T0.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal($"since {since} for 1m30s over 10m", summaries["acme"]);
        Assert.Equal($"since {since} for 5m over 10m", summaries["beta"]);
    }

    [Theory]
    [InlineData("{{ $for | percent }}", "'$for' is text")]
    [InlineData("{{ $activeat }}", "unknown template variable '$activeat'")]
    public void TextVariables_TakeNoFunctions_AndNamesAreExact(string template, string expected)
    {
        var problem = Assert.Single(AlertTemplate.Check(template));

        Assert.StartsWith(expected, problem.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ActiveAt_IsEmptyWhileInactive()
    {
        var context = new TemplateContext(null, 0.5, 0, TestRules.L()) { For = TimeSpan.FromMinutes(2), Window = TimeSpan.FromMinutes(5) };

        Assert.Equal("[] 2m 5m", AlertTemplate.Render("[{{ $activeAt }}] {{ $for }} {{ $window }}", context));
    }
}
