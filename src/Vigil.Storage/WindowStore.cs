using System.Collections.Concurrent;
using System.Text;
using Vigil.Otlp.Wire;
using Vigil.Storage.Query;

namespace Vigil.Storage;

/// <summary>
/// Every series' buckets, in memory. Series live in lock stripes chosen by key hash, so concurrent
/// requests mostly touch different locks; queries take one stripe lock per series they fold.
/// </summary>
public sealed partial class WindowStore : IWindowReader
{
    private const long EpochSeconds = 1_577_836_800; // 2020-01-01T00:00:00Z: bucket numbers fit an int.
    private const int StripeCount = 64;

    private readonly TimeProvider _time;
    private readonly Stripe[] _stripes = new Stripe[StripeCount];
    private readonly ConcurrentDictionary<string, MetricState> _metrics = new(StringComparer.Ordinal);
    private readonly SeriesAccounting _accounting = new();
    private readonly long _resolutionNanos;
    private readonly LabelNames _labelNames = new();
    private int _nextMetricId;
    private long _evicted;

    public WindowStore(WindowStoreOptions options, TimeProvider timeProvider)
    {
        var problems = options.Validate();
        if (problems.Count > 0)
        {
            throw new ArgumentException(string.Join(Environment.NewLine, problems), nameof(options));
        }

        Options = options;
        _time = timeProvider;
        Traffic = new TenantTraffic(timeProvider);
        _resolutionNanos = (long)options.Resolution.TotalSeconds * 1_000_000_000L;
        RetentionBuckets = (int)(options.Retention.Ticks / options.Resolution.Ticks);
        FutureBuckets = (int)Math.Ceiling(options.FutureTolerance.Ticks / (double)options.Resolution.Ticks);
        IdentityKeys = options.ResourceAttributes.Select(Encoding.UTF8.GetBytes).ToArray();
        KnownSinceUnixNano = ToUnixNano(timeProvider.GetUtcNow());
        for (var i = 0; i < StripeCount; i++)
        {
            _stripes[i] = new Stripe();
        }
    }

    public WindowStoreOptions Options { get; }

    public IngestStats Stats { get; } = new();

    /// <summary>Points accepted and refused per tenant (<see cref="TenantStatus()"/>).</summary>
    internal TenantTraffic Traffic { get; }

    /// <summary>
    /// The memory limit new series and metrics are admitted against; null = none. Set once the WAL has
    /// been replayed: what was acknowledged before a restart is restored whatever memory says.
    /// </summary>
    public MemoryLimiter? Memory { get; set; }

    /// <summary>Series the last <see cref="Sweep"/> looked at: stripes with nothing to expire are skipped.</summary>
    internal int LastSweepVisited { get; private set; }

    /// <summary>Series evicted since start (idle past the retention).</summary>
    public long EvictedSeries => Interlocked.Read(ref _evicted);

    /// <summary>
    /// From when this store has seen everything. A cumulative run that started earlier has an unknown
    /// past, so its first point is a baseline, not an increase. The WAL replay moves it back.
    /// </summary>
    public ulong KnownSinceUnixNano { get; set; }

    public int RetentionBuckets { get; }

    public int FutureBuckets { get; }

    internal IReadOnlyList<byte[]> IdentityKeys { get; }

    public DateTimeOffset Now => _time.GetUtcNow();

    public int SeriesCount
    {
        get
        {
            var count = 0;
            foreach (var metric in _metrics.Values)
            {
                count += metric.SeriesCount + (metric.Overflow is null ? 0 : 1);
            }

            return count;
        }
    }

    public int MetricCount => _metrics.Count;

    /// <summary>Approximate bytes held by series (labels, keys, buckets); see docs/performance.md.</summary>
    public long ApproximateBytes()
    {
        long total = 0;
        foreach (var metric in _metrics.Values)
        {
            foreach (var series in metric.Snapshot())
            {
                lock (_stripes[series.Stripe])
                {
                    total += series.ApproximateBytes + series.Labels.OwnBytes;
                }
            }
        }

        return total;
    }

    /// <summary>The first instant <see cref="ToUnixNano"/> represents: OTLP time is nanoseconds since 1970.</summary>
    public static readonly DateTimeOffset EarliestTime = DateTimeOffset.UnixEpoch;

    /// <summary>
    /// The last millisecond <see cref="ToUnixNano"/> represents (2262-04-11T23:47:16.854Z, signed 64-bit nanoseconds):
    /// past it the conversion wraps and a query would read other times' buckets, so the query APIs refuse later times.
    /// </summary>
    public static readonly DateTimeOffset LatestTime = DateTimeOffset.FromUnixTimeMilliseconds(long.MaxValue / 1_000_000);

