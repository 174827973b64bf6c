using System.Globalization;
using System.Text.RegularExpressions;
using YamlDotNet.RepresentationModel;

namespace Vigil.Instrumentation.Tests;

/// <summary>A metric selection of a rule file: <c>name{key="value", key!="value"}</c>.</summary>
internal sealed record Selection(string Metric, IReadOnlyList<(string Key, bool Equal, string Value)> Matchers)
{
    private static readonly Regex Shape = new(@"^\s*([A-Za-z_][\w.]*)\s*(?:\{(.*)\})?\s*$", RegexOptions.CultureInvariant);
    private static readonly Regex Matcher = new(@"^\s*([A-Za-z_][\w.]*)\s*(=|!=)\s*""([^""]*)""\s*$", RegexOptions.CultureInvariant);

    public static Selection Parse(string text)
    {
        var shape = Shape.Match(text);
        if (!shape.Success)
        {
            throw new FormatException($"selection '{text}' is not name{{...}}");
        }

        var matchers = new List<(string, bool, string)>();
        if (shape.Groups[2].Success && shape.Groups[2].Value.Trim().Length > 0)
        {
            foreach (var part in shape.Groups[2].Value.Split(','))
            {
                var m = Matcher.Match(part);
                if (!m.Success)
                {
                    throw new FormatException($"matcher '{part}' in '{text}': this oracle knows = and != only; extend it with the rules");
                }

                matchers.Add((m.Groups[1].Value, m.Groups[2].Value == "=", m.Groups[3].Value));
            }
        }

        return new Selection(shape.Groups[1].Value, matchers);
    }

    public bool Matches(string metric, IReadOnlyDictionary<string, string> attributes) =>
        metric == Metric && Matchers.All(m => (attributes.TryGetValue(m.Key, out var v) ? v : "") == m.Value == m.Equal);
}

/// <summary>A threshold of a rule file: <c>"> 0.20"</c>, <c>">= 1"</c>, <c>"< 0.10"</c>.</summary>
internal sealed record Condition(string Operator, double Bound)
{
    public static Condition Parse(string text)
    {
        var m = Regex.Match(text, @"^\s*(>=|<=|>|<|==|!=)\s*(-?[0-9.]+)\s*$", RegexOptions.CultureInvariant);
        if (!m.Success)
        {
            throw new FormatException($"threshold '{text}' is not OPERATOR NUMBER");
        }

        return new Condition(m.Groups[1].Value, double.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture));
    }

    public bool Holds(double value) => Operator switch
    {
        ">" => value > Bound,
        ">=" => value >= Bound,
        "<" => value < Bound,
        "<=" => value <= Bound,
        "==" => value == Bound,
        _ => value != Bound,
    };
}

/// <summary>The parts of an alert or recording rule that decide when it fires, read from rules/*.yaml.</summary>
internal sealed record RuleSpec(
    string Name,
    string Kind,
    Selection? Of,
    Selection? To,
    string? LastOf,
    IReadOnlyList<string> By,
    TimeSpan Window,
    double MinSamples,
    Condition? Threshold,
    Condition? Recover,
    TimeSpan For,
    TimeSpan KeepFiringFor,
    TimeSpan Interval,
    TimeSpan Lookback = default);

/// <summary>
/// A test oracle for the default rule packs: reads rules/*.yaml and evaluates the selections the packs use
/// (ratio, increase, last of a recorded ratio, absent) with the documented semantics (docs/rules.md) over captured
/// delta points, including min_samples, for, recover and keep_firing_for. It stands in for the rule engine so
/// the demo can be checked against the thresholds the SREs actually wrote.
/// </summary>
internal sealed class RuleOracle
{
    private readonly Dictionary<string, List<(TimeSpan At, CapturedPoint Point)>> _points = new(StringComparer.Ordinal);
    private readonly Dictionary<string, RuleSpec> _records;
    private readonly Dictionary<(string Record, TimeSpan At), Dictionary<string, (double? Value, double Samples)>> _recorded = [];

    public RuleOracle(IEnumerable<string> ruleFiles)
    {
        var alerts = new List<RuleSpec>();
        var records = new Dictionary<string, RuleSpec>(StringComparer.Ordinal);
        foreach (var file in ruleFiles)
        {
            var yaml = new YamlStream();
            using (var reader = File.OpenText(file))
            {
                yaml.Load(reader);
            }

            var root = (YamlMappingNode)yaml.Documents[0].RootNode;
            var interval = Duration(Scalar(root, "interval") ?? "1m");
            foreach (var node in Sequence(root, "aggregates"))
            {
                var spec = Read(node, interval, Scalar(node, "record")!);
                records[spec.Name] = spec;
            }

            foreach (var node in Sequence(root, "rules"))
            {
                alerts.Add(Read(node, interval, Scalar(node, "alert")!));
            }
        }

        Alerts = alerts;
        _records = records;
    }

