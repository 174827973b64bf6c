using Microsoft.Extensions.Time.Testing;
using static Vigil.Rules.Tests.FakeWindowReader;

namespace Vigil.Rules.Tests;

/// <summary>
/// With a data directory every transition is committed with the state it leads to and handed to the sink from that
/// journal until the sink takes it: a refusing sink, a failed commit or a restart never loses one or reorders them.
/// </summary>
public sealed class TransitionJournalTests : IDisposable
{
    private const string Rules = """
        group: auth
        interval: 30s
        rules:
          - alert: AuthFailures
            severity: P1
            runbook_url: https://runbooks.example.com/auth
            increase: auth.requests{auth.outcome="failure"}
            by: [tenant.id]
            threshold: "> 10"
        """;

    private const string Failures = "auth.requests{auth.outcome=\"failure\"}";
    private static readonly DateTimeOffset T0 = TestRules.T0;
    private readonly TempDirectory _dir = new();
    private readonly FakeTimeProvider _time = new(T0);
    private readonly FakeWindowReader _reader = new();

    public TransitionJournalTests()
    {
        _dir.Write("auth.yaml", Rules);
        _reader.Kinds["auth.requests"] = Storage.MetricKind.Counter;
    }

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task RefusedTransitions_AreOfferedAgainInOrder_UntilTheSinkTakesThem()
    {
        var sink = new RefusingSink { Refuse = true };
        using var manager = Manager(sink);
        manager.Reload();
        _reader.Set(Failures, S(50, 50, ("tenant.id", "acme")));
        var fired = Assert.Single(await manager.EvaluateAsync(T0));
        _reader.Set(Failures);
        var resolved = Assert.Single(await manager.EvaluateAsync(T0.AddSeconds(30)));

        Assert.Empty(sink.Taken);
        Assert.Equal("the sink is down", manager.LastRelayError);

        sink.Refuse = false;
        Assert.Empty(await manager.EvaluateAsync(T0.AddSeconds(60)));

        Assert.Equal([(fired.Id, AlertState.Firing), (resolved.Id, AlertState.Resolved)], sink.Taken.Select(t => (t.Id, t.To)));
        // What the journal hands on is the transition itself: every field, the label maps by content.
        Assert.Equal(fired, sink.Taken[0] with { Labels = fired.Labels, InstanceLabels = fired.InstanceLabels, Annotations = fired.Annotations });
        Assert.Equal(fired.Labels, sink.Taken[0].Labels);
        Assert.Equal(fired.Annotations, sink.Taken[0].Annotations);
        Assert.Null(manager.LastRelayError);
        await manager.EvaluateAsync(T0.AddSeconds(90));
        Assert.Equal(2, sink.Taken.Count);
    }

    [Fact]
    public async Task TransitionTheSinkNeverTook_IsOfferedAfterARestart_UnderItsId_AndOnlyOnce()
    {
        _reader.Set(Failures, S(50, 50, ("tenant.id", "acme")));
        AlertTransition fired;
        using (var first = Manager(new RefusingSink { Refuse = true }))
        {
            first.Reload();
            fired = Assert.Single(await first.EvaluateAsync(T0));
        }

        var sink = new RefusingSink();
        using (var second = Manager(sink))
        {
            second.Reload();
            Assert.Equal(fired.Id, Assert.Single(sink.Taken).Id);
            Assert.Equal(AlertState.Firing, Assert.Single(second.GetInstances("auth", "AuthFailures")).State.State);
            Assert.Empty(await second.EvaluateAsync(T0.AddSeconds(30)));
        }

        var third = new RefusingSink();
        using var again = Manager(third);
        again.Reload();
        Assert.Empty(third.Taken);
    }

    [Fact]
    public async Task FailedStateCommit_KeepsItsTransition_ForTheNextCommit()
    {
        var sink = new RefusingSink();
        using var manager = Manager(sink);
        manager.Reload();
        _reader.Set(Failures, S(50, 50, ("tenant.id", "acme")));
        var failing = true;
        manager.Store!.FaultInjection = stage =>
        {
            if (failing && stage == CommitStage.BeforeCommit)
            {
                throw new IOException("disk full");
            }
        };

        await Assert.ThrowsAsync<IOException>(() => manager.EvaluateAsync(T0));
        Assert.Empty(sink.Taken);

        failing = false;
        Assert.Empty(await manager.EvaluateAsync(T0.AddSeconds(30)));

        var fired = Assert.Single(sink.Taken);
        Assert.Equal((AlertState.Inactive, AlertState.Firing, T0), (fired.From, fired.To, fired.At));
    }

    private RuleManager Manager(IAlertTransitionSink sink) =>
        new(new RuleManagerOptions { RulesDirectory = _dir.Path, DataDirectory = Path.Combine(_dir.Path, "data") }, _reader, _time, sink);

    /// <summary>Takes transitions unless told to refuse them (a receiver's outbox that cannot write).</summary>
    private sealed class RefusingSink : IAlertTransitionSink
    {
        public bool Refuse { get; set; }

        public List<AlertTransition> Taken { get; } = [];

        public void OnTransition(AlertTransition transition)
        {
            if (Refuse)
            {
                throw new IOException("the sink is down");
            }

            Taken.Add(transition);
        }
    }
}
