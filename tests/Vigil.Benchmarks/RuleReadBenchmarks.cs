using System.Diagnostics;
using System.Globalization;
using System.Text;
using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.Time.Testing;
using Vigil.Rules;
using Vigil.Storage;

namespace Vigil.Benchmarks;

/// <summary>
/// One evaluation round of rules through the real read path (rule file text → RuleFileLoader → RuleEvaluator.Observe
/// → WindowStore.Aggregate), over the issue-14 model of 50,000 counter series: 625 tenants × 5 workspaces; ai.runs by
/// workspace × 2 models × 4 statuses (25,000 series), tenant.requests by 10 routes × 4 decision/denial classes
/// (25,000 series); each series holds 5 minutes of 10 s delta points. The alert state machine is not part of it.
/// </summary>
[MemoryDiagnoser]
[SimpleJob(launchCount: 1, warmupCount: 1, iterationCount: 5)]
public class RuleReadBenchmarks
{
    private RuleReadModel _model = null!;

    [GlobalSetup]
    public void Setup() => _model = new RuleReadModel();

    /// <summary>1,000 per-tenant rules; each reads 20–50 series of one tenant.</summary>
    [Benchmark(Description = "1,000 per-tenant rules over 50 k series (one round)")]
    public int PerTenantRound() => _model.Round(_model.PerTenant);

    /// <summary>100 global rules, grouped by tenant, route or model; see <see cref="RuleReadModel.GlobalSeriesRead"/>.</summary>
    [Benchmark(Description = "100 global rules over 50 k series (one round)")]
    public int GlobalRound() => _model.Round(_model.Global);
}

/// <summary>The store and rule sets of <see cref="RuleReadBenchmarks"/>, and a plain CPU/RSS measurement of them.</summary>
internal sealed class RuleReadModel
{
    public const int Tenants = 625;
    public const int Workspaces = 5;
    private static readonly string[] Models = ["gpt-4o", "claude"];
    private static readonly string[] Statuses = ["succeeded", "failed", "policy_blocked", "validation_error"];
    private static readonly string[] Routes = [.. Enumerable.Range(0, 10).Select(i => $"/api/r{i}")];
    private static readonly (string Decision, string Class)[] Decisions = [("allowed", "none"), ("denied", "cross_tenant"), ("denied", "unauthorized"), ("denied", "membership")];
    private const int Buckets = 30;

    private readonly RuleEvaluator _evaluator;
    private readonly Dictionary<string, AggregateRule> _noAggregates = [];

    public RuleReadModel()
    {
        Clock = new FakeTimeProvider(Workload.Now);
        Store = new WindowStore(new WindowStoreOptions { MaxSeriesPerMetric = 100_000 }, Clock);
        var start = Workload.Now.AddSeconds(-10 * Buckets);
        for (var b = 0; b < Buckets; b++)
        {
            var at = start.AddSeconds(10 * (b + 1));
            for (var t = 0; t < Tenants; t++)
            {
                for (var w = 0; w < Workspaces; w++)
                {
                    var workspace = $"t{t}-w{w}";
                    foreach (var model in Models)
                    {
                        foreach (var status in Statuses)
                        {
                            Add("ai.runs", at, b + t + w, new() { ["tenant.id"] = $"t{t}", ["workspace.id"] = workspace, ["gen_ai.request.model"] = model, ["ai.run.status"] = status });
                        }
                    }
                }

                foreach (var route in Routes)
                {
                    foreach (var (decision, denial) in Decisions)
                    {
                        Add("tenant.requests", at, b + t, new() { ["tenant.id"] = $"t{t}", ["tenant.decision"] = decision, ["tenant.denial_class"] = denial, ["http.route"] = route });
                    }
                }
            }
        }

        _evaluator = new RuleEvaluator(Store);
        PerTenant = Load("per-tenant", PerTenantRules());
        Global = Load("global", GlobalRules());
    }

    public FakeTimeProvider Clock { get; }

    public WindowStore Store { get; }

    public IReadOnlyList<AlertRule> PerTenant { get; }

