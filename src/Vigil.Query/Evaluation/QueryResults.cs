namespace Vigil.Query.Evaluation;

/// <summary>One value of an instant vector.</summary>
public sealed record Sample(Labels Labels, double Value);

/// <summary>What an expression evaluates to at one instant: a scalar or an instant vector.</summary>
public abstract record InstantValue;

public sealed record ScalarValue(double Value) : InstantValue;

public sealed record VectorValue(IReadOnlyList<Sample> Samples) : InstantValue;

/// <summary>One series of a range query: its labels and (time, value) points in time order.</summary>
public sealed record RangeSeries(Labels Labels, IReadOnlyList<(DateTimeOffset Time, double Value)> Points);

/// <summary>The answer of <c>/api/v1/query</c> (vector or scalar at <see cref="Time"/>).</summary>
public sealed record InstantResult(DateTimeOffset Time, InstantValue Value);

/// <summary>The answer of <c>/api/v1/query_range</c> (always a matrix, as Prometheus answers).</summary>
public sealed record RangeResult(IReadOnlyList<RangeSeries> Series);
