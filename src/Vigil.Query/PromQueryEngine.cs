using Vigil.Query.Evaluation;
using Vigil.Query.Exposition;
using Vigil.Query.Parsing;
using Vigil.Storage;
using Vigil.Storage.Query;

namespace Vigil.Query;

/// <summary>Settings of the PromQL engine; the window settings must match the store's.</summary>
public sealed record PromQueryOptions
{
    /// <summary>The store's retention: how far back a bare counter selector sums deltas.</summary>
    public TimeSpan Retention { get; init; } = TimeSpan.FromHours(1);

    /// <summary>How far back a bare gauge selector looks for the last value (Prometheus' staleness lookback).</summary>
    public TimeSpan LookbackDelta { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Range queries with more steps than this are refused, as Prometheus does.</summary>
    public int MaxPointsPerSeries { get; init; } = 11_000;

    /// <summary>A query running longer than this (on the engine's clock) is stopped with a 503 <c>timeout</c>, as Prometheus' <c>--query.timeout</c>.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>The most samples one query may load, as Prometheus' <c>--query.max-samples</c> (same default).</summary>
    public long MaxSamples { get; init; } = 50_000_000;

    /// <summary>The most series one query may return (Prometheus has no such limit; its memory is bounded by the samples).</summary>
    public int MaxSeries { get; init; } = 100_000;

    /// <summary>The store's bucket width: timestamp() reads one bucket at a time.</summary>
    public TimeSpan Resolution { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The store's <c>storage.resource_attributes</c>: the labels that came from a resource, which target_info shows.</summary>
    public IReadOnlyList<string> ResourceAttributes { get; init; } = [];

    public static PromQueryOptions From(WindowStoreOptions storage) => new() { Retention = storage.Retention, Resolution = storage.Resolution, ResourceAttributes = storage.ResourceAttributes };
}

/// <summary>
/// The PromQL subset over the window store (docs/query.md): instant queries at a time and range queries
/// as instant queries at each step. Names are Prometheus names (<see cref="PrometheusNames"/>).
/// </summary>
public sealed class PromQueryEngine
{
    private readonly IWindowReader _reader;
    private readonly PromQueryOptions _options;
    private readonly TimeProvider _time;
    private readonly IReadOnlyList<IExpositionSource> _live;

    /// <param name="live">Families served by <c>/metrics</c> (self-metrics, ALERTS, recorded aggregates); queries of
    /// names the store does not hold are answered from their current values.</param>
    public PromQueryEngine(IWindowReader reader, PromQueryOptions options, TimeProvider time, IEnumerable<IExpositionSource>? live = null)
    {
        _reader = reader;
        _options = options;
        _time = time;
        _live = live?.ToList() ?? [];
    }

    public PromQueryOptions Options => _options;

    public InstantResult Query(string query, DateTimeOffset at)
    {
        var expr = Parser.Parse(query);
        var value = NewEvaluator().Eval(expr, at);
        if (value is VectorValue vector && vector.Samples.Count > _options.MaxSeries)
        {
            throw TooManySeries();
        }

        return new InstantResult(at, value);
    }

    public RangeResult QueryRange(string query, DateTimeOffset start, DateTimeOffset end, TimeSpan step)
    {
        // Prometheus' words, with the parameter named.
        if (end < start)
        {
            throw new PromQLException("invalid parameter \"end\": end timestamp must not be before start time");
        }

        if (step <= TimeSpan.Zero)
        {
            throw new PromQLException("invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer");
        }

        var steps = (end - start).Ticks / step.Ticks;
        if (steps > _options.MaxPointsPerSeries)
        {
            throw new PromQLException($"invalid parameter \"step\": exceeded maximum resolution of {_options.MaxPointsPerSeries.ToString("N0", System.Globalization.CultureInfo.InvariantCulture)} points per timeseries. Try decreasing the query resolution (?step=XX)");
        }

        var expr = Parser.Parse(query);
        var evaluator = NewEvaluator();
        evaluator.QueryRange = (start, end);
        var series = new Dictionary<string, (Labels Labels, List<(DateTimeOffset, double)> Points)>(StringComparer.Ordinal);
        // start + i·step never passes end, so the last step cannot overflow the calendar.
        for (var i = 0L; i <= steps; i++)
        {
            evaluator.Budget.CheckTime();
            var t = start.AddTicks(step.Ticks * i);
            switch (evaluator.Eval(expr, t))
            {
                case ScalarValue scalar:
                    Add(Labels.Empty, t, scalar.Value);
                    break;
                case VectorValue vector:
                    foreach (var sample in vector.Samples)
                    {
                        Add(sample.Labels, t, sample.Value);
                    }

                    break;
            }
        }

        return new RangeResult([.. series.Keys.Order(StringComparer.Ordinal).Select(k => new RangeSeries(series[k].Labels, series[k].Points))]);

        void Add(Labels labels, DateTimeOffset t, double value)
        {
            evaluator.Budget.AddSamples(1);
            if (!series.TryGetValue(labels.Key, out var entry))
            {
                if (series.Count == _options.MaxSeries)
                {
                    throw TooManySeries();
                }

                entry = (labels, []);
                series[labels.Key] = entry;
            }

            entry.Points.Add((t, value));
        }
    }

    /// <summary>
    /// <c>/federate</c>: the latest value at <paramref name="at"/> of each series any selector matches, once each, sorted by
    /// name and labels (docs/query.md, "Federation").
    /// </summary>
    public IReadOnlyList<Sample> Federate(IReadOnlyList<VectorSelector> selectors, DateTimeOffset at)
    {
        var evaluator = NewEvaluator();
        var result = new SortedDictionary<string, Sample>(StringComparer.Ordinal);
        foreach (var selector in selectors)
        {
            foreach (var sample in evaluator.Federate(selector, at))
            {
                result.TryAdd(sample.Labels.Key, sample);
            }
        }

        return [.. result.Values];
    }

    /// <summary>
    /// The same engine over one tenant's data only: every selector gets the tenant matcher (in the store,
    /// before aggregation), listings and live families (ALERTS, recorded aggregates) keep only samples
    /// labelled with the tenant, and self-metrics without a tenant label are not visible.
    /// </summary>
    public PromQueryEngine ForTenant(string tenantAttribute, string tenant)
    {
        var label = PrometheusNames.LabelName(tenantAttribute);
        var live = _live;
        return new PromQueryEngine(
            new TenantScopedReader(_reader, tenantAttribute, tenant),
            _options,
            _time,
            [new DelegateExpositionSource(() => Families.WithLabel(live.SelectMany(s => s.Collect()), label, tenant))]);
    }

    /// <summary>The current names and series under Prometheus names, for the listing endpoints.</summary>
    public SeriesCatalog Catalog() => new(_reader, _options.ResourceAttributes);

    /// <summary>The families of the live sources (self-metrics, ALERTS, recorded aggregates), collected now.</summary>
    public IReadOnlyList<MetricFamily> LiveFamilies() => [.. _live.SelectMany(s => s.Collect())];

    private PromQLException TooManySeries() => new(
        $"the query returns more than {_options.MaxSeries.ToString("N0", System.Globalization.CultureInfo.InvariantCulture)} series, the limit per query; narrow its selectors or aggregate",
        PromQLException.Execution);

    private Evaluator NewEvaluator() => new(_reader, Catalog(), _options, LiveFamilies, _time.GetUtcNow(), new QueryBudget(_time, _options));
}
