using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Vigil.Otlp.Wire;

/// <summary>
/// Walks an encoded <c>ExportMetricsServiceRequest</c> and hands every data point to a sink, without
/// building an object model: attributes stay raw spans and repeated numbers land in reused scratch
/// arrays. The one walk checks the whole request and keeps a small index of where its resources,
/// metrics and points are; the sink is fed from that index (<see cref="Replay"/>), so a malformed body
/// is refused before a sink sees any of it, and nothing is walked twice. Points whose content breaks
/// <see cref="OtlpPointRules"/> are refused in the walk, so the store only ever sees points it can take.
/// Not thread-safe; pool instances (one per concurrent request).
/// </summary>
public sealed class OtlpMetricsReader
{
    // Field numbers from the OTLP metrics proto (Protos/opentelemetry/proto/metrics/v1/metrics.proto).
    private const int RequestResourceMetrics = 1;
    private const int ResourceMetricsResource = 1;
    private const int ResourceMetricsScopeMetrics = 2;
    private const int ResourceAttributes = 1;
    private const int ScopeMetricsMetrics = 2;
    private const int MetricName = 1;
    private const int MetricUnit = 3;
    private const int MetricGauge = 5;
    private const int MetricSum = 7;
    private const int MetricHistogram = 9;
    private const int MetricExponentialHistogram = 10;
    private const int MetricSummary = 11;
    private const int DataPoints = 1;
    private const int Temporality = 2;
    private const int SumIsMonotonic = 3;

    private ulong[] _counts = new ulong[64];
    private double[] _bounds = new double[64];
    private ulong[] _positive = new ulong[64];
    private ulong[] _negative = new ulong[64];
    private double[] _quantiles = new double[16];
    private double[] _values = new double[16];

    // Where the reader is, so the first refusal can be reported with its field path (formatted only on demand).
    private int _resource;
    private int _scope;
    private int _metric;
    private int _point;
    private OtlpMetricType _type;
    private IPointTenantTally? _tenants;
    private string? _firstRefusal;
    private (int Resource, int Scope, int Metric, OtlpMetricType Type, int Point) _firstRefusalAt;

    // The index of the last Read: 12 bytes per point that passed the content rules, one entry per run of
    // refused points, and resources and metrics only once a point of theirs is recorded, so the index stays
    // smaller than the encoded request, whatever the request holds. Reused across requests; a huge one's is let go.
    private const int KeptEntries = 64 * 1024;
    private Entry[] _entries = new Entry[256];
    private int _entryCount;
    private int _indexedLength = -1;
    private string?[] _reasons = new string?[16];
    private int _reasonCount = 1; // 0 is "no reason"
    private (int Offset, int Length) _pendingResource;
    private bool _resourcePending;
    private Entry _pendingMetric;
    private Entry _pendingUnit;
    private bool _metricPending;
    private int _pointOffset;

    /// <summary>Points read by the last <see cref="Read"/>.</summary>
    public int PointCount { get; private set; }

    /// <summary>Points of the last <see cref="Read"/> refused for their content (<see cref="OtlpPointRules"/>), not by the sink.</summary>
    public int RefusedPointCount { get; private set; }

    /// <summary>The field path and reason of the last <see cref="Read"/>'s first content refusal; null when there was none. Allocates.</summary>
    public string? DescribeFirstRefusal()
    {
        if (_firstRefusal is null)
        {
            return null;
        }

        var (resource, scope, metric, type, point) = _firstRefusalAt;
        return $"resource_metrics[{resource}].scope_metrics[{scope}].metrics[{metric}].{MetricPath(type)}.data_points[{point}]: {_firstRefusal}";
    }

    /// <summary>
    /// Reads the request: checks its structure, counts points and which of them <see cref="OtlpPointRules"/>
    /// refuse (<see cref="RefusedPointCount"/>), and indexes it, so a caller can refuse a malformed or
    /// wholly unusable body before anything from it is stored. With a sink, the index is then replayed
    /// into it (<see cref="Replay"/>): the refused points through <see cref="IOtlpPointSink.Refused"/>,
    /// the others to the point methods. A malformed body throws before the sink sees anything.
    /// </summary>
    /// <exception cref="OtlpFormatException">The body is not a valid OTLP metrics request; the message names the field path.</exception>
    public void Read(ReadOnlySpan<byte> request, IOtlpPointSink? sink) => Read(request, sink, tenants: null);

