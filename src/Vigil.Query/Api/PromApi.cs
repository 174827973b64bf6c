using System.Buffers;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Vigil.Query.Evaluation;
using Vigil.Query.Exposition;
using Vigil.Query.Parsing;
using Vigil.Storage;
using Vigil.Storage.Query;

namespace Vigil.Query.Api;

/// <summary>
/// The Prometheus HTTP API's data and JSON (<c>{"status":"success","data":…}</c>), independent of the web host:
/// query results, series/labels/label values/metadata listings under Prometheus names, and build info.
/// </summary>
public static class PromApi
{
    /// <summary>The Prometheus API level Vigil answers as; Grafana reads it from buildinfo to pick features.</summary>
    public const string CompatibleVersion = "2.45.0";

    private static readonly long MinUnixMilliseconds = WindowStore.EarliestTime.ToUnixTimeMilliseconds();
    private static readonly long MaxUnixMilliseconds = WindowStore.LatestTime.ToUnixTimeMilliseconds();
    private static readonly long MaxDurationMilliseconds = (long)TimeSpan.MaxValue.TotalMilliseconds;

    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static byte[] InstantJson(InstantResult result) => Json(w =>
    {
        w.WriteStartObject("data");
        switch (result.Value)
        {
            case ScalarValue scalar:
                w.WriteString("resultType", "scalar");
                w.WritePropertyName("result");
                WritePoint(w, result.Time, scalar.Value);
                break;
            case VectorValue vector:
                w.WriteString("resultType", "vector");
                w.WriteStartArray("result");
                foreach (var sample in vector.Samples)
                {
                    w.WriteStartObject();
                    WriteLabels(w, "metric", sample.Labels);
                    w.WritePropertyName("value");
                    WritePoint(w, result.Time, sample.Value);
                    w.WriteEndObject();
                }

                w.WriteEndArray();
                break;
        }

        w.WriteEndObject();
    });