    internal const long NanosPerMinute = 60_000_000_000;

    /// <summary>
    /// The <paramref name="quantile"/> of how late <paramref name="metric"/>'s points arrived over the last
    /// <see cref="Storage.ArrivalLag.Minutes"/> minutes (arrival minus point time, the upper edge of a power-of-two
    /// bucket of milliseconds); null for a metric without points in that time. WAL replay is not counted.
    /// </summary>
    TimeSpan? IWindowReader.ArrivalLagOf(string metric) => ArrivalLag(metric);

    public TimeSpan? ArrivalLag(string metric, double quantile = 0.99) =>
        _metrics.TryGetValue(metric, out var state) ? state.Lag.Quantile((long)ToUnixNano(Now) / NanosPerMinute, quantile) : null;

    public static ulong ToUnixNano(DateTimeOffset time) => (ulong)(time.ToUnixTimeMilliseconds() * 1_000_000L) + (ulong)(time.Ticks % TimeSpan.TicksPerMillisecond * 100);

    internal int BucketOf(ulong unixNano)
    {
        var bucket = ((long)Math.Min(unixNano, long.MaxValue) / _resolutionNanos) - (EpochSeconds * 1_000_000_000L / _resolutionNanos);
        return (int)Math.Clamp(bucket, int.MinValue / 2, int.MaxValue / 2);
    }

    internal int BucketOf(DateTimeOffset time) => BucketOf(ToUnixNano(time));

    internal DateTimeOffset BucketStart(int bucket) =>
        DateTimeOffset.FromUnixTimeSeconds(EpochSeconds).AddTicks(bucket * Options.Resolution.Ticks);

    /// <summary>The metric of that name, created if new; null when a new one is refused for memory.</summary>
    internal MetricState? GetOrAddMetric(ReadOnlySpan<char> name, MetricKind kind, ReadOnlySpan<byte> unit, bool monotonic)
    {
        var lookup = _metrics.GetAlternateLookup<ReadOnlySpan<char>>();
        if (lookup.TryGetValue(name, out var metric))
        {
            return metric;
        }

        // A metric is small, but a flood of metric names would otherwise grow past any series limit.
        if (Memory?.Pressure >= MemoryPressure.NoNewSeries)
        {
            return null;
        }

        var created = new MetricState(Interlocked.Increment(ref _nextMetricId), name.ToString(), kind, Encoding.UTF8.GetString(unit), monotonic);
        return _metrics.GetOrAdd(created.Name, created);
    }

    /// <summary>
    /// Finds or creates the series for a canonical key and returns with its stripe lock held; the
    /// caller updates it and calls <see cref="Release"/>. A new series past the metric's limit
    /// resolves to the metric's overflow series; past the store's or its tenant's limit, or refused
    /// by the memory limit, it is refused: null is returned (no lock held) with the reason.
    /// </summary>
    internal Series? Lookup(MetricState metric, ReadOnlySpan<byte> key, out bool overflow, out string? refusal)
    {
        overflow = false;
        refusal = null;
        var hash = SeriesKeyComparer.Hash(key);
        var stripeIndex = (int)((uint)hash % StripeCount);
        var stripe = _stripes[stripeIndex];
        Monitor.Enter(stripe);
        var lookup = stripe.Map.GetAlternateLookup<HashedSeriesKey>();
        stripe.Touched = true;
        if (lookup.TryGetValue(new HashedSeriesKey(key, hash), out var series))
        {
            PreserveForCheckpoint(series);
            return series;
        }

        if (!metric.TryReserveSeries(Options.MaxSeriesPerMetric))
        {
            Monitor.Exit(stripe);
            overflow = true;
            return LookupOverflow(metric);
        }

        try
        {
            // Refused before the labels are decoded when it can be: a refused flood then costs no garbage.
            var labels = Memory?.Pressure >= MemoryPressure.NoNewSeries ? null : SeriesKeyBuilder.DecodeLabels(key, _labelNames);
            refusal = labels is null ? RefusalReasons.MemoryLimit : Admit(labels);
            if (refusal is not null)
            {
                metric.ReleaseReservation();
                Monitor.Exit(stripe);
                return null;
            }

            series = Create(metric, key.ToArray(), labels!, stripeIndex);
            series.CheckpointEpoch = _checkpointEpoch;
            stripe.Map[series.Key] = series;
            metric.Add(series);
            return series;
        }
        catch
        {
            // Only the success path hands the lock to the caller.
            Monitor.Exit(stripe);
            throw;
        }
    }

    internal void Release(Series series) => Monitor.Exit(_stripes[series.Stripe]);

