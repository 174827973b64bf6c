namespace Vigil.Rules;

public enum AlertState
{
    Inactive,
    Pending,
    Firing,
    Resolved,
}

/// <summary>
/// The state of one alert instance (rule + group-by labels). <see cref="ActiveAt"/> is when the current breach
/// began (pending since), <see cref="FiredAt"/> when it started firing, <see cref="KeepFiringSince"/> when the
/// value stopped breaching while keep_firing_for holds the alert.
/// </summary>
public sealed record AlertInstanceState(
    AlertState State,
    DateTimeOffset? ActiveAt = null,
    DateTimeOffset? FiredAt = null,
    DateTimeOffset? ResolvedAt = null,
    DateTimeOffset? KeepFiringSince = null,
    double? LastValue = null,
    double LastSamples = 0,
    DateTimeOffset? LastEvaluation = null,
    DateTimeOffset? MissingSince = null)
{
    public static AlertInstanceState Initial { get; } = new(AlertState.Inactive);

    public bool IsActive => State is AlertState.Pending or AlertState.Firing;
}

/// <summary>What an evaluation saw for one instance: a value with its sample count, no value, or no series at all.</summary>
public readonly record struct Observation(double? Value, double Samples, bool Absent = false)
{
    public static Observation Of(double value, double samples) => new(value, samples);

    public static Observation NoData(double samples = 0) => new(null, samples);

    /// <summary>The instance's series stopped reporting: the instance resolves whatever the no_data policy.</summary>
    public static Observation Gone { get; } = new(null, 0, Absent: true);
}

/// <summary>The rule as it applies to one instance, after overrides.</summary>
public sealed record EffectiveRule(
    Threshold Threshold,
    Threshold? Recover,
    TimeSpan For,
    TimeSpan KeepFiringFor,
    NoDataPolicy NoData,
    double MinSamples,
    Severity Severity,
    RuleOverride? Override = null)
{
    public OnMissingPolicy OnMissing { get; init; }

    public TimeSpan MissingFor { get; init; }

    public static EffectiveRule FromRule(AlertRule rule) =>
        new(rule.Threshold, rule.Recover, rule.For, rule.KeepFiringFor, rule.NoData, rule.MinSamples, rule.Severity)
        {
            OnMissing = rule.OnMissing,
            MissingFor = rule.MissingFor,
        };
}

public sealed record StateChange(AlertState From, AlertState To, DateTimeOffset At);

/// <summary>One step's outcome: the next state, the change if there was one, and why, in words.</summary>
public sealed record AlertStep(AlertInstanceState State, StateChange? Change, bool? Breaching, bool Guarded, string Reason);

/// <summary>The alert state machine: a pure function of (previous state, observation, now, effective rule).</summary>
public static class AlertStateMachine
{
    public static AlertStep Next(AlertInstanceState previous, Observation observation, DateTimeOffset now, EffectiveRule rule)
    {
        bool breaching;
        string why;
        var guarded = false;
        if (observation.Absent)
        {
            // MissingSince is not persisted: after a restart, missing_for counts from the first evaluation that misses.
            var since = previous.MissingSince ?? now;
            var missing = previous with { MissingSince = since, LastEvaluation = now };
            var gone = $"the series stopped reporting {PromDuration.Format(now - since)} ago";
            if (now - since < rule.MissingFor)
            {
                return new AlertStep(missing, null, null, false, $"{gone}; missing_for {PromDuration.Format(rule.MissingFor)} keeps it {Name(previous.State)}");
            }

            switch (rule.OnMissing)
            {
                case OnMissingPolicy.KeepLast:
                    return new AlertStep(missing, null, null, false, $"{gone}; on_missing: keep_last keeps it {Name(previous.State)}");
                case OnMissingPolicy.Alert:
                    return Move(missing with { LastValue = null, LastSamples = 0 }, breaching: true, now, rule, $"{gone}; on_missing: alert counts it as breaching", guarded: false);
                default:
                    return Move(missing with { LastValue = null, LastSamples = 0 }, breaching: false, now, rule, "the series stopped reporting", guarded: false);
            }
        }
        else if (observation.Value is null || observation.Samples < rule.MinSamples)
        {
            guarded = observation.Value is not null;
            var noData = guarded
                ? $"only {Num(observation.Samples)} samples in the window, min_samples is {Num(rule.MinSamples)} (guard)"
                : "no data in the window";
            switch (rule.NoData)
            {
                case NoDataPolicy.KeepLast:
                    var kept = previous with { LastValue = observation.Value, LastSamples = observation.Samples, LastEvaluation = now };
                    return new AlertStep(kept, null, null, guarded, $"{noData}; no_data: keep_last keeps it {Name(previous.State)}");
                case NoDataPolicy.Alerting:
                    breaching = true;
                    why = $"{noData}; no_data: alerting counts it as breaching";
                    break;
                default:
                    breaching = false;
                    why = $"{noData}; no_data: ok counts it as not breaching";
                    break;
            }
        }
        else
        {
            var v = observation.Value.Value;
            if (previous.State == AlertState.Firing && rule.Recover is { } recover)
            {
                breaching = !recover.IsMet(v);
                why = breaching
                    ? $"value {Num(v)} has not reached recover {recover} (hysteresis)"
                    : $"value {Num(v)} meets recover {recover}";
            }
            else
            {
                breaching = rule.Threshold.IsMet(v);
                why = breaching ? $"value {Num(v)} is {rule.Threshold}" : $"value {Num(v)} is not {rule.Threshold}";
            }
        }

        var observed = previous with { LastValue = observation.Value, LastSamples = observation.Samples, LastEvaluation = now, MissingSince = null };
        return Move(observed, breaching, now, rule, why, guarded);
    }