    /// <summary>
    /// As <see cref="Read(ReadOnlySpan{byte}, IOtlpPointSink?)"/>, and tells <paramref name="tenants"/>
    /// each resource and each point that passes the content rules, so a caller can count points per
    /// tenant in the same walk.
    /// </summary>
    public void Read(ReadOnlySpan<byte> request, IOtlpPointSink? sink, IPointTenantTally? tenants)
    {
        Index(request, tenants);
        if (sink is not null)
        {
            Replay(request, sink);
        }
    }

    /// <summary>
    /// Hands the points of the last <see cref="Read"/> to <paramref name="sink"/> from its index, in request
    /// order, without walking the request's structure again: each point's own fields are read from where
    /// the index says it is, its attributes are left to the sink. <paramref name="request"/> must hold the
    /// bytes that were read (the index is offsets into them).
    /// </summary>
    /// <exception cref="InvalidOperationException">No request was read, or the last read failed or was of other bytes.</exception>
    public void Replay(ReadOnlySpan<byte> request, IOtlpPointSink sink)
    {
        if (request.Length != _indexedLength)
        {
            throw new InvalidOperationException("Replay needs the request the last successful Read indexed");
        }

        var type = OtlpMetricType.Gauge;
        var monotonic = false;
        for (var i = 0; i < _entryCount; i++)
        {
            var entry = _entries[i];
            switch (entry.Kind)
            {
                case EntryKind.Resource:
                    sink.BeginResource(new AttributeList(request.Slice(entry.Offset, entry.Length), ResourceAttributes));
                    break;
                case EntryKind.Metric:
                    var unit = _entries[++i];
                    type = entry.Type;
                    monotonic = entry.Monotonic;
                    sink.BeginMetric(new MetricHeader
                    {
                        Name = request.Slice(entry.Offset, entry.Length),
                        Unit = request.Slice(unit.Offset, unit.Length),
                        Type = type,
                        Temporality = entry.Temporality,
                        IsMonotonic = monotonic,
                        Refusal = _reasons[entry.Reason],
                    });
                    break;
                case EntryKind.Refused:
                    var reason = _reasons[entry.Reason]!;
                    for (var n = 0; n < entry.Length; n++)
                    {
                        sink.Refused(reason);
                    }

                    break;
                default:
                    var point = request.Slice(entry.Offset, entry.Length);
                    switch (type)
                    {
                        case OtlpMetricType.Gauge:
                        case OtlpMetricType.Sum:
                            ReadNumberPoint(point, sink, monotonicSum: type == OtlpMetricType.Sum && monotonic);
                            break;
                        case OtlpMetricType.Histogram:
                            ReadHistogramPoint(point, sink);
                            break;
                        case OtlpMetricType.ExponentialHistogram:
                            ReadExponentialHistogramPoint(point, sink);
                            break;
                        default:
                            ReadSummaryPoint(point, sink);
                            break;
                    }

                    break;
            }
        }
    }

    private void Index(ReadOnlySpan<byte> request, IPointTenantTally? tenants)
    {
        _tenants = tenants;
        PointCount = 0;
        RefusedPointCount = 0;
        _firstRefusal = null;
        _indexedLength = -1;
        _resourcePending = false;
        _metricPending = false;
        if (_entries.Length > KeptEntries)
        {
            _entries = new Entry[256];
        }

        _entryCount = 0;
        var reader = new ProtoReader(request);
        var resourceIndex = 0;
        while (reader.TryReadTag(out var field, out var wire))
        {
            if (field != RequestResourceMetrics)
            {
                reader.Skip(wire);
                continue;
            }

            _resource = resourceIndex;
            try
            {
                reader.Expect(wire, WireType.LengthDelimited, "resource_metrics");
                ReadResourceMetrics(request, reader.ReadLengthDelimited());
            }
            catch (OtlpFormatException e)
            {
                throw new OtlpFormatException($"resource_metrics[{resourceIndex}].{e.Message}");
            }

            resourceIndex++;
        }

        _indexedLength = request.Length;
    }

