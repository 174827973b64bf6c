using System.Globalization;
using System.Text;
using Vigil.Otlp.Wire;

namespace Vigil.Storage;

/// <summary>
/// Applies one request's points to the store. Rented per request and reused, so its scratch
/// buffers make the per-point path allocation-free once a series exists.
/// </summary>
internal sealed class IngestSession : IOtlpPointSink
{
    private const int MaxReasons = 8;

    private readonly WindowStore _store;
    private readonly SeriesKeyBuilder _key = new();
    private readonly TenantResolver _tenant;
    private readonly string[] _reasons = new string[MaxReasons];
    private readonly int[] _reasonCounts = new int[MaxReasons];
    private readonly string?[] _reasonMetric = new string?[MaxReasons];
    private int _reasonCount;
    private MetricState? _metric;
    private string? _metricRefusal;
    private bool _cumulative;
    private char[] _nameBuffer = new char[256];
    private int _refusedNameLength;
    private bool _overflow;
    private string? _memoryTenant;
    private TenantTraffic.Counter? _refusedTraffic;

    // Arrival lag of the current metric's points, counted here per point and flushed to the metric once per
    // metric of the request: the per-point cost is one increment of a session-local array.
    private readonly int[] _lagCounts = new int[ArrivalLag.Buckets];
    private bool _lagCounted;
    private bool _observeArrival;
    private long _nowUnixNano;

    public IngestSession(WindowStore store)
    {
        _store = store;
        _tenant = new TenantResolver(store.Options.TenantAttribute);
    }

    public int Accepted { get; private set; }

    public int Rejected { get; private set; }

    public int NowBucket { get; private set; }

    public void Reset(TenantBinding? binding, bool observeArrival = false)
    {
        _observeArrival = observeArrival;
        _lagCounted = false;
        _tenant.Reset(binding);
        Accepted = 0;
        Rejected = 0;
        _reasonCount = 0;
        _metric = null;
        _metricRefusal = null;
        _memoryTenant = null;
        _refusedTraffic = null;
        _refusedNameLength = 0;
        _key.ClearResource();
        var now = _store.Now;
        _nowUnixNano = (long)WindowStore.ToUnixNano(now);
        NowBucket = _store.BucketOf(now);
    }

    public void BeginResource(AttributeList resourceAttributes)
    {
        _key.SetResource(resourceAttributes, _store.IdentityKeys);
        _tenant.BeginResource(resourceAttributes);
        _refusedTraffic = null;
    }

    public void BeginMetric(in MetricHeader metric)
    {
        FlushLag();
        _metric = null;
        _metricRefusal = null;
        _refusedNameLength = 0;
        if (metric.Name.IsEmpty)
        {
            return;
        }

        if (metric.Refusal is not null)
        {
            // Every point is refused by the reader: no metric (and no type) comes of it, but a readable name
            // still makes a good example in the message.
            if (metric.Refusal != OtlpPointRules.NameText)
            {
                _refusedNameLength = DecodeName(metric.Name);
            }

            return;
        }

        var kind = metric.Type switch
        {
            OtlpMetricType.Gauge => MetricKind.Gauge,
            OtlpMetricType.Sum => metric.IsMonotonic || metric.Temporality == Temporality.Delta ? MetricKind.Counter : MetricKind.Gauge,
            OtlpMetricType.Histogram => MetricKind.Histogram,
            OtlpMetricType.ExponentialHistogram => MetricKind.ExponentialHistogram,
            _ => MetricKind.Summary,
        };
        _cumulative = metric.Temporality == Temporality.Cumulative;

        // Refused before a metric (or an example name for the message) is made of it.
        if (metric.Name.Length > _store.Options.MaxMetricNameLength)
        {
            _metricRefusal = RefusalReasons.MetricNameTooLong;
            return;
        }

        var length = DecodeName(metric.Name);
        _metric = _store.GetOrAddMetric(_nameBuffer.AsSpan(0, length), kind, metric.Unit, metric.IsMonotonic);
        if (_metric is null)
        {
            _metricRefusal = RefusalReasons.MemoryLimit;
        }
        else if (_metric.Kind != kind)
        {
            _metricRefusal = RefusalReasons.KindConflict;
        }
    }

    private int DecodeName(ReadOnlySpan<byte> name)
    {
        var charCount = Encoding.UTF8.GetMaxCharCount(name.Length);
        if (_nameBuffer.Length < charCount)
        {
            _nameBuffer = new char[charCount];
        }

        return Encoding.UTF8.GetChars(name, _nameBuffer);
    }

