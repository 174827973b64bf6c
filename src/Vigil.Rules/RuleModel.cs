using Vigil.Storage.Query;

namespace Vigil.Rules;

public enum Severity
{
    P1 = 1,
    P2 = 2,
    P3 = 3,
    P4 = 4,
}

/// <summary>What an instance does once its series have stopped reporting for the rule's missing_for.</summary>
public enum OnMissingPolicy
{
    /// <summary>Treated as not breaching: a pending or firing instance resolves (the default).</summary>
    Resolve,

    /// <summary>Treated as breaching: the instance goes pending, then firing after for.</summary>
    Alert,

    /// <summary>The instance keeps its state until its series return.</summary>
    KeepLast,
}

/// <summary>What an instance does while its window has too few samples or no series.</summary>
public enum NoDataPolicy
{
    /// <summary>Treated as not breaching.</summary>
    Ok,

    /// <summary>Treated as breaching.</summary>
    Alerting,

    /// <summary>The instance keeps its previous state.</summary>
    KeepLast,
}

public enum SelectionKind
{
    Ratio,
    Increase,
    Rate,
    Avg,
    Min,
    Max,
    Last,
    Quantile,

    /// <summary>Absence: a label set that had data in the lookback and has none in the window.</summary>
    Absent,
}

/// <summary>What a rule measures. <see cref="To"/> is the denominator of a ratio, null otherwise.</summary>
public sealed record Selection(SelectionKind Kind, Selector Of, Selector? To = null, double Quantile = 0)
{
    /// <summary>The selector whose samples guard the rule (the denominator of a ratio).</summary>
    public Selector Guarded => To ?? Of;

    public static string KeyOf(SelectionKind kind) => kind switch
    {
        SelectionKind.Ratio => "ratio",
        SelectionKind.Increase => "increase",
        SelectionKind.Rate => "rate",
        SelectionKind.Avg => "avg",
        SelectionKind.Min => "min",
        SelectionKind.Max => "max",
        SelectionKind.Last => "last",
        SelectionKind.Absent => "absent",
        _ => "quantile",
    };

    public static AggregateFunction FunctionOf(SelectionKind kind) => kind switch
    {
        SelectionKind.Ratio or SelectionKind.Increase => AggregateFunction.Increase,
        SelectionKind.Rate => AggregateFunction.Rate,
        SelectionKind.Avg => AggregateFunction.Avg,
        SelectionKind.Min => AggregateFunction.Min,
        SelectionKind.Max => AggregateFunction.Max,
        SelectionKind.Last => AggregateFunction.Last,
        SelectionKind.Absent => AggregateFunction.Count,
        _ => AggregateFunction.Quantile,
    };

    /// <summary>A PromQL-like rendering for the rules API.</summary>
    public string ToQuery(TimeSpan window, IReadOnlyList<string> by)
    {
        var w = PromDuration.Format(window);
        var expr = Kind switch
        {
            SelectionKind.Ratio => $"increase({Of}[{w}]) / increase({To}[{w}])",
            SelectionKind.Quantile => $"quantile({Quantile.ToString(System.Globalization.CultureInfo.InvariantCulture)}, {Of}[{w}])",
            _ => $"{KeyOf(Kind)}({Of}[{w}])",
        };
        return by.Count == 0 ? expr : $"{expr} by ({string.Join(", ", by)})";
    }
}

/// <summary>A per-label-set refinement of an alert rule; the most specific match wins.</summary>
public sealed record RuleOverride(
    IReadOnlyDictionary<string, string> Match,
    Threshold? Threshold,
    Threshold? Recover,
    double? MinSamples,
    TimeSpan? For,
    Severity? Severity,
    SourcePosition Position)
{
    /// <summary>Where each field of the override is written (its value), by field name.</summary>
    public IReadOnlyDictionary<string, SourcePosition> FieldPositions { get; init; } = new Dictionary<string, SourcePosition>();
}

/// <summary>An alert rule as loaded; a record so a changed copy (<c>with</c>) keeps every other field.</summary>
public sealed record AlertRule
{
    public required string Name { get; init; }

    public required Severity Severity { get; init; }

    public required string RunbookUrl { get; init; }

    public string? Summary { get; init; }

    public string? Description { get; init; }

    public required Selection Selection { get; init; }

    public IReadOnlyList<string> By { get; init; } = [];