    private void ReadResourceMetrics(ReadOnlySpan<byte> request, ReadOnlySpan<byte> message)
    {
        // The resource may follow its scope_metrics on the wire, so find it first.
        ReadOnlySpan<byte> resource = default;
        var reader = new ProtoReader(message);
        while (reader.TryReadTag(out var field, out var wire))
        {
            if (field == ResourceMetricsResource)
            {
                reader.Expect(wire, WireType.LengthDelimited, "resource");
                resource = reader.ReadLengthDelimited();
            }
            else
            {
                reader.Skip(wire);
            }
        }

        var clean = ValidateAttributes(resource, ResourceAttributes, "resource.attributes");
        _tenants?.BeginResource(new AttributeList(resource, ResourceAttributes));
        _pendingResource = Locate(request, resource);
        _resourcePending = true;
        _metricPending = false;

        var resourceRefusal = clean ? null : OtlpPointRules.ResourceAttributesText;

        reader = new ProtoReader(message);
        var scopeIndex = 0;
        while (reader.TryReadTag(out var field, out var wire))
        {
            if (field != ResourceMetricsScopeMetrics)
            {
                reader.Skip(wire);
                continue;
            }

            _scope = scopeIndex;
            ReadOnlySpan<byte> scope;
            try
            {
                reader.Expect(wire, WireType.LengthDelimited, "scope_metrics");
                scope = reader.ReadLengthDelimited();
            }
            catch (OtlpFormatException e)
            {
                throw new OtlpFormatException($"scope_metrics[{scopeIndex}]: {e.Message}");
            }

            var metricReader = new ProtoReader(scope);
            var metricIndex = 0;
            while (metricReader.TryReadTag(out var metricField, out var metricWire))
            {
                if (metricField != ScopeMetricsMetrics)
                {
                    metricReader.Skip(metricWire);
                    continue;
                }

                metricReader.Expect(metricWire, WireType.LengthDelimited, "metrics");
                _metric = metricIndex;
                try
                {
                    ReadMetric(request, metricReader.ReadLengthDelimited(), resourceRefusal);
                }
                catch (OtlpFormatException e)
                {
                    throw new OtlpFormatException($"scope_metrics[{scopeIndex}].metrics[{metricIndex}].{e.Message}");
                }

                metricIndex++;
            }

            scopeIndex++;
        }
    }

    private void ReadMetric(ReadOnlySpan<byte> request, ReadOnlySpan<byte> message, string? resourceRefusal)
    {
        ReadOnlySpan<byte> name = default, unit = default, data = default;
        var dataField = 0;
        var reader = new ProtoReader(message);
        while (reader.TryReadTag(out var field, out var wire))
        {
            switch (field)
            {
                case MetricName:
                    reader.Expect(wire, WireType.LengthDelimited, "name");
                    name = reader.ReadLengthDelimited();
                    break;
                case MetricUnit:
                    reader.Expect(wire, WireType.LengthDelimited, "unit");
                    unit = reader.ReadLengthDelimited();
                    break;
                case MetricGauge or MetricSum or MetricHistogram or MetricExponentialHistogram or MetricSummary:
                    reader.Expect(wire, WireType.LengthDelimited, "data");
                    data = reader.ReadLengthDelimited();
                    dataField = field;
                    break;
                default:
                    reader.Skip(wire);
                    break;
            }
        }

        if (dataField == 0)
        {
            return;
        }

        var type = dataField switch
        {
            MetricGauge => OtlpMetricType.Gauge,
            MetricSum => OtlpMetricType.Sum,
            MetricHistogram => OtlpMetricType.Histogram,
            MetricExponentialHistogram => OtlpMetricType.ExponentialHistogram,
            _ => OtlpMetricType.Summary,
        };

        // Temporality and monotonicity follow the data points on the wire: read them first.
        var temporality = Wire.Temporality.Unspecified;
        var monotonic = false;
        reader = new ProtoReader(data);
        while (reader.TryReadTag(out var field, out var wire))
        {
            if (field == Temporality && type is OtlpMetricType.Sum or OtlpMetricType.Histogram or OtlpMetricType.ExponentialHistogram)
            {
                reader.Expect(wire, WireType.Varint, "aggregation_temporality");
                temporality = (Temporality)reader.ReadVarint();
            }
            else if (field == SumIsMonotonic && type == OtlpMetricType.Sum)
            {
                reader.Expect(wire, WireType.Varint, "is_monotonic");
                monotonic = reader.ReadVarint() != 0;
            }
            else
            {
                reader.Skip(wire);
            }
        }

        var refusal = resourceRefusal
            ?? (name.IsEmpty ? OtlpPointRules.NoName
                : !OtlpPointRules.IsCleanText(name) ? OtlpPointRules.NameText
                : !OtlpPointRules.IsCleanText(unit) ? OtlpPointRules.UnitText
                : type != OtlpMetricType.Gauge && type != OtlpMetricType.Summary && temporality is not (Wire.Temporality.Delta or Wire.Temporality.Cumulative) ? OtlpPointRules.NoTemporality
                : null);
        var (nameOffset, nameLength) = Locate(request, name);
        var (unitOffset, unitLength) = Locate(request, unit);
        _pendingMetric = new Entry { Kind = EntryKind.Metric, Offset = nameOffset, Length = nameLength, Type = type, Temporality = temporality, Monotonic = monotonic, Reason = ReasonIndex(refusal) };
        _pendingUnit = new Entry { Kind = EntryKind.Unit, Offset = unitOffset, Length = unitLength };
        _metricPending = true;

        _type = type;
        reader = new ProtoReader(data);
        var pointIndex = 0;
        while (reader.TryReadTag(out var field, out var wire))
        {
            if (field != DataPoints)
            {
                reader.Skip(wire);
                continue;
            }

            reader.Expect(wire, WireType.LengthDelimited, "data_points");
            var point = reader.ReadLengthDelimited();
            PointCount++;
            _point = pointIndex++;
            if (refusal is not null)
            {
                Refuse(null, refusal);
                continue;
            }

            _pointOffset = Locate(request, point).Offset;

            try
            {
                switch (type)
                {
                    case OtlpMetricType.Gauge:
                    case OtlpMetricType.Sum:
                        ReadNumberPoint(point, sink: null, monotonicSum: type == OtlpMetricType.Sum && monotonic);
                        break;
                    case OtlpMetricType.Histogram:
                        ReadHistogramPoint(point, sink: null);
                        break;
                    case OtlpMetricType.ExponentialHistogram:
                        ReadExponentialHistogramPoint(point, sink: null);
                        break;
                    default:
                        ReadSummaryPoint(point, sink: null);
                        break;
                }
            }
            catch (OtlpFormatException e)
            {
                throw new OtlpFormatException($"{MetricPath(type)}.data_points[{_point}]: {e.Message}");
            }
        }
    }