    public string? Number(in PointHeader point, double value)
    {
        if (point.NoRecordedValue)
        {
            return Marker();
        }

        var series = Resolve(point, out var bucket, out var refusal);
        if (series is null)
        {
            return refusal;
        }

        try
        {
            refusal = series switch
            {
                CounterSeries counter => counter.Add(bucket, point.StartTimeUnixNano, point.TimeUnixNano, value, _cumulative, _store.KnownSinceUnixNano),
                GaugeSeries gauge => gauge.Add(bucket, point.StartTimeUnixNano, point.TimeUnixNano, value),
                _ => RefusalReasons.KindConflict,
            };
        }
        finally
        {
            _store.Release(series);
        }

        return Finish(series, refusal);
    }

    public string? Histogram(in PointHeader point, in HistogramValue value)
    {
        if (point.NoRecordedValue)
        {
            return Marker();
        }

        var series = Resolve(point, out var bucket, out var refusal);
        if (series is null)
        {
            return refusal;
        }

        try
        {
            refusal = ((HistogramSeries)series).Add(bucket, point.StartTimeUnixNano, point.TimeUnixNano, value, _cumulative, _store.KnownSinceUnixNano);
        }
        finally
        {
            _store.Release(series);
        }

        return Finish(series, refusal);
    }

    public string? ExponentialHistogram(in PointHeader point, in ExponentialHistogramValue value)
    {
        if (point.NoRecordedValue)
        {
            return Marker();
        }

        var series = Resolve(point, out var bucket, out var refusal);
        if (series is null)
        {
            return refusal;
        }

        try
        {
            refusal = ((ExponentialHistogramSeries)series).Add(bucket, point.StartTimeUnixNano, point.TimeUnixNano, value, _cumulative, _store.KnownSinceUnixNano);
        }
        finally
        {
            _store.Release(series);
        }

        return Finish(series, refusal);
    }

    public string? Summary(in PointHeader point, in SummaryValue value)
    {
        if (point.NoRecordedValue)
        {
            return Marker();
        }

        var series = Resolve(point, out var bucket, out var refusal);
        if (series is null)
        {
            return refusal;
        }

        try
        {
            refusal = ((SummarySeries)series).Add(bucket, point.StartTimeUnixNano, point.TimeUnixNano, value, _store.KnownSinceUnixNano);
        }
        finally
        {
            _store.Release(series);
        }

        return Finish(series, refusal);
    }

    /// <summary>A staleness marker stores nothing (its attributes' text was checked by the reader, see PointHeader).</summary>
    private string? Marker()
    {
        Accepted++;
        return null;
    }

    public void Refused(string reason)
    {
        Rejected++;
        // Counted for the tenant the key or the resource names; found once per resource, so a refused flood costs no lookups.
        _refusedTraffic ??= _tenant.Named() is { } named ? _store.Traffic.ForRefused(named) : TenantTraffic.Counter.None;
        if (_refusedTraffic != TenantTraffic.Counter.None)
        {
            _refusedTraffic.AddRefused(1);
        }
        for (var i = 0; i < _reasonCount; i++)
        {
            if (ReferenceEquals(_reasons[i], reason) || _reasons[i] == reason)
            {
                _reasonCounts[i]++;
                return;
            }
        }

        if (_reasonCount < MaxReasons)
        {
            _reasons[_reasonCount] = reason;
            _reasonCounts[_reasonCount] = 1;
            // A new reason (at most MaxReasons per request) may allocate its example name; repeats cost nothing.
            _reasonMetric[_reasonCount] = _metric?.Name ?? (_refusedNameLength > 0 ? new string(_nameBuffer, 0, _refusedNameLength) : null);
            _reasonCount++;
        }
    }

    /// <summary>The partial_success message: each reason with its count and an example metric.</summary>
    public string? ErrorMessage()
    {
        if (_reasonCount == 0)
        {
            return null;
        }

        var builder = new StringBuilder();
        for (var i = 0; i < _reasonCount; i++)
        {
            if (i > 0)
            {
                builder.Append("; ");
            }

            builder.Append(CultureInfo.InvariantCulture, $"{_reasonCounts[i]} point(s) refused: {_reasons[i]}");
            if (_reasons[i] == RefusalReasons.TenantMismatch && _tenant.Detail is { } tenantDetail)
            {
                builder.Append(": ").Append(tenantDetail);
            }

            if (_reasonMetric[i] is { } metric)
            {
                builder.Append(CultureInfo.InvariantCulture, $" (e.g. metric \"{metric}\"{Detail(_reasons[i], metric)})");
            }
            else if (_reasons[i] == RefusalReasons.MetricNameTooLong)
            {
                // No example: the name is the problem.
                builder.Append(" (").Append(Detail(_reasons[i], string.Empty).AsSpan(2)).Append(')');
            }
        }

        return builder.ToString();
    }

