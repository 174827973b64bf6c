using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using Vigil.Query.Exposition;
using Vigil.Query.Parsing;
using Vigil.Storage;
using Vigil.Storage.Query;

namespace Vigil.Query.Evaluation;

/// <summary>
/// Evaluates one parsed expression at instants, over a snapshot of the store's names. Selectors and range
/// functions become window-store aggregations (the store folds buckets; no raw samples exist); aggregation
/// operators, arithmetic and comparisons work on the resulting instant vectors as in Prometheus.
/// </summary>
internal sealed class Evaluator
{
    private readonly IWindowReader _reader;
    private readonly SeriesCatalog _catalog;
    private readonly PromQueryOptions _options;
    private readonly Func<IReadOnlyList<MetricFamily>> _live;
    private readonly DateTimeOffset _now;
    private IReadOnlyList<MetricFamily>? _liveFamilies;

    // Inner evaluations of subqueries so far: nested subqueries multiply, so the whole query has a budget.
    private long _subquerySteps;

    /// <summary>The most subquery steps one query may evaluate (over all its steps and nesting).</summary>
    internal const long MaxSubqueryStepsPerQuery = 1_000_000;

    public Evaluator(IWindowReader reader, SeriesCatalog catalog, PromQueryOptions options, Func<IReadOnlyList<MetricFamily>> live, DateTimeOffset now, QueryBudget budget)
    {
        Budget = budget;
        _reader = reader;
        _catalog = catalog;
        _options = options;
        _live = live;
        _now = now;
    }

    /// <summary>The query's timeout and sample count, shared by every evaluation of the query.</summary>
    public QueryBudget Budget { get; }