    /// <summary>A point refused for its content: counted, located if it is the first, and indexed (or, replaying, reported to the sink).</summary>
    private void Refuse(IOtlpPointSink? sink, string reason)
    {
        if (sink is not null)
        {
            sink.Refused(reason);
            return;
        }

        if (RefusedPointCount++ == 0)
        {
            _firstRefusal = reason;
            _firstRefusalAt = (_resource, _scope, _metric, _type, _point);
        }

        var index = ReasonIndex(reason);
        if (!_resourcePending && !_metricPending && _entryCount > 0 && _entries[_entryCount - 1] is { Kind: EntryKind.Refused } last && last.Reason == index)
        {
            _entries[_entryCount - 1].Length++;
            return;
        }

        Add(new Entry { Kind = EntryKind.Refused, Length = 1, Reason = index });
    }

    /// <summary>A point that passed the content rules, at <see cref="_pointOffset"/>: indexed for Replay.</summary>
    private void Record(ReadOnlySpan<byte> point) => Add(new Entry { Kind = EntryKind.Point, Offset = _pointOffset, Length = point.Length });

    /// <summary>Appends an entry, after the resource and metric it belongs to if they are not indexed yet.</summary>
    private void Add(in Entry entry)
    {
        if (_entryCount + 3 > _entries.Length)
        {
            Array.Resize(ref _entries, _entries.Length * 2);
        }

        if (_resourcePending)
        {
            _entries[_entryCount++] = new Entry { Kind = EntryKind.Resource, Offset = _pendingResource.Offset, Length = _pendingResource.Length };
            _resourcePending = false;
        }

        if (_metricPending)
        {
            _entries[_entryCount++] = _pendingMetric;
            _entries[_entryCount++] = _pendingUnit;
            _metricPending = false;
        }

        _entries[_entryCount++] = entry;
    }

    /// <summary>Reasons are constants, so a request meets only a handful: each gets a small number in the index.</summary>
    private byte ReasonIndex(string? reason)
    {
        if (reason is null)
        {
            return 0;
        }

        for (var i = 1; i < _reasonCount; i++)
        {
            if (ReferenceEquals(_reasons[i], reason))
            {
                return (byte)i;
            }
        }

        if (_reasonCount == _reasons.Length)
        {
            if (_reasonCount == byte.MaxValue + 1)
            {
                throw new InvalidOperationException("refusal reasons must be constants");
            }

            Array.Resize(ref _reasons, Math.Min(_reasons.Length * 2, byte.MaxValue + 1));
        }

        _reasons[_reasonCount] = reason;
        return (byte)_reasonCount++;
    }

    /// <summary>Where <paramref name="part"/> (a slice of <paramref name="request"/>) starts in it.</summary>
    private static (int Offset, int Length) Locate(ReadOnlySpan<byte> request, ReadOnlySpan<byte> part) =>
        part.IsEmpty ? (0, 0) : ((int)Unsafe.ByteOffset(ref MemoryMarshal.GetReference(request), ref MemoryMarshal.GetReference(part)), part.Length);

    private enum EntryKind : byte
    {
        Point,
        Resource,
        Metric,
        Unit,
        Refused,
    }

    /// <summary>12 bytes: where, and what (kind, reason, and for a metric its type, temporality and monotonicity), packed.</summary>
    private struct Entry
    {
        public int Offset;
        public int Length;
        private int _info;

