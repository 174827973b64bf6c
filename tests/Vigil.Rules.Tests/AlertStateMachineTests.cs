namespace Vigil.Rules.Tests;

public sealed class AlertStateMachineTests
{
    private static readonly DateTimeOffset T0 = TestRules.T0;

    private static EffectiveRule Rule(
        string threshold = "> 0.2",
        string? recover = null,
        TimeSpan? forDuration = null,
        TimeSpan? keepFiringFor = null,
        NoDataPolicy noData = NoDataPolicy.Ok,
        double minSamples = 0) =>
        new(Threshold.TryParse(threshold, out _)!, recover is null ? null : Threshold.TryParse(recover, out _), forDuration ?? TimeSpan.Zero,
            keepFiringFor ?? TimeSpan.Zero, noData, minSamples, Severity.P1);

    private static AlertStep Run(EffectiveRule rule, params (int Seconds, Observation Observation)[] steps)
    {
        var state = AlertInstanceState.Initial;
        AlertStep? last = null;
        foreach (var (seconds, observation) in steps)
        {
            last = AlertStateMachine.Next(state, observation, T0.AddSeconds(seconds), rule);
            state = last.State;
        }

        return last!;
    }

    private static Observation V(double value, double samples = 100) => Observation.Of(value, samples);

    [Fact]
    public void For_KeepsPendingUntilDurationElapsed()
    {
        var rule = Rule(forDuration: TimeSpan.FromMinutes(2));

        var first = AlertStateMachine.Next(AlertInstanceState.Initial, V(0.5), T0, rule);
        var before = AlertStateMachine.Next(first.State, V(0.5), T0.AddSeconds(90), rule);
        var at = AlertStateMachine.Next(before.State, V(0.5), T0.AddSeconds(120), rule);

        Assert.Equal(AlertState.Pending, first.State.State);
        Assert.Equal(new StateChange(AlertState.Inactive, AlertState.Pending, T0), first.Change);
        Assert.Equal(AlertState.Pending, before.State.State);
        Assert.Null(before.Change);
        Assert.Equal(T0, before.State.ActiveAt);
        Assert.Equal(AlertState.Firing, at.State.State);
        Assert.Equal(new StateChange(AlertState.Pending, AlertState.Firing, T0.AddSeconds(120)), at.Change);
        Assert.Equal(T0, at.State.ActiveAt);
        Assert.Equal(T0.AddSeconds(120), at.State.FiredAt);
        Assert.Equal(0.5, at.State.LastValue);
    }

    [Fact]
    public void ForZero_FiresOnFirstBreach()
    {
        var step = Run(Rule(), (0, V(0.3)));

        Assert.Equal(AlertState.Firing, step.State.State);
        Assert.Equal(new StateChange(AlertState.Inactive, AlertState.Firing, T0), step.Change);
        Assert.Equal(T0, step.State.FiredAt);
        Assert.Equal("firing: value 0.3 is > 0.2", step.Reason);
    }

    [Fact]
    public void Pending_WhenValueDropsBeforeFor_GoesInactiveWithoutFiring()
    {
        var step = Run(Rule(forDuration: TimeSpan.FromMinutes(5)), (0, V(0.5)), (60, V(0.1)));

        Assert.Equal(AlertState.Inactive, step.State.State);
        Assert.Equal(new StateChange(AlertState.Pending, AlertState.Inactive, T0.AddSeconds(60)), step.Change);
        Assert.Null(step.State.ActiveAt);
        Assert.Null(step.State.FiredAt);
    }

    [Fact]
    public void Firing_WhenValueDrops_ResolvesAtThatEvaluation()
    {
        var step = Run(Rule(), (0, V(0.5)), (30, V(0.1)));

        Assert.Equal(AlertState.Resolved, step.State.State);
        Assert.Equal(new StateChange(AlertState.Firing, AlertState.Resolved, T0.AddSeconds(30)), step.Change);
        Assert.Equal(T0.AddSeconds(30), step.State.ResolvedAt);
        Assert.Equal(T0, step.State.FiredAt);
    }

    [Fact]
    public void KeepFiringFor_HoldsFiringUntilElapsedThenResolves()
    {
        var rule = Rule(keepFiringFor: TimeSpan.FromMinutes(2));

        var held = Run(rule, (0, V(0.5)), (30, V(0.1)), (120, V(0.1)));
        var resolved = Run(rule, (0, V(0.5)), (30, V(0.1)), (120, V(0.1)), (150, V(0.1)));

        Assert.Equal(AlertState.Firing, held.State.State);
        Assert.Equal(T0.AddSeconds(30), held.State.KeepFiringSince);
        Assert.Null(held.Change);
        Assert.Equal(AlertState.Resolved, resolved.State.State);
        Assert.Equal(T0.AddSeconds(150), resolved.State.ResolvedAt);
        Assert.Null(resolved.State.KeepFiringSince);
    }

    [Fact]
    public void KeepFiringFor_RestartsWhenTheValueBreachesAgain()
    {
        var rule = Rule(keepFiringFor: TimeSpan.FromMinutes(2));

        var step = Run(rule, (0, V(0.5)), (30, V(0.1)), (60, V(0.5)), (90, V(0.1)), (200, V(0.1)));

        Assert.Equal(AlertState.Firing, step.State.State);
        Assert.Equal(T0.AddSeconds(90), step.State.KeepFiringSince);
    }

