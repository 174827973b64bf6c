using System.Diagnostics.Metrics;
using System.Globalization;
using Vigil.Storage;

namespace Vigil.Query.Exposition;

/// <summary>
/// Vigil's self-metrics on <c>/metrics</c>, read from the same instruments the OpenTelemetry SDK exports (meter
/// "Vigil"), so each is defined once and both show the same names and values. An in-process reader: a
/// <see cref="MeterListener"/> sums counters and buckets histograms as they are recorded (cumulative, as the OTLP
/// export is), and asks the observable instruments for their values at each scrape. Names are translated the way
/// Prometheus translates OTLP (<c>vigil.rules.group.duration</c>, <c>s</c> → <c>vigil_rules_group_duration_seconds</c>).
/// </summary>
public sealed class MeterExpositionSource : IExpositionSource, IDisposable
{
    /// <summary>The OpenTelemetry SDK's default explicit bucket bounds, for a histogram that gives no advice.</summary>
    internal static readonly double[] DefaultBounds = [0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000];

    private readonly MeterListener _listener;
    private readonly Lock _lock = new();
    private readonly List<InstrumentState> _instruments = [];

    /// <param name="include">Which meters to read; the collector passes its own "Vigil" meters (by factory), not other hosts' in the process.</param>
    public MeterExpositionSource(Func<Meter, bool> include)
    {
        _listener = new MeterListener
        {
            InstrumentPublished = (instrument, listener) =>
            {
                if (include(instrument.Meter))
                {
                    var state = new InstrumentState(instrument);
                    lock (_lock)
                    {
                        _instruments.Add(state);
                    }

                    listener.EnableMeasurementEvents(instrument, state);
                }
            },
            MeasurementsCompleted = (_, state) =>
            {
                lock (_lock)
                {
                    _instruments.Remove((InstrumentState)state!);
                }
            },
        };
        _listener.SetMeasurementEventCallback<long>((_, value, tags, state) => ((InstrumentState)state!).Record(value, tags));
        _listener.SetMeasurementEventCallback<int>((_, value, tags, state) => ((InstrumentState)state!).Record(value, tags));
        _listener.SetMeasurementEventCallback<double>((_, value, tags, state) => ((InstrumentState)state!).Record(value, tags));
        _listener.Start();
    }

    public IEnumerable<MetricFamily> Collect()
    {
        lock (_lock)
        {
            foreach (var state in _instruments)
            {
                state.BeginCollect();
            }

            // Observable callbacks run here, on this thread, into the states just cleared.
            _listener.RecordObservableInstruments();
            return [.. _instruments.Select(s => s.ToFamily())];
        }
    }

    public void Dispose() => _listener.Dispose();

    private sealed class InstrumentState
    {
        private readonly Instrument _instrument;
        private readonly double[]? _bounds;
        private readonly bool _observable;
        private readonly bool _sums;
        private readonly Dictionary<string, Point> _points = new(StringComparer.Ordinal);

        public InstrumentState(Instrument instrument)
        {
            _instrument = instrument;
            _observable = instrument.IsObservable;
            _sums = instrument is Counter<long> or Counter<int> or Counter<double> or UpDownCounter<long> or UpDownCounter<int> or UpDownCounter<double>;
            _bounds = instrument switch
            {
                Histogram<double> h => h.Advice?.HistogramBucketBoundaries?.ToArray() ?? DefaultBounds,
                Histogram<long> h => h.Advice?.HistogramBucketBoundaries?.Select(b => (double)b).ToArray() ?? DefaultBounds,
                Histogram<int> h => h.Advice?.HistogramBucketBoundaries?.Select(b => (double)b).ToArray() ?? DefaultBounds,
                _ => null,
            };
        }

        public void BeginCollect()
        {
            // An observable instrument reports every point at each collection; one it no longer reports is gone.
            if (_observable)
            {
                lock (_points)
                {
                    _points.Clear();
                }
            }
        }

        public void Record(double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var labels = Labels(tags);
            var key = string.Join('\u0001', labels.Select(l => l.Key + "\u0002" + l.Value));
            lock (_points)
            {
                if (!_points.TryGetValue(key, out var point))
                {
                    point = new Point(labels, _bounds is null ? null : new long[_bounds.Length + 1]);
                    _points[key] = point;
                }

                if (point.Buckets is { } buckets)
                {
                    // Explicit buckets as OpenTelemetry counts them: bucket i holds (bound[i-1], bound[i]].
                    var i = Array.BinarySearch(_bounds!, value);
                    buckets[i >= 0 ? i : ~i]++;
                    point.Sum += value;
                    point.Count++;
                }
                else
                {
                    point.Value = _sums ? point.Value + value : value;
                }
            }
        }

        public MetricFamily ToFamily()
        {
            var unit = _instrument.Unit ?? string.Empty;
            var help = _instrument.Description ?? string.Empty;
            List<Point> points;
            lock (_points)
            {
                points = [.. _points.Values.Select(p => p.Copy())];
            }

            if (_bounds is not null)
            {
                var name = PrometheusNames.MetricName(_instrument.Name, unit, MetricKind.Histogram);
                return new MetricFamily(name, FamilyType.Histogram, help, PrometheusNames.Unit(unit), [.. points.SelectMany(HistogramSamples)]);
            }

            var samples = points.Select(p => new ExpositionSample(IsCounter ? "_total" : string.Empty, p.Labels, p.Value)).ToList();
            return IsCounter ? Families.Counter(_instrument.Name, unit, help, samples) : Families.Gauge(_instrument.Name, unit, help, samples);
        }

        private bool IsCounter => _instrument is Counter<long> or Counter<int> or Counter<double>
            or ObservableCounter<long> or ObservableCounter<int> or ObservableCounter<double>;

        private IEnumerable<ExpositionSample> HistogramSamples(Point point)
        {
            long running = 0;
            for (var i = 0; i <= _bounds!.Length; i++)
            {
                running += point.Buckets![i];
                var le = i < _bounds.Length ? ExpositionWriter.FormatValue(_bounds[i]) : "+Inf";
                yield return new ExpositionSample("_bucket", Families.Labels([.. point.Labels, new("le", le)]), running);
            }

            yield return new ExpositionSample("_sum", point.Labels, point.Sum);
            yield return new ExpositionSample("_count", point.Labels, point.Count);
        }

        private static IReadOnlyList<KeyValuePair<string, string>> Labels(ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var pairs = new List<KeyValuePair<string, string>>(tags.Length);
            foreach (var (key, value) in tags)
            {
                pairs.Add(new(key, Convert.ToString(value, CultureInfo.InvariantCulture) ?? string.Empty));
            }

            return Families.Labels(pairs);
        }
    }

    private sealed class Point(IReadOnlyList<KeyValuePair<string, string>> labels, long[]? buckets)
    {
        public IReadOnlyList<KeyValuePair<string, string>> Labels { get; } = labels;

        public long[]? Buckets { get; } = buckets;

        public double Value { get; set; }

        public double Sum { get; set; }

        public long Count { get; set; }

        public Point Copy() => new(Labels, Buckets?.ToArray()) { Value = Value, Sum = Sum, Count = Count };
    }
}
