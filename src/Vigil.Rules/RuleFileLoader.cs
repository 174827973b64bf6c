using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Vigil.Storage.Query;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Vigil.Rules;

/// <summary>The rules of one file, and every problem found in it. <see cref="File"/> holds only the valid rules.</summary>
public sealed record RuleLoadResult(RuleFile File, IReadOnlyList<RuleProblem> Problems)
{
    public bool Ok => Problems.Count == 0;
}

/// <summary>Parses and validates one rule file, keeping the line and column of every node for its problems.</summary>
public static partial class RuleFileLoader
{
    internal static readonly string[] GroupFields = ["group", "interval", "query_offset", "query_offset_max", "labels", "rules", "aggregates"];
    internal static readonly string[] FileFields = ["groups", .. GroupFields];
    internal static readonly string[] SelectionFields = ["ratio", "increase", "rate", "avg", "min", "max", "last", "quantile", "absent"];

    internal static readonly string[] AlertFields =
    [
        "alert", "severity", "runbook_url", "summary", "description", .. SelectionFields, "by", "window", "lookback", "min_samples",
        "threshold", "recover", "for", "keep_firing_for", "no_data", "on_missing", "missing_for", "overrides", "labels", "annotations",
        "max_instances",
    ];

    internal static readonly string[] AggregateFields = ["record", .. SelectionFields, "by", "window", "min_samples", "labels"];
    internal static readonly string[] OverrideFields = ["match", "threshold", "recover", "min_samples", "for", "severity"];

    /// <summary>The longest group or alert name, in characters.</summary>
    internal const int MaxNameLength = 256;

