using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Time.Testing;
using Vigil.Rules;
using Vigil.Storage;

namespace Vigil.Benchmarks;

/// <summary>
/// <c>-- idle [series] [rounds]</c>: what the default rule packs (<c>rules/</c>) cost per round over an idle store,
/// the issue-14 idle case. The store holds the load tool's series (<c>tests/Shared/OtlpRequestFactory.cs</c>: series
/// s is metric s % 20 with attribute combination s / 20; <c>auth.requests</c>, <c>tenant.requests</c>,
/// <c>workspace.lifecycle.transitions</c> and <c>ai.runs</c> are four of the 20) with two delta points each and no
/// traffic after them. Every group is evaluated through the real <c>RuleGroupRunner</c> (reads, state machine,
/// history) once per 30 s of the fake clock: first while the points are inside the windows, then 31 minutes later,
/// when they have left every window.
/// </summary>
internal static class IdleRules
{
    private const int Metrics = 20;
    private const int Tenants = 50;
    private static readonly string[] Models = ["gpt-4o", "claude-sonnet", "llama-3-70b"];
    private static readonly string[] Statuses = ["succeeded", "failed", "policy_blocked", "validation_error"];
    private static readonly string[] Routes = ["/api/runs", "/api/workspaces/{id}", "/api/tenants/{id}/members"];

    public static int Run(int seriesCount, int rounds)
    {
        var setup = Stopwatch.StartNew();
        var start = Workload.Now;
        var clock = new FakeTimeProvider(start);
        var store = new WindowStore(new WindowStoreOptions { MaxSeriesPerMetric = seriesCount, MaxSeries = seriesCount + 1, MaxSeriesPerTenant = 0 }, clock);
        for (var s = 0; s < seriesCount; s++)
        {
            var labels = Labels(s / Metrics);
            var metric = MetricName(s % Metrics);
            for (var p = 2; p >= 1; p--)
            {
                var at = start.AddSeconds(-10 * p);
                var outcome = store.AddNumber(metric, MetricKind.Counter, cumulative: false, labels, at.AddSeconds(-10), at, 1 + (s % 5));
                if (outcome.RefusalReason is { } refused)
                {
                    throw new InvalidOperationException($"model point refused: {refused}");
                }
            }
        }

        var groups = LoadPacks();
        var aggregates = groups.SelectMany(g => g.Aggregates).ToDictionary(a => a.Record, StringComparer.Ordinal);
        var evaluator = new RuleEvaluator(store);
        var runners = groups.Select(g => new RuleGroupRunner(g, evaluator, aggregates, clock, TimeSpan.FromHours(1), RuleLimits.Default)).ToList();
        Console.WriteLine($"store: {store.SeriesCount:N0} series, 2 points each, built in {setup.Elapsed.TotalSeconds:0.0} s; " +
            $"{groups.Count} groups, {groups.Sum(g => g.Alerts.Count)} alert rules, {aggregates.Count} aggregate(s); {Environment.ProcessorCount} cores");
        Console.WriteLine();
        Console.WriteLine("| data age at the round | CPU ms per round (all groups) | cores at one round per 30 s | allocated MB per round |");
        Console.WriteLine("| --- | ---: | ---: | ---: |");
        var now = start;
        Measure("20 s (first round)", runners, clock, ref now, 1);
        Measure($"50 s – {(rounds * 30) + 20} s (next {rounds} rounds)", runners, clock, ref now, rounds);
        now = start.AddMinutes(31);
        Measure("31 min (first round)", runners, clock, ref now, 1);
        Measure($"next {rounds} rounds", runners, clock, ref now, rounds);
        return 0;
    }

    private static void Measure(string name, List<RuleGroupRunner> runners, FakeTimeProvider clock, ref DateTimeOffset now, int rounds)
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        using var process = Process.GetCurrentProcess();
        var allocated = GC.GetAllocatedBytesForCurrentThread();
        var cpu = process.TotalProcessorTime;
        for (var i = 0; i < rounds; i++)
        {
            clock.SetUtcNow(now);
            foreach (var runner in runners)
            {
                lock (runner.Gate)
                {
                    runner.Evaluate(now);
                }
            }

            now = now.AddSeconds(30);
        }

        process.Refresh();
        var cpuMs = (process.TotalProcessorTime - cpu).TotalMilliseconds / rounds;
        var allocatedMb = (GC.GetAllocatedBytesForCurrentThread() - allocated) / (double)rounds / (1 << 20);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {name} | {cpuMs:0.0} | {cpuMs / 30_000:0.0000} | {allocatedMb:0.00} |"));
    }

    private static List<RuleGroup> LoadPacks()
    {
        var directory = AppContext.BaseDirectory;
        while (directory is not null && !File.Exists(Path.Combine(directory, "Vigil.slnx")))
        {
            directory = Path.GetDirectoryName(directory);
        }

        if (directory is null)
        {
            throw new InvalidOperationException("run from inside the repository: the rules/ directory is read from there");
        }

        var groups = new List<RuleGroup>();
        foreach (var file in Directory.GetFiles(Path.Combine(directory, "rules"), "*.yaml").Order(StringComparer.Ordinal))
        {
            var result = RuleFileLoader.Load(file, File.ReadAllText(file));
            if (result.Problems.Count > 0)
            {
                throw new InvalidOperationException($"{file} does not load: {result.Problems[0]}");
            }

            groups.AddRange(result.File.Groups);
        }

        return groups;
    }

    /// <summary>The attributes <c>OtlpRequestFactory.Point</c> gives combination <paramref name="c"/> (50 tenants, its default).</summary>
    private static Dictionary<string, string> Labels(int c)
    {
        var labels = new Dictionary<string, string>
        {
            ["tenant.id"] = $"tenant-{c % Tenants:D4}",
            ["workspace.id"] = $"ws-{c:D6}",
            ["gen_ai.request.model"] = Models[c % Models.Length],
            ["ai.run.status"] = Statuses[(c / Models.Length) % Statuses.Length],
        };
        if (c % 2 == 0)
        {
            labels["http.route"] = Routes[c % Routes.Length];
        }

        if (c % 3 == 0)
        {
            labels["retry"] = "false";
        }

        return labels;
    }

    private static string MetricName(int metric) => metric switch
    {
        0 => "auth.requests",
        1 => "tenant.requests",
        2 => "workspace.lifecycle.transitions",
        3 => "ai.runs",
        _ => $"app.operations.{metric:D2}",
    };
}