    public IReadOnlyList<AlertRule> Global { get; }

    /// <summary>Series the global rules read per round: 25 ratio rules (6,250 + 25,000), 25 × 18,750 denials, 25 × 12,500 blocked, 25 × 25,000 requests.</summary>
    public const long GlobalSeriesRead = (25L * 31_250) + (25L * 18_750) + (25L * 12_500) + (25L * 25_000);

    /// <summary>Series the per-tenant rules read per round: 500 ratio rules (10 + 40 series), 500 denial rules (30).</summary>
    public const long PerTenantSeriesRead = (500L * 50) + (500L * 30);

    /// <summary>Evaluates every rule once at the model's now; returns the instances seen.</summary>
    public int Round(IReadOnlyList<AlertRule> rules)
    {
        var now = Clock.GetUtcNow();
        var instances = 0;
        foreach (var rule in rules)
        {
            instances += _evaluator.Observe(rule, now, _noAggregates).Count;
        }

        return instances;
    }

    /// <summary>
    /// A round after every series changed (as if each received a point): the first read of each series in the round
    /// folds its buckets, later reads of it in the same round reuse that sum (decision 034). <see cref="Round"/>
    /// repeated at the same instant reuses every sum of the previous round too.
    /// </summary>
    public int ColdRound(IReadOnlyList<AlertRule> rules)
    {
        Store.ForgetReads();
        return Round(rules);
    }

    /// <summary>What <see cref="ColdRound"/> spends marking the series changed.</summary>
    public int ForgetReads()
    {
        Store.ForgetReads();
        return 0;
    }

    /// <summary>The store reads of the rules alone (two per ratio), without the rule evaluator around them.</summary>
    public int StoreReads(IReadOnlyList<AlertRule> rules)
    {
        var now = Clock.GetUtcNow();
        var groups = 0;
        foreach (var rule in rules)
        {
            var selection = rule.Selection;
            var function = selection.Kind == SelectionKind.Ratio ? Storage.Query.AggregateFunction.Increase : Selection.FunctionOf(selection.Kind);
            groups += Store.Aggregate(new(selection.Of.Metric, function, rule.Window, rule.By, selection.Of.Matchers, now)).Count;
            if (selection.To is { } to)
            {
                groups += Store.Aggregate(new(to.Metric, function, rule.Window, rule.By, to.Matchers, now)).Count;
            }
        }

        return groups;
    }

    /// <summary><c>-- rules [rounds]</c>: process CPU and allocation per round, and the working set's growth.</summary>
    public static int Run(int rounds)
    {
        var setup = Stopwatch.StartNew();
        var model = new RuleReadModel();
        Console.WriteLine($"model: {model.Store.SeriesCount:N0} series, built in {setup.Elapsed.TotalSeconds:0.0} s; {Environment.ProcessorCount} cores; " +
            $"label index {model.Store.ApproximateIndexBytes() / (double)model.Store.SeriesCount:0.0} B/series");
        Console.WriteLine();
        Console.WriteLine("| rule set | series read/round | CPU ms/round | allocated MB/round | working set growth MB | instances (groups) |");
        Console.WriteLine("| --- | ---: | ---: | ---: | ---: | ---: |");
        Measure("1,000 per-tenant", () => model.Round(model.PerTenant), PerTenantSeriesRead, rounds);
        Measure("100 global", () => model.Round(model.Global), GlobalSeriesRead, rounds);
        Measure("1,000 per-tenant, every series changed", () => model.ColdRound(model.PerTenant), PerTenantSeriesRead, rounds);
        Measure("100 global, every series changed", () => model.ColdRound(model.Global), GlobalSeriesRead, rounds);
        Measure("every series marked changed (part of the two above)", () => model.ForgetReads(), 0, rounds);
        Measure("1,000 per-tenant, store reads only", () => model.StoreReads(model.PerTenant), PerTenantSeriesRead, rounds);
        Measure("100 global, store reads only", () => model.StoreReads(model.Global), GlobalSeriesRead, rounds);
        return 0;
    }

