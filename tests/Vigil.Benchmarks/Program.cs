using BenchmarkDotNet.Running;
using Vigil.Benchmarks;

// `-- memory [series]` measures bytes per counter series; `-- rules [rounds]` CPU and memory per rule
// round (RuleReadBenchmarks' model); anything else goes to BenchmarkDotNet (e.g. `-- --filter '*'`).
if (args.Length > 0 && args[0] == "memory")
{
    var series = args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 100_000;
    return SeriesMemory.Run(series);
}

if (args.Length > 0 && args[0] == "rules")
{
    return RuleReadModel.Run(args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 10);
}

BenchmarkSwitcher.FromAssembly(typeof(IngestBenchmarks).Assembly).Run(args);
return 0;