    private static AlertStep Move(AlertInstanceState observed, bool breaching, DateTimeOffset now, EffectiveRule rule, string why, bool guarded) =>
        observed.State switch
        {
            AlertState.Pending => FromPending(observed, breaching, now, rule, why, guarded),
            AlertState.Firing => FromFiring(observed, breaching, now, rule, why, guarded),
            _ => FromQuiet(observed, breaching, now, rule, why, guarded),
        };

    private static AlertStep FromQuiet(AlertInstanceState s, bool breaching, DateTimeOffset now, EffectiveRule rule, string why, bool guarded)
    {
        if (!breaching)
        {
            return new AlertStep(s, null, false, guarded, $"{Name(s.State)}: {why}");
        }

        if (rule.For <= TimeSpan.Zero)
        {
            var firing = s with { State = AlertState.Firing, ActiveAt = now, FiredAt = now, ResolvedAt = null, KeepFiringSince = null };
            return new AlertStep(firing, new StateChange(s.State, AlertState.Firing, now), true, guarded, $"firing: {why}");
        }

        var pending = s with { State = AlertState.Pending, ActiveAt = now, FiredAt = null, ResolvedAt = null, KeepFiringSince = null };
        return new AlertStep(pending, new StateChange(s.State, AlertState.Pending, now), true, guarded,
            $"pending: {why}; fires after for {PromDuration.Format(rule.For)}, at {now + rule.For:O}");
    }

    private static AlertStep FromPending(AlertInstanceState s, bool breaching, DateTimeOffset now, EffectiveRule rule, string why, bool guarded)
    {
        if (!breaching)
        {
            var inactive = s with { State = AlertState.Inactive, ActiveAt = null };
            return new AlertStep(inactive, new StateChange(AlertState.Pending, AlertState.Inactive, now), false, guarded, $"inactive: {why} before for elapsed");
        }

        var since = s.ActiveAt ?? now;
        if (now - since >= rule.For)
        {
            var firing = s with { State = AlertState.Firing, ActiveAt = since, FiredAt = now, KeepFiringSince = null };
            return new AlertStep(firing, new StateChange(AlertState.Pending, AlertState.Firing, now), true, guarded,
                $"firing: {why} since {since:O}, longer than for {PromDuration.Format(rule.For)}");
        }

        return new AlertStep(s with { ActiveAt = since }, null, true, guarded,
            $"pending: {why} since {since:O}; fires after for {PromDuration.Format(rule.For)}, at {since + rule.For:O}");
    }

    private static AlertStep FromFiring(AlertInstanceState s, bool breaching, DateTimeOffset now, EffectiveRule rule, string why, bool guarded)
    {
        if (breaching)
        {
            return new AlertStep(s with { KeepFiringSince = null }, null, true, guarded, $"firing: {why}");
        }

        if (rule.KeepFiringFor > TimeSpan.Zero)
        {
            var since = s.KeepFiringSince ?? now;
            if (now - since < rule.KeepFiringFor)
            {
                return new AlertStep(s with { KeepFiringSince = since }, null, false, guarded,
                    $"firing: {why}, but keep_firing_for {PromDuration.Format(rule.KeepFiringFor)} holds it until {since + rule.KeepFiringFor:O}");
            }
        }

        var resolved = s with { State = AlertState.Resolved, ResolvedAt = now, KeepFiringSince = null };
        return new AlertStep(resolved, new StateChange(AlertState.Firing, AlertState.Resolved, now), false, guarded, $"resolved: {why}");
    }

    internal static string Name(AlertState state) => state switch
    {
        AlertState.Inactive => "inactive",
        AlertState.Pending => "pending",
        AlertState.Firing => "firing",
        _ => "resolved",
    };

    private static string Num(double v) => AlertTemplate.FormatNumber(v);
}