    /// <summary>Series held per tenant (the value of <see cref="WindowStoreOptions.TenantAttribute"/>).</summary>
    public int TenantSeriesCount(string tenant) => _accounting.Held(tenant);

    /// <summary>Per tenant: series held, accepted points/s over the last minute, points accepted and refused; most series first.</summary>
    public IReadOnlyList<TenantStatus> TenantStatus() => Traffic.Status(_accounting.Held, _accounting.Tenants());

    /// <summary>The traffic counter of a series' tenant, looked up once per series (<see cref="TenantTraffic.Counter.None"/>: no tenant, or the overflow series).</summary>
    internal TenantTraffic.Counter TrafficOf(Series series)
    {
        // Outside the stripe lock: two racing first points find the same counter, so either write is right.
        return series.Traffic ??= CountedTenant(series, out _) is { } tenant ? Traffic.For(tenant) : TenantTraffic.Counter.None;
    }

    /// <summary>The tenant named in a series key, for a refusal message; null when it has none.</summary>
    internal string? TenantOf(ReadOnlySpan<byte> key) =>
        SeriesKeyBuilder.DecodeLabels(key).TryGetValue(Options.TenantAttribute, out var tenant) ? tenant : null;

    // A new series only: the labels exist already, so reading the tenant costs nothing extra.
    private string? Admit(IReadOnlyDictionary<string, string> labels)
    {
        var tenant = labels.TryGetValue(Options.TenantAttribute, out var value) ? value : null;
        return _accounting.TryAdd(tenant, Options.MaxSeries, Options.MaxSeriesPerTenant, Memory?.Pressure ?? MemoryPressure.Normal);
    }

    /// <summary>The tenant a series is counted under; null for none, and for overflow series, which are not counted.</summary>
    private string? CountedTenant(Series series, out bool counted)
    {
        counted = !series.IsOverflow;
        return counted && series.Labels.TryGetValue(Options.TenantAttribute, out var tenant) ? tenant : null;
    }

    private Series LookupOverflow(MetricState metric)
    {
        // Built once per metric: during a cardinality explosion every new series' point comes this way.
        var key = metric.OverflowKey ??= OverflowKey(metric.Id);
        var stripeIndex = (int)((uint)SeriesKeyComparer.Hash(key) % StripeCount);
        var stripe = _stripes[stripeIndex];
        Monitor.Enter(stripe);
        stripe.Touched = true;
        if (stripe.Map.TryGetValue(key, out var series))
        {
            PreserveForCheckpoint(series);
            return series;
        }

        series = Create(metric, key, SeriesKeyBuilder.DecodeLabels(key), stripeIndex, overflow: true);
        series.CheckpointEpoch = _checkpointEpoch;
        stripe.Map[series.Key] = series;
        metric.Overflow = series;
        metric.Add(series);
        return series;
    }

    private static byte[] OverflowKey(int metricId)
    {
        var builder = new SeriesKeyBuilder();
        builder.SetLabels(new Dictionary<string, string> { ["otel.metric.overflow"] = "true" });
        return builder.Build(metricId).ToArray();
    }

    private static Series Create(MetricState metric, byte[] key, LabelSet labels, int stripe, bool overflow = false) => metric.Kind switch
    {
        MetricKind.Counter => new CounterSeries(metric, key, labels, stripe) { IsOverflow = overflow },
        MetricKind.Gauge => new GaugeSeries(metric, key, labels, stripe) { IsOverflow = overflow },
        MetricKind.Histogram => new HistogramSeries(metric, key, labels, stripe) { IsOverflow = overflow },
        MetricKind.ExponentialHistogram => new ExponentialHistogramSeries(metric, key, labels, stripe) { IsOverflow = overflow },
        _ => new SummarySeries(metric, key, labels, stripe) { IsOverflow = overflow },
    };

