using Vigil.Rules.Api;

namespace Vigil.Rules;

/// <summary>
/// One group evaluation as a time series source sees it: the aggregates it recorded and the group's pending and firing
/// alerts, all at <see cref="At"/>. Remote write journals these as samples (recording-rule outputs, ALERTS,
/// ALERTS_FOR_STATE).
/// </summary>
public sealed record GroupEvaluation(string Group, DateTimeOffset At, IReadOnlyList<RecordedSample> Recorded, IReadOnlyList<AlertInfo> Alerts)
{
    /// <summary>The same alerts, typed (<see cref="IAlertStateReader"/>'s model).</summary>
    public IReadOnlyList<ActiveAlert> Active { get; init; } = [];
}