    private const string ThresholdHint = "write it as \"> 0.2\", \">= 10\", \"< 1\" or \"<= 0\"";
    private const string DurationHint = "use a duration such as 30s, 5m, 1h or 1h30m";

    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_.]*$", RegexOptions.CultureInvariant)]
    private static partial Regex LabelName();

    public static RuleLoadResult LoadFile(string path) => LoadFile(path, RuleLimits.Default);

    /// <summary>Reads and loads one file; a file larger than <see cref="RuleLimits.MaxFileBytes"/> is refused unread.</summary>
    public static RuleLoadResult LoadFile(string path, RuleLimits limits)
    {
        byte[] bytes;
        try
        {
            var size = new FileInfo(path).Length;
            if (size > limits.MaxFileBytes)
            {
                return Refused(path, $"rule file is {RuleLimits.Count(size)} bytes, over the limit of {RuleLimits.Count(limits.MaxFileBytes)} (rules.max_file_size)");
            }

            // The file can grow after the size check, and a device or a pipe has no size: read one byte past the limit at most.
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            bytes = ReadAtMost(stream, limits.MaxFileBytes + 1);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return new RuleLoadResult(new RuleFile { Path = path }, [new RuleProblem(path, 1, 1, $"cannot read rule file: {ex.Message}")]);
        }

        if (bytes.Length > limits.MaxFileBytes)
        {
            return Refused(path, $"rule file is over the limit of {RuleLimits.Count(limits.MaxFileBytes)} bytes (rules.max_file_size)");
        }

        using var reader = new StreamReader(new MemoryStream(bytes), Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        return Parse(path, reader.ReadToEnd(), limits);
    }

    public static RuleLoadResult Load(string path, string text) => Load(path, text, RuleLimits.Default);

    public static RuleLoadResult Load(string path, string text, RuleLimits limits)
    {
        var size = Encoding.UTF8.GetByteCount(text);
        return size > limits.MaxFileBytes
            ? Refused(path, $"rule file is {RuleLimits.Count(size)} bytes, over the limit of {RuleLimits.Count(limits.MaxFileBytes)} (rules.max_file_size)")
            : Parse(path, text, limits);
    }

    private static RuleLoadResult Refused(string path, string message) =>
        new(new RuleFile { Path = path }, [new RuleProblem(path, 1, 1, message, "split it into smaller files, or raise rules.max_file_size")]);

    private static byte[] ReadAtMost(Stream stream, long max)
    {
        var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int read;
        while (buffer.Length < max && (read = stream.Read(chunk, 0, (int)Math.Min(chunk.Length, max - buffer.Length))) > 0)
        {
            buffer.Write(chunk, 0, read);
        }

        return buffer.ToArray();
    }

    private static RuleLoadResult Parse(string path, string text, RuleLimits limits)
    {
        var ctx = new YamlReadContext(path);
        var parser = new YamlDotNet.Core.Parser(new StringReader(text));
        YamlStream stream;
        try
        {
            stream = YamlNesting.Load(new LimitedYamlParser(parser, limits));
        }
        catch (YamlNesting.TooDeepException ex)
        {
            ctx.Report(YamlReadContext.At(ex.Start), ex.Message, YamlNesting.Hint);
            return new RuleLoadResult(new RuleFile { Path = path }, ctx.Problems);
        }
        catch (RuleLimitException ex)
        {
            ctx.Report(YamlReadContext.At(ex.At), ex.Message, ex.Hint);
            return new RuleLoadResult(new RuleFile { Path = path }, ctx.Problems);
        }
        catch (YamlException ex)
        {
            var message = ex.InnerException is YamlException inner ? inner.Message : ex.Message;
            ctx.Report(YamlReadContext.At(ex.Start), $"YAML syntax error: {message}", "check indentation and quoting around this position");
            return new RuleLoadResult(new RuleFile { Path = path }, ctx.Problems);
        }
        catch (Exception ex) when (ex is InvalidOperationException or ArgumentException)
        {
            // YamlDotNet throws these (not a YamlException) on some malformed scalars and events (found by fuzzing).
            var lines = text.Count(c => c == '\n') + 1;
            var at = parser.Current is { } last && last.End.Line <= lines ? YamlReadContext.At(last.End) : new SourcePosition(lines, 1);
            ctx.Report(at, $"YAML syntax error after this position: the scanner gave up ({ex.Message})", "check indentation and quoting around this position");
            return new RuleLoadResult(new RuleFile { Path = path }, ctx.Problems);
        }

        var groupFields = new List<Fields>();
        foreach (var document in stream.Documents)
        {
            var root = document.RootNode;
            if (root is YamlScalarNode s && YamlReadContext.IsNull(s))
            {
                continue;
            }

            var fields = ctx.Map(root, "rule file", FileFields);
            if (fields is null)
            {
                continue;
            }

            if (fields["groups"] is { } list)
            {
                foreach (var name in GroupFields.Where(fields.Has))
                {
                    ctx.Report(fields.KeyOf(name)!, $"'{name}' belongs inside an entry of 'groups'", "a file is either one group or a 'groups:' list");
                }

                if (list is not YamlSequenceNode sequence)
                {
                    ctx.Report(list, "'groups' must be a list of groups");
                    continue;
                }

                foreach (var item in sequence.Children)
                {
                    if (ctx.Map(item, "group", GroupFields) is { } entry)
                    {
                        groupFields.Add(entry);
                    }
                }
            }
            else
            {
                groupFields.Add(fields);
            }
        }

        if (CountRules(ctx, groupFields, limits))
        {
            return new RuleLoadResult(new RuleFile { Path = path }, ctx.Problems);
        }

        var groups = new List<RuleGroup>();
        foreach (var fields in groupFields)
        {
            if (ParseGroup(ctx, fields) is { } g)
            {
                groups.Add(g);
            }
        }

        if (groups.Count == 0 && ctx.Problems.Count == 0)
        {
            ctx.Report(new SourcePosition(1, 1), "rule file defines no group", "a rule file starts with 'group: NAME' and a 'rules:' list");
        }

        CheckDuplicateGroups(ctx, groups);
        var problems = ctx.Problems.OrderBy(p => p.Line).ThenBy(p => p.Column).ToList();
        return new RuleLoadResult(new RuleFile { Path = path, Groups = groups }, problems);
    }

    /// <summary>Reports a file with more rules than <see cref="RuleLimits.MaxRulesPerFile"/>, before any rule is parsed.</summary>
    private static bool CountRules(YamlReadContext ctx, List<Fields> groups, RuleLimits limits)
    {
        var entries = groups.SelectMany(g => Entries(g["rules"]).Concat(Entries(g["aggregates"]))).ToList();
        if (entries.Count <= limits.MaxRulesPerFile)
        {
            return false;
        }

        var firstOver = entries.OrderBy(e => e.Start.Line).ThenBy(e => e.Start.Column).ElementAt(limits.MaxRulesPerFile);
        ctx.Report(firstOver, $"rule file has {RuleLimits.Count(entries.Count)} rules, over the limit of {RuleLimits.Count(limits.MaxRulesPerFile)} per file (rules.max_rules_per_file)",
            "split it into several files");
        return true;

        static IEnumerable<YamlNode> Entries(YamlNode? node) => node is YamlSequenceNode list ? list.Children : [];
    }

    private static void CheckDuplicateGroups(YamlReadContext ctx, List<RuleGroup> groups)
    {
        var seen = new Dictionary<string, RuleGroup>(StringComparer.Ordinal);
        foreach (var g in groups.ToList())
        {
            if (!seen.TryAdd(g.Name, g))
            {
                ctx.Report(g.Position, $"duplicate group name '{g.Name}'", $"first defined at line {seen[g.Name].Position.Line}");
                groups.Remove(g);
            }
        }
    }

    private static RuleGroup? ParseGroup(YamlReadContext ctx, Fields fields)
    {
        var name = fields["group"] is { } n ? Name(ctx, n, "group") : null;
        if (fields["group"] is null)
        {
            ctx.Report(fields.Position, "group is missing required field 'group'", "name the group: group: my-group");
        }

        var interval = fields["interval"] is { } i ? ctx.Duration(i, "interval", allowZero: false) : RuleDefaults.Interval;
        var autoOffset = fields["query_offset"] is YamlScalarNode { Value: "auto" };
        var queryOffset = autoOffset ? TimeSpan.Zero : fields["query_offset"] is { } qo ? ctx.Duration(qo, "query_offset") : TimeSpan.Zero;
        var queryOffsetMax = fields["query_offset_max"] is { } qm ? ctx.Duration(qm, "query_offset_max", allowZero: false) : RuleDefaults.QueryOffsetMax;
        if (fields["query_offset_max"] is { } qmNode && !autoOffset)
        {
            ctx.Report(qmNode, "query_offset_max bounds query_offset: auto only", "remove it, or write query_offset: auto");
        }
        var groupLabels = fields["labels"] is { } gl ? ctx.TextMap(gl, "labels") : new Dictionary<string, string>();
        var alerts = new List<AlertRule>();
        var aggregates = new List<AggregateRule>();
        if (fields["rules"] is { } rulesNode)
        {
            if (rulesNode is YamlSequenceNode rules)
            {
                foreach (var item in rules.Children)
                {
                    if (item is YamlMappingNode m && m.Children.Keys.OfType<YamlScalarNode>().Any(k => k.Value == "record") &&
                        !m.Children.Keys.OfType<YamlScalarNode>().Any(k => k.Value == "alert"))
                    {
                        ctx.Report(item, "recording rules belong under 'aggregates:', not 'rules:'", "move this entry to the group's aggregates list");
                        continue;
                    }

                    if (ParseAlert(ctx, item, groupLabels ?? Empty) is { } alert)
                    {
                        alerts.Add(alert);
                    }
                }
            }
            else if (!(rulesNode is YamlScalarNode s && YamlReadContext.IsNull(s)))
            {
                ctx.Report(rulesNode, "'rules' must be a list of alert rules", "start each rule with '- alert: Name'");
            }
        }

        if (fields["aggregates"] is { } aggNode)
        {
            if (aggNode is YamlSequenceNode aggs)
            {
                foreach (var item in aggs.Children)
                {
                    if (ParseAggregate(ctx, item, groupLabels ?? Empty) is { } agg)
                    {
                        aggregates.Add(agg);
                    }
                }
            }
            else
            {
                ctx.Report(aggNode, "'aggregates' must be a list of recording rules", "start each entry with '- record: name'");
            }
        }

        if (fields["rules"] is null && fields["aggregates"] is null && name is not null)
        {
            ctx.Report(fields.Position, $"group '{name}' has neither 'rules' nor 'aggregates'");
        }
        else if (name is not null && IsEmpty(fields["rules"]) && IsEmpty(fields["aggregates"]))
        {
            // Every group runs a timer: without rules, groups would escape the rule limits.
            ctx.Report(fields.Position, $"group '{name}' has no rules or aggregates", "add a rule, or remove the group");
        }

        CheckDuplicates(ctx, alerts.Select(a => (a.Name, a.Position)), name, "alert");
        CheckDuplicates(ctx, aggregates.Select(a => (a.Record, a.Position)), name, "record");
        if (name is null || interval is null || queryOffset is null || queryOffsetMax is null || groupLabels is null)
        {
            return null;
        }

        return new RuleGroup
        {
            Name = name,
            File = ctx.File,
            Interval = interval.Value,
            QueryOffset = queryOffset.Value,
            QueryOffsetAuto = autoOffset,
            QueryOffsetMax = queryOffsetMax.Value,
            Alerts = alerts,
            Aggregates = aggregates,
            Position = fields.KeyOf("group") is { } key ? YamlReadContext.At(key) : fields.Position,
        };
    }

    /// <summary>
    /// A group or alert name. Names go into log lines, terminals, alert labels and the explain API's URL path, so
    /// they are printable text: no control or format characters, no line breaks, no '/', no spaces but U+0020 and
    /// none at either end, at most <see cref="MaxNameLength"/> characters.
    /// </summary>
    private static string? Name(YamlReadContext ctx, YamlNode node, string what)
    {
        var name = ctx.Text(node, what);
        if (name is not null && NameProblem(name, what) is { } problem)
        {
            ctx.Report(node, problem, "names are printable text without '/' and without spaces at either end");
            return null;
        }

        return name;
    }

    private static string? NameProblem(string name, string what)
    {
        if (name.Length == 0)
        {
            return $"{what} name is empty";
        }

        if (name.Length > MaxNameLength)
        {
            return $"{what} name is {RuleLimits.Count(name.Length)} characters long, over the limit of {MaxNameLength}";
        }

        for (var i = 0; i < name.Length; i++)
        {
            var c = name[i];
            if (RuleProblem.IsUnprintable(name, i))
            {
                return $"{what} name '{name}' contains the control character U+{(int)c:X4}";
            }

            if (c == '/')
            {
                return $"{what} name '{name}' contains '/'";
            }

            if (c != ' ' && char.IsWhiteSpace(c))
            {
                return $"{what} name '{name}' contains the space U+{(int)c:X4}; only U+0020 is allowed";
            }
        }

        return name[0] == ' ' || name[^1] == ' ' ? $"{what} name '{name}' starts or ends with a space" : null;
    }

    private static bool IsEmpty(YamlNode? list) =>
        list is null or YamlSequenceNode { Children.Count: 0 } || (list is YamlScalarNode s && YamlReadContext.IsNull(s));

    private static void CheckDuplicates(YamlReadContext ctx, IEnumerable<(string Name, SourcePosition At)> items, string? group, string what)
    {
        var seen = new Dictionary<string, SourcePosition>(StringComparer.Ordinal);
        foreach (var (name, at) in items)
        {
            if (!seen.TryAdd(name, at))
            {
                ctx.Report(at, $"duplicate {what} name '{name}' in group '{group}'", $"first defined at line {seen[name].Line}; names must be unique in a group");
            }
        }
    }

    private static AlertRule? ParseAlert(YamlReadContext ctx, YamlNode node, IReadOnlyDictionary<string, string> groupLabels)
    {
        var before = ctx.Problems.Count;
        var fields = ctx.Map(node, "alert rule", AlertFields);
        if (fields is null)
        {
            return null;
        }

        var name = Required(ctx, fields, "alert", null, "alert rule") is { } n ? Name(ctx, n, "alert") : null;
        var what = name is null ? "alert rule" : $"alert '{name}'";
        var position = fields.KeyOf("alert") is { } alertKey ? YamlReadContext.At(alertKey) : fields.Position;

        var severity = Required(ctx, fields, "severity", "set severity: P1, P2, P3 or P4", what) is { } sv ? ParseSeverity(ctx, sv) : null;
        var runbook = Required(ctx, fields, "runbook_url", "every alert links to its runbook: an absolute https:// URL", what) is { } rb
            ? ParseRunbook(ctx, rb) : null;
        var summary = fields["summary"] is { } su ? Template(ctx, su, "summary") : null;
        var description = fields["description"] is { } de ? Template(ctx, de, "description") : null;
        var selection = ParseSelection(ctx, fields, what);
        var by = ParseBy(ctx, fields);
        var window = fields["window"] is { } w ? ctx.Duration(w, "window", allowZero: false) : RuleDefaults.Window;
        var minSamples = fields["min_samples"] is { } ms ? MinSamples(ctx, ms) : 0;
        var absent = selection?.Kind == SelectionKind.Absent;
        var lookback = absent ? Lookback(ctx, fields, window) : NotForAbsence(ctx, fields, "lookback", "lookback applies to absent: rules only", "remove it, or select with absent:");
        var threshold = absent
            ? AbsentTakesNoThreshold(ctx, fields)
            : Required(ctx, fields, "threshold", ThresholdHint, what) is { } th ? ParseThreshold(ctx, th, "threshold") : null;
        var recover = fields["recover"] is { } rc ? ParseThreshold(ctx, rc, "recover") : null;
        if (threshold is not null && recover is not null)
        {
            CheckRecover(ctx, fields["recover"]!, threshold, recover);
        }

        var forDuration = fields["for"] is { } f ? ctx.Duration(f, "for") : TimeSpan.Zero;
        var keepFiring = fields["keep_firing_for"] is { } k ? ctx.Duration(k, "keep_firing_for") : TimeSpan.Zero;
        var noData = fields["no_data"] is { } nd ? ParseNoData(ctx, nd) : NoDataPolicy.Ok;
        var onMissing = fields["on_missing"] is { } om ? ParseOnMissing(ctx, om) : OnMissingPolicy.Resolve;
        var missingFor = fields["missing_for"] is { } mf ? ctx.Duration(mf, "missing_for") : TimeSpan.Zero;
        var maxInstances = fields["max_instances"] is { } mi ? MaxInstances(ctx, mi) : null;
        var labels = fields["labels"] is { } l ? ctx.TextMap(l, "labels") : new Dictionary<string, string>();
        var annotations = fields["annotations"] is { } an ? ctx.TextMap(an, "annotations") : new Dictionary<string, string>();
        if (annotations is not null && fields["annotations"] is YamlMappingNode annotationMap)
        {
            foreach (var (key, value) in annotationMap.Children)
            {
                if (value is YamlScalarNode scalar)
                {
                    CheckTemplate(ctx, scalar, $"annotations.{(key as YamlScalarNode)?.Value}");
                }
            }
        }

        var overrides = fields["overrides"] is { } ov && selection is not null && by is not null
            ? ParseOverrides(ctx, ov, selection, by)
            : [];

        if (ctx.Problems.Count > before || name is null || severity is null || runbook is null || selection is null ||
            by is null || window is null || lookback is null || minSamples is null || threshold is null || forDuration is null ||
            keepFiring is null || noData is null || onMissing is null || missingFor is null || labels is null || annotations is null)
        {
            return null;
        }

        return new AlertRule
        {
            Name = name,
            Severity = severity.Value,
            RunbookUrl = runbook,
            Summary = summary,
            Description = description,
            Selection = selection,
            By = by,
            Window = window.Value,
            Lookback = lookback.Value,
            MinSamples = minSamples.Value,
            Threshold = threshold,
            Recover = recover,
            For = forDuration.Value,
            KeepFiringFor = keepFiring.Value,
            NoData = noData.Value,
            OnMissing = onMissing.Value,
            MissingFor = missingFor.Value,
            Overrides = overrides,
            MaxInstances = maxInstances,
            Labels = WithGroupLabels(groupLabels, labels),
            Annotations = annotations,
            Position = position,
            FieldPositions = fields.ValuePositions(),
            DefinitionKey = YamlReadContext.Canonical(node) + GroupLabelsKey(groupLabels),
        };
    }

    private static AggregateRule? ParseAggregate(YamlReadContext ctx, YamlNode node, IReadOnlyDictionary<string, string> groupLabels)
    {
        var before = ctx.Problems.Count;
        var fields = ctx.Map(node, "aggregate", AggregateFields);
        if (fields is null)
        {
            return null;
        }

        var name = Required(ctx, fields, "record", "name the aggregate: record: my.aggregate", "aggregate") is { } n ? ctx.Text(n, "record") : null;
        if (name is not null && !Regex.IsMatch(name, @"^[A-Za-z_][A-Za-z0-9_.:]*$", RegexOptions.CultureInvariant))
        {
            ctx.Report(fields["record"]!, $"record name '{name}' is not a valid metric name", "use letters, digits, '_', '.' and ':'");
        }

        var what = name is null ? "aggregate" : $"aggregate '{name}'";
        var selection = ParseSelection(ctx, fields, what);
        if (selection?.Kind == SelectionKind.Absent)
        {
            ctx.Report(fields["absent"]!, "absent: applies to alert rules only", "an aggregate records a value; write the absence as an alert rule");
            selection = null;
        }
        var by = ParseBy(ctx, fields);
        var window = fields["window"] is { } w ? ctx.Duration(w, "window", allowZero: false) : RuleDefaults.Window;
        var minSamples = fields["min_samples"] is { } ms ? MinSamples(ctx, ms) : 0;
        var labels = fields["labels"] is { } l ? ctx.TextMap(l, "labels") : new Dictionary<string, string>();
        if (ctx.Problems.Count > before || name is null || selection is null || by is null || window is null || minSamples is null || labels is null)
        {
            return null;
        }

        return new AggregateRule
        {
            Record = name,
            Selection = selection,
            By = by,
            Window = window.Value,
            MinSamples = minSamples.Value,
            Labels = WithGroupLabels(groupLabels, labels),
            Position = YamlReadContext.At(fields.KeyOf("record")!),
            FieldPositions = fields.ValuePositions(),
            DefinitionKey = YamlReadContext.Canonical(node) + GroupLabelsKey(groupLabels),
        };
    }

    private static readonly IReadOnlyDictionary<string, string> Empty = new Dictionary<string, string>();

    /// <summary>The fields an <c>absent:</c> rule cannot have: absence is its condition, and it has no value to guard.</summary>
    private static readonly string[] NotWithAbsence = ["threshold", "recover", "min_samples", "no_data"];

    /// <summary>An absence rule's implicit condition: its value is 1 for a missing label set, 0 for one that reports.</summary>
    internal static readonly Threshold AbsentThreshold = new(ThresholdOp.Greater, 0);

    private static Threshold? AbsentTakesNoThreshold(YamlReadContext ctx, Fields fields)
    {
        var ok = true;
        foreach (var field in NotWithAbsence.Where(fields.Has))
        {
            ctx.Report(fields.KeyOf(field)!, $"absent: takes no '{field}': absence is the condition", "remove it; use for: to wait before paging");
            ok = false;
        }

        if (fields["overrides"] is YamlSequenceNode overrides)
        {
            foreach (var key in overrides.Children.OfType<YamlMappingNode>().SelectMany(o => o.Children.Keys.OfType<YamlScalarNode>()))
            {
                if (NotWithAbsence.Contains(key.Value, StringComparer.Ordinal))
                {
                    ctx.Report(key, $"absent: takes no '{key.Value}', in overrides either", "an override of an absence rule may set for and severity");
                    ok = false;
                }
            }
        }

        return ok ? AbsentThreshold : null;
    }

    private static TimeSpan? Lookback(YamlReadContext ctx, Fields fields, TimeSpan? window)
    {
        if (fields["lookback"] is not { } node)
        {
            if (window is { } w && w >= RuleDefaults.Lookback)
            {
                ctx.Report(fields["window"]!, $"window {PromDuration.Format(w)} is not shorter than the default lookback {PromDuration.Format(RuleDefaults.Lookback)}",
                    "set a longer lookback: (at most storage.retention)");
                return null;
            }

            return RuleDefaults.Lookback;
        }

        var lookback = ctx.Duration(node, "lookback", allowZero: false);
        if (lookback is { } l && window is { } win && l <= win)
        {
            ctx.Report(node, $"lookback {PromDuration.Format(l)} must be longer than the window {PromDuration.Format(win)}", "a label set is missed when it reported in the lookback but not in the window");
            return null;
        }

        return lookback;
    }

    private static TimeSpan? NotForAbsence(YamlReadContext ctx, Fields fields, string field, string message, string hint)
    {
        if (fields[field] is { } node)
        {
            ctx.Report(node, message, hint);
            return null;
        }

        return RuleDefaults.Lookback;
    }

    /// <summary>A group's labels under each of its rules' own: the rule's value wins, as in Prometheus 3's group labels.</summary>
    private static Dictionary<string, string> WithGroupLabels(IReadOnlyDictionary<string, string> groupLabels, IReadOnlyDictionary<string, string> ruleLabels)
    {
        var merged = new Dictionary<string, string>(groupLabels, StringComparer.Ordinal);
        foreach (var (k, v) in ruleLabels)
        {
            merged[k] = v;
        }

        return merged;
    }

    /// <summary>
    /// Group labels are part of what a rule is: changing them changes the alerts' labels, so the rule's kept state
    /// must not carry over. Empty for a group without labels, so the state of existing rules keeps its key.
    /// </summary>
    private static string GroupLabelsKey(IReadOnlyDictionary<string, string> groupLabels) =>
        groupLabels.Count == 0 ? string.Empty : "\ngroup-labels:" + string.Join(",", groupLabels.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key}={p.Value}"));

    private static YamlNode? Required(YamlReadContext ctx, Fields fields, string name, string? hint, string what)
    {
        var node = fields[name];
        if (node is null)
        {
            ctx.Report(fields.Position, $"{what} is missing required field '{name}'", hint);
        }

        return node;
    }

    private static Severity? ParseSeverity(YamlReadContext ctx, YamlNode node)
    {
        var text = ctx.Text(node, "severity");
        if (text is null)
        {
            return null;
        }

        if (Enum.TryParse<Severity>(text.Trim(), ignoreCase: true, out var severity) && Enum.IsDefined(severity) && text.Trim().Length == 2)
        {
            return severity;
        }

        ctx.Report(node, $"severity '{text}' is not one of P1, P2, P3, P4", "P1 pages now, P4 is informational");
        return null;
    }

    private static string? ParseRunbook(YamlReadContext ctx, YamlNode node)
    {
        var text = ctx.Text(node, "runbook_url");
        if (text is null)
        {
            return null;
        }

        if (Uri.TryCreate(text, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttps || uri.Scheme == Uri.UriSchemeHttp) && uri.Host.Length > 0)
        {
            return text;
        }

        ctx.Report(node, $"runbook_url '{text}' is not an absolute http(s) URL", "write the full address, e.g. https://runbooks.example.com/auth/failure-rate");
        return null;
    }

    private static readonly (string Name, NoDataPolicy Value)[] NoDataChoices =
        [("ok", NoDataPolicy.Ok), ("alerting", NoDataPolicy.Alerting), ("keep_last", NoDataPolicy.KeepLast)];

    private static readonly (string Name, OnMissingPolicy Value)[] OnMissingChoices =
        [("resolve", OnMissingPolicy.Resolve), ("alert", OnMissingPolicy.Alert), ("keep_last", OnMissingPolicy.KeepLast)];

    private static NoDataPolicy? ParseNoData(YamlReadContext ctx, YamlNode node) => Choice(ctx, node, "no_data", NoDataChoices);

    private static OnMissingPolicy? ParseOnMissing(YamlReadContext ctx, YamlNode node) => Choice(ctx, node, "on_missing", OnMissingChoices);

    /// <summary>One of a field's named values; anything else is a problem listing them, with the closest as a hint.</summary>
    private static T? Choice<T>(YamlReadContext ctx, YamlNode node, string field, (string Name, T Value)[] choices)
        where T : struct
    {
        var text = ctx.Text(node, field);
        if (text is null)
        {
            return null;
        }

        foreach (var (name, value) in choices)
        {
            if (name == text)
            {
                return value;
            }
        }

        var names = choices.Select(c => c.Name).ToArray();
        var close = FieldNames.Closest(text, names);
        ctx.Report(node, $"{field} '{text}' is not one of {string.Join(", ", names)}", close is null ? null : $"did you mean '{close}'?");
        return null;
    }

    private static double? MinSamples(YamlReadContext ctx, YamlNode node)
    {
        var value = ctx.Number(node, "min_samples");
        if (value is < 0)
        {
            ctx.Report(node, "'min_samples' must not be negative");
            return null;
        }

        return value;
    }

    private static int? MaxInstances(YamlReadContext ctx, YamlNode node)
    {
        var value = ctx.Number(node, "max_instances");
        if (value is null)
        {
            return null;
        }

        if (value < 1 || value > int.MaxValue || Math.Floor(value.Value) != value)
        {
            ctx.Report(node, $"'max_instances' must be a whole number of at least 1, not '{ctx.Text(node, "max_instances")}'",
                "it caps the instances (label sets of 'by') the rule may hold; leave it out for rules.max_instances_per_rule");
            return null;
        }

        return (int)value.Value;
    }

    private static Threshold? ParseThreshold(YamlReadContext ctx, YamlNode node, string field)
    {
        var text = ctx.Text(node, field);
        if (text is null)
        {
            return null;
        }

        var threshold = Threshold.TryParse(text, out var error);
        if (threshold is null)
        {
            ctx.Report(node, $"{field} {error}", field == "recover" ? "write it as \"< 0.15\" for a '>' threshold, \"> 5\" for a '<' threshold" : ThresholdHint);
        }

        return threshold;
    }

    private static void CheckRecover(YamlReadContext ctx, YamlNode node, Threshold threshold, Threshold recover)
    {
        if (threshold.IsUpward == recover.IsUpward)
        {
            ctx.Report(node, $"recover '{recover}' points the same way as threshold '{threshold}'",
                $"recover is the condition that ends the alert, e.g. \"{(threshold.IsUpward ? "<" : ">")} {AlertTemplate.FormatNumber(threshold.Value)}\"");
        }
        else if (threshold.IsUpward ? recover.Value > threshold.Value : recover.Value < threshold.Value)
        {
            ctx.Report(node, $"recover '{recover}' overlaps threshold '{threshold}': a value could breach and recover at once",
                $"put recover on the other side of {AlertTemplate.FormatNumber(threshold.Value)}");
        }
    }

    private static string? Template(YamlReadContext ctx, YamlNode node, string field)
    {
        var text = ctx.Text(node, field);
        if (text is not null && node is YamlScalarNode scalar)
        {
            CheckTemplate(ctx, scalar, field);
        }

        return text;
    }

    private static void CheckTemplate(YamlReadContext ctx, YamlScalarNode node, string field)
    {
        foreach (var (offset, message) in AlertTemplate.Check(node.Value ?? string.Empty))
        {
            ctx.Report(YamlReadContext.AtOffset(node, offset), $"{field}: {message}", "example: \"{{ $value | percent }} for {{ $labels.tenant.id }}\"");
        }
    }

    private static IReadOnlyList<string>? ParseBy(YamlReadContext ctx, Fields fields)
    {
        if (fields["by"] is not { } node)
        {
            return [];
        }

        var list = ctx.TextList(node, "by");
        if (list is null)
        {
            return null;
        }

        var ok = true;
        foreach (var (item, label) in ((YamlSequenceNode)node).Children.Zip(list))
        {
            if (!LabelName().IsMatch(label))
            {
                ctx.Report(item, $"'{label}' is not a label name", "label names use letters, digits, '_' and '.'");
                ok = false;
            }
        }

        return ok ? list : null;
    }

    private static Selection? ParseSelection(YamlReadContext ctx, Fields fields, string what)
    {
        var present = SelectionFields.Where(fields.Has).ToList();
        if (present.Count == 0)
        {
            ctx.Report(fields.Position, $"{what} needs exactly one selection, found none", "use one of: " + string.Join(", ", SelectionFields));
            return null;
        }

        if (present.Count > 1)
        {
            var second = fields.Node.Children.Keys.OfType<YamlScalarNode>().Where(k => present.Contains(k.Value!)).Skip(1).First();
            ctx.Report(second, $"{what} needs exactly one selection, found {present.Count}: {string.Join(", ", present)}", "keep one and move the others to their own rules");
            return null;
        }

        var key = present[0];
        var node = fields[key]!;
        var kind = (SelectionKind)Array.IndexOf(SelectionFields, key);
        switch (kind)
        {
            case SelectionKind.Ratio:
            {
                var ratio = ctx.Map(node, "ratio", ["of", "to"]);
                if (ratio is null)
                {
                    return null;
                }

                var of = ratio["of"] is { } o ? ParseSelector(ctx, o, "ratio.of") : MissingPart(ctx, ratio, "ratio", "of");
                var to = ratio["to"] is { } t ? ParseSelector(ctx, t, "ratio.to") : MissingPart(ctx, ratio, "ratio", "to");
                return of is null || to is null ? null : new Selection(kind, of, to);
            }

            case SelectionKind.Quantile:
            {
                var quantile = ctx.Map(node, "quantile", ["of", "q"]);
                if (quantile is null)
                {
                    return null;
                }

                var of = quantile["of"] is { } o ? ParseSelector(ctx, o, "quantile.of") : MissingPart(ctx, quantile, "quantile", "of");
                double? q = quantile["q"] is { } qn ? ctx.Number(qn, "q") : null;
                if (quantile["q"] is null)
                {
                    ctx.Report(quantile.Position, "quantile is missing required field 'q'", "for the 99th percentile write q: 0.99");
                }
                else if (q is < 0 or > 1)
                {
                    ctx.Report(quantile["q"]!, $"q must be between 0 and 1, not {AlertTemplate.FormatNumber(q.Value)}", "for the 99th percentile write q: 0.99");
                    q = null;
                }

                return of is null || q is null ? null : new Selection(kind, of, null, q.Value);
            }

            default:
            {
                var of = ParseSelector(ctx, node, key);
                return of is null ? null : new Selection(kind, of);
            }
        }
    }

    private static Selector? MissingPart(YamlReadContext ctx, Fields fields, string what, string part)
    {
        ctx.Report(fields.Position, $"{what} is missing required field '{part}'", "a ratio is written ratio: { of: SELECTOR, to: SELECTOR }");
        return null;
    }

    private static Selector? ParseSelector(YamlReadContext ctx, YamlNode node, string field)
    {
        var text = ctx.Text(node, field);
        if (text is null)
        {
            return null;
        }

        var selector = SelectorParser.TryParse(text, out var error);
        if (selector is null)
        {
            ctx.Report(YamlReadContext.AtOffset((YamlScalarNode)node, error!.Offset), $"{field}: {error.Message}", error.Hint);
            return null;
        }

        return selector with { Position = YamlReadContext.At(node) };
    }

    private static IReadOnlyList<RuleOverride> ParseOverrides(YamlReadContext ctx, YamlNode node, Selection selection, IReadOnlyList<string> by)
    {
        if (node is not YamlSequenceNode list)
        {
            ctx.Report(node, "'overrides' must be a list", "write overrides: [ { match: { tenant.id: acme }, threshold: \"> 0.05\" } ]");
            return [];
        }

        var pinned = selection.Guarded.EqualityLabels;
        var result = new List<RuleOverride>();
        foreach (var item in list.Children)
        {
            var fields = ctx.Map(item, "override", OverrideFields);
            if (fields is null)
            {
                continue;
            }

            if (fields["match"] is not { } matchNode)
            {
                ctx.Report(fields.Position, "override is missing required field 'match'", "write match: { tenant.id: acme }");
                continue;
            }

            var match = ctx.TextMap(matchNode, "match");
            if (match is null)
            {
                continue;
            }

            var reachable = true;
            foreach (var (keyNode, _) in ((YamlMappingNode)matchNode).Children)
            {
                var label = ((YamlScalarNode)keyNode).Value!;
                if (pinned.TryGetValue(label, out var fixedValue))
                {
                    if (!string.Equals(fixedValue, match[label], StringComparison.Ordinal))
                    {
                        ctx.Report(keyNode, $"override can never match: the selector pins {label}=\"{fixedValue}\" but the override matches {label}: {match[label]}",
                            $"match {label}: {fixedValue}, or remove this override");
                        reachable = false;
                    }
                }
                else if (!by.Contains(label, StringComparer.Ordinal))
                {
                    ctx.Report(keyNode, $"override can never match: label '{label}' is neither in 'by' nor pinned by the selector",
                        by.Count == 0 ? $"add by: [{label}]" : $"add '{label}' to by: [{string.Join(", ", by)}]");
                    reachable = false;
                }
            }

            var threshold = fields["threshold"] is { } th ? ParseThreshold(ctx, th, "threshold") : null;
            var recover = fields["recover"] is { } rc ? ParseThreshold(ctx, rc, "recover") : null;
            if (threshold is not null && recover is not null)
            {
                CheckRecover(ctx, fields["recover"]!, threshold, recover);
            }

            var minSamples = fields["min_samples"] is { } ms ? MinSamples(ctx, ms) : null;
            var forDuration = fields["for"] is { } f ? ctx.Duration(f, "for") : null;
            var severity = fields["severity"] is { } sv ? ParseSeverity(ctx, sv) : null;
            if (reachable)
            {
                result.Add(new RuleOverride(match, threshold, recover, minSamples, forDuration, severity, fields.Position) { FieldPositions = fields.ValuePositions() });
            }
        }

        return result;
    }
}