        public EntryKind Kind
        {
            readonly get => (EntryKind)(_info & 0xF);
            set => _info = (_info & ~0xF) | (int)value;
        }

        public byte Reason
        {
            readonly get => (byte)(_info >> 24);
            set => _info = (_info & 0x00FF_FFFF) | (value << 24);
        }

        public OtlpMetricType Type
        {
            readonly get => (OtlpMetricType)((_info >> 4) & 0xF);
            set => _info = (_info & ~0xF0) | ((int)value << 4);
        }

        // Only Delta and Cumulative matter past the walk (anything else refuses the metric): kept as 0..3.
        public Temporality Temporality
        {
            readonly get => (Temporality)((_info >> 8) & 0x3);
            set => _info = (_info & ~0x300) | ((value is Wire.Temporality.Unspecified or Wire.Temporality.Delta or Wire.Temporality.Cumulative ? (int)value : 3) << 8);
        }

        public bool Monotonic
        {
            readonly get => (_info & 0x400) != 0;
            set => _info = value ? _info | 0x400 : _info & ~0x400;
        }
    }

    private static string MetricPath(OtlpMetricType type) => type switch
    {
        OtlpMetricType.Gauge => "gauge",
        OtlpMetricType.Sum => "sum",
        OtlpMetricType.Histogram => "histogram",
        OtlpMetricType.ExponentialHistogram => "exponential_histogram",
        _ => "summary",
    };

    private void ReadNumberPoint(ReadOnlySpan<byte> point, IOtlpPointSink? sink, bool monotonicSum)
    {
        ulong start = 0, time = 0;
        uint flags = 0;
        double value = 0;
        bool hasValue = false, isInt = false;
        var reader = new ProtoReader(point);
        while (reader.TryReadTag(out var field, out var wire))
        {
            switch (field)
            {
                case 2:
                    reader.Expect(wire, WireType.Fixed64, "start_time_unix_nano");
                    start = reader.ReadFixed64();
                    break;
                case 3:
                    reader.Expect(wire, WireType.Fixed64, "time_unix_nano");
                    time = reader.ReadFixed64();
                    break;
                case 4:
                    reader.Expect(wire, WireType.Fixed64, "as_double");
                    value = reader.ReadDouble();
                    hasValue = true;
                    isInt = false;
                    break;
                case 6:
                    reader.Expect(wire, WireType.Fixed64, "as_int");
                    value = (long)reader.ReadFixed64();
                    hasValue = true;
                    isInt = true;
                    break;
                case 8:
                    reader.Expect(wire, WireType.Varint, "flags");
                    flags = (uint)reader.ReadVarint();
                    break;
                case 7:
                    reader.Expect(wire, WireType.LengthDelimited, "attributes");
                    reader.Skip(wire);
                    break;
                default:
                    reader.Skip(wire);
                    break;
            }
        }

        // The walk validates the attributes' structure and text in one go; Replay (a sink) leaves them to the sink.
        var clean = sink is not null || ValidateAttributes(point, 7, "attributes");

        var header = new PointHeader { Attributes = new AttributeList(point, 7), StartTimeUnixNano = start, TimeUnixNano = time, Flags = flags };
        var refusal = (header.NoRecordedValue ? null : OtlpPointRules.Number(hasValue, value, isInt, monotonicSum)) ?? (clean ? null : OtlpPointRules.AttributesText);
        if (refusal is not null)
        {
            Refuse(sink, refusal);
            return;
        }

        if (sink is null)
        {
            _tenants?.Point(header.Attributes);
            Record(point);
            return;
        }

        refusal = sink.Number(header, value);
        if (refusal is not null)
        {
            sink.Refused(refusal);
        }
    }