    public TimeSpan Window { get; init; } = RuleDefaults.Window;

    /// <summary>For an <c>absent:</c> rule, how far back a label set must have had data to be missed.</summary>
    public TimeSpan Lookback { get; init; } = RuleDefaults.Lookback;

    public double MinSamples { get; init; }

    public required Threshold Threshold { get; init; }

    public Threshold? Recover { get; init; }

    public TimeSpan For { get; init; }

    public TimeSpan KeepFiringFor { get; init; }

    public NoDataPolicy NoData { get; init; } = NoDataPolicy.Ok;

    public OnMissingPolicy OnMissing { get; init; } = OnMissingPolicy.Resolve;

    /// <summary>How long an instance's series must stay gone before <see cref="OnMissing"/> applies; until then it keeps its state.</summary>
    public TimeSpan MissingFor { get; init; }

    public IReadOnlyList<RuleOverride> Overrides { get; init; } = [];

    /// <summary><c>max_instances</c>: instances the rule may hold; null takes <c>rules.max_instances_per_rule</c>.</summary>
    public int? MaxInstances { get; init; }

    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();

    public IReadOnlyDictionary<string, string> Annotations { get; init; } = new Dictionary<string, string>();

    public SourcePosition Position { get; init; }

    /// <summary>Where each field of the rule is written (its value), by field name, for messages about one field.</summary>
    public IReadOnlyDictionary<string, SourcePosition> FieldPositions { get; init; } = new Dictionary<string, SourcePosition>();

    /// <summary>A canonical text of the rule's definition: equal keys mean an unchanged rule across reloads.</summary>
    public required string DefinitionKey { get; init; }

    public string Query => Selection.ToQuery(Window, By);
}

/// <summary>A recording rule: a named windowed series other rules and queries can select by name.</summary>
public sealed record AggregateRule
{
    public required string Record { get; init; }

    public required Selection Selection { get; init; }

    public IReadOnlyList<string> By { get; init; } = [];

    public TimeSpan Window { get; init; } = RuleDefaults.Window;

    public double MinSamples { get; init; }

    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();

    public SourcePosition Position { get; init; }

    /// <summary>Where each field of the aggregate is written (its value), by field name.</summary>
    public IReadOnlyDictionary<string, SourcePosition> FieldPositions { get; init; } = new Dictionary<string, SourcePosition>();

    public required string DefinitionKey { get; init; }

    public string Query => Selection.ToQuery(Window, By);
}

public sealed record RuleGroup
{
    public required string Name { get; init; }

    public required string File { get; init; }

    public TimeSpan Interval { get; init; } = RuleDefaults.Interval;

    /// <summary>
    /// How far back the group reads: an evaluation at <c>now</c> reads windows ending at <c>now - QueryOffset</c>,
    /// so points that arrive late are in the window the first time it is read (Prometheus 2.53's query_offset).
    /// Alert times (activeAt, firedAt) stay the evaluation's own.
    /// </summary>
    public TimeSpan QueryOffset { get; init; }

    /// <summary>
    /// <c>query_offset: auto</c>: each evaluation takes the offset from how late the group's metrics have been
    /// arriving (the store's p99 arrival lag over the last minutes), at most <see cref="QueryOffsetMax"/>.
    /// </summary>
    public bool QueryOffsetAuto { get; init; }

    public TimeSpan QueryOffsetMax { get; init; } = RuleDefaults.QueryOffsetMax;

    public IReadOnlyList<AlertRule> Alerts { get; init; } = [];

    public IReadOnlyList<AggregateRule> Aggregates { get; init; } = [];

    public SourcePosition Position { get; init; }
}

public sealed record RuleFile
{
    public required string Path { get; init; }

    public IReadOnlyList<RuleGroup> Groups { get; init; } = [];
}

public static class RuleDefaults
{
    public static readonly TimeSpan Interval = TimeSpan.FromMinutes(1);

    /// <summary>The most <c>query_offset: auto</c> shifts a group's reads by default.</summary>
    public static readonly TimeSpan QueryOffsetMax = TimeSpan.FromMinutes(5);

    /// <summary>An absence rule's default lookback: the default storage.retention.</summary>
    public static readonly TimeSpan Lookback = TimeSpan.FromHours(1);

    public static readonly TimeSpan Window = TimeSpan.FromMinutes(5);
}
