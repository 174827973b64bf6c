using System.Globalization;

namespace Vigil.Query.Evaluation;

/// <summary>
/// One query's limits (docs/query.md, "Limits"): its time from <see cref="PromQueryOptions.Timeout"/>, read from the
/// engine's clock, and the samples it loads. Prometheus' messages and error types, so clients that know them react
/// as they do to Prometheus.
/// </summary>
internal sealed class QueryBudget
{
    private readonly TimeProvider _time;
    private readonly DateTimeOffset _deadline;
    private readonly long _maxSamples;
    private long _samples;

    public QueryBudget(TimeProvider time, PromQueryOptions options)
    {
        _time = time;
        _deadline = time.GetUtcNow() + options.Timeout;
        _maxSamples = options.MaxSamples;
    }

    /// <summary>Samples loaded so far: each selector's at each step, each subquery step's, each range-query point.</summary>
    public long Samples => _samples;

    /// <summary>Throws the 503 <c>timeout</c> error once the query has run past its timeout.</summary>
    public void CheckTime()
    {
        if (_time.GetUtcNow() > _deadline)
        {
            throw new PromQLException("query timed out in expression evaluation", PromQLException.Timeout);
        }
    }

    /// <summary>Counts <paramref name="count"/> more samples; past the limit, the 422 <c>execution</c> error Prometheus gives.</summary>
    public void AddSamples(long count)
    {
        _samples += count;
        if (_samples > _maxSamples)
        {
            throw new PromQLException(
                $"query processing would load too many samples into memory in query execution (more than {_maxSamples.ToString("N0", CultureInfo.InvariantCulture)}); narrow the selectors, shorten the range or lengthen the step",
                PromQLException.Execution);
        }
    }
}
