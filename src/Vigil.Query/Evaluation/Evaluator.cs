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

    public Evaluator(IWindowReader reader, SeriesCatalog catalog, PromQueryOptions options, Func<IReadOnlyList<MetricFamily>> live, DateTimeOffset now)
    {
        _reader = reader;
        _catalog = catalog;
        _options = options;
        _live = live;
        _now = now;
    }

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
            return SelectAt(selector, Shift(t, selector.Offset));
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
        }

        foreach (var target in targets)
        {
            var (fn, window) = target.Role switch
            {
                SeriesRole.Counter or SeriesRole.Count => (AggregateFunction.Increase, _options.Retention),
                SeriesRole.Sum => (AggregateFunction.Sum, _options.Retention),
                SeriesRole.Gauge => (AggregateFunction.Last, Min(_options.LookbackDelta, _options.Retention)),
                SeriesRole.Bucket => throw new PromQLException(
                    $"{target.Name}: _bucket series are only supported inside histogram_quantile, e.g. histogram_quantile(0.99, sum by (le) (rate({target.Name}[5m]))); the window store computes the quantile"),
                SeriesRole.Native => throw new PromQLException(
                    $"{target.Name} is an exponential (native) histogram: use histogram_quantile(0.99, sum(rate({target.Name}[5m]))), {target.Name}_count or {target.Name}_sum"),
                _ => throw new PromQLException(
                    $"{target.Name} is a summary's quantile series, which Vigil does not expose; use {target.Name}_count or {target.Name}_sum"),
            };
            result.AddRange(Fetch(target, fn, window, selector.Matchers, at, null, target.Name));
        }

        return result;
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
        var by = byLabels is null ? _catalog.AttributesOf(target.Metric) : [.. byLabels.Select(l => _catalog.AttributeOf(target.Metric, l))];
        var storeMatchers = new List<LabelMatcher>();
        foreach (var m in matchers)
        {
            if (m.Name != Labels.MetricName)
            {
                storeMatchers.Add(new LabelMatcher(_catalog.AttributeOf(target.Metric, m.Name), m.Op, m.Value));
            }
        }

        IReadOnlyList<AggregateSample> samples;
        try
        {
            samples = _reader.Aggregate(new AggregateQuery(target.Metric, fn, window, by, storeMatchers, at, quantile));
        }
        catch (RegexTimeoutException e)
        {
            throw new PromQLException(e.Message, PromQLException.Execution);
        }
        catch (QueryException e)
        {
            throw new PromQLException(e.Message);
        }

        foreach (var sample in samples)
        {
            yield return new Sample(SeriesCatalog.Translate(sample.Labels, name), transform is null ? sample.Value : transform(sample.Value));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private InstantValue EvalCall(Call call, DateTimeOffset t)
    {
        if (Parser.RangeFunctions.Contains(call.Function))
        {
            return new VectorValue(EvalRangeFunction(call.Function, (MatrixSelector)call.Args[0], t));
        }

        switch (call.Function)
        {
            case "histogram_quantile":
                return new VectorValue(HistogramQuantile(EvalScalar(call.Args[0], t, "histogram_quantile's first argument"), call.Args[1], t));
            case "abs":
                return Map(call, t, Math.Abs);
            case "ceil":
                return Map(call, t, Math.Ceiling);
            case "floor":
                return Map(call, t, Math.Floor);
            case "clamp_min":
                var min = EvalScalar(call.Args[1], t, "clamp_min's second argument");
                return Map(call, t, v => Math.Max(v, min));
            case "clamp_max":
                var max = EvalScalar(call.Args[1], t, "clamp_max's second argument");
                return Map(call, t, v => Math.Min(v, max));
            case "scalar":
                var samples = EvalVector(call.Args[0], t, "scalar()");
                return new ScalarValue(samples.Count == 1 ? samples[0].Value : double.NaN);
            case "vector":
                return new VectorValue([new Sample(Labels.Empty, EvalScalar(call.Args[0], t, "vector()"))]);
            case "time":
                return new ScalarValue(t.ToUnixTimeMilliseconds() / 1000.0);
            default:
                throw new PromQLException($"function {call.Function} is not supported");
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private VectorValue Map(Call call, DateTimeOffset t, Func<double, double> fn) =>
        new([.. EvalVector(call.Args[0], t, call.Function + "()").Select(s => new Sample(s.Labels.WithoutName(), fn(s.Value)))]);

    private List<Sample> EvalRangeFunction(string function, MatrixSelector matrix, DateTimeOffset t)
    {
        try
        {
            return EvalRangeFunctionAt(function, matrix, Shift(t, matrix.Vector.Offset));
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
                ("sum_over_time", SeriesRole.Gauge) => (AggregateFunction.Sum, null),
                ("avg_over_time", SeriesRole.Gauge) => (AggregateFunction.Avg, null),
                ("min_over_time", SeriesRole.Gauge) => (AggregateFunction.Min, null),
                ("max_over_time", SeriesRole.Gauge) => (AggregateFunction.Max, null),
                ("last_over_time", SeriesRole.Gauge) => (AggregateFunction.Last, null),
                _ => throw NotApplicable(function, target),
            };
            // Prometheus drops the metric name from every range function's result but last_over_time's: its value is a sample of the series.
            var name = function == "last_over_time" ? target.Name : null;
            result.AddRange(Fetch(target, plan.Fn, window, matrix.Vector.Matchers, at, null, name, transform: plan.Transform));
        }

        return result;
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
            return HistogramQuantileAt(q, matrix, Shift(t, matrix.Vector.Offset), by, without, native);
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
        var samples = EvalVector(aggregation.Inner, t, aggregation.Op);
        var grouping = new HashSet<string>(aggregation.Grouping, StringComparer.Ordinal);
        var groups = new Dictionary<string, (Labels Labels, double Sum, double Min, double Max, int Count)>(StringComparer.Ordinal);
        foreach (var sample in samples)
        {
            var labels = aggregation.Without ? sample.Labels.WithoutName().Drop(grouping) : sample.Labels.Keep(grouping);
            if (!groups.TryGetValue(labels.Key, out var g))
            {
                g = (labels, 0, double.PositiveInfinity, double.NegativeInfinity, 0);
            }

            groups[labels.Key] = (g.Labels, g.Sum + sample.Value, Math.Min(g.Min, sample.Value), Math.Max(g.Max, sample.Value), g.Count + 1);
        }

        var result = new List<Sample>(groups.Count);
        foreach (var key in groups.Keys.Order(StringComparer.Ordinal))
        {
            var g = groups[key];
            var value = aggregation.Op switch
            {
                "sum" => g.Sum,
                "avg" => g.Sum / g.Count,
                "min" => g.Min,
                "max" => g.Max,
                _ => g.Count,
            };
            result.Add(new Sample(g.Labels, value));
        }

        return new VectorValue(result);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private InstantValue EvalBinary(Binary binary, DateTimeOffset t)
    {
        var left = Eval(binary.Left, t);
        var right = Eval(binary.Right, t);
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

            result.Add(new Sample(sample.Labels.WithoutName(), binary.IsComparison ? (keep ? 1 : 0) : value));
        }

        return new VectorValue(result);
    }

    private static List<Sample> VectorVector(Binary binary, IReadOnlyList<Sample> left, IReadOnlyList<Sample> right)
    {
        var matching = binary.Matching;
        var matchLabels = new HashSet<string>(matching?.Labels ?? [], StringComparer.Ordinal);
        Labels Signature(Labels labels) => matching is { On: true } ? labels.Keep(matchLabels) : labels.WithoutName().Drop(matchLabels);

        var rightBySignature = new Dictionary<string, Sample>(StringComparer.Ordinal);
        foreach (var sample in right)
        {
            var signature = Signature(sample.Labels);
            if (!rightBySignature.TryAdd(signature.Key, sample))
            {
                throw new PromQLException($"many-to-many matching not allowed: found duplicate series for the match group {signature} on the right hand side of the operation; group_left/group_right are not supported, aggregate first (e.g. sum by (…))");
            }
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        var result = new List<Sample>();
        foreach (var sample in left)
        {
            var signature = Signature(sample.Labels);
            if (!rightBySignature.TryGetValue(signature.Key, out var match))
            {
                continue;
            }

            if (!seen.Add(signature.Key))
            {
                throw new PromQLException($"many-to-many matching not allowed: found duplicate series for the match group {signature} on the left hand side of the operation; aggregate first (e.g. sum by (…))");
            }

            var (value, keep) = Apply(binary.Op, sample.Value, match.Value);
            if (binary.IsComparison && !binary.ReturnBool && !keep)
            {
                continue;
            }

            var labels = sample.Labels;
            if (!binary.IsComparison || binary.ReturnBool)
            {
                labels = labels.WithoutName();
            }

            if (matching is not null)
            {
                labels = matching.On ? labels.Keep(matchLabels) : labels.Drop(matchLabels);
            }

            result.Add(new Sample(labels, binary.IsComparison ? (binary.ReturnBool ? (keep ? 1 : 0) : sample.Value) : value));
        }

        return result;
    }

    private static (double Value, bool Keep) Apply(string op, double a, double b) => op switch
    {
        "+" => (a + b, true),
        "-" => (a - b, true),
        "*" => (a * b, true),
        "/" => (a / b, true),
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
