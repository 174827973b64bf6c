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

    private const string AutoRules = """
        group: late
        interval: 30s
        query_offset: auto
        query_offset_max: 90s
        rules:
          - alert: AuthFailures
            severity: P1
            runbook_url: https://runbooks.example.com/auth
            ratio:
              of: auth.requests{auth.outcome="failure"}
              to: auth.attempts
            by: [tenant.id]
            threshold: "> 0.5"
        """;

    [Theory]
    [InlineData(20, 45, 45)]   // the slower of the group's two metrics sets the offset
    [InlineData(0, 200, 90)]   // bounded by query_offset_max
    [InlineData(-1, -1, 0)]    // no measured lag (no recent points): no offset
    public async Task QueryOffsetAuto_FollowsTheMeasuredArrivalLagOfTheGroupsMetrics(int requestsLag, int attemptsLag, int expectedOffset)
    {
        _dir.Write("late.yaml", AutoRules);
        if (requestsLag >= 0)
        {
            _reader.Lags["auth.requests"] = TimeSpan.FromSeconds(requestsLag);
        }

        if (attemptsLag >= 0)
        {
            _reader.Lags["auth.attempts"] = TimeSpan.FromSeconds(attemptsLag);
        }

        using var manager = new RuleManager(new RuleManagerOptions { RulesDirectory = _dir.Path }, _reader, _time, new RecordingTransitionSink());
        manager.Reload();
        var at = TestRules.T0.AddMinutes(10);

        await manager.EvaluateAsync(at);

        Assert.NotEmpty(_reader.Queries);
        Assert.All(_reader.Queries, q => Assert.Equal(at - TimeSpan.FromSeconds(expectedOffset), q.At));
    }

    [Fact]
    public async Task QueryOffsetAuto_MovesWithTheLag_FromOneEvaluationToTheNext()
    {
        _dir.Write("late.yaml", AutoRules);
        using var manager = new RuleManager(new RuleManagerOptions { RulesDirectory = _dir.Path }, _reader, _time, new RecordingTransitionSink());
        manager.Reload();
        var first = TestRules.T0.AddMinutes(10);
        _reader.Lags["auth.requests"] = TimeSpan.FromSeconds(8);
        await manager.EvaluateAsync(first);
        var firstReads = _reader.Queries.Count;
        _reader.Lags["auth.requests"] = TimeSpan.FromSeconds(64);

        await manager.EvaluateAsync(first.AddSeconds(30));

        Assert.All(_reader.Queries.Take(firstReads), q => Assert.Equal(first - TimeSpan.FromSeconds(8), q.At));
        Assert.All(_reader.Queries.Skip(firstReads), q => Assert.Equal(first.AddSeconds(30) - TimeSpan.FromSeconds(64), q.At));
    }

    [Fact]
    public async Task QueryOffsetAuto_OverARealStore_ReadsWhereTheLatePointsHaveArrived()
    {
        // Points of second s arrive at s + 40 s: the store measures the lag, the group reads 40 s (rounded up to the
        // lag histogram's 2^n ms edge) back.
        var store = new Vigil.Storage.WindowStore(new Vigil.Storage.WindowStoreOptions(), _time);
        _dir.Write("late.yaml", AutoRules);
        using var manager = new RuleManager(new RuleManagerOptions { RulesDirectory = _dir.Path }, store, _time, new RecordingTransitionSink());
        manager.Reload();
        for (var s = 0; s <= 600; s += 10)
        {
            _time.SetUtcNow(TestRules.T0.AddSeconds(s + 40));
            store.AddNumber("auth.attempts", Vigil.Storage.MetricKind.Counter, false, TestRules.L(("tenant.id", "acme")), TestRules.T0.AddSeconds(s - 1), TestRules.T0.AddSeconds(s), 10);
            store.AddNumber("auth.requests", Vigil.Storage.MetricKind.Counter, false, TestRules.L(("tenant.id", "acme"), ("auth.outcome", "failure")), TestRules.T0.AddSeconds(s - 1), TestRules.T0.AddSeconds(s), 8);
        }

        await manager.EvaluateAsync(_time.GetUtcNow());

        var expected = TimeSpan.FromMilliseconds(65_536);   // 40,000 ms lies in [32,768, 65,536)
        var group = Assert.Single(manager.GetRules().Groups);
        Assert.Equal(expected.TotalSeconds, group.QueryOffsetSeconds);
    }

    [Fact]
    public void QueryOffsetMax_WithoutAuto_IsAProblem()
    {
        var problems = RuleFileLoader.Load("late.yaml", AutoRules.Replace("query_offset: auto", "query_offset: 1m", StringComparison.Ordinal)).Problems;

        var problem = Assert.Single(problems);
        Assert.Equal((4, 19), (problem.Line, problem.Column));
        Assert.StartsWith("query_offset_max bounds query_offset: auto only", problem.Message, StringComparison.Ordinal);
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