    public IReadOnlyList<RuleSpec> Alerts { get; }

    public RuleSpec Alert(string name) => Alerts.Single(a => a.Name == name);

    public RuleSpec Record(string name) => _records[name];

    public void Add(TimeSpan at, IEnumerable<CapturedPoint> points)
    {
        foreach (var point in points)
        {
            if (!_points.TryGetValue(point.Name, out var list))
            {
                _points[point.Name] = list = [];
            }

            if (list.Count > 0 && list[^1].At > at)
            {
                throw new ArgumentException("points must be added in time order", nameof(at));
            }

            list.Add((at, point));
        }
    }

    /// <summary>Evaluates every alert at each multiple of its group's interval up to <paramref name="until"/>.</summary>
    public IReadOnlyList<AlertHistory> Run(TimeSpan until)
    {
        var histories = new List<AlertHistory>();
        foreach (var rule in Alerts)
        {
            var states = new Dictionary<string, InstanceState>(StringComparer.Ordinal);
            for (var at = rule.Interval; at <= until; at += rule.Interval)
            {
                var values = Evaluate(rule, at);
                foreach (var key in values.Keys.Union(states.Keys).ToList())
                {
                    var state = states.TryGetValue(key, out var s) ? s : states[key] = new InstanceState(rule.Name, key);
                    var (value, samples) = values.GetValueOrDefault(key, (null, 0));
                    state.Step(rule, at, samples >= rule.MinSamples ? value : null);
                }
            }

            histories.AddRange(states.Values.Select(s => s.History));
        }

        return histories;
    }

    private Dictionary<string, (double? Value, double Samples)> Evaluate(RuleSpec rule, TimeSpan at) => rule.Kind switch
    {
        "ratio" => Ratio(rule, at),
        "increase" => Increase(rule.Of!, rule.By, rule.Window, at).ToDictionary(kv => kv.Key, kv => ((double?)kv.Value, kv.Value), StringComparer.Ordinal),
        // A recorded aggregate is computed by its group's evaluation: the alert reads the one of the previous
        // evaluation, the slower of the two orders the engine may run them in.
        "last" => Recorded(rule.LastOf!, at - rule.Interval),
        "absent" => Absent(rule, at),
        _ => throw new NotSupportedException($"{rule.Name}: selection '{rule.Kind}' is not in the oracle; extend it with the rules"),
    };

    private Dictionary<string, (double? Value, double Samples)> Recorded(string record, TimeSpan at)
    {
        if (at <= TimeSpan.Zero)
        {
            return [];
        }

        if (!_recorded.TryGetValue((record, at), out var values))
        {
            values = Ratio(_records[record], at);
            _recorded[(record, at)] = values;
        }

        return values;
    }

    private Dictionary<string, (double? Value, double Samples)> Ratio(RuleSpec rule, TimeSpan at)
    {
        var of = Increase(rule.Of!, rule.By, rule.Window, at);
        var to = Increase(rule.To!, rule.By, rule.Window, at);
        return to.ToDictionary(
            kv => kv.Key,
            kv => (kv.Value > 0 ? of.GetValueOrDefault(kv.Key) / kv.Value : (double?)null, kv.Value),
            StringComparer.Ordinal);
    }

    /// <summary>docs/rules.md, "Absence": 1 for a label set with points in the lookback and none in the window, else 0.</summary>
    private Dictionary<string, (double? Value, double Samples)> Absent(RuleSpec rule, TimeSpan at)
    {
        var recent = Points(rule.Of!, rule.By, rule.Window, at);
        return Points(rule.Of!, rule.By, rule.Lookback, at).ToDictionary(
            kv => kv.Key,
            kv => ((double?)(recent.ContainsKey(kv.Key) ? 0 : 1), kv.Value),
            StringComparer.Ordinal);
    }

    private Dictionary<string, double> Increase(Selection selection, IReadOnlyList<string> by, TimeSpan window, TimeSpan at) =>
        Fold(selection, by, window, at, static point => point.Value);

    private Dictionary<string, double> Points(Selection selection, IReadOnlyList<string> by, TimeSpan window, TimeSpan at) =>
        Fold(selection, by, window, at, static _ => 1);

    private Dictionary<string, double> Fold(Selection selection, IReadOnlyList<string> by, TimeSpan window, TimeSpan at, Func<CapturedPoint, double> of)
    {
        var sums = new Dictionary<string, double>(StringComparer.Ordinal);
        if (!_points.TryGetValue(selection.Metric, out var list))
        {
            return sums;
        }

        // Points are in time order: start at the first one inside the window.
        int lo = 0, hi = list.Count;
        while (lo < hi)
        {
            var mid = (lo + hi) / 2;
            if (list[mid].At <= at - window)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }

        for (var i = lo; i < list.Count && list[i].At <= at; i++)
        {
            var point = list[i].Point;
            if (!selection.Matches(point.Name, point.Attributes))
            {
                continue;
            }

            var key = string.Join(",", by.Select(label => $"{label}={point.Attributes.GetValueOrDefault(label, "")}"));
            sums[key] = sums.GetValueOrDefault(key) + of(point);
        }

        return sums;
    }