    private void ReadHistogramPoint(ReadOnlySpan<byte> point, IOtlpPointSink? sink)
    {
        ulong start = 0, time = 0, count = 0;
        uint flags = 0;
        double sum = 0, min = 0, max = 0;
        bool hasSum = false, hasMin = false, hasMax = false;
        int counts = 0, bounds = 0;
        var reader = new ProtoReader(point);
        while (reader.TryReadTag(out var field, out var wire))
        {
            switch (field)
            {
                case 2:
                    reader.Expect(wire, WireType.Fixed64, "start_time_unix_nano");
                    start = reader.ReadFixed64();
                    break;
                case 3:
                    reader.Expect(wire, WireType.Fixed64, "time_unix_nano");
                    time = reader.ReadFixed64();
                    break;
                case 4:
                    reader.Expect(wire, WireType.Fixed64, "count");
                    count = reader.ReadFixed64();
                    break;
                case 5:
                    reader.Expect(wire, WireType.Fixed64, "sum");
                    sum = reader.ReadDouble();
                    hasSum = true;
                    break;
                case 6:
                    counts = ReadRepeatedFixed64(ref reader, wire, ref _counts, counts, "bucket_counts");
                    break;
                case 7:
                    bounds = ReadRepeatedDouble(ref reader, wire, ref _bounds, bounds, "explicit_bounds");
                    break;
                case 10:
                    reader.Expect(wire, WireType.Varint, "flags");
                    flags = (uint)reader.ReadVarint();
                    break;
                case 11:
                    reader.Expect(wire, WireType.Fixed64, "min");
                    min = reader.ReadDouble();
                    hasMin = true;
                    break;
                case 12:
                    reader.Expect(wire, WireType.Fixed64, "max");
                    max = reader.ReadDouble();
                    hasMax = true;
                    break;
                default:
                    reader.Skip(wire);
                    break;
            }
        }

        var clean = sink is not null || ValidateAttributes(point, 9, "attributes");

        var header = new PointHeader { Attributes = new AttributeList(point, 9), StartTimeUnixNano = start, TimeUnixNano = time, Flags = flags };
        var value = new HistogramValue
        {
            Count = count,
            Sum = sum,
            HasSum = hasSum,
            Min = min,
            Max = max,
            HasMin = hasMin,
            HasMax = hasMax,
            BucketCounts = _counts.AsSpan(0, counts),
            ExplicitBounds = _bounds.AsSpan(0, bounds),
        };
        var refusal = (header.NoRecordedValue ? null : OtlpPointRules.Histogram(value)) ?? (clean ? null : OtlpPointRules.AttributesText);
        if (refusal is not null)
        {
            Refuse(sink, refusal);
            return;
        }

        if (sink is null)
        {
            _tenants?.Point(header.Attributes);
            Record(point);
            return;
        }

        refusal = sink.Histogram(header, value);
        if (refusal is not null)
        {
            sink.Refused(refusal);
        }
    }

    private void ReadExponentialHistogramPoint(ReadOnlySpan<byte> point, IOtlpPointSink? sink)
    {
        ulong start = 0, time = 0, count = 0, zeroCount = 0;
        uint flags = 0;
        double sum = 0, min = 0, max = 0, zeroThreshold = 0;
        bool hasSum = false, hasMin = false, hasMax = false;
        int scale = 0, positiveOffset = 0, negativeOffset = 0, positive = 0, negative = 0;
        var reader = new ProtoReader(point);
        while (reader.TryReadTag(out var field, out var wire))
        {
            switch (field)
            {
                case 2:
                    reader.Expect(wire, WireType.Fixed64, "start_time_unix_nano");
                    start = reader.ReadFixed64();
                    break;
                case 3:
                    reader.Expect(wire, WireType.Fixed64, "time_unix_nano");
                    time = reader.ReadFixed64();
                    break;
                case 4:
                    reader.Expect(wire, WireType.Fixed64, "count");
                    count = reader.ReadFixed64();
                    break;
                case 5:
                    reader.Expect(wire, WireType.Fixed64, "sum");
                    sum = reader.ReadDouble();
                    hasSum = true;
                    break;
                case 6:
                    reader.Expect(wire, WireType.Varint, "scale");
                    scale = reader.ReadSInt32();
                    break;
                case 7:
                    reader.Expect(wire, WireType.Fixed64, "zero_count");
                    zeroCount = reader.ReadFixed64();
                    break;
                case 8:
                    reader.Expect(wire, WireType.LengthDelimited, "positive");
                    positive = ReadBuckets(reader.ReadLengthDelimited(), ref _positive, out positiveOffset, positive: true);
                    break;
                case 9:
                    reader.Expect(wire, WireType.LengthDelimited, "negative");
                    negative = ReadBuckets(reader.ReadLengthDelimited(), ref _negative, out negativeOffset, positive: false);
                    break;
                case 10:
                    reader.Expect(wire, WireType.Varint, "flags");
                    flags = (uint)reader.ReadVarint();
                    break;
                case 12:
                    reader.Expect(wire, WireType.Fixed64, "min");
                    min = reader.ReadDouble();
                    hasMin = true;
                    break;
                case 13:
                    reader.Expect(wire, WireType.Fixed64, "max");
                    max = reader.ReadDouble();
                    hasMax = true;
                    break;
                case 14:
                    reader.Expect(wire, WireType.Fixed64, "zero_threshold");
                    zeroThreshold = reader.ReadDouble();
                    break;
                default:
                    reader.Skip(wire);
                    break;
            }
        }

        var clean = sink is not null || ValidateAttributes(point, 1, "attributes");

        // Past the limit the scratch arrays stop filling (ReadBuckets), so refuse before they are read as spans.
        if (positive > OtlpPointRules.MaxBuckets || negative > OtlpPointRules.MaxBuckets)
        {
            Refuse(sink, positive > OtlpPointRules.MaxBuckets ? OtlpPointRules.TooManyPositive : OtlpPointRules.TooManyNegative);
            return;
        }

        var header = new PointHeader { Attributes = new AttributeList(point, 1), StartTimeUnixNano = start, TimeUnixNano = time, Flags = flags };
        var value = new ExponentialHistogramValue
        {
            Count = count,
            Sum = sum,
            HasSum = hasSum,
            Min = min,
            Max = max,
            HasMin = hasMin,
            HasMax = hasMax,
            Scale = scale,
            ZeroCount = zeroCount,
            ZeroThreshold = zeroThreshold,
            PositiveOffset = positiveOffset,
            PositiveCounts = _positive.AsSpan(0, positive),
            NegativeOffset = negativeOffset,
            NegativeCounts = _negative.AsSpan(0, negative),
        };
        var refusal = (header.NoRecordedValue ? null : OtlpPointRules.ExponentialHistogram(value)) ?? (clean ? null : OtlpPointRules.AttributesText);
        if (refusal is not null)
        {
            Refuse(sink, refusal);
            return;
        }

        if (sink is null)
        {
            _tenants?.Point(header.Attributes);
            Record(point);
            return;
        }

        refusal = sink.ExponentialHistogram(header, value);
        if (refusal is not null)
        {
            sink.Refused(refusal);
        }
    }