    public static byte[] RangeJson(RangeResult result) => Json(w =>
    {
        w.WriteStartObject("data");
        w.WriteString("resultType", "matrix");
        w.WriteStartArray("result");
        foreach (var series in result.Series)
        {
            w.WriteStartObject();
            WriteLabels(w, "metric", series.Labels);
            w.WriteStartArray("values");
            foreach (var (time, value) in series.Points)
            {
                WritePoint(w, time, value);
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteEndObject();
    });

    public static byte[] LabelSetsJson(IEnumerable<Labels> sets) => Json(w =>
    {
        w.WriteStartArray("data");
        foreach (var labels in sets)
        {
            w.WriteStartObject();
            foreach (var (name, value) in labels.Pairs)
            {
                w.WriteString(name, value);
            }

            w.WriteEndObject();
        }

        w.WriteEndArray();
    });

    public static byte[] StringsJson(IEnumerable<string> values) => Json(w =>
    {
        w.WriteStartArray("data");
        foreach (var value in values)
        {
            w.WriteStringValue(value);
        }

        w.WriteEndArray();
    });

    public static byte[] MetadataJson(IReadOnlyDictionary<string, (string Type, string Help, string Unit)> metadata) => Json(w =>
    {
        w.WriteStartObject("data");
        foreach (var (name, (type, help, unit)) in metadata.OrderBy(m => m.Key, StringComparer.Ordinal))
        {
            w.WriteStartArray(name);
            w.WriteStartObject();
            w.WriteString("type", type);
            w.WriteString("help", help);
            w.WriteString("unit", unit);
            w.WriteEndObject();
            w.WriteEndArray();
        }

        w.WriteEndObject();
    });

    public static byte[] BuildInfoJson(string vigilVersion) => Json(w =>
    {
        w.WriteStartObject("data");
        w.WriteString("version", CompatibleVersion);
        w.WriteString("revision", "vigil-" + vigilVersion);
        w.WriteString("branch", "vigil");
        w.WriteString("buildUser", "vigil");
        w.WriteString("buildDate", string.Empty);
        w.WriteString("goVersion", "none (Vigil " + vigilVersion + ", .NET)");
        w.WriteEndObject();
    });

    /// <summary>Prometheus' error shape; <paramref name="errorType"/> is bad_data, execution, internal…</summary>
    public static byte[] ErrorJson(string errorType, string message)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer, WriterOptions))
        {
            w.WriteStartObject();
            w.WriteString("status", "error");
            w.WriteString("errorType", errorType);
            w.WriteString("error", message);
            w.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Series matching any of the <c>match[]</c> selectors (all series when none), with <c>__name__</c>.</summary>
    public static IReadOnlyList<Labels> Series(PromQueryEngine engine, IReadOnlyList<string> matches)
    {
        var selectors = matches.Select(Parser.ParseSelector).ToList();
        var catalog = engine.Catalog();
        var live = engine.LiveFamilies();
        var result = new SortedDictionary<string, Labels>(StringComparer.Ordinal);
        try
        {
            foreach (var labels in AllSeries(catalog, live))
            {
                if (selectors.Count == 0 || selectors.Any(s => s.Matchers.All(m => m.Matches(labels.Get(m.Name)))))
                {
                    result.TryAdd(labels.Key, labels);
                }
            }
        }
        catch (RegexTimeoutException e)
        {
            throw new PromQLException(e.Message, PromQLException.Execution);
        }
        catch (RegexMatchTimeoutException e)
        {
            throw RegexTimeout.Error(e, selectors.SelectMany(s => s.Matchers));
        }

        return [.. result.Values];
    }

    /// <summary>
    /// <c>/federate</c> in Prometheus text 0.0.4: the latest value of each series any <c>match[]</c> selector matches, stamped
    /// with <paramref name="at"/>; every name its own untyped family, as Prometheus' federation writes them.
    /// </summary>
    /// <exception cref="PromQLException">No <c>match[]</c>, or one that is not a series selector.</exception>
    public static string FederateText(PromQueryEngine engine, IReadOnlyList<string> matches, DateTimeOffset at)
    {
        if (matches.Count == 0)
        {
            throw new PromQLException("no match[] parameter provided: name the series to federate, e.g. match[]={__name__=~\"ALERTS.*\"}");
        }

        var selectors = new List<VectorSelector>(matches.Count);
        foreach (var match in matches)
        {
            try
            {
                selectors.Add(Parser.ParseSelector(match));
            }
            catch (PromQLException e)
            {
                // Several match[] in one request: say which one.
                throw new PromQLException($"match[]={match}: {e.Message}");
            }
        }

        var stamp = at.ToUnixTimeMilliseconds();
        var families = new List<MetricFamily>();
        var byName = new Dictionary<string, List<ExpositionSample>>(StringComparer.Ordinal);
        foreach (var sample in engine.Federate(selectors, at))
        {
            var name = sample.Labels.Get(Labels.MetricName) ?? string.Empty;
            if (!byName.TryGetValue(name, out var samples))
            {
                samples = [];
                byName[name] = samples;
                families.Add(new MetricFamily(name, FamilyType.Unknown, string.Empty, string.Empty, samples));
            }

            samples.Add(new ExpositionSample(string.Empty, sample.Labels.WithoutName().Pairs, sample.Value, stamp));
        }

        return ExpositionWriter.Write(families, ExpositionFormat.PrometheusText);
    }

    /// <summary><c>/api/v1/status/tenants</c>: one object per tenant, in the order given (most series first).</summary>
    public static byte[] TenantsJson(IEnumerable<TenantStatus> tenants) => Json(w =>
    {
        w.WriteStartArray("data");
        foreach (var tenant in tenants)
        {
            w.WriteStartObject();
            w.WriteString("tenant", tenant.Tenant);
            w.WriteNumber("series", tenant.Series);
            w.WriteNumber("acceptedPointsPerSecond", Math.Round(tenant.AcceptedPerSecond, 3));
            w.WriteNumber("acceptedPoints", tenant.Accepted);
            w.WriteNumber("refusedPoints", tenant.Refused);
            w.WriteEndObject();
        }

        w.WriteEndArray();
    });

    public static IReadOnlyList<string> LabelNames(PromQueryEngine engine, IReadOnlyList<string> matches) =>
        [.. Series(engine, matches).SelectMany(l => l.Pairs.Select(p => p.Key)).Distinct().Order(StringComparer.Ordinal)];

    public static IReadOnlyList<string> LabelValues(PromQueryEngine engine, string label, IReadOnlyList<string> matches) =>
        [.. Series(engine, matches).Select(l => l.Get(label)).OfType<string>().Distinct().Order(StringComparer.Ordinal)];

    /// <summary>Type, help and unit per queryable family name (counters under their <c>_total</c> name).</summary>
    public static IReadOnlyDictionary<string, (string Type, string Help, string Unit)> Metadata(PromQueryEngine engine, string? metric, int limit)
    {
        var result = new Dictionary<string, (string, string, string)>(StringComparer.Ordinal);
        foreach (var name in engine.Catalog().Names)
        {
            var key = name.Role == SeriesRole.Counter ? name.Name : name.FamilyName;
            result.TryAdd(key, (name.Type, $"OTel metric {name.Metric}", PrometheusNames.Unit(name.Unit)));
        }

        foreach (var family in engine.LiveFamilies())
        {
            var key = family.Type == FamilyType.Counter ? family.Name + "_total" : family.Name;
            result.TryAdd(key, (family.Type.ToString().ToLowerInvariant(), family.Help, family.Unit));
        }

        var selected = result.Where(m => metric is null || m.Key == metric).OrderBy(m => m.Key, StringComparer.Ordinal);
        return (limit > 0 ? selected.Take(limit) : selected).ToDictionary(m => m.Key, m => m.Value, StringComparer.Ordinal);
    }

    /// <summary>Unix seconds (fractions allowed) or RFC 3339, as Prometheus takes <c>time</c>, <c>start</c>, <c>end</c>.</summary>
    /// <exception cref="PromQLException">Not a timestamp, or outside the times the store holds; the message names the parameter.</exception>
    public static DateTimeOffset ParseTime(string? text, string parameter, DateTimeOffset fallback)
    {
        if (string.IsNullOrEmpty(text))
        {
            return fallback;
        }

        return TryParseTime(text, out var time, out var problem)
            ? time
            : throw new PromQLException($"invalid parameter \"{parameter}\": {problem}");
    }

    /// <summary>
    /// The timestamp parser of every query API (<see cref="ParseTime"/> and <c>/api/v1/aggregate</c>'s <c>at</c>):
    /// unix seconds or RFC 3339 from <see cref="WindowStore.EarliestTime"/> (1970) to <see cref="WindowStore.LatestTime"/>
    /// (2262), the times the store holds; a later time would silently read other times' buckets.
    /// </summary>
    /// <param name="problem">Why <paramref name="text"/> is refused, without the parameter's name.</param>
    public static bool TryParseTime(string text, out DateTimeOffset time, out string problem)
    {
        problem = string.Empty;
        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) && !double.IsNaN(seconds))
        {
            var ms = Math.Round(seconds * 1000);
            if (ms >= MinUnixMilliseconds && ms <= MaxUnixMilliseconds)
            {
                time = DateTimeOffset.FromUnixTimeMilliseconds((long)ms);
                return true;
            }

            time = default;
            problem = $"{text} is out of range: {Range}";
            return false;
        }