    /// <summary>
    /// Drops buckets past the retention and series with nothing left. Call it periodically
    /// (the collector does, once per resolution).
    /// </summary>
    public int Sweep()
    {
        var oldest = BucketOf(Now) - RetentionBuckets + 1;
        var removed = 0;
        var visited = 0;
        Traffic.Sample(_accounting.Held);
        foreach (var stripe in _stripes)
        {
            lock (stripe)
            {
                if (_streaming is not null)
                {
                    break; // deferred while a checkpoint streams (WindowStore.Checkpoint.cs)
                }

                if (!stripe.Touched && stripe.OldestBucket >= oldest)
                {
                    continue;
                }

                stripe.Touched = false;
                var oldestLeft = int.MaxValue;
                List<byte[]>? dead = null;
                foreach (var (key, series) in stripe.Map)
                {
                    series.Trim(oldest);
                    oldestLeft = Math.Min(oldestLeft, series.FirstBucket);
                    if (series.IsEmpty)
                    {
                        (dead ??= []).Add(key);
                        series.Removed = true;
                        var tenant = CountedTenant(series, out var counted);
                        if (counted)
                        {
                            _accounting.Remove(tenant);
                        }
                    }
                }

                stripe.OldestBucket = oldestLeft;
                visited += stripe.Map.Count;
                if (dead is null)
                {
                    continue;
                }

                foreach (var key in dead)
                {
                    stripe.Map.Remove(key);
                }

                // After a flood expires, give the map's arrays back too, not only the series.
                if (stripe.Map.Count < stripe.Map.Capacity / 4)
                {
                    stripe.Map.TrimExcess();
                }

                removed += dead.Count;
            }
        }

        LastSweepVisited = visited;
        if (removed > 0)
        {
            _labelNames.ForgetValues();
            foreach (var metric in _metrics.Values)
            {
                metric.RemoveWhere(s => s.Removed);
            }

            Interlocked.Add(ref _evicted, removed);
            Memory?.SeriesEvicted();
        }

        return removed;
    }

    /// <summary>
    /// Adds one number point from string labels: for tools, rule unit tests and tests, not the OTLP path.
    /// Counters take cumulative or delta values; gauges take levels.
    /// </summary>
    public PointOutcome AddNumber(string metric, MetricKind kind, bool cumulative, IReadOnlyDictionary<string, string> labels, DateTimeOffset startTime, DateTimeOffset time, double value)
    {
        if (kind is not (MetricKind.Counter or MetricKind.Gauge))
        {
            throw new ArgumentOutOfRangeException(nameof(kind), kind, "AddNumber takes counters and gauges");
        }

        var state = GetOrAddMetric(metric, kind, default, kind == MetricKind.Counter);
        if (state is null)
        {
            return new PointOutcome(RefusalReasons.MemoryLimit);
        }

        if (state.Kind != kind)
        {
            return new PointOutcome(RefusalReasons.KindConflict);
        }

        var timeNanos = ToUnixNano(time);
        var bucket = BucketOf(timeNanos);
        var now = BucketOf(Now);
        if (bucket < now - RetentionBuckets + 1)
        {
            return new PointOutcome(RefusalReasons.TooOld);
        }

        if (bucket > now + FutureBuckets)
        {
            return new PointOutcome(RefusalReasons.TooNew);
        }

        var nowNanos = (long)ToUnixNano(Now);
        Span<int> lag = stackalloc int[Storage.ArrivalLag.Buckets];
        lag[Storage.ArrivalLag.BucketOf(nowNanos - (long)timeNanos)] = 1;
        state.Lag.Add(nowNanos / NanosPerMinute, lag);

        var builder = new SeriesKeyBuilder();
        builder.SetLabels(labels);
        var series = Lookup(state, builder.Build(state.Id), out var overflow, out var refusal);
        if (series is null)
        {
            return new PointOutcome(refusal);
        }

        try
        {
            var start = startTime == default ? 0 : ToUnixNano(startTime);
            refusal = series switch
            {
                CounterSeries counter => counter.Add(bucket, start, timeNanos, value, cumulative, KnownSinceUnixNano),
                GaugeSeries gauge => gauge.Add(bucket, start, timeNanos, value),
                _ => RefusalReasons.KindConflict,
            };
        }
        finally
        {
            Release(series);
        }

        return new PointOutcome(refusal ?? (overflow ? RefusalReasons.SeriesLimit : null));
    }

    public MetricKind? KindOf(string metric) => _metrics.TryGetValue(metric, out var state) ? state.Kind : null;

    public IReadOnlyList<SeriesInfo> ListSeries(string? metric)
    {
        var result = new List<SeriesInfo>();
        foreach (var state in _metrics.Values)
        {
            if (metric is not null && state.Name != metric)
            {
                continue;
            }

            foreach (var series in state.Snapshot())
            {
                result.Add(new SeriesInfo(state.Name, state.Kind, state.Unit, series.Labels));
            }
        }

        return result;
    }

    public IReadOnlyList<string> MetricNames() => [.. _metrics.Keys];

    private sealed class Stripe
    {
        public readonly Dictionary<byte[], Series> Map = new(SeriesKeyComparer.Instance);

        // A stripe no series of which was looked up since the last sweep, and whose oldest bucket is still
        // inside the retention, has nothing to expire: an idle store's sweep skips it (issue 14's idle cost).
        public bool Touched = true;
        public int OldestBucket = int.MinValue;
    }
}