    private static RuleSpec Read(YamlNode node, TimeSpan interval, string name)
    {
        string kind;
        Selection? of = null, to = null;
        string? lastOf = null;
        if (Child(node, "ratio") is YamlMappingNode ratio)
        {
            kind = "ratio";
            of = Selection.Parse(Scalar(ratio, "of")!);
            to = Selection.Parse(Scalar(ratio, "to")!);
        }
        else if (Scalar(node, "increase") is { } increase)
        {
            kind = "increase";
            of = Selection.Parse(increase);
        }
        else if (Scalar(node, "last") is { } last)
        {
            kind = "last";
            lastOf = last;
        }
        else if (Scalar(node, "absent") is { } absent)
        {
            kind = "absent";
            of = Selection.Parse(absent);
        }
        else
        {
            kind = "unsupported";
        }

        return new RuleSpec(
            name,
            kind,
            of,
            to,
            lastOf,
            Child(node, "by") is YamlSequenceNode by ? by.Children.Select(c => ((YamlScalarNode)c).Value!).ToList() : [],
            Duration(Scalar(node, "window") ?? "0s"),
            double.Parse(Scalar(node, "min_samples") ?? "0", CultureInfo.InvariantCulture),
            Scalar(node, "threshold") is { } threshold ? Condition.Parse(threshold) : kind == "absent" ? new Condition(">", 0) : null,
            Scalar(node, "recover") is { } recover ? Condition.Parse(recover) : null,
            Duration(Scalar(node, "for") ?? "0s"),
            Duration(Scalar(node, "keep_firing_for") ?? "0s"),
            interval,
            Duration(Scalar(node, "lookback") ?? "1h"));
    }

    internal static TimeSpan Duration(string text)
    {
        var m = Regex.Match(text, @"^(\d+)(ms|s|m|h)$", RegexOptions.CultureInvariant);
        if (!m.Success)
        {
            throw new FormatException($"duration '{text}'");
        }

        var n = int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
        return m.Groups[2].Value switch
        {
            "ms" => TimeSpan.FromMilliseconds(n),
            "s" => TimeSpan.FromSeconds(n),
            "m" => TimeSpan.FromMinutes(n),
            _ => TimeSpan.FromHours(n),
        };
    }

    private static YamlNode? Child(YamlNode node, string key) =>
        node is YamlMappingNode map && map.Children.TryGetValue(new YamlScalarNode(key), out var child) ? child : null;

    private static string? Scalar(YamlNode node, string key) => (Child(node, key) as YamlScalarNode)?.Value;

    private static IEnumerable<YamlNode> Sequence(YamlNode node, string key) =>
        Child(node, key) is YamlSequenceNode sequence ? sequence.Children : [];

    private sealed class InstanceState(string rule, string labels)
    {
        private string _state = "inactive";
        private TimeSpan _activeAt;
        private TimeSpan _lastBreach;

        public AlertHistory History { get; } = new(rule, labels);

        public void Step(RuleSpec rule, TimeSpan at, double? value)
        {
            var breach = value is { } v && rule.Threshold!.Holds(v);
            switch (_state)
            {
                case "inactive" when breach:
                    _activeAt = at;
                    _lastBreach = at;
                    _state = rule.For == TimeSpan.Zero ? Fire(at) : "pending";
                    break;
                case "pending":
                    if (!breach)
                    {
                        _state = "inactive";
                    }
                    else if (at - _activeAt >= rule.For)
                    {
                        _lastBreach = at;
                        _state = Fire(at);
                    }

                    break;
                case "firing":
                    // Hysteresis: once firing, only the recover condition (or no data) ends the breach.
                    var stillBad = value is { } w && (rule.Recover is { } recover ? !recover.Holds(w) : rule.Threshold!.Holds(w));
                    if (stillBad)
                    {
                        _lastBreach = at;
                    }
                    else if (at - _lastBreach >= rule.KeepFiringFor)
                    {
                        _state = "inactive";
                        History.ResolvedAt ??= at;
                    }

                    break;
            }
        }

        private string Fire(TimeSpan at)
        {
            History.FiredAt ??= at;
            History.ResolvedAt = null;
            return "firing";
        }
    }
}

/// <summary>When one alert instance first fired and, after that, resolved.</summary>
internal sealed class AlertHistory(string rule, string labels)
{
    public string Rule { get; } = rule;

    public string Labels { get; } = labels;

    public TimeSpan? FiredAt { get; set; }

    public TimeSpan? ResolvedAt { get; set; }

    public override string ToString() => $"{Rule}{{{Labels}}} fired {FiredAt} resolved {ResolvedAt}";
}