        if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out time))
        {
            if (time >= WindowStore.EarliestTime && time <= WindowStore.LatestTime)
            {
                return true;
            }

            problem = $"{text} is out of range: {Range}";
            return false;
        }

        problem = $"cannot parse \"{text}\" to a valid timestamp";
        return false;
    }

    /// <summary>Seconds (fractions allowed) or a duration like <c>15s</c>, as Prometheus takes <c>step</c>.</summary>
    /// <exception cref="PromQLException">Not a duration, or longer than a <see cref="TimeSpan"/> holds; the message names the parameter.</exception>
    public static TimeSpan ParseDuration(string? text, string parameter)
    {
        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) && !double.IsNaN(seconds))
        {
            var ms = Math.Round(seconds * 1000);
            if (Math.Abs(ms) > MaxDurationMilliseconds)
            {
                throw new PromQLException($"invalid parameter \"{parameter}\": cannot parse \"{text}\" to a valid duration: it overflows (the longest is {MaxDurationMilliseconds / 1000} seconds)");
            }

            return TimeSpan.FromMilliseconds(ms);
        }

        if (DurationFormat.TryParse(text, out var duration))
        {
            return duration;
        }

        throw new PromQLException($"invalid parameter \"{parameter}\": cannot parse \"{text}\" to a valid duration");
    }

    private static string Range =>
        $"timestamps lie between {MinUnixMilliseconds / 1000m} ({WindowStore.EarliestTime:yyyy-MM-ddTHH:mm:ssZ}) and {MaxUnixMilliseconds / 1000m} ({WindowStore.LatestTime:yyyy-MM-ddTHH:mm:ss.fffZ}), the times Vigil's store holds";

    private static IEnumerable<Labels> AllSeries(SeriesCatalog catalog, IReadOnlyList<MetricFamily> live)
    {
        foreach (var name in catalog.Names)
        {
            foreach (var labels in catalog.SeriesOf(name.Metric))
            {
                yield return labels.With(Labels.MetricName, name.Name);
            }
        }

        foreach (var labels in catalog.TargetInfo)
        {
            yield return labels;
        }

        foreach (var family in live)
        {
            foreach (var sample in family.Samples)
            {
                yield return Labels.From(sample.Labels.Append(new(Labels.MetricName, family.SampleName(sample))));
            }
        }
    }

    private static void WritePoint(Utf8JsonWriter w, DateTimeOffset time, double value)
    {
        w.WriteStartArray();
        w.WriteNumberValue(time.ToUnixTimeMilliseconds() / 1000m);
        w.WriteStringValue(ExpositionWriter.FormatValue(value));
        w.WriteEndArray();
    }

    private static void WriteLabels(Utf8JsonWriter w, string property, Labels labels)
    {
        w.WriteStartObject(property);
        foreach (var (name, value) in labels.Pairs)
        {
            w.WriteString(name, value);
        }

        w.WriteEndObject();
    }

    private static byte[] Json(Action<Utf8JsonWriter> data)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var w = new Utf8JsonWriter(buffer, WriterOptions))
        {
            w.WriteStartObject();
            w.WriteString("status", "success");
            data(w);
            w.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }
}
