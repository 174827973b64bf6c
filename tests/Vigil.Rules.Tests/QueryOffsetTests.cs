using Microsoft.Extensions.Time.Testing;
using static Vigil.Rules.Tests.FakeWindowReader;

namespace Vigil.Rules.Tests;

/// <summary>Group <c>query_offset</c> (Prometheus 2.53+) and the per-group evaluation phase.</summary>
public sealed class QueryOffsetTests : IDisposable
{
    private const string Rules = """
        group: late
        interval: 30s
        query_offset: 2m
        aggregates:
          - record: ai.failures
            increase: ai.runs{ai.run.status="failed"}
            by: [tenant.id]
        rules:
          - alert: AiRunFailures
            severity: P1
            runbook_url: https://runbooks.example.com/ai
            increase: ai.runs{ai.run.status="failed"}
            by: [tenant.id]
            window: 5m
            threshold: "> 2"
        """;

    private readonly TempDirectory _dir = new();
    private readonly FakeTimeProvider _time = new(TestRules.T0);
    private readonly FakeWindowReader _reader = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task QueryOffset_ShiftsEveryWindowBack_ButAlertTimesStayTheEvaluations()
    {
        _dir.Write("late.yaml", Rules);
        _reader.Set("ai.runs{ai.run.status=\"failed\"}", S(3, 3, ("tenant.id", "acme")));
        var sink = new RecordingTransitionSink();
        using var manager = new RuleManager(new RuleManagerOptions { RulesDirectory = _dir.Path }, _reader, _time, sink);
        manager.Reload();
        var at = TestRules.T0.AddMinutes(10);

        await manager.EvaluateAsync(at);

        Assert.NotEmpty(_reader.Queries);
        Assert.All(_reader.Queries, q => Assert.Equal(at - TimeSpan.FromMinutes(2), q.At));
        var pending = Assert.Single(sink.Transitions);
        Assert.Equal(at, pending.At);
        Assert.Equal(at, pending.ActiveAt);
    }

    [Fact]
    public async Task WithoutQueryOffset_WindowsEndAtTheEvaluation()
    {
        _dir.Write("late.yaml", Rules.Replace("query_offset: 2m\n", "", StringComparison.Ordinal));
        using var manager = new RuleManager(new RuleManagerOptions { RulesDirectory = _dir.Path }, _reader, _time, new RecordingTransitionSink());
        manager.Reload();
        var at = TestRules.T0.AddMinutes(10);

        await manager.EvaluateAsync(at);

        Assert.All(_reader.Queries, q => Assert.Equal(at, q.At));
    }

    [Theory]
    [InlineData("query_offset: -1m", 3, 15)]
    [InlineData("query_offset: soon", 3, 15)]
    public void BadQueryOffset_IsAProblemAtItsPlace(string line, int expectedLine, int expectedColumn)
    {
        var problems = RuleFileLoader.Load("late.yaml", Rules.Replace("query_offset: 2m", line, StringComparison.Ordinal)).Problems;

        var problem = Assert.Single(problems);
        Assert.Equal((expectedLine, expectedColumn), (problem.Line, problem.Column));
        Assert.Contains("query_offset", problem.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AThousandGroups_TickAtDistinctPhasesWithinTheirInterval()
    {
        var interval = TimeSpan.FromMinutes(1);
        var now = TestRules.T0.AddHours(5);

        var slots = Enumerable.Range(0, 1000).Select(i => RuleManager.EvaluationSlot($"tenant-{i}-auth", interval, now)).ToList();
        var phases = slots.Select(slot => slot.UtcTicks % interval.Ticks).ToList();

        // Each group's latest slot is within one interval before now, and the groups spread over the interval.
        Assert.All(slots, slot => Assert.InRange(slot, now - interval + TimeSpan.FromTicks(1), now));
        Assert.True(phases.Distinct().Count() >= 990, $"{phases.Distinct().Count()} distinct phases of 1000");
        var perSecond = phases.GroupBy(p => p / TimeSpan.TicksPerSecond).Max(g => g.Count());
        Assert.True(perSecond <= 60, $"{perSecond} of 1000 groups tick within the same second");
    }
}