    public void ReportStats(IngestStats stats)
    {
        FlushLag();
        stats.AddAccepted(Accepted);
        for (var i = 0; i < _reasonCount; i++)
        {
            stats.AddRefused(_reasons[i], _reasonCounts[i]);
        }

        _tenant.ReportStats(stats);
    }

    private void FlushLag()
    {
        if (!_lagCounted)
        {
            return;
        }

        _metric?.Lag.Add(_nowUnixNano / WindowStore.NanosPerMinute, _lagCounts);
        Array.Clear(_lagCounts);
        _lagCounted = false;
    }

    private string Detail(string reason, string metric)
    {
        if (reason == RefusalReasons.KindConflict && _store.KindOf(metric) is { } kind)
        {
            return $" is a {kind.ToDisplay()}; a metric name keeps the type it was first seen with";
        }

        return reason switch
        {
            RefusalReasons.TooOld => $", retention {_store.Options.Retention}",
            RefusalReasons.TooNew => $", tolerance {_store.Options.FutureTolerance}; check the sender's clock",
            RefusalReasons.SeriesLimit => $", limit {_store.Options.MaxSeriesPerMetric}; drop high-cardinality attributes",
            RefusalReasons.TenantSeriesLimit => $", limit {_store.Options.MaxSeriesPerTenant} series per {_store.Options.TenantAttribute}; drop high-cardinality attributes or raise storage.max_series_per_tenant",
            RefusalReasons.StoreSeriesLimit => $", limit {_store.Options.MaxSeries} series in all; drop high-cardinality attributes or raise storage.max_series",
            RefusalReasons.MemoryLimit => MemoryDetail(),
            RefusalReasons.TooManyAttributes => $", limit {_store.Options.MaxAttributesPerPoint}",
            RefusalReasons.AttributeTooLong => $", limit {_store.Options.MaxAttributeValueLength} bytes",
            RefusalReasons.AttributeKeyTooLong => $", limit {_store.Options.MaxAttributeKeyLength} bytes (storage.max_attribute_key_length)",
            RefusalReasons.MetricNameTooLong => $", limit {_store.Options.MaxMetricNameLength} bytes (storage.max_metric_name_length)",
            _ => string.Empty,
        };
    }

    private string MemoryDetail()
    {
        var tenant = string.IsNullOrEmpty(_memoryTenant) ? string.Empty : $", {_store.Options.TenantAttribute} \"{_memoryTenant}\" holds {_store.TenantSeriesCount(_memoryTenant)} series";
        var soft = _store.Memory is { } memory ? $" {memory.SoftLimitBytes / (1024 * 1024)} MiB" : string.Empty;
        return $"{tenant}; Vigil is above its soft memory limit{soft}; existing series are still accepted, retry new ones later";
    }

    private Series? Resolve(in PointHeader point, out int bucket, out string? refusal)
    {
        bucket = 0;
        if (_metric is null || _metricRefusal is not null)
        {
            refusal = _metricRefusal ?? OtlpPointRules.NoName;
            return null;
        }

        if (point.TimeUnixNano == 0)
        {
            refusal = RefusalReasons.NoTimestamp;
            return null;
        }

        bucket = _store.BucketOf(point.TimeUnixNano);
        if (_observeArrival)
        {
            _lagCounts[ArrivalLag.BucketOf(_nowUnixNano - (long)point.TimeUnixNano)]++;
            _lagCounted = true;
        }

        if (bucket < NowBucket - _store.RetentionBuckets + 1)
        {
            refusal = RefusalReasons.TooOld;
            return null;
        }

        if (bucket > NowBucket + _store.FutureBuckets)
        {
            refusal = RefusalReasons.TooNew;
            return null;
        }

        refusal = _key.SetPoint(point.Attributes, _store.Options.MaxAttributesPerPoint, _store.Options.MaxAttributeValueLength, _store.Options.MaxAttributeKeyLength)
            ?? _tenant.Resolve(_key);
        if (refusal is not null)
        {
            return null;
        }

        // Returns with the series' stripe lock held; the caller releases it after the update.
        var key = _key.Build(_metric.Id);
        var series = _store.Lookup(_metric, key, out var overflow, out refusal);
        _overflow = overflow;
        if (refusal == RefusalReasons.MemoryLimit)
        {
            // Named once per request, for the message: the tenant of the first series refused.
            _memoryTenant ??= _store.TenantOf(key) ?? string.Empty;
        }

        return series;
    }

    private string? Finish(Series series, string? refusal)
    {
        if (refusal is null)
        {
            if (_overflow)
            {
                Interlocked.Increment(ref series.Metric.OverflowPoints);
                return RefusalReasons.SeriesLimit;
            }

            Accepted++;
            if (_store.TrafficOf(series) is var traffic && traffic != TenantTraffic.Counter.None)
            {
                traffic.AddAccepted(1);
            }
        }

        return refusal;
    }
}