    private void ReadSummaryPoint(ReadOnlySpan<byte> point, IOtlpPointSink? sink)
    {
        ulong start = 0, time = 0, count = 0;
        uint flags = 0;
        double sum = 0;
        var quantiles = 0;
        var reader = new ProtoReader(point);
        while (reader.TryReadTag(out var field, out var wire))
        {
            switch (field)
            {
                case 2:
                    reader.Expect(wire, WireType.Fixed64, "start_time_unix_nano");
                    start = reader.ReadFixed64();
                    break;
                case 3:
                    reader.Expect(wire, WireType.Fixed64, "time_unix_nano");
                    time = reader.ReadFixed64();
                    break;
                case 4:
                    reader.Expect(wire, WireType.Fixed64, "count");
                    count = reader.ReadFixed64();
                    break;
                case 5:
                    reader.Expect(wire, WireType.Fixed64, "sum");
                    sum = reader.ReadDouble();
                    break;
                case 6:
                    reader.Expect(wire, WireType.LengthDelimited, "quantile_values");
                    var quantileReader = new ProtoReader(reader.ReadLengthDelimited());
                    double q = 0, v = 0;
                    while (quantileReader.TryReadTag(out var qField, out var qWire))
                    {
                        if (qField is 1 or 2)
                        {
                            quantileReader.Expect(qWire, WireType.Fixed64, qField == 1 ? "quantile_values.quantile" : "quantile_values.value");
                            if (qField == 1)
                            {
                                q = quantileReader.ReadDouble();
                            }
                            else
                            {
                                v = quantileReader.ReadDouble();
                            }
                        }
                        else
                        {
                            quantileReader.Skip(qWire);
                        }
                    }

                    // Counted past the limit but not kept: a few bytes on the wire must not become megabytes of scratch.
                    if (quantiles < OtlpPointRules.MaxBuckets)
                    {
                        EnsureCapacity(ref _quantiles, quantiles + 1);
                        EnsureCapacity(ref _values, quantiles + 1);
                        _quantiles[quantiles] = q;
                        _values[quantiles] = v;
                    }

                    quantiles++;
                    break;
                case 8:
                    reader.Expect(wire, WireType.Varint, "flags");
                    flags = (uint)reader.ReadVarint();
                    break;
                default:
                    reader.Skip(wire);
                    break;
            }
        }

        var clean = sink is not null || ValidateAttributes(point, 7, "attributes");

        if (quantiles > OtlpPointRules.MaxBuckets)
        {
            Refuse(sink, OtlpPointRules.TooManyQuantiles);
            return;
        }

        var header = new PointHeader { Attributes = new AttributeList(point, 7), StartTimeUnixNano = start, TimeUnixNano = time, Flags = flags };
        var value = new SummaryValue { Count = count, Sum = sum, Quantiles = _quantiles.AsSpan(0, quantiles), Values = _values.AsSpan(0, quantiles) };
        var refusal = (header.NoRecordedValue ? null : OtlpPointRules.Summary(value)) ?? (clean ? null : OtlpPointRules.AttributesText);
        if (refusal is not null)
        {
            Refuse(sink, refusal);
            return;
        }

        if (sink is null)
        {
            _tenants?.Point(header.Attributes);
            Record(point);
            return;
        }

        refusal = sink.Summary(header, value);
        if (refusal is not null)
        {
            sink.Refused(refusal);
        }
    }

