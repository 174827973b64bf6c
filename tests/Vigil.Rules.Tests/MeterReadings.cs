using System.Diagnostics.Metrics;

namespace Vigil.Rules.Tests;

/// <summary>Reads the current value of one meter's instruments, as an exporter would collect them.</summary>
internal static class MeterReadings
{
    /// <summary>Every measurement of <paramref name="instrument"/> on <paramref name="meter"/> (observable ones collected now), with its tags.</summary>
    public static List<(double Value, Dictionary<string, string> Tags)> Read(Meter meter, string instrument)
    {
        var readings = new List<(double, Dictionary<string, string>)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (i, l) =>
        {
            // By reference: other tests' meters may share the name.
            if (ReferenceEquals(i.Meter, meter) && i.Name == instrument)
            {
                l.EnableMeasurementEvents(i);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) => readings.Add((value, Tags(tags))));
        listener.SetMeasurementEventCallback<double>((_, value, tags, _) => readings.Add((value, Tags(tags))));
        listener.SetMeasurementEventCallback<int>((_, value, tags, _) => readings.Add((value, Tags(tags))));
        listener.Start();
        listener.RecordObservableInstruments();
        return readings;
    }

    /// <summary>The one measurement whose tags include every pair of <paramref name="tags"/>; null when there is none.</summary>
    public static double? Value(Meter meter, string instrument, params (string Key, string Value)[] tags) =>
        Read(meter, instrument).Where(r => tags.All(t => r.Tags.GetValueOrDefault(t.Key) == t.Value)).Select(r => (double?)r.Value).SingleOrDefault();

    private static Dictionary<string, string> Tags(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (k, v) in tags)
        {
            result[k] = v?.ToString() ?? string.Empty;
        }

        return result;
    }
}