    /// <remarks>
    /// Recurses once per level of the tree, which the parser bounds (<see cref="Parser.MaxDepth"/>); a thread whose
    /// stack is too small even for that gets an error instead of a crash. The methods of that recursion are compiled
    /// optimized from their first call, as the parser's are: tier-0 frames are several times larger.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public InstantValue Eval(Expr expr, DateTimeOffset t)
    {
        if (!RuntimeHelpers.TryEnsureSufficientExecutionStack())
        {
            throw new PromQLException("the query nests too deeply for this thread's stack");
        }

        Budget.CheckTime();
        return EvalNode(expr, t);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private InstantValue EvalNode(Expr expr, DateTimeOffset t) => expr switch
    {
        NumberLiteral n => new ScalarValue(n.Value),
        StringLiteral => throw new PromQLException("string literals are only supported as label values in matchers"),
        Paren p => Eval(p.Inner, t),
        Unary u => Negate(Eval(u.Inner, t)),
        VectorSelector s => new VectorValue(Select(s, t)),
        MatrixSelector m => throw new PromQLException($"range vector {m} is only supported as the argument of rate, increase or an *_over_time function"),
        Subquery q => throw new PromQLException($"subquery {q} is only supported as the argument of a function over time, e.g. max_over_time({q})"),
        Call c => EvalCall(c, t),
        Aggregation a => EvalAggregation(a, t),
        Binary b => EvalBinary(b, t),
        _ => throw new PromQLException($"unsupported expression {expr}"),
    };

    private static InstantValue Negate(InstantValue value) => value switch
    {
        ScalarValue s => new ScalarValue(-s.Value),
        VectorValue v => new VectorValue([.. v.Samples.Select(x => new Sample(x.Labels.WithoutName(), -x.Value))]),
        _ => value,
    };

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private IReadOnlyList<Sample> EvalVector(Expr expr, DateTimeOffset t, string context) => Eval(expr, t) switch
    {
        VectorValue v => v.Samples,
        _ => throw new PromQLException($"{context} needs an instant vector, got the scalar {expr}"),
    };

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private double EvalScalar(Expr expr, DateTimeOffset t, string context) => Eval(expr, t) switch
    {
        ScalarValue s => s.Value,
        _ => throw new PromQLException($"{context} needs a scalar, got the vector {expr}"),
    };

    // Bare instant selectors: what each kind of series means at one instant (docs/query.md, "Bare selectors").
    private List<Sample> Select(VectorSelector selector, DateTimeOffset t)
    {
        try
        {
            return SelectAt(selector, Shift(Pin(selector.At, t), selector.Offset));
        }
        catch (RegexTimeoutException e)
        {
            throw new PromQLException(e.Message, PromQLException.Execution);
        }
        catch (RegexMatchTimeoutException e)
        {
            throw RegexTimeout.Error(e, selector.Matchers);
        }
    }

    /// <summary>
    /// The latest value of every series a selector matches, as <c>/federate</c> answers it: what the bare selector gives,
    /// except that the names a bare selector cannot answer (<c>_bucket</c>, exponential histograms, summary quantiles) are
    /// left out instead of failing the whole request.
    /// </summary>
    public List<Sample> Federate(VectorSelector selector, DateTimeOffset at)
    {
        try
        {
            return SelectAt(selector, Shift(at, selector.Offset), federating: true);
        }
        catch (RegexTimeoutException e)
        {
            throw new PromQLException(e.Message, PromQLException.Execution);
        }
        catch (RegexMatchTimeoutException e)
        {
            throw RegexTimeout.Error(e, selector.Matchers);
        }
    }

    private List<Sample> SelectAt(VectorSelector selector, DateTimeOffset at, bool federating = false)
    {
        var targets = _catalog.Resolve(selector.Matchers).ToList();
        if (federating)
        {
            targets.RemoveAll(t => t.Role is SeriesRole.Bucket or SeriesRole.Native or SeriesRole.SummaryQuantile);
        }

        var result = new List<Sample>();
        if (selector.Name is null || targets.Count == 0)
        {
            result.AddRange(SelectLive(selector, at));
            result.AddRange(_catalog.TargetInfo.Where(l => selector.Matchers.All(m => m.Matches(l.Get(m.Name)))).Select(l => new Sample(l, 1)));
        }

        foreach (var target in targets)
        {
            var (fn, window) = target.Role switch
            {
                SeriesRole.Counter or SeriesRole.Count => (AggregateFunction.Increase, _options.Retention),
                SeriesRole.Sum => (AggregateFunction.Sum, _options.Retention),
                SeriesRole.Gauge => (AggregateFunction.Last, Min(_options.LookbackDelta, _options.Retention)),
                SeriesRole.Bucket when target.Kind == MetricKind.Histogram => (AggregateFunction.Increase, _options.Retention),
                SeriesRole.Bucket => throw new PromQLException(
                    $"{target.Name}: the _bucket series of an exponential histogram are only supported inside histogram_quantile, e.g. histogram_quantile(0.99, sum by (le) (rate({target.Name}[5m]))); the window store computes the quantile"),
                SeriesRole.Native => throw new PromQLException(
                    $"{target.Name} is an exponential (native) histogram: use histogram_quantile(0.99, sum(rate({target.Name}[5m]))), {target.Name}_count or {target.Name}_sum"),
                _ => throw new PromQLException(
                    $"{target.Name} is a summary's quantile series, which Vigil does not expose; use {target.Name}_count or {target.Name}_sum"),
            };
            result.AddRange(target.Role == SeriesRole.Bucket
                ? BucketSeries(target, selector.Matchers, at, window, target.Name, null)
                : Fetch(target, fn, window, selector.Matchers, at, null, target.Name));
        }

        return result;
    }

    /// <summary>
    /// A classic histogram's <c>_bucket</c> series as Prometheus exposes them: per series and upper bound <c>le</c>, the
    /// observations at or below it (cumulative across bounds) added in the buckets whose start lies in (at − window, at].
    /// The store keeps per-bucket counts (not cumulative over time), so a window is read one bucket at a time.
    /// </summary>
    private List<Sample> BucketSeries(PromSeriesName target, IReadOnlyList<LabelMatcher> matchers, DateTimeOffset at, TimeSpan window, string? name, Func<double, double>? transform)
    {
        var storeMatchers = new List<LabelMatcher>();
        var leMatchers = new List<LabelMatcher>();
        foreach (var m in matchers)
        {
            if (m.Name == "le")
            {
                leMatchers.Add(m);
            }
            else if (m.Name != Labels.MetricName)
            {
                storeMatchers.Add(new LabelMatcher(_catalog.AttributeOf(target.Metric, m.Name), m.Op, m.Value));
            }
        }

        var collector = new BucketCounts(target.Metric, storeMatchers);
        var resolution = (long)_options.Resolution.TotalMilliseconds;
        var last = at.ToUnixTimeMilliseconds() / resolution * resolution;
        var buckets = (long)(window / _options.Resolution);
        try
        {
            for (var i = 0L; i < buckets && last - (i * resolution) >= 0; i++)
            {
                Budget.CheckTime();
                _reader.ReadBucket(DateTimeOffset.FromUnixTimeMilliseconds(last - (i * resolution)), collector);
            }
        }
        catch (QueryException e) when (e is not RegexTimeoutException)
        {
            throw new PromQLException($"{target.Name}: {e.Message}");
        }

        if (collector.Conflict is { } conflict)
        {
            throw new PromQLException($"{target.Name}: a series changed its bucket bounds within the window ({conflict}); Vigil cannot merge them per le");
        }

        var result = new List<Sample>();
        foreach (var (labels, bounds, counts) in collector.Series)
        {
            var translated = SeriesCatalog.Translate(labels, name);
            long cumulative = 0;
            for (var b = 0; b < counts.Length; b++)
            {
                cumulative += counts[b];
                var le = b < bounds.Length ? ExpositionWriter.FormatValue(bounds[b]) : "+Inf";
                if (leMatchers.TrueForAll(m => m.Matches(le)))
                {
                    result.Add(new Sample(translated.With("le", le), transform is null ? cumulative : transform(cumulative)));
                }
            }
        }

        Budget.AddSamples(result.Count);
        return result;
    }

    /// <summary>Sums one explicit-bucket histogram's per-bucket counts over the buckets read, per series.</summary>
    private sealed class BucketCounts(string metric, List<LabelMatcher> matchers) : IBucketVisitor
    {
        // Keyed by the series' label dictionary, which the store hands over as the same instance every time.
        private readonly Dictionary<IReadOnlyDictionary<string, string>, (double[] Bounds, long[] Counts)> _series = new(ReferenceEqualityComparer.Instance);

        public string? Conflict { get; private set; }

        public IEnumerable<(IReadOnlyDictionary<string, string> Labels, double[] Bounds, long[] Counts)> Series =>
            _series.Select(s => (s.Key, s.Value.Bounds, s.Value.Counts));

        public void Visit(string metricName, string unit, IReadOnlyDictionary<string, string> labels, in BucketView view)
        {
            if (metricName != metric || view.Kind != MetricKind.Histogram)
            {
                return;
            }

            foreach (var m in matchers)
            {
                if (!m.Matches(labels.TryGetValue(m.Name, out var value) ? value : string.Empty))
                {
                    return;
                }
            }

            if (view.BucketCounts.Length != view.Bounds.Length + 1)
            {
                return; // a point without buckets carries only its count and sum
            }

            if (!_series.TryGetValue(labels, out var entry))
            {
                entry = (view.Bounds.ToArray(), new long[view.BucketCounts.Length]);
                _series[labels] = entry;
            }
            else if (!view.Bounds.SequenceEqual(entry.Bounds))
            {
                Conflict ??= $"[{string.Join(", ", entry.Bounds)}] and [{string.Join(", ", view.Bounds.ToArray())}]";
                return;
            }

            for (var b = 0; b < entry.Counts.Length; b++)
            {
                entry.Counts[b] += view.BucketCounts[b];
            }
        }
    }

    private IEnumerable<Sample> SelectLive(VectorSelector selector, DateTimeOffset at)
    {
        // Exposed families (self-metrics, ALERTS, recorded aggregates) only have a current value.
        if ((at - _now).Duration() > _options.LookbackDelta)
        {
            yield break;
        }

        _liveFamilies ??= _live();
        foreach (var family in _liveFamilies)
        {
            foreach (var sample in family.Samples)
            {
                var name = family.SampleName(sample);
                if (_catalog.Find(name) is not null)
                {
                    continue; // The store's series of that name win.
                }

                var labels = Labels.From(sample.Labels.Append(new(Labels.MetricName, name)));
                if (selector.Matchers.All(m => m.Matches(labels.Get(m.Name))))
                {
                    yield return new Sample(labels, sample.Value);
                }
            }
        }
    }

    private IEnumerable<Sample> Fetch(
        PromSeriesName target,
        AggregateFunction fn,
        TimeSpan window,
        IReadOnlyList<LabelMatcher> matchers,
        DateTimeOffset at,
        IReadOnlyList<string>? byLabels,
        string? name,
        double quantile = 0.5,
        Func<double, double>? transform = null)
    {
        // job and instance are not stored (decision 028): the plan matches and groups them on the derived labels.
        var plan = OtlpConventions.Plan(_catalog, target.Metric, byLabels, matchers);
        IReadOnlyList<AggregateSample> samples;
        try
        {
            samples = _reader.Aggregate(new AggregateQuery(target.Metric, fn, window, plan.By, plan.StoreMatchers, at, quantile));
        }
        catch (RegexTimeoutException e)
        {
            throw new PromQLException(e.Message, PromQLException.Execution);
        }
        catch (QueryException e)
        {
            throw new PromQLException(e.Message);
        }

        Budget.CheckTime();
        Budget.AddSamples(samples.Count);
        foreach (var sample in samples)
        {
            var labels = SeriesCatalog.Translate(sample.Labels, name);
            if (plan.Finish(ref labels))
            {
                yield return new Sample(labels, transform is null ? sample.Value : transform(sample.Value));
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private InstantValue EvalCall(Call call, DateTimeOffset t)
    {
        var rangeIndex = call.Function is "quantile_over_time" ? 1 : 0;
        if (call.Args.Count > rangeIndex && call.Args[rangeIndex] is Subquery subquery)
        {
            return new VectorValue(OverSubquery(call, subquery, t));
        }

        if (Parser.SubqueryFunctions.Contains(call.Function))
        {
            throw new PromQLException(
                $"function {call.Function} is not supported over a stored range like m[5m]: Vigil keeps 10 s buckets, not samples; over a subquery it is, e.g. {call.Function}({(call.Function == "quantile_over_time" ? "0.9, " : string.Empty)}m[5m:10s]{(call.Function == "predict_linear" ? ", 600" : string.Empty)})");
        }

        if (call.Function == "absent_over_time")
        {
            var present = EvalRangeFunction("present_over_time", (MatrixSelector)call.Args[0], t);
            return new VectorValue(present.Count > 0 ? [] : [new Sample(AbsentLabels(call.Args[0]), 1)]);
        }

        if (Parser.RangeFunctions.Contains(call.Function))
        {
            return new VectorValue(EvalRangeFunction(call.Function, (MatrixSelector)call.Args[0], t));
        }

        if (Parser.MathFunctions.TryGetValue(call.Function, out var math))
        {
            return Map(call, t, math);
        }

        if (Parser.DateFunctions.TryGetValue(call.Function, out var date))
        {
            return DateFunction(call, t, date);
        }

        return EvalFunction(call, t);
    }

    /// <summary>The functions with their own argument handling; apart from <see cref="EvalCall"/>, so that the frame of the common path stays small.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private InstantValue EvalFunction(Call call, DateTimeOffset t)
    {
        switch (call.Function)
        {
            case "histogram_quantile":
                return new VectorValue(HistogramQuantile(EvalScalar(call.Args[0], t, "histogram_quantile's first argument"), call.Args[1], t));
            case "histogram_count":
            case "histogram_sum":
                return new VectorValue(HistogramCountOrSum(call.Function == "histogram_sum", call.Args[0], t));
            case "histogram_fraction":
                return new VectorValue(HistogramFraction(call, t));
            case "timestamp":
                return new VectorValue(Timestamp(call.Args[0], t));
            case "round":
                // Prometheus' formula: halves round up (round(-2.5) is -2), to the nearest multiple of the second argument.
                var inverse = 1 / (call.Args.Count > 1 ? EvalScalar(call.Args[1], t, "round's second argument") : 1);
                return Map(call, t, v => Math.Floor((v * inverse) + 0.5) / inverse);
            case "clamp":
                var low = EvalScalar(call.Args[1], t, "clamp's second argument");
                var high = EvalScalar(call.Args[2], t, "clamp's third argument");
                return high < low ? new VectorValue([]) : Map(call, t, v => Math.Max(low, Math.Min(high, v)));
            case "clamp_min":
                var min = EvalScalar(call.Args[1], t, "clamp_min's second argument");
                return Map(call, t, v => Math.Max(v, min));
            case "clamp_max":
                var max = EvalScalar(call.Args[1], t, "clamp_max's second argument");
                return Map(call, t, v => Math.Min(v, max));
            case "pi":
                return new ScalarValue(Math.PI);
            case "scalar":
                var samples = EvalVector(call.Args[0], t, "scalar()");
                return new ScalarValue(samples.Count == 1 ? samples[0].Value : double.NaN);
            case "vector":
                return new VectorValue([new Sample(Labels.Empty, EvalScalar(call.Args[0], t, "vector()"))]);
            case "time":
                return new ScalarValue(t.ToUnixTimeMilliseconds() / 1000.0);
            case "sort":
            case "sort_desc":
                return new VectorValue(Sort(EvalVector(call.Args[0], t, call.Function + "()"), call.Function == "sort_desc"));
            case "absent":
                return new VectorValue(EvalVector(call.Args[0], t, "absent()").Count > 0 ? [] : [new Sample(AbsentLabels(call.Args[0]), 1)]);
            case "label_replace":
                return new VectorValue(LabelFunctions.Replace(EvalVector(call.Args[0], t, "label_replace()"), call.Args));
            case "label_join":
                return new VectorValue(LabelFunctions.Join(EvalVector(call.Args[0], t, "label_join()"), call.Args));
            default:
                throw new PromQLException($"function {call.Function} is not supported");
        }
    }

    /// <summary>
    /// timestamp(v): of a bare selector (in parentheses or not), the start of the newest bucket holding a point of each
    /// series, which is the point's own time for points on the bucket grid (Prometheus gives the sample's time); of any
    /// other expression, the evaluation time, as Prometheus. Only gauges and counters keep points per bucket; the
    /// live families (ALERTS, self-metrics) have their current value, stamped with the evaluation time.
    /// </summary>
    private List<Sample> Timestamp(Expr argument, DateTimeOffset t)
    {
        var seconds = t.ToUnixTimeMilliseconds() / 1000.0;
        if (Unwrap(argument) is not VectorSelector selector)
        {
            return [.. EvalVector(argument, t, "timestamp()").Select(s => new Sample(s.Labels.WithoutName(), seconds))];
        }

        var samples = Select(selector, t);
        var at = Shift(Pin(selector.At, t), selector.Offset);
        var stamps = new Dictionary<string, double>(StringComparer.Ordinal);
        try
        {
            foreach (var target in _catalog.Resolve(selector.Matchers))
            {
                if (target.Role is not (SeriesRole.Gauge or SeriesRole.Counter))
                {
                    throw new PromQLException($"function timestamp is not supported over {target.Name}, a {target.Type} series: Vigil keeps its observations per bucket, not its points; timestamp works on gauges and counters");
                }

                StampNewestBuckets(target, selector.Matchers, at, samples.Count, stamps);
            }
        }
        catch (RegexTimeoutException e)
        {
            throw new PromQLException(e.Message, PromQLException.Execution);
        }

        var result = new List<Sample>(samples.Count);
        foreach (var sample in samples)
        {
            result.Add(new Sample(sample.Labels.WithoutName(), stamps.TryGetValue(sample.Labels.Key, out var stamp) ? stamp : seconds));
        }

        return result;
    }

    /// <summary>
    /// The newest bucket with a point of each series of a target, read one bucket at a time backwards from
    /// <paramref name="at"/> (so the buckets read are linear in the look-back, not quadratic), stopping once every
    /// series the bare selector returned is stamped.
    /// </summary>
    private void StampNewestBuckets(PromSeriesName target, IReadOnlyList<LabelMatcher> matchers, DateTimeOffset at, int wanted, Dictionary<string, double> stamps)
    {
        var resolution = _options.Resolution;
        var lookBack = target.Role == SeriesRole.Gauge ? Min(_options.LookbackDelta, _options.Retention) : _options.Retention;
        var bucket = at.ToUnixTimeMilliseconds() / (long)resolution.TotalMilliseconds * (long)resolution.TotalMilliseconds;
        var buckets = (long)(lookBack / resolution);
        for (var i = 0L; i < buckets && stamps.Count < wanted; i++)
        {
            var start = DateTimeOffset.FromUnixTimeMilliseconds(bucket - (i * (long)resolution.TotalMilliseconds));
            if (start < WindowStore.EarliestTime)
            {
                break;
            }

            foreach (var sample in Fetch(target, AggregateFunction.Count, resolution, matchers, start, null, target.Name))
            {
                if (sample.Value > 0)
                {
                    stamps.TryAdd(sample.Labels.Key, start.ToUnixTimeMilliseconds() / 1000.0);
                }
            }
        }
    }

    /// <summary>
    /// histogram_count and histogram_sum read native histograms; Vigil's are OTel exponential histograms, whose
    /// observation count and sum the store keeps: <c>rate(x[w])</c> and <c>increase(x[w])</c> of one, optionally summed
    /// <c>by</c>/<c>without</c> (count and sum add up across series). Float series (a classic histogram's _bucket, _count,
    /// _sum and everything else) carry no histogram, so the answer is empty, as Prometheus' is.
    /// </summary>
    private List<Sample> HistogramCountOrSum(bool sum, Expr argument, DateTimeOffset t)
    {
        var function = sum ? "histogram_sum" : "histogram_count";
        var inner = Unwrap(argument);
        var aggregation = inner as Aggregation;
        if (aggregation is not null)
        {
            inner = Unwrap(aggregation.Inner);
        }

        if (inner is not Call { Function: "rate" or "increase" } call || call.Args[0] is not MatrixSelector matrix
            || !_catalog.Resolve(matrix.Vector.Matchers).Any(n => n.Role == SeriesRole.Native))
        {
            _ = EvalVector(argument, t, function + "()");
            return [];
        }

        if (aggregation is not null && aggregation.Op != "sum")
        {
            throw new PromQLException($"{function} over {aggregation.Op}(…) of an exponential histogram is not supported; use sum by (…) or no aggregation");
        }

        var seconds = matrix.Range.TotalSeconds;
        var rate = call.Function == "rate";
        var at = Shift(Pin(matrix.Vector.At, t), matrix.Vector.Offset);
        var samples = new List<Sample>();
        foreach (var target in _catalog.Resolve(matrix.Vector.Matchers))
        {
            if (target.Role != SeriesRole.Native)
            {
                continue; // floats: no histogram to count
            }

            var (fn, transform) = (sum, rate) switch
            {
                (false, true) => (AggregateFunction.Rate, (Func<double, double>?)null),
                (false, false) => (AggregateFunction.Increase, null),
                (true, true) => (AggregateFunction.Sum, v => v / seconds),
                (true, false) => (AggregateFunction.Sum, null),
            };
            samples.AddRange(Fetch(target, fn, matrix.Range, matrix.Vector.Matchers, at, null, null, transform: transform));
        }

        if (aggregation is null)
        {
            return samples;
        }

        var grouping = new HashSet<string>(aggregation.Grouping, StringComparer.Ordinal);
        var groups = new Dictionary<string, (Labels Labels, double Value)>(StringComparer.Ordinal);
        foreach (var sample in samples)
        {
            var labels = aggregation.Without ? sample.Labels.WithoutName().Drop(grouping) : sample.Labels.Keep(grouping);
            groups[labels.Key] = groups.TryGetValue(labels.Key, out var g) ? (g.Labels, g.Value + sample.Value) : (labels, sample.Value);
        }

        return [.. groups.Values.Select(g => new Sample(g.Labels, g.Value))];
    }

    /// <summary>histogram_fraction: empty over float series, as Prometheus; over exponential histograms it needs their buckets, which the store does not expose to queries.</summary>
    private List<Sample> HistogramFraction(Call call, DateTimeOffset t)
    {
        _ = EvalScalar(call.Args[0], t, "histogram_fraction's first argument");
        _ = EvalScalar(call.Args[1], t, "histogram_fraction's second argument");
        var inner = Unwrap(call.Args[2]);
        var selector = inner switch
        {
            Call { Args: [MatrixSelector m, ..] } => m.Vector,
            Aggregation { Inner: var a } when Unwrap(a) is Call { Args: [MatrixSelector m, ..] } => m.Vector,
            VectorSelector v => v,
            _ => null,
        };
        if (selector is not null && _catalog.Resolve(selector.Matchers).Any(n => n.Role == SeriesRole.Native))
        {
            throw new PromQLException("function histogram_fraction is not supported over an exponential histogram: the store does not expose its buckets to queries");
        }

        _ = EvalVector(call.Args[2], t, "histogram_fraction()");
        return [];
    }

    /// <summary>
    /// sort and sort_desc as Prometheus 2.x orders them: NaN first, then by value (ascending or descending). Only an
    /// instant query's order shows; a range query's series are ordered by labels.
    /// </summary>
    private static List<Sample> Sort(IReadOnlyList<Sample> samples, bool descending)
    {
        var sorted = samples.ToList();
        sorted.Sort((a, b) =>
        {
            if (double.IsNaN(a.Value) || double.IsNaN(b.Value))
            {
                return double.IsNaN(b.Value).CompareTo(double.IsNaN(a.Value));
            }

            return descending ? b.Value.CompareTo(a.Value) : a.Value.CompareTo(b.Value);
        });
        return sorted;
    }

    /// <summary>
    /// absent's labels: those its selector fixes with <c>=</c> (not the name); a label matched twice, or by another
    /// operator, is left out, since no single value follows from it. Any other argument gives no labels.
    /// </summary>
    private static Labels AbsentLabels(Expr argument)
    {
        var matchers = argument switch
        {
            VectorSelector v => v.Matchers,
            MatrixSelector m => m.Vector.Matchers,
            _ => [],
        };
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var m in matchers)
        {
            if (m.Name == Labels.MetricName)
            {
                continue;
            }

            if (m.Op == MatchOp.Equal && seen.Add(m.Name))
            {
                labels[m.Name] = m.Value;
            }
            else
            {
                seen.Add(m.Name);
                labels.Remove(m.Name);
            }
        }

        return Labels.From(labels);
    }

    /// <summary>minute(), hour(), … of each sample's value as unix seconds (UTC); without an argument, of the evaluation time.</summary>
    private VectorValue DateFunction(Call call, DateTimeOffset t, Func<DateTime, double> part)
    {
        IReadOnlyList<Sample> samples = call.Args.Count == 0
            ? [new Sample(Labels.Empty, t.ToUnixTimeMilliseconds() / 1000.0)]
            : EvalVector(call.Args[0], t, call.Function + "()");
        var result = new List<Sample>(samples.Count);
        foreach (var sample in samples)
        {
            // Prometheus truncates to a whole second. Outside years 1 to 9999 (and for NaN) .NET has no date: NaN.
            var value = sample.Value is >= -62135596800 and < 253402300800
                ? part(DateTime.UnixEpoch.AddSeconds(Math.Truncate(sample.Value)))
                : double.NaN;
            result.Add(new Sample(sample.Labels.WithoutName(), value));
        }

        return new VectorValue(result);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private VectorValue Map(Call call, DateTimeOffset t, Func<double, double> fn) =>
        new([.. EvalVector(call.Args[0], t, call.Function + "()").Select(s => new Sample(s.Labels.WithoutName(), fn(s.Value)))]);

    private List<Sample> EvalRangeFunction(string function, MatrixSelector matrix, DateTimeOffset t)
    {
        try
        {
            return EvalRangeFunctionAt(function, matrix, Shift(Pin(matrix.Vector.At, t), matrix.Vector.Offset));
        }
        catch (RegexTimeoutException e)
        {
            throw new PromQLException(e.Message, PromQLException.Execution);
        }
        catch (RegexMatchTimeoutException e)
        {
            throw RegexTimeout.Error(e, matrix.Vector.Matchers);
        }
    }

    private List<Sample> EvalRangeFunctionAt(string function, MatrixSelector matrix, DateTimeOffset at)
    {
        var window = matrix.Range;
        var seconds = window.TotalSeconds;
        var result = new List<Sample>();
        var targets = _catalog.Resolve(matrix.Vector.Matchers).ToList();
        foreach (var target in targets)
        {
            (AggregateFunction Fn, Func<double, double>? Transform) plan = (function, target.Role) switch
            {
                ("rate", SeriesRole.Counter or SeriesRole.Count) => (AggregateFunction.Rate, null),
                ("rate", SeriesRole.Sum) => (AggregateFunction.Sum, v => v / seconds),
                ("increase", SeriesRole.Counter or SeriesRole.Count) => (AggregateFunction.Increase, null),
                ("increase", SeriesRole.Sum) => (AggregateFunction.Sum, null),
                ("count_over_time", SeriesRole.Counter or SeriesRole.Gauge) => (AggregateFunction.Count, null),
                ("present_over_time", SeriesRole.Counter or SeriesRole.Gauge) => (AggregateFunction.Count, _ => 1),
                ("sum_over_time", SeriesRole.Gauge) => (AggregateFunction.Sum, null),
                ("avg_over_time", SeriesRole.Gauge) => (AggregateFunction.Avg, null),
                ("min_over_time", SeriesRole.Gauge) => (AggregateFunction.Min, null),
                ("max_over_time", SeriesRole.Gauge) => (AggregateFunction.Max, null),
                ("last_over_time", SeriesRole.Gauge) => (AggregateFunction.Last, null),
                ("rate" or "increase", SeriesRole.Bucket) when target.Kind == MetricKind.Histogram => (AggregateFunction.Increase, null),
                _ => throw NotApplicable(function, target),
            };
            if (target.Role == SeriesRole.Bucket)
            {
                result.AddRange(BucketSeries(target, matrix.Vector.Matchers, at, window, null, function == "rate" ? v => v / seconds : null));
                continue;
            }

            // Prometheus drops the metric name from every range function's result but last_over_time's: its value is a sample of the series.
            var name = function == "last_over_time" ? target.Name : null;
            result.AddRange(Fetch(target, plan.Fn, window, matrix.Vector.Matchers, at, null, name, transform: plan.Transform));
        }

        return result;
    }

    /// <summary>
    /// A function over time whose range is a subquery: the inner expression is evaluated at every multiple of the step
    /// in [T − range, T] (T moved back by the offset), each series' values become its samples, and the function folds
    /// them as Prometheus 2.x does. Every function but last_over_time drops the metric name.
    /// </summary>
    private List<Sample> OverSubquery(Call call, Subquery subquery, DateTimeOffset t)
    {
        var function = call.Function;
        var parameter = function switch
        {
            "quantile_over_time" => EvalScalar(call.Args[0], t, "quantile_over_time's first argument"),
            "predict_linear" => EvalScalar(call.Args[1], t, "predict_linear's second argument"),
            _ => 0,
        };
        var at = Shift(Pin(subquery.At, t), subquery.Offset);
        var series = SubquerySteps(subquery, at);
        var window = (at.ToUnixTimeMilliseconds() - (long)subquery.Range.TotalMilliseconds, at.ToUnixTimeMilliseconds());
        if (function == "absent_over_time")
        {
            return series.Count > 0 ? [] : [new Sample(Labels.Empty, 1)];
        }

        var result = new List<Sample>(series.Count);
        foreach (var (labels, times, values) in series)
        {
            var value = RangeFolds.Fold(function, times, values, parameter, t.ToUnixTimeMilliseconds(), window);
            if (value is { } v)
            {
                result.Add(new Sample(function == "last_over_time" ? labels : labels.WithoutName(), v));
            }
        }

        return result;
    }

    private List<(Labels Labels, List<long> Times, List<double> Values)> SubquerySteps(Subquery subquery, DateTimeOffset at)
    {
        var stepMs = Math.Max(1, (long)subquery.Step.TotalMilliseconds);
        var endMs = at.ToUnixTimeMilliseconds();
        var startMs = Math.Max(0, endMs - (long)subquery.Range.TotalMilliseconds);
        var first = (startMs + stepMs - 1) / stepMs * stepMs; // the first multiple of the step at or after the start
        var series = new List<(Labels Labels, List<long> Times, List<double> Values)>();
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var ms = first; ms <= endMs; ms += stepMs)
        {
            if (++_subquerySteps > MaxSubqueryStepsPerQuery)
            {
                throw new PromQLException($"the query evaluates more than {MaxSubqueryStepsPerQuery.ToString("N0", System.Globalization.CultureInfo.InvariantCulture)} subquery steps; use longer steps or shorter ranges", PromQLException.Execution);
            }

            var samples = EvalVector(subquery.Inner, DateTimeOffset.FromUnixTimeMilliseconds(ms), "a subquery");
            Budget.AddSamples(samples.Count);
            foreach (var sample in samples)
            {
                if (!index.TryGetValue(sample.Labels.Key, out var i))
                {
                    i = series.Count;
                    index[sample.Labels.Key] = i;
                    series.Add((sample.Labels, [], []));
                }

                series[i].Times.Add(ms);
                series[i].Values.Add(sample.Value);
            }
        }

        return series;
    }

    private static PromQLException NotApplicable(string function, PromSeriesName target) => target.Role switch
    {
        SeriesRole.Bucket or SeriesRole.Native => new PromQLException(
            $"{function}({target.Name}[..]) is only supported inside histogram_quantile, e.g. histogram_quantile(0.99, sum by (le) ({function}({target.Name}[5m])))"),
        SeriesRole.Gauge => new PromQLException(
            $"{function} does not apply to {target.Name}, a gauge; use avg_over_time, min_over_time, max_over_time, last_over_time, sum_over_time or count_over_time"),
        SeriesRole.SummaryQuantile => new PromQLException(
            $"{function} does not apply to {target.Name}, a summary's quantile series; use {target.Name}_count or {target.Name}_sum"),
        _ => new PromQLException(
            $"{function} does not apply to {target.Name}, a {target.Type} series Vigil keeps as deltas; use rate or increase" + (target.Role == SeriesRole.Counter ? " (count_over_time counts its points)" : string.Empty)),
    };

    /// <summary>
    /// <c>histogram_quantile(q, rate(m_bucket[w]))</c>, <c>histogram_quantile(q, sum by (le, …) (rate(m_bucket[w])))</c>
    /// and their <c>increase</c>, <c>sum without (…)</c> and native-histogram forms: one store quantile query per group.
    /// </summary>
    private List<Sample> HistogramQuantile(double q, Expr expr, DateTimeOffset t)
    {
        var inner = Unwrap(expr);
        IReadOnlyList<string>? by = null;
        IReadOnlyList<string>? without = null;
        var native = false;
        if (inner is Aggregation aggregation)
        {
            if (aggregation.Op != "sum")
            {
                throw HistogramShape(expr);
            }

            if (aggregation.Without)
            {
                if (aggregation.Grouping.Contains("le"))
                {
                    throw new PromQLException("histogram_quantile: sum without (le) removes the buckets; keep le in the groups");
                }

                without = aggregation.Grouping;
            }
            else
            {
                by = [.. aggregation.Grouping.Where(l => l != "le")];
                native = !aggregation.Grouping.Contains("le");
            }

            inner = Unwrap(aggregation.Inner);
        }

        if (inner is not Call { Function: "rate" or "increase" } call || call.Args[0] is not MatrixSelector matrix)
        {
            throw HistogramShape(expr);
        }

        if (matrix.Vector.Matchers.Any(m => m.Name == "le"))
        {
            throw new PromQLException("histogram_quantile: matchers on le are not supported; the quantile uses every bucket");
        }

        try
        {
            return HistogramQuantileAt(q, matrix, Shift(Pin(matrix.Vector.At, t), matrix.Vector.Offset), by, without, native);
        }
        catch (RegexTimeoutException e)
        {
            throw new PromQLException(e.Message, PromQLException.Execution);
        }
        catch (RegexMatchTimeoutException e)
        {
            throw RegexTimeout.Error(e, matrix.Vector.Matchers);
        }
    }

    private List<Sample> HistogramQuantileAt(double q, MatrixSelector matrix, DateTimeOffset at, IReadOnlyList<string>? by, IReadOnlyList<string>? without, bool native)
    {
        var result = new List<Sample>();
        var storeQ = double.IsNaN(q) ? 0.5 : Math.Clamp(q, 0, 1);
        foreach (var target in _catalog.Resolve(matrix.Vector.Matchers))
        {
            var ok = target.Role == SeriesRole.Bucket || target.Role == SeriesRole.Native;
            if (!ok || (native && target.Role == SeriesRole.Bucket))
            {
                throw !ok ? new PromQLException($"histogram_quantile needs histogram buckets ({target.FamilyName}_bucket), not {target.Name}")
                    : new PromQLException($"histogram_quantile over {target.Name} needs le in the grouping: sum by (le{string.Concat(by!.Select(l => ", " + l))}) (…)");
            }

            var groups = by;
            if (without is not null)
            {
                groups = [.. _catalog.SeriesOf(target.Metric).SelectMany(s => s.Pairs.Select(p => p.Key)).Distinct().Where(l => !without.Contains(l))];
            }

            // Prometheus answers q outside [0, 1] with ±Inf and NaN with NaN; the store only takes q in [0, 1].
            Func<double, double>? transform = q < 0 ? _ => double.NegativeInfinity : q > 1 ? _ => double.PositiveInfinity : double.IsNaN(q) ? _ => double.NaN : null;
            result.AddRange(Fetch(target, AggregateFunction.Quantile, matrix.Range, matrix.Vector.Matchers, at, groups, null, storeQ, transform));
        }

        return result;
    }

    /// <summary>The start and end of a range query (an instant query's are its time), which <c>@ start()</c> and <c>@ end()</c> name.</summary>
    internal (DateTimeOffset Start, DateTimeOffset End)? QueryRange { get; set; }

    /// <summary>The time an <c>@</c> modifier fixes, or <paramref name="t"/> without one; one outside the times the store holds is refused.</summary>
    private DateTimeOffset Pin(AtModifier? at, DateTimeOffset t)
    {
        if (at is null)
        {
            return t;
        }

        if (at.Special is not null)
        {
            return QueryRange is { } range ? (at.Special == "start" ? range.Start : range.End) : t;
        }

        var earliest = WindowStore.EarliestTime.ToUnixTimeMilliseconds() / 1000.0;
        var latest = WindowStore.LatestTime.ToUnixTimeMilliseconds() / 1000.0;
        if (!(at.Seconds >= earliest && at.Seconds <= latest))
        {
            throw new PromQLException($"@ modifier {ExpositionWriter.FormatValue(at.Seconds)} is outside the times Vigil's store holds (unix seconds {ExpositionWriter.FormatValue(earliest)} to {ExpositionWriter.FormatValue(latest)})");
        }

        return DateTimeOffset.FromUnixTimeMilliseconds((long)Math.Round(at.Seconds * 1000));
    }

    /// <summary>The evaluation time moved back by a selector's offset; one that leaves the times the store holds is refused.</summary>
    private static DateTimeOffset Shift(DateTimeOffset t, TimeSpan offset)
    {
        if (offset == TimeSpan.Zero)
        {
            return t;
        }

        // Compared as distances, since t - offset itself may not be representable.
        var (room, bound) = offset > TimeSpan.Zero ? (t - WindowStore.EarliestTime, "before " + Format(WindowStore.EarliestTime) + ", the earliest") : (WindowStore.LatestTime - t, "past " + Format(WindowStore.LatestTime) + ", the latest");
        if (offset.Duration() > room)
        {
            var written = (offset < TimeSpan.Zero ? "-" : string.Empty) + DurationFormat.Format(offset.Duration());
            throw new PromQLException($"offset {written} moves the evaluation time {Format(t)} {bound} time Vigil's store holds");
        }

        return t - offset;

        static string Format(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.FFFZ", System.Globalization.CultureInfo.InvariantCulture);
    }

    private static Expr Unwrap(Expr expr) => expr is Paren p ? Unwrap(p.Inner) : expr;

    private static PromQLException HistogramShape(Expr expr) => new(
        $"histogram_quantile supports histogram_quantile(q, rate(m_bucket[5m])) and histogram_quantile(q, sum by (le, …) (rate(m_bucket[5m]))) (increase works too); got {expr}");

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private VectorValue EvalAggregation(Aggregation aggregation, DateTimeOffset t)
    {
        var op = aggregation.Op;
        var parameter = 0.0;
        string? valueLabel = null;
        if (op == "count_values")
        {
            valueLabel = aggregation.Param is StringLiteral label ? label.Value : throw new PromQLException($"count_values' first argument must be a label name in quotes, got {aggregation.Param}");
            if (!PrometheusNames.IsValidLabelName(valueLabel))
            {
                throw new PromQLException($"invalid label name \"{valueLabel}\" in count_values");
            }
        }
        else if (aggregation.Param is not null)
        {
            parameter = EvalScalar(aggregation.Param, t, $"{op}'s first argument");
        }

        var samples = EvalVector(aggregation.Inner, t, op);
        var grouping = new HashSet<string>(aggregation.Grouping, StringComparer.Ordinal);
        if (valueLabel is not null && !aggregation.Without)
        {
            grouping.Add(valueLabel);
        }

        var groups = new Dictionary<string, Group>(StringComparer.Ordinal);
        var keepMembers = op is "topk" or "bottomk" or "quantile" or "limitk" or "limit_ratio";
        foreach (var original in samples)
        {
            var sample = valueLabel is null ? original : new Sample(original.Labels.With(valueLabel, FormatFixed(original.Value)), original.Value);
            var labels = aggregation.Without ? sample.Labels.WithoutName().Drop(grouping) : sample.Labels.Keep(grouping);
            if (!groups.TryGetValue(labels.Key, out var g))
            {
                g = new Group(labels, sample.Value, keepMembers);
                groups[labels.Key] = g;
            }
            else
            {
                g.Add(sample.Value);
            }

            g.Members?.Add(sample);
        }

        if (op is "topk" or "bottomk")
        {
            return new VectorValue(TopK(groups, parameter, op == "topk"));
        }

        if (op == "limitk")
        {
            return new VectorValue(LimitK(groups, parameter));
        }

        if (op == "limit_ratio")
        {
            return new VectorValue(LimitRatio(samples, parameter));
        }

        var result = new List<Sample>(groups.Count);
        foreach (var key in groups.Keys.Order(StringComparer.Ordinal))
        {
            var g = groups[key];
            var value = op switch
            {
                "sum" => g.Sum,
                "avg" => g.Sum / g.Count,
                "min" => g.Min,
                "max" => g.Max,
                "group" => 1,
                "stdvar" => g.M2 / g.Count,
                "stddev" => Math.Sqrt(g.M2 / g.Count),
                "quantile" => RangeFolds.Quantile(parameter, [.. g.Members!.Select(m => m.Value)]),
                _ => g.Count,
            };
            result.Add(new Sample(g.Labels, value));
        }

        return new VectorValue(result);
    }

    /// <summary>The k largest (smallest) samples of each group, with all their labels; NaN ranks below (above) every number.</summary>
    private static List<Sample> TopK(Dictionary<string, Group> groups, double k, bool top)
    {
        if (double.IsNaN(k) || k >= 9.2233720368547758E+18 || k < -9.2233720368547758E+18)
        {
            throw new PromQLException($"scalar value {ExpositionWriter.FormatValue(k)} overflows int64 (the k of {(top ? "topk" : "bottomk")})");
        }

        var result = new List<Sample>();
        var count = (long)k;
        if (count < 1)
        {
            return result;
        }

        foreach (var g in groups.Values)
        {
            // A stable sort: among equal values the first seen is kept, as Prometheus' heap keeps it.
            var ordered = top
                ? g.Members!.OrderBy(s => double.IsNaN(s.Value)).ThenByDescending(s => s.Value)
                : g.Members!.OrderBy(s => double.IsNaN(s.Value)).ThenBy(s => s.Value);
            result.AddRange(ordered.Take((int)Math.Min(count, int.MaxValue)));
        }

        return result;
    }

    /// <summary>
    /// limitk as Prometheus 3: the first k series of each group, whole (name included), in label-set order, which is
    /// the order Prometheus' selectors give them; k below 1 gives nothing.
    /// </summary>
    private static List<Sample> LimitK(Dictionary<string, Group> groups, double k)
    {
        if (double.IsNaN(k) || k >= 9.2233720368547758E+18 || k < -9.2233720368547758E+18)
        {
            throw new PromQLException($"scalar value {ExpositionWriter.FormatValue(k)} overflows int64 (the k of limitk)");
        }

        var result = new List<Sample>();
        var count = (long)k;
        if (count < 1)
        {
            return result;
        }

        foreach (var g in groups.Values)
        {
            result.AddRange(g.Members!.OrderBy(s => s.Labels.Key, StringComparer.Ordinal).Take((int)Math.Min(count, int.MaxValue)));
        }

        return result;
    }

    /// <summary>
    /// limit_ratio as Prometheus 3: a series stays when its label-set hash, as a fraction of 2^64 − 1, lies below r
    /// (r ≥ 0) or at or above 1 + r (r &lt; 0), so r and r − 1 pick complementary sets and the pick is stable across
    /// steps. r is clamped to [-1, 1], as Prometheus does (with a warning there); grouping does not change the pick.
    /// </summary>
    private static List<Sample> LimitRatio(IReadOnlyList<Sample> samples, double ratio)
    {
        ratio = Math.Clamp(ratio, -1, 1);
        var result = new List<Sample>();
        foreach (var sample in samples)
        {
            var offset = LabelHash.Of(sample.Labels) / (double)ulong.MaxValue;
            if ((ratio >= 0 && offset < ratio) || (ratio < 0 && offset >= 1 + ratio))
            {
                result.Add(sample);
            }
        }

        return result;
    }

    /// <summary>A value as Go's strconv.FormatFloat(v, 'f', -1, 64) writes it (count_values' label): shortest digits, never an exponent.</summary>
    internal static string FormatFixed(double value)
    {
        if (double.IsNaN(value))
        {
            return "NaN";
        }

        if (double.IsInfinity(value))
        {
            return value > 0 ? "+Inf" : "-Inf";
        }

        var text = value.ToString("R", System.Globalization.CultureInfo.InvariantCulture);
        var e = text.IndexOf('E', StringComparison.Ordinal);
        if (e < 0)
        {
            return text;
        }

        var negative = text[0] == '-';
        var mantissa = text[(negative ? 1 : 0)..e];
        var exponent = int.Parse(text.AsSpan(e + 1), System.Globalization.CultureInfo.InvariantCulture);
        var point = mantissa.IndexOf('.', StringComparison.Ordinal);
        var digits = point < 0 ? mantissa : mantissa.Remove(point, 1);
        var position = (point < 0 ? mantissa.Length : point) + exponent;
        var body = position <= 0 ? "0." + new string('0', -position) + digits
            : position >= digits.Length ? digits + new string('0', position - digits.Length)
            : digits[..position] + "." + digits[position..];
        return negative ? "-" + body : body;
    }

    /// <summary>One aggregation group: running sum, extremes, count and Welford's mean and squared deviations (as Prometheus computes stddev).</summary>
    private sealed class Group
    {
        public Group(Labels labels, double first, bool keepMembers)
        {
            Labels = labels;
            Sum = Min = Max = Mean = first;
            Count = 1;
            Members = keepMembers ? [] : null;
        }

        public Labels Labels { get; }

        public double Sum { get; private set; }

        public double Min { get; private set; }

        public double Max { get; private set; }

        public int Count { get; private set; }

        public double Mean { get; private set; }

        public double M2 { get; private set; }

        public List<Sample>? Members { get; }

        public void Add(double value)
        {
            Sum += value;
            Min = Math.Min(Min, value);
            Max = Math.Max(Max, value);
            Count++;
            var delta = value - Mean;
            Mean += delta / Count;
            M2 += delta * (value - Mean);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private InstantValue EvalBinary(Binary binary, DateTimeOffset t)
    {
        var left = Eval(binary.Left, t);
        var right = Eval(binary.Right, t);
        if (binary.IsSetOperator)
        {
            if (left is not VectorValue l || right is not VectorValue r)
            {
                throw new PromQLException($"set operator \"{binary.Op}\" not allowed in binary scalar expression: both sides of {binary.Op} must be instant vectors");
            }

            return new VectorValue(SetOperation(binary, l.Samples, r.Samples));
        }

        if (left is ScalarValue ls && right is ScalarValue rs)
        {
            if (binary.IsComparison && !binary.ReturnBool)
            {
                throw new PromQLException($"comparisons between scalars must use bool, e.g. 1 {binary.Op} bool 2");
            }

            return new ScalarValue(Apply(binary.Op, ls.Value, rs.Value).Value);
        }

        if (left is VectorValue lv && right is VectorValue rv)
        {
            return new VectorValue(VectorVector(binary, lv.Samples, rv.Samples));
        }

        // Scalar and vector: the operation applies to every sample; a comparison keeps the vector's value.
        var scalarOnLeft = left is ScalarValue;
        var scalar = scalarOnLeft ? ((ScalarValue)left).Value : ((ScalarValue)right).Value;
        var vector = scalarOnLeft ? ((VectorValue)right).Samples : ((VectorValue)left).Samples;
        var result = new List<Sample>();
        foreach (var sample in vector)
        {
            var (value, keep) = scalarOnLeft ? Apply(binary.Op, scalar, sample.Value) : Apply(binary.Op, sample.Value, scalar);
            if (binary.IsComparison && !binary.ReturnBool)
            {
                if (keep)
                {
                    result.Add(sample);
                }

                continue;
            }

            result.Add(new Sample(DropsName(binary) ? sample.Labels.WithoutName() : sample.Labels, binary.IsComparison ? (keep ? 1 : 0) : value));
        }

        return new VectorValue(result);
    }

    /// <summary>
    /// Whether the result loses the metric name: arithmetic and bool comparisons do, filters do not, and neither does
    /// atan2, which Prometheus 2.x leaves out of its list of name-dropping operators.
    /// </summary>
    private static bool DropsName(Binary binary) => binary.IsComparison ? binary.ReturnBool : binary.Op != "atan2";

    /// <summary>The key series are matched on: the on (…) labels, or all but the ignoring (…) ones and the name.</summary>
    private static Func<Labels, Labels> SignatureOf(VectorMatching? matching)
    {
        var labels = new HashSet<string>(matching?.Labels ?? [], StringComparer.Ordinal);
        return matching is { On: true } ? l => l.Keep(labels) : l => l.WithoutName().Drop(labels);
    }

    /// <summary>
    /// <c>and</c>: the left series with a match on the right; <c>unless</c>: those without; <c>or</c>: all left series
    /// and the right ones whose match group the left lacks. Labels and values are the selected series' own.
    /// </summary>
    private static List<Sample> SetOperation(Binary binary, IReadOnlyList<Sample> left, IReadOnlyList<Sample> right)
    {
        var signature = SignatureOf(binary.Matching);
        var result = new List<Sample>();
        if (binary.Op == "or")
        {
            var leftKeys = new HashSet<string>(StringComparer.Ordinal);
            foreach (var sample in left)
            {
                leftKeys.Add(signature(sample.Labels).Key);
                result.Add(sample);
            }

            foreach (var sample in right)
            {
                if (!leftKeys.Contains(signature(sample.Labels).Key))
                {
                    result.Add(sample);
                }
            }

            return result;
        }

        var rightKeys = new HashSet<string>(StringComparer.Ordinal);
        foreach (var sample in right)
        {
            rightKeys.Add(signature(sample.Labels).Key);
        }

        var wanted = binary.Op == "and";
        foreach (var sample in left)
        {
            if (rightKeys.Contains(signature(sample.Labels).Key) == wanted)
            {
                result.Add(sample);
            }
        }

        return result;
    }

    /// <summary>
    /// Vector-vector arithmetic and comparisons as Prometheus matches them: one-to-one by default, or with
    /// group_left (group_right) each series of the left (right) side pairs with the one series of its match group on
    /// the other side, whose <c>include</c> labels it takes.
    /// </summary>
    private static List<Sample> VectorVector(Binary binary, IReadOnlyList<Sample> left, IReadOnlyList<Sample> right)
    {
        var matching = binary.Matching;
        var card = matching?.Card ?? Grouping.OneToOne;
        var signature = SignatureOf(matching);
        var matchLabels = new HashSet<string>(matching?.Labels ?? [], StringComparer.Ordinal);

        // "many" is the side whose series each make a result; "one" must be unique per match group.
        var (many, one) = card == Grouping.OneToMany ? (right, left) : (left, right);
        var oneSide = card == Grouping.OneToMany ? "left" : "right";
        var oneBySignature = new Dictionary<string, Sample>(StringComparer.Ordinal);
        foreach (var sample in one)
        {
            var key = signature(sample.Labels);
            if (!oneBySignature.TryAdd(key.Key, sample))
            {
                throw new PromQLException(card == Grouping.OneToOne
                    ? $"many-to-many matching not allowed: found duplicate series for the match group {key} on the {oneSide} hand side of the operation; use group_left/group_right, or aggregate first (e.g. sum by (…))"
                    : $"many-to-many matching not allowed: found duplicate series for the match group {key} on the {oneSide} hand side of the operation: matching labels must be unique on one side");
            }
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        var result = new List<Sample>();
        foreach (var sample in many)
        {
            var key = signature(sample.Labels);
            if (!oneBySignature.TryGetValue(key.Key, out var match))
            {
                continue;
            }

            // The operands keep their sides: with group_right the "many" sample is the right operand.
            var (a, b) = card == Grouping.OneToMany ? (match.Value, sample.Value) : (sample.Value, match.Value);
            var (value, keep) = Apply(binary.Op, a, b);
            if (binary.IsComparison && !binary.ReturnBool && !keep)
            {
                continue;
            }

            var labels = DropsName(binary) ? sample.Labels.WithoutName() : sample.Labels;

            if (card == Grouping.OneToOne)
            {
                if (matching is not null)
                {
                    labels = matching.On ? labels.Keep(matchLabels) : labels.Drop(matchLabels);
                }
            }
            else
            {
                foreach (var name in matching!.Include ?? [])
                {
                    labels = labels.With(name, match.Labels.Get(name) ?? string.Empty);
                }
            }

            // One-to-one: a match group may pair once; grouped: each result label set may appear once.
            if (!seen.Add(card == Grouping.OneToOne ? key.Key : labels.Key))
            {
                throw new PromQLException(card == Grouping.OneToOne
                    ? $"many-to-many matching not allowed: found duplicate series for the match group {key} on the left hand side of the operation; use group_left/group_right, or aggregate first (e.g. sum by (…))"
                    : $"multiple matches for labels: grouping labels must ensure unique matches (the result {labels} appears twice)");
            }

            result.Add(new Sample(labels, binary.IsComparison ? (binary.ReturnBool ? (keep ? 1 : 0) : a) : value));
        }

        return result;
    }

    private static (double Value, bool Keep) Apply(string op, double a, double b) => op switch
    {
        "+" => (a + b, true),
        "-" => (a - b, true),
        "*" => (a * b, true),
        "/" => (a / b, true),
        "%" => (a % b, true), // IEEE remainder with the dividend's sign, as Go's math.Mod
        "^" => (Math.Pow(a, b), true),
        "atan2" => (Math.Atan2(a, b), true),
        "==" => (a == b ? 1 : 0, a == b),
        "!=" => (a != b ? 1 : 0, a != b),
        ">" => (a > b ? 1 : 0, a > b),
        "<" => (a < b ? 1 : 0, a < b),
        ">=" => (a >= b ? 1 : 0, a >= b),
        "<=" => (a <= b ? 1 : 0, a <= b),
        _ => throw new PromQLException($"the {op} operator is not supported"),
    };

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;
}