    /// <summary>
    /// Reads one side's offset and counts and returns how many counts there are. Only the first
    /// <see cref="OtlpPointRules.MaxBuckets"/> are kept: one byte on the wire would otherwise cost eight in scratch.
    /// </summary>
    private static int ReadBuckets(ReadOnlySpan<byte> message, ref ulong[] target, out int offset, bool positive)
    {
        offset = 0;
        var count = 0;
        var reader = new ProtoReader(message);
        while (reader.TryReadTag(out var field, out var wire))
        {
            if (field == 1)
            {
                reader.Expect(wire, WireType.Varint, positive ? "positive.offset" : "negative.offset"); // constants: no string per point
                offset = reader.ReadSInt32();
            }
            else if (field == 2)
            {
                if (wire == WireType.LengthDelimited)
                {
                    var packed = new ProtoReader(reader.ReadLengthDelimited());
                    while (!packed.End)
                    {
                        Keep(ref target, ref count, packed.ReadVarint());
                    }
                }
                else
                {
                    reader.Expect(wire, WireType.Varint, positive ? "positive.bucket_counts" : "negative.bucket_counts");
                    Keep(ref target, ref count, reader.ReadVarint());
                }
            }
            else
            {
                reader.Skip(wire);
            }
        }

        return count;
    }

    private static void Keep(ref ulong[] target, ref int count, ulong value)
    {
        if (count < OtlpPointRules.MaxBuckets)
        {
            EnsureCapacity(ref target, count + 1);
            target[count] = value;
        }

        count++;
    }

    private static int ReadRepeatedFixed64(ref ProtoReader reader, WireType wire, ref ulong[] target, int count, string name)
    {
        if (wire == WireType.LengthDelimited)
        {
            var packed = reader.ReadLengthDelimited();
            if (packed.Length % 8 != 0)
            {
                throw new OtlpFormatException($"packed {name} length {packed.Length} is not a multiple of 8");
            }

            var packedReader = new ProtoReader(packed);
            EnsureCapacity(ref target, count + (packed.Length / 8));
            while (!packedReader.End)
            {
                target[count++] = packedReader.ReadFixed64();
            }

            return count;
        }

        reader.Expect(wire, WireType.Fixed64, name);
        EnsureCapacity(ref target, count + 1);
        target[count++] = reader.ReadFixed64();
        return count;
    }

    private static int ReadRepeatedDouble(ref ProtoReader reader, WireType wire, ref double[] target, int count, string name)
    {
        if (wire == WireType.LengthDelimited)
        {
            var packed = reader.ReadLengthDelimited();
            if (packed.Length % 8 != 0)
            {
                throw new OtlpFormatException($"packed {name} length {packed.Length} is not a multiple of 8");
            }

            var packedReader = new ProtoReader(packed);
            EnsureCapacity(ref target, count + (packed.Length / 8));
            while (!packedReader.End)
            {
                target[count++] = packedReader.ReadDouble();
            }

            return count;
        }

        reader.Expect(wire, WireType.Fixed64, name);
        EnsureCapacity(ref target, count + 1);
        target[count++] = reader.ReadDouble();
        return count;
    }

    private static void EnsureCapacity<T>(ref T[] array, int size)
    {
        if (array.Length < size)
        {
            Array.Resize(ref array, Math.Max(size, array.Length * 2));
        }
    }

    /// <summary>
    /// Walks every attribute once so a malformed KeyValue is refused before anything is stored, and
    /// tells whether their text is clean (<see cref="AttributeReader.HasCleanText"/>) in the same walk.
    /// </summary>
    private static bool ValidateAttributes(ReadOnlySpan<byte> message, int fieldNumber, string name)
    {
        try
        {
            var reader = new AttributeReader(message, fieldNumber);
            var clean = true;
            while (reader.MoveNext())
            {
                AttributeReader.Validate(reader.ValueType, reader.Value);
                clean = clean && OtlpPointRules.IsCleanText(reader.Key) && AttributeReader.IsCleanValue(reader.ValueType, reader.Value, 0);
            }

            return clean;
        }
        catch (OtlpFormatException e)
        {
            throw new OtlpFormatException($"{name}: {e.Message}");
        }
    }
}