    private static void Measure(string name, Func<int> round, long seriesRead, int rounds)
    {
        // Warm up for a few seconds: tiered JIT recompiles hot methods on a background thread, whose CPU the
        // process time would otherwise count against the first measured rounds.
        var warm = Stopwatch.StartNew();
        for (var i = 0; i < 3 || warm.Elapsed < TimeSpan.FromSeconds(3); i++)
        {
            round();
        }

        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        using var process = Process.GetCurrentProcess();
        process.Refresh();
        var before = process.WorkingSet64;
        var peak = before;
        var allocated = GC.GetAllocatedBytesForCurrentThread();
        var cpu = process.TotalProcessorTime;
        var instances = 0;
        for (var i = 0; i < rounds; i++)
        {
            instances = round();
            process.Refresh();
            peak = Math.Max(peak, process.WorkingSet64);
        }

        process.Refresh();
        var cpuMs = (process.TotalProcessorTime - cpu).TotalMilliseconds / rounds;
        var allocatedMb = (GC.GetAllocatedBytesForCurrentThread() - allocated) / (double)rounds / (1 << 20);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| {name} | {seriesRead:N0} | {cpuMs:0.0} | {allocatedMb:0.00} | {(peak - before) / (double)(1 << 20):0.0} | {instances:N0} |"));
    }

    private void Add(string metric, DateTimeOffset at, int value, Dictionary<string, string> labels)
    {
        var outcome = Store.AddNumber(metric, MetricKind.Counter, cumulative: false, labels, at.AddSeconds(-10), at, 1 + (value % 7));
        if (outcome.RefusalReason is { } refused)
        {
            throw new InvalidOperationException($"model point refused: {refused}");
        }
    }

    private static IReadOnlyList<AlertRule> Load(string name, string yaml)
    {
        var result = RuleFileLoader.Load(name + ".yaml", yaml);
        if (result.Problems.Count > 0)
        {
            throw new InvalidOperationException($"model rules do not load: {result.Problems[0]}");
        }

        return [.. result.File.Groups.SelectMany(g => g.Alerts)];
    }

    private static string PerTenantRules()
    {
        var yaml = new StringBuilder("group: per-tenant\ninterval: 30s\nrules:\n");
        for (var i = 0; i < 1000; i++)
        {
            var tenant = $"t{i % Tenants}";
            Rule(yaml, $"PerTenant{i}", i % 2 == 0
                ? $"    ratio:\n      of: ai.runs{{tenant.id=\"{tenant}\", ai.run.status=\"failed\"}}\n      to: ai.runs{{tenant.id=\"{tenant}\"}}\n    by: [workspace.id]\n"
                : $"    increase: tenant.requests{{tenant.id=\"{tenant}\", tenant.decision=\"denied\"}}\n    by: [http.route]\n");
        }

        return yaml.ToString();
    }

    private static string GlobalRules()
    {
        var yaml = new StringBuilder("group: global\ninterval: 30s\nrules:\n");
        for (var i = 0; i < 100; i++)
        {
            Rule(yaml, $"Global{i}", (i % 4) switch
            {
                0 => "    ratio:\n      of: ai.runs{ai.run.status=\"failed\"}\n      to: ai.runs\n    by: [tenant.id]\n",
                1 => "    increase: tenant.requests{tenant.decision=\"denied\"}\n    by: [tenant.id]\n",
                2 => "    increase: ai.runs{ai.run.status=~\"failed|policy_blocked\"}\n    by: [gen_ai.request.model]\n",
                _ => "    increase: tenant.requests\n    by: [http.route]\n",
            });
        }

        return yaml.ToString();
    }

    private static void Rule(StringBuilder yaml, string name, string selection) => yaml
        .Append("  - alert: ").Append(name).Append('\n')
        .Append("    severity: P2\n")
        .Append("    runbook_url: https://runbooks.example.com/bench\n")
        .Append(selection)
        .Append("    window: 5m\n")
        .Append("    threshold: \"> 1000000\"\n");
}