    [Fact]
    public void Recover_KeepsFiringUntilTheRecoverConditionHolds()
    {
        var rule = Rule(threshold: "> 0.2", recover: "< 0.15");

        var between = Run(rule, (0, V(0.3)), (30, V(0.18)));
        var recovered = Run(rule, (0, V(0.3)), (30, V(0.18)), (60, V(0.14)));
        var notYetFiring = Run(rule, (0, V(0.18)));

        Assert.Equal(AlertState.Firing, between.State.State);
        Assert.Equal("firing: value 0.18 has not reached recover < 0.15 (hysteresis)", between.Reason);
        Assert.Equal(AlertState.Resolved, recovered.State.State);
        Assert.Equal(T0.AddSeconds(60), recovered.State.ResolvedAt);
        Assert.Equal(AlertState.Inactive, notYetFiring.State.State);
    }

    [Fact]
    public void Guard_FewerSamplesThanMinSamples_IsNoDataAndNeverAlerts()
    {
        var rule = Rule(minSamples: 20);

        var step = Run(rule, (0, V(0.9, samples: 19)), (30, V(1.0, samples: 5)));

        Assert.Equal(AlertState.Inactive, step.State.State);
        Assert.True(step.Guarded);
        Assert.Equal(1.0, step.State.LastValue);
        Assert.Equal(5, step.State.LastSamples);
        Assert.Equal("inactive: only 5 samples in the window, min_samples is 20 (guard); no_data: ok counts it as not breaching", step.Reason);
    }

    [Fact]
    public void Guard_ExactlyMinSamples_Evaluates()
    {
        var step = Run(Rule(minSamples: 20), (0, V(0.9, samples: 20)));

        Assert.Equal(AlertState.Firing, step.State.State);
        Assert.False(step.Guarded);
    }

    [Fact]
    public void NoDataOk_ResolvesAFiringAlert()
    {
        var step = Run(Rule(noData: NoDataPolicy.Ok), (0, V(0.5)), (30, Observation.NoData()));

        Assert.Equal(AlertState.Resolved, step.State.State);
        Assert.Null(step.State.LastValue);
    }

    [Fact]
    public void NoDataAlerting_FiresAfterForWithoutAValue()
    {
        var rule = Rule(noData: NoDataPolicy.Alerting, forDuration: TimeSpan.FromMinutes(1));

        var pending = Run(rule, (0, Observation.NoData()));
        var firing = Run(rule, (0, Observation.NoData()), (60, Observation.NoData()));

        Assert.Equal(AlertState.Pending, pending.State.State);
        Assert.Equal(AlertState.Firing, firing.State.State);
        Assert.Equal(T0.AddSeconds(60), firing.State.FiredAt);
    }

    [Fact]
    public void NoDataKeepLast_KeepsTheStateAndItsTimers()
    {
        var rule = Rule(noData: NoDataPolicy.KeepLast, forDuration: TimeSpan.FromMinutes(1));

        var firing = Run(rule, (0, V(0.5)), (60, V(0.5)), (90, Observation.NoData()), (120, Observation.NoData(samples: 1)));
        var pending = Run(rule, (0, V(0.5)), (30, Observation.NoData()));

        Assert.Equal(AlertState.Firing, firing.State.State);
        Assert.Null(firing.Change);
        Assert.Equal(T0.AddSeconds(60), firing.State.FiredAt);
        Assert.Equal(T0.AddSeconds(120), firing.State.LastEvaluation);
        Assert.Equal("no data in the window; no_data: keep_last keeps it firing", firing.Reason);
        Assert.Equal(AlertState.Pending, pending.State.State);
        Assert.Equal(T0, pending.State.ActiveAt);
    }

    [Fact]
    public void SeriesGone_ResolvesEvenWhenNoDataIsAlerting()
    {
        var step = Run(Rule(noData: NoDataPolicy.Alerting), (0, V(0.5)), (30, Observation.Gone));

        Assert.Equal(AlertState.Resolved, step.State.State);
        Assert.Equal("resolved: the series stopped reporting", step.Reason);
    }

    [Fact]
    public void Resolved_BreachingAgain_StartsANewPendingPeriod()
    {
        var rule = Rule(forDuration: TimeSpan.FromMinutes(1));

        var step = Run(rule, (0, V(0.5)), (60, V(0.5)), (90, V(0.1)), (120, V(0.5)));

        Assert.Equal(AlertState.Pending, step.State.State);
        Assert.Equal(new StateChange(AlertState.Resolved, AlertState.Pending, T0.AddSeconds(120)), step.Change);
        Assert.Equal(T0.AddSeconds(120), step.State.ActiveAt);
        Assert.Null(step.State.FiredAt);
        Assert.Null(step.State.ResolvedAt);
    }

    [Theory]
    [InlineData("> 10", 10, false)]
    [InlineData(">= 10", 10, true)]
    [InlineData("< 1", 0.5, true)]
    [InlineData("<= 0", 0, true)]
    [InlineData("<0", 0, false)]
    public void Threshold_ComparesAsWritten(string text, double value, bool met)
    {
        Assert.Equal(met, Threshold.TryParse(text, out _)!.IsMet(value));
    }
}
